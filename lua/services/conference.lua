-- Conference rooms: "*6*<room>*<pin>" joins room <room> (its PIN keyed in the number, or asked for),
-- or args.room names the room a plain number leads to. Rooms are conference-rooms data: PIN and
-- maximum members; a room without data is open to all, up to 20 members.
local MAX_TRIES = 3

local function pin_ok(room, pin)
  return pin ~= nil and pin ~= "" and data.check_pin("conference-rooms", room, pin)
end

local function parse(call, args)
  if args.room then return tostring(args.room), nil end
  local code = args.code or "*6*"
  local rest = call.dialled:sub(#code + 1)
  local room, pin = rest:match("^([^*]+)%*?(%d*)$")
  return room, pin ~= "" and pin or nil
end

return function(call, args)
  local room, pin = parse(call, args)
  if not room then
    call:reject(404, "No Such Conference Room")
    return
  end
  local settings = data.get("conference-rooms", room) or { maxMembers = 20, pinSet = false }
  call:answer()
  if settings.pinSet then
    local ok = pin_ok(room, pin)
    local tries = 0
    while not ok and tries < MAX_TRIES and call:is_up() do
      if pin ~= nil or tries > 0 then call:play("conf-wrong-pin") end
      pin = call:collect{ prompt = "conf-enter-pin", max = 12, timeout = 5 }
      ok = pin_ok(room, pin)
      tries = tries + 1
    end
    if not ok then
      call:play("goodbye")
      call:hangup()
      return
    end
  end
  if call:conference_size(room) >= settings.maxMembers then
    call:play({ "conf-full", "goodbye" })
    call:hangup()
    return
  end
  call:play("conf-joined")
  -- someone may have taken the last place while the prompt played
  if not call:conference(room, { max_members = settings.maxMembers, announce = settings.announceJoinLeave ~= false }) and call:is_up() then
    call:play({ "conf-full", "goodbye" })
    call:hangup()
  end
end
