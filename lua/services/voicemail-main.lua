-- Mailbox access: listen to new and saved messages, delete or save them, record the greeting, change
-- the PIN. args.own = true: the caller's own mailbox (asks the PIN only when one is set, as the
-- phone is the owner's); otherwise the caller is asked for a mailbox number and its PIN.
local MAX_TRIES = 3

local function say_count(call, count, singular, plural)
  call:say_digits(tostring(count))
  call:play(count == 1 and singular or plural)
end

local function login(call, args)
  local number = call.caller
  if not args.own then
    number = call:collect{ prompt = "vm-enter-mailbox", max = 32, timeout = 5 }
  end
  local box = number ~= "" and mailbox.get(number) or nil
  if args.own and box and not box.pinSet then return number end
  for _ = 1, MAX_TRIES do
    local pin = call:collect{ prompt = "vm-enter-pin", max = 12, timeout = 5 }
    if box and box.pinSet and mailbox.check_pin(number, pin) then return number end
    call:play("vm-wrong-pin")
    if not args.own then
      number = call:collect{ prompt = "vm-enter-mailbox", max = 32, timeout = 5 }
      box = number ~= "" and mailbox.get(number) or nil
    end
  end
  return nil
end

local function listen(call, number, folder)
  local messages = voicemail.messages(number, folder)
  if #messages == 0 then
    call:play("vm-no-messages")
    return
  end
  local i = 1
  while i <= #messages and call:is_up() do
    local message = messages[i]
    local key = voicemail.play(message.id, { interrupt = "379#" })
    if not key then key = call:collect{ prompt = "vm-message-menu", max = 1, timeout = 5, terminator = "" } end
    if key == "7" then
      voicemail.delete(message.id)
      call:play("vm-deleted")
      i = i + 1
    elseif key == "9" then
      voicemail.mark_saved(message.id)
      call:play("vm-saved")
      i = i + 1
    elseif key == "3" then
      -- repeat: same message again
    else
      if folder == "new" then voicemail.mark_saved(message.id) end
      i = i + 1
    end
  end
  if call:is_up() then call:play("vm-no-more-messages") end
end

local function record_greeting(call, number)
  call:play("vm-record-greeting")
  local greeting = call:record{ max_seconds = 60, beep = true, stop_digits = "#" }
  if greeting then
    voicemail.save_greeting(number, greeting)
    call:play("vm-greeting-saved")
  end
end

local function change_pin(call, number)
  local pin = call:collect{ prompt = "vm-enter-new-pin", max = 12, timeout = 5, terminator = "#" }
  if #pin >= 4 then
    mailbox.set_pin(number, pin)
    call:play("vm-pin-changed")
  else
    call:play("invalid-entry")
  end
end

return function(call, args)
  call:answer()
  local number = login(call, args)
  if not number then
    call:play("goodbye")
    call:hangup()
    return
  end
  local counts = voicemail.counts(number)
  call:play("vm-you-have")
  say_count(call, counts.new, "vm-new-message", "vm-new-messages")
  say_count(call, counts.saved, "vm-saved-message", "vm-saved-messages")
  local idle = 0
  while call:is_up() and idle < MAX_TRIES do
    local choice = call:collect{ prompt = "vm-main-menu", max = 1, timeout = 5, terminator = "" }
    if choice == "1" then listen(call, number, "new"); idle = 0
    elseif choice == "2" then listen(call, number, "saved"); idle = 0
    elseif choice == "3" then record_greeting(call, number); idle = 0
    elseif choice == "4" then change_pin(call, number); idle = 0
    elseif choice == "" then idle = idle + 1
    else call:play("invalid-entry"); idle = idle + 1
    end
  end
  if call:is_up() then
    call:play("goodbye")
    call:hangup()
  end
end
