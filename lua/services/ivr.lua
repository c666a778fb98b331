-- Auto attendant (IVR): the caller hears the menu's prompt and presses a key, or keys an extension
-- number. The menu is ivr-menus data (POST /api/v1/ivr-menus): prompt, options (key -> number),
-- dialByExtension, digitTimeoutSeconds, timeoutSeconds, retries, invalidPrompt, timeoutDestination,
-- fallback. Without data the default menu says "welcome, please enter the extension number".
-- args.menu: the menu's name; default "main".
local DEFAULT_MENU = {
  prompt = "welcome-enter-extension", options = {}, dialByExtension = true, digitTimeoutSeconds = 3,
  timeoutSeconds = 10, retries = 2, invalidPrompt = "invalid-entry",
}

return function(call, args)
  local menu = data.get("ivr-menus", args.menu or "main") or DEFAULT_MENU
  call:answer()
  for _ = 0, menu.retries do
    local keyed = call:collect{ prompt = menu.prompt, max = 1, first_timeout = menu.timeoutSeconds, terminator = "" }
    if keyed ~= "" and menu.dialByExtension then
      -- an extension number goes on until a pause (or #); a lone key is a menu choice
      keyed = keyed .. call:collect{ max = 31, timeout = menu.digitTimeoutSeconds, terminator = "#" }
    end
    if keyed == "" then
      -- nothing keyed: the prompt again
    elseif menu.options[keyed] then
      call:route(menu.options[keyed])
      return
    elseif menu.dialByExtension and #keyed > 1 and extension.exists(keyed) then
      call:play("transfer")
      call:route(keyed)
      return
    else
      call:play(menu.invalidPrompt)
    end
  end
  if menu.timeoutDestination then
    call:route(menu.timeoutDestination)
  elseif menu.fallback then
    call:route(menu.fallback)
  else
    call:play("goodbye")
    call:hangup()
  end
end
