-- staff-news: an announcement only staff may hear. The caller keys the PIN of mailbox args.mailbox
-- and hears that mailbox's recorded greeting. Whoever knows the PIN can change the announcement by
-- phone: dial *98, key the mailbox and its PIN, press 3 and record.
--
-- args:
--   mailbox  the mailbox whose PIN opens the announcement and whose greeting is the announcement (required)
--   prompt   played instead while no greeting has been recorded, default "not-available"
local TRIES = 3

return function(call, args)
  if not args.mailbox then error("staff-news needs args.mailbox") end
  call:answer()
  for _ = 1, TRIES do
    local pin = call:collect{ prompt = "vm-enter-pin", max = 12, timeout = 5 }
    if not call:is_up() then return end
    if pin ~= "" and mailbox.check_pin(args.mailbox, pin) then
      if voicemail.has_greeting(args.mailbox) then
        voicemail.play_greeting(args.mailbox)
      else
        call:play(args.prompt or "not-available")
      end
      break
    end
    call:play("vm-wrong-pin")
  end
  if call:is_up() then call:play("goodbye") end
  call:hangup()
end
