-- office-hours: while the office is open, calls go on to args.open_number (the reception's
-- extension, a ring group, ...); outside the opening hours the caller hears a message and may leave
-- a voicemail.
--
-- args:
--   open_number    where calls go while open (required)
--   days           opening days, default { "mon", "tue", "wed", "thu", "fri" }
--   open, close    opening hours "HH:MM" in the server's local time, default "08:00" and "18:00"
--   closed_prompt  the sound played when closed, default "not-available"
--   mailbox        where callers may leave a message when closed; without it they only hear the message
local DAY_NAMES = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" }
local WEEKDAYS = { "mon", "tue", "wed", "thu", "fri" }

local function minutes(hhmm)
  local hours, mins = tostring(hhmm):match("^(%d%d?):(%d%d)$")
  if not hours then error("office-hours: a time is written HH:MM, not " .. tostring(hhmm)) end
  return tonumber(hours) * 60 + tonumber(mins)
end

local function is_open(args, now)
  local today = DAY_NAMES[now.wday]
  local open_today = false
  for _, day in ipairs(args.days or WEEKDAYS) do
    if day == today then open_today = true end
  end
  local minute = now.hour * 60 + now.min
  return open_today and minute >= minutes(args.open or "08:00") and minute < minutes(args.close or "18:00")
end

return function(call, args)
  if not args.open_number then error("office-hours needs args.open_number") end
  if is_open(args, os.date("*t")) then
    -- routed before answering: the reception's phones ring as for a direct call
    call:route(args.open_number)
    return
  end
  call:answer()
  call:play(args.closed_prompt or "not-available", { interrupt = "#" })
  if args.mailbox and call:is_up() and not voicemail.is_full(args.mailbox) then
    call:play("vm-leave-message", { interrupt = "#" })
    -- hanging up ends the message too: what was recorded is still saved
    local message = call:is_up() and call:record{ max_seconds = 120, stop_digits = "#" }
    if message then voicemail.save(args.mailbox, message) end
  end
  if call:is_up() then call:play("goodbye") end
  call:hangup()
end
