-- hello: answers, greets the caller, reads their extension number back and hangs up.
return function(call, args)
  call:answer()
  log.info("hello called by " .. call.caller)
  call:play("welcome")
  call:say_digits(call.caller)
  call:play("goodbye")
  call:hangup()
end
