-- Hunting group and call queue: members are tried one at a time, each for memberRingSeconds, in order
-- (linear) or starting after the member who took the previous call (circular). Members already on a
-- call are skipped. When every member is busy or nobody answered, the caller waits in the queue: it
-- is answered, hears "all our agents are busy", music on hold and its position every
-- announceEverySeconds, and whoever waits longest is tried first whenever a member is free; after
-- maxWaitSeconds (or when maxCallers already wait) the caller goes to the fallback, else hears busy.
-- The group is hunt-groups data (POST /api/v1/hunt-groups). args.group: the group's number; default
-- the number dialled.

-- both live as long as this service's VM: every call of the service runs in it
local nextStart = {} -- group number -> the member index the next call starts with (circular)
local waiting = {} -- group number -> the calls waiting, longest first: { id =, since = os.time() }

local function position(list, id)
  for i, entry in ipairs(list) do
    if entry.id == id then return i end
  end
  return nil
end

local function leave(list, id)
  local i = position(list, id)
  if i then table.remove(list, i) end
end

-- a call whose script died without leaving (an error) must not block the queue for ever
local function prune(list, maxWait)
  local now = os.time()
  for i = #list, 1, -1 do
    if now - list[i].since > maxWait + 60 then table.remove(list, i) end
  end
end

-- one round over the members, each rung for memberRingSeconds; the outcome of the round
local function hunt(call, number, group)
  local members = group.members
  local first = group.strategy == "circular" and (nextStart[number] or 1) or 1
  local rang = false
  for i = 0, #members - 1 do
    local index = (first - 1 + i) % #members + 1
    local member = members[index]
    if not extension.is_busy(member) then
      local result = call:dial(member, { timeout = group.memberRingSeconds })
      if result.status == "answered" then
        nextStart[number] = index % #members + 1
        return "answered"
      elseif result.status == "cancelled" then
        return "gone"
      end
      rang = rang or result.status == "noanswer"
    end
    if not call:is_up() then return "gone" end
  end
  return rang and "noanswer" or "busy"
end

local function anyoneFree(group)
  for _, member in ipairs(group.members) do
    if not extension.is_busy(member) then return true end
  end
  return false
end

local function giveUp(call, group, outcome, answered)
  if group.fallback then
    call:route(group.fallback)
  elseif answered then
    call:play({ outcome == "noanswer" and "not-available" or "busy", "goodbye" })
    call:hangup()
  elseif outcome == "noanswer" then
    call:reject(408, "Request Timeout - No Answer")
  else
    call:reject(486, "Busy Here")
  end
end

-- the caller waits until it is first in line and a member is free, then that round is tried
local function queue(call, number, group)
  local q = group.queue
  local list = waiting[number] or {}
  waiting[number] = list
  prune(list, q.maxWaitSeconds)
  if #list >= q.maxCallers then return "full" end
  list[#list + 1] = { id = call.id, since = os.time() }
  call:answer()
  call:play("queue-wait")
  local waited, sinceAnnouncement = 0, 0
  local step = 5
  while call:is_up() and waited < q.maxWaitSeconds do
    if position(list, call.id) == 1 and anyoneFree(group) then
      local outcome = hunt(call, number, group)
      if outcome == "answered" or outcome == "gone" then
        leave(list, call.id)
        return outcome
      end
    end
    if q.announcePosition and sinceAnnouncement >= q.announceEverySeconds then
      call:play("queue-position")
      call:say_digits(tostring(position(list, call.id)))
      sinceAnnouncement = 0
    end
    call:music(step, { sound = q.music })
    waited = waited + step
    sinceAnnouncement = sinceAnnouncement + step
  end
  leave(list, call.id)
  return call:is_up() and "timeout" or "gone"
end

return function(call, args)
  local number = args.group or call.dialled
  local group = data.get("hunt-groups", number)
  if not group then
    call:reject(404, "No Such Group")
    return
  end
  local list = waiting[number]
  if list then prune(list, group.queue.maxWaitSeconds) end
  -- callers already waiting go first: a new caller joins the queue instead of trying the members
  local outcome = (list and #list > 0) and "busy" or hunt(call, number, group)
  if outcome == "answered" or outcome == "gone" then return end
  local answered = false
  if group.queue.maxWaitSeconds > 0 then
    local queued = queue(call, number, group)
    if queued == "answered" or queued == "gone" then return end
    answered = queued ~= "full"
  end
  giveUp(call, group, outcome, answered)
end
