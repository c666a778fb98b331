-- Do not disturb by feature code for the caller's own extension: args.on = true switches it on
-- (calls are treated as busy), false off. The caller hears a beep.
return function(call, args)
  call:answer()
  extension.set_dnd(call.caller, args.on == true)
  call:tone("beep")
  call:wait(0.3)
  call:hangup()
end
