--[[ reap: recover jobs whose lease expired (their worker died or hung).
  Each is put back at the head of its waiting list with its stall count bumped and the lost
  worker recorded, or moved to failed once it has stalled max_stalls times. Clearing the
  token makes any late ack from the lost worker fail its token check.
  KEYS[1] active       (zset)   leased job ids by lease deadline (ms)
  KEYS[2] failed       (zset)   failed job ids
  KEYS[3] priorities   (zset)   priority levels with a waiting list
  KEYS[4] notify       (list)   wake-up token
  KEYS[5] events       (stream) capped event log
  ARGV[1] job key prefix
  ARGV[2] wait key prefix
  ARGV[3] now (ms)
  ARGV[4] max stalls before a job fails
  ARGV[5] max jobs to reap in this call
  ARGV[6] events stream max length
  ARGV[7] metrics key prefix (the minute number is appended), as finish.lua
  ARGV[8] metrics TTL (s)
  Returns {requeued count, failed count, then the ids handled}.
  A job failed here counts in the minute's metrics as finish.lua counts one: a failed try
  (e) and failed for good (f).
]]
local rcall = redis.call
local active_key, failed_key, prios_key, notify_key, events_key =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local job_prefix, wait_prefix = ARGV[1], ARGV[2]
local now, max_stalls, limit, events_max =
  tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local metrics_prefix, metrics_ttl = ARGV[7], tonumber(ARGV[8])

local out = {0, 0}
local expired = rcall("ZRANGEBYSCORE", active_key, "-inf", now, "LIMIT", 0, limit)
for _, id in ipairs(expired) do
  local job_key = job_prefix .. id
  rcall("ZREM", active_key, id)
  local stalls = rcall("HINCRBY", job_key, "stl", 1)
  local worker = rcall("HGET", job_key, "wk") or ""
  rcall("HDEL", job_key, "tok")
  rcall("HSET", job_key, "lost", worker)
  if stalls >= max_stalls then
    rcall("HSET", job_key, "state", "failed", "ft", now, "err",
          "StalledJobError: lease expired " .. stalls .. " times (last worker " .. worker .. ")")
    rcall("ZADD", failed_key, now, id)
    out[2] = out[2] + 1
    rcall("XADD", events_key, "MAXLEN", "~", events_max, "*", "ev", "failed", "id", id,
          "err", "stalled too many times")
  else
    local prio = rcall("HGET", job_key, "prio") or "0"
    rcall("HSET", job_key, "state", "waiting")
    rcall("LPUSH", wait_prefix .. prio, id)
    rcall("ZADD", prios_key, tonumber(prio), prio)
    out[1] = out[1] + 1
    rcall("XADD", events_key, "MAXLEN", "~", events_max, "*", "ev", "stalled", "id", id,
          "worker", worker)
  end
  out[#out + 1] = id
end
if out[2] > 0 then
  local metrics_key = metrics_prefix .. math.floor(now / 60000)
  rcall("HINCRBY", metrics_key, "f", out[2])
  rcall("HINCRBY", metrics_key, "e", out[2])
  rcall("EXPIRE", metrics_key, metrics_ttl)
end
if out[1] > 0 and rcall("LLEN", notify_key) == 0 then rcall("RPUSH", notify_key, "1") end
return out
