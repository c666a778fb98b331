-- menu: a voice menu. The caller hears args.prompt and presses a key; the call goes on to the number
-- that args.options gives for that key (an extension, a ring group, another service...). No key or a
-- wrong one: the menu again, up to args.tries times, then "goodbye".
--
-- args:
--   prompt   the menu prompt, a sound you recorded, e.g. "main-menu" (required)
--   options  what each key dials, e.g. { "1": "600", "2": "610", "0": "200" } (required)
--   tries    how often the menu is played, default 3
return function(call, args)
  if not (args.prompt and args.options) then error("menu needs args.prompt and args.options") end
  call:answer()
  for _ = 1, args.tries or 3 do
    -- terminator "": with a one-key menu, # is a key like any other
    local key = call:collect{ prompt = args.prompt, max = 1, timeout = 5, terminator = "" }
    if not call:is_up() then return end
    local target = args.options[key]
    if target then
      call:play("transfer")
      call:route(target)
      return
    end
    if key ~= "" then call:play("invalid-entry") end
  end
  call:play("goodbye")
  call:hangup()
end
