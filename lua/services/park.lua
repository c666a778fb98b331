-- Call park: "*70*<slot>" (slots 1-99). A phone parks the call it is on by transferring it to the code:
-- the call waits in the slot with music. Dialling the code retrieves the call waiting there. A call
-- nobody retrieves within args.timeout seconds (default 60) rings back the extension that parked it,
-- and so does a call transferred to a slot already in use.

local function slot_of(call, args)
  local code = args.code or "*70*"
  local slot = tonumber(call.dialled:sub(#code + 1):match("^%d+$"))
  if slot and slot >= 1 and slot <= (args.slots or 99) then return tostring(slot) end
  return nil
end

return function(call, args)
  local slot = slot_of(call, args)
  if not slot then
    call:reject(404, "Not Found - no such park slot")
    return
  end
  local parker = call:referred_by()
  call:answer()
  if not parker then
    if not call:retrieve(slot) then
      call:play("park-slot-empty")
      call:hangup()
    end
    return
  end
  local outcome = call:park(slot, { timeout = args.timeout or 60 })
  if outcome == "taken" or outcome == "timeout" then
    call:route(parker)
  end
end
