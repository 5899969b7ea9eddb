--[[ rate_limit: sliding-window limiter shared by every process; check and record atomically.
  KEYS[1] window   (zset) admitted request ids by admission time (ms); expires after a window
  ARGV[1] now (ms)
  ARGV[2] limit: requests admitted per window (>= 1)
  ARGV[3] window length (ms)
  ARGV[4] request id (unique per call; becomes the zset member)
  Returns 0 when admitted (and recorded), else the ms to wait before the window has room.
]]
local rcall = redis.call
local key = KEYS[1]
local now, limit, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
rcall("ZREMRANGEBYSCORE", key, "-inf", now - window)
local count = rcall("ZCARD", key)
if count < limit then
  rcall("ZADD", key, now, ARGV[4])
  rcall("PEXPIRE", key, window)
  return 0
end
-- room opens when the admission at rank (count - limit) leaves the window
local oldest = rcall("ZRANGE", key, count - limit, count - limit, "WITHSCORES")
local wait = tonumber(oldest[2]) + window - now
if wait < 1 then
  wait = 1
end
return wait
