-- Call restriction: a caller whose level (call settings restrictionLevel) is below what the number
-- needs (call-restrictions data: the longest matching prefix) hears "you are not allowed to make this
-- call" as early media, then gets 403 Forbidden. The server sends callers here itself.
return function(call)
  call:early_media()
  call:play("call-restricted")
  call:reject(403, "Forbidden - call restricted")
end
