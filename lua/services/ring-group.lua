-- Ring group: all members ring at once, the first to answer takes the call. The group is
-- ring-groups data (POST /api/v1/ring-groups): members, ringSeconds, skipBusy, fallback.
-- args.group: the group's number; default the number dialled. A service number points at it:
-- {"number":"600","service":"ring-group"}.
return function(call, args)
  local number = args.group or call.dialled
  local group = data.get("ring-groups", number)
  if not group then
    call:reject(404, "No Such Group")
    return
  end
  local members = {}
  for _, member in ipairs(group.members) do
    if not (group.skipBusy and extension.is_busy(member)) then members[#members + 1] = member end
  end
  local result = #members > 0 and call:dial(members, { timeout = group.ringSeconds }) or { status = "busy", code = 486 }
  if result.status == "answered" or result.status == "cancelled" then return end
  if group.fallback then
    call:route(group.fallback)
  elseif result.status == "noanswer" then
    call:reject(408, "Request Timeout - No Answer")
  else
    call:reject(486, "Busy Here")
  end
end
