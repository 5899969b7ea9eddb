--[[ set_paused: pause or resume a queue. While paused, fetch leases nothing; enqueue goes on.
  KEYS[1] paused   (string) the flag
  KEYS[2] notify   (list)   wake-up token (pushed on resume so blocked workers fetch at once)
  KEYS[3] events   (stream) capped event log
  ARGV[1] "1" to pause, "0" to resume
  ARGV[2] now (ms)
  ARGV[3] events stream max length
  Returns 1 if the state changed, 0 if it already was as asked.
]]
local rcall = redis.call
local paused_key, notify_key, events_key = KEYS[1], KEYS[2], KEYS[3]
local pause, now, events_max = ARGV[1] == "1", ARGV[2], ARGV[3]
local changed
if pause then
  changed = rcall("SET", paused_key, now, "NX") and 1 or 0
else
  changed = rcall("DEL", paused_key)
  if rcall("LLEN", notify_key) == 0 then rcall("RPUSH", notify_key, "1") end
end
if changed == 1 then
  local ev = "resumed"
  if pause then ev = "paused" end
  rcall("XADD", events_key, "MAXLEN", "~", events_max, "*", "ev", ev)
end
return changed
