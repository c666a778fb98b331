-- Call forwarding by feature code, for the caller's own extension:
--   <code><number>  forwards to <number>, e.g. *90*200 (code "*90*")
--   <code without the last *>#  cancels, e.g. *90#
-- args.type: which forward the code sets: "always", "busy", "noAnswer" or "unreachable".
-- args.code: the code as configured, e.g. "*90*". The caller hears a confirmation tone or
-- "invalid entry".
return function(call, args)
  local kind, code = args.type, args.code
  if not (kind and code) then error("call-forward needs args.type and args.code") end
  local cancel = code:sub(1, -2) .. "#"
  local target
  if call.dialled == cancel then
    target = nil
  elseif call.dialled:sub(1, #code) == code and #call.dialled > #code then
    target = call.dialled:sub(#code + 1)
  else
    call:reject(404, "Not Found")
    return
  end
  call:answer()
  if target ~= nil and target == call.caller then
    call:play({ "invalid-entry", "goodbye" })
    call:hangup()
    return
  end
  extension.set_forward(call.caller, kind, target)
  call:tone("beep")
  call:wait(0.3)
  call:hangup()
end
