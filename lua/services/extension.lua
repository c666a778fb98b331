-- The extension service: every call to an extension comes here (unless a service number takes the
-- number first). It applies the extension's call settings (PUT /api/v1/extensions/{number}/call-settings,
-- or the feature codes *90*..*93*, *78/*79): forwarding unconditional, on busy, on no answer and when no
-- phone is registered, do not disturb, call waiting, ring time, and voicemail when nothing else applies.
-- If this script fails before the call is answered, the extension's phones ring as they are.
-- args.extension: the extension (the number dialled); args.settings: its call settings, read as the call
-- came in (what extension.settings returns; the server hands them along to save the script asking).

-- the voicemail deposit prefix (default-service-numbers: *96*<mailbox>)
local VOICEMAIL = "*96*"

return function(call, args)
  local number = args.extension or call.dialled
  local settings = args.settings or extension.settings(number)
  if not settings then
    call:reject(404, "Not Found")
    return
  end
  local forward = settings.forward
  local toVoicemail = settings.voicemail and settings.forwardToVoicemail or {}

  -- the caller goes to `target` (another extension, a group, any number), 181 first
  local function forwardTo(target)
    call:forwarding()
    call:route(target)
  end

  -- what the caller gets when the extension cannot take the call: forward, else voicemail, else `status`
  local function otherwise(target, voicemailWhen, status, reason)
    if target then
      forwardTo(target)
    elseif toVoicemail[voicemailWhen] then
      call:route(VOICEMAIL .. number)
    else
      call:reject(status, reason)
    end
  end

  if forward.always then
    forwardTo(forward.always)
    return
  end
  if settings.dnd or (not settings.callWaiting and extension.is_busy(number)) then
    otherwise(forward.busy, "busy", 486, "Busy Here")
    return
  end

  local result = call:dial(number, { timeout = settings.ringSeconds })
  if result.status == "answered" or result.status == "cancelled" then
    return
  elseif result.status == "busy" then
    otherwise(forward.busy, "busy", 486, "Busy Here")
  elseif result.status == "noanswer" then
    otherwise(forward.noAnswer, "noAnswer", 408, "Request Timeout - No Answer")
  elseif result.status == "unavailable" then
    otherwise(forward.unreachable, "unreachable", 480, "Temporarily Unavailable")
  else
    call:reject(result.code, "Call Failed")
  end
end
