--[[ counts: read-only count of a queue's jobs per state, O(priority levels).
  KEYS[1] priorities   (zset)   priority levels with a waiting list
  KEYS[2] delayed      (zset)
  KEYS[3] active       (zset)
  KEYS[4] completed    (zset)
  KEYS[5] failed       (zset)
  KEYS[6] paused       (string)
  ARGV[1] wait key prefix
  Returns {waiting, delayed, active, completed, failed, paused (0/1)}.
]]
local rcall = redis.call
local waiting = 0
for _, prio in ipairs(rcall("ZRANGE", KEYS[1], 0, -1)) do
  waiting = waiting + rcall("LLEN", ARGV[1] .. prio)
end
return {waiting, rcall("ZCARD", KEYS[2]), rcall("ZCARD", KEYS[3]), rcall("ZCARD", KEYS[4]),
        rcall("ZCARD", KEYS[5]), rcall("EXISTS", KEYS[6])}
