--[[ remove: delete one job that is not running.
  KEYS[1] delayed      (zset) delayed job ids
  KEYS[2] completed    (zset) completed job ids
  KEYS[3] failed       (zset) failed job ids
  KEYS[4] events       (stream) capped event log
  ARGV[1] job key prefix
  ARGV[2] wait key prefix
  ARGV[3] log key prefix
  ARGV[4] job id
  ARGV[5] events stream max length
  Returns 1 removed, 0 no such job, -1 the job is active (leased) and was left alone.
]]
local rcall = redis.call
local delayed_key, completed_key, failed_key, events_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local job_prefix, wait_prefix, log_prefix, id = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local job_key = job_prefix .. id
local f = rcall("HMGET", job_key, "state", "prio")
local state, prio = f[1], f[2]
if not state then return 0 end
if state == "active" then return -1 end
if state == "waiting" then
  rcall("LREM", wait_prefix .. (prio or "0"), 1, id)
else
  rcall("ZREM", delayed_key, id)
  rcall("ZREM", completed_key, id)
  rcall("ZREM", failed_key, id)
end
rcall("DEL", job_key, log_prefix .. id)
rcall("XADD", events_key, "MAXLEN", "~", ARGV[5], "*", "ev", "removed", "id", id)
return 1
