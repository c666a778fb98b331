-- Hunting group: members are tried one at a time, each for memberRingSeconds, in order (linear) or
-- starting after the member who took the previous call (circular). The group is hunt-groups data
-- (POST /api/v1/hunt-groups). Members already on a call are skipped. When nobody answers the caller
-- goes to the fallback, else hears busy.
-- args.group: the group's number; default the number dialled.

-- circular hunting: where each group's next call starts; lives as long as this service's VM
local nextStart = {}

return function(call, args)
  local number = args.group or call.dialled
  local group = data.get("hunt-groups", number)
  if not group then
    call:reject(404, "No Such Group")
    return
  end
  local members = group.members
  local first = group.strategy == "circular" and (nextStart[number] or 1) or 1
  local anyRang = false
  for i = 0, #members - 1 do
    local index = (first - 1 + i) % #members + 1
    local member = members[index]
    if not extension.is_busy(member) then
      local result = call:dial(member, { timeout = group.memberRingSeconds })
      if result.status == "answered" then
        nextStart[number] = index % #members + 1
        return
      elseif result.status == "cancelled" then
        return
      end
      anyRang = anyRang or result.status == "noanswer"
    end
  end
  if group.fallback then
    call:route(group.fallback)
  elseif anyRang then
    call:reject(408, "Request Timeout - No Answer")
  else
    call:reject(486, "Busy Here")
  end
end
