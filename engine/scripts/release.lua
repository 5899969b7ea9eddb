--[[ release: give leased jobs back to the head of their waiting list (graceful stop).
  The attempt bumped at fetch is taken back: the job was interrupted, it did not fail.
  KEYS[1] active       (zset) leased job ids
  KEYS[2] priorities   (zset) priority levels with a waiting list
  KEYS[3] notify       (list) wake-up token
  ARGV[1] job key prefix
  ARGV[2] wait key prefix
  ARGV[3..] pairs of id, token, in the order the jobs were fetched
  Returns the number of jobs released. They go back in that order, ahead of the jobs
  already waiting: walked from the last pair to the first, since each LPUSH goes in front.
]]
local rcall = redis.call
local active_key, prios_key, notify_key = KEYS[1], KEYS[2], KEYS[3]
local job_prefix, wait_prefix = ARGV[1], ARGV[2]
local released = 0
for i = #ARGV - 1, 3, -2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local job_key = job_prefix .. id
  if rcall("HGET", job_key, "tok") == token and rcall("ZSCORE", active_key, id) then
    local prio = rcall("HGET", job_key, "prio") or "0"
    rcall("ZREM", active_key, id)
    rcall("HINCRBY", job_key, "att", -1)
    rcall("HDEL", job_key, "tok")
    rcall("HSET", job_key, "state", "waiting")
    rcall("LPUSH", wait_prefix .. prio, id)
    rcall("ZADD", prios_key, tonumber(prio), prio)
    released = released + 1
  end
end
if released > 0 and rcall("LLEN", notify_key) == 0 then rcall("RPUSH", notify_key, "1") end
return released
