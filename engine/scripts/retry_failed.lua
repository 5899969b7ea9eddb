--[[ retry_failed: move failed jobs back to waiting with fresh attempts.
  KEYS[1] failed       (zset)   failed job ids by failure time (ms)
  KEYS[2] priorities   (zset)   priority levels with a waiting list
  KEYS[3] notify       (list)   wake-up token
  KEYS[4] events       (stream) capped event log
  ARGV[1] job key prefix
  ARGV[2] wait key prefix
  ARGV[3] now (ms)
  ARGV[4] limit: at most this many, oldest failure first (ignored when ids are given)
  ARGV[5] events stream max length
  ARGV[6..] optional explicit job ids; ids that are not failed are skipped
  Returns the number of jobs moved.
]]
local rcall = redis.call
local failed_key, prios_key, notify_key, events_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local job_prefix, wait_prefix, now = ARGV[1], ARGV[2], ARGV[3]
local limit, events_max = tonumber(ARGV[4]), ARGV[5]

local ids = {}
if #ARGV > 5 then
  for i = 6, #ARGV do
    -- ZREM here (not ZSCORE) so an id given twice is moved once.
    if rcall("ZREM", failed_key, ARGV[i]) == 1 then ids[#ids + 1] = ARGV[i] end
  end
elseif limit > 0 then
  ids = rcall("ZRANGE", failed_key, 0, limit - 1)
  for _, id in ipairs(ids) do rcall("ZREM", failed_key, id) end
end
for _, id in ipairs(ids) do
  local job_key = job_prefix .. id
  local prio = rcall("HGET", job_key, "prio") or "0"
  rcall("HSET", job_key, "state", "waiting", "att", 0, "stl", 0, "rt", now)
  rcall("HDEL", job_key, "ft")
  rcall("RPUSH", wait_prefix .. prio, id)
  rcall("ZADD", prios_key, tonumber(prio), prio)
  rcall("XADD", events_key, "MAXLEN", "~", events_max, "*", "ev", "retried", "id", id)
end
if #ids > 0 and rcall("LLEN", notify_key) == 0 then rcall("RPUSH", notify_key, "1") end
return #ids
