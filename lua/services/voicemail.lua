-- Voicemail deposit: the caller hears the mailbox's greeting, then a beep, and leaves a message,
-- ended by # or by hanging up. The message is stored, the owner's phone lamp lights (MWI), and the
-- message is e-mailed when the mailbox has an address.
-- args.mailbox: the mailbox; or args.code: a prefix, the mailbox follows it in the number dialled
-- (the default *96*<mailbox>, where the extension service sends callers); else the number dialled.
return function(call, args)
  local number = args.mailbox
    or (args.code and call.dialled:sub(1, #args.code) == args.code and call.dialled:sub(#args.code + 1))
    or call.dialled
  local box = mailbox.get(number)
  if not box then
    call:reject(404, "No Such Mailbox")
    return
  end
  call:answer()
  if voicemail.is_full(number) then
    call:play({ "not-available", "goodbye" })
    call:hangup()
    return
  end
  if box.greeting == "recorded" and voicemail.has_greeting(number) then
    voicemail.play_greeting(number, { interrupt = "#" })
  else
    call:play("vm-greeting-unavailable", { interrupt = "#" })
  end
  call:play("vm-leave-message", { interrupt = "#" })
  local message = call:record{ max_seconds = box.maxMessageSeconds, beep = true, stop_digits = "#" }
  if message then voicemail.save(number, message) end
  if call:is_up() then
    call:play("goodbye")
    call:hangup()
  end
end
