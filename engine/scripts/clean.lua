--[[ clean: delete finished jobs older than a cut-off, oldest first.
  KEYS[1] state set  (zset) the completed or failed set, scored by finish time (ms)
  ARGV[1] job key prefix
  ARGV[2] log key prefix
  ARGV[3] cut-off (ms): jobs finished at or before it are deleted
  ARGV[4] limit: at most this many in this call
  Returns the number of jobs deleted.
]]
local rcall = redis.call
local set_key, job_prefix, log_prefix = KEYS[1], ARGV[1], ARGV[2]
local ids = rcall("ZRANGEBYSCORE", set_key, "-inf", ARGV[3], "LIMIT", 0, tonumber(ARGV[4]))
for _, id in ipairs(ids) do
  rcall("DEL", job_prefix .. id, log_prefix .. id)
  rcall("ZREM", set_key, id)
end
return #ids
