-- Echo test: a beep, then the caller hears itself until it hangs up.
return function(call)
  call:answer()
  call:tone("beep")
  call:echo()
end
