-- Call pickup: answer, from your own phone, a call that rings another.
-- Directed ("*40*<extension>", args.mode = "directed"): the call ringing that extension.
-- Group ("*50*", args.mode = "group"): a call ringing any member of the pickup groups named in the
-- caller's call settings (pickupGroups). The oldest ringing call is taken; the caller gets 404 when
-- nothing rings there.

local function group_members(caller)
  local settings = extension.settings(caller)
  local members = {}
  for _, name in ipairs(settings and settings.pickupGroups or {}) do
    local group = data.get("pickup-groups", name)
    for _, member in ipairs(group and group.members or {}) do
      if member ~= caller then members[#members + 1] = member end
    end
  end
  return members
end

return function(call, args)
  local targets
  if args.mode == "group" then
    targets = group_members(call.caller)
  else
    local code = args.code or "*40*"
    local number = call.dialled:sub(#code + 1)
    targets = number ~= "" and { number } or {}
  end
  if #targets == 0 or not call:pickup(targets) then
    call:reject(404, "Not Found - no call to pick up")
  end
end
