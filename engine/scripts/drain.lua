--[[ drain: delete waiting and delayed jobs (never active ones), in bounded batches.
  KEYS[1] priorities   (zset)   priority levels with a waiting list
  KEYS[2] delayed      (zset)   delayed job ids
  KEYS[3] events       (stream) capped event log
  ARGV[1] job key prefix
  ARGV[2] wait key prefix
  ARGV[3] log key prefix
  ARGV[4] limit: at most this many jobs in this call
  ARGV[5] events stream max length
  Returns the number of jobs deleted; call again until it returns 0.
]]
local rcall = redis.call
local prios_key, delayed_key, events_key = KEYS[1], KEYS[2], KEYS[3]
local job_prefix, wait_prefix, log_prefix = ARGV[1], ARGV[2], ARGV[3]
local limit, events_max = tonumber(ARGV[4]), ARGV[5]

local removed = 0
local function drop(id)
  rcall("DEL", job_prefix .. id, log_prefix .. id)
  removed = removed + 1
end
for _, prio in ipairs(rcall("ZRANGE", prios_key, 0, -1)) do
  if removed >= limit then break end
  local popped = rcall("LPOP", wait_prefix .. prio, limit - removed)
  if popped then for _, id in ipairs(popped) do drop(id) end end
  if rcall("LLEN", wait_prefix .. prio) == 0 then rcall("ZREM", prios_key, prio) end
end
if removed < limit then
  local popped = rcall("ZPOPMIN", delayed_key, limit - removed)
  for i = 1, #popped, 2 do drop(popped[i]) end
end
if removed > 0 then
  rcall("XADD", events_key, "MAXLEN", "~", events_max, "*", "ev", "drained", "count", removed)
end
return removed
