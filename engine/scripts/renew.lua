--[[ renew: extend the leases a worker still holds.
  KEYS[1] active   (zset) leased job ids by lease deadline (ms)
  ARGV[1] job key prefix
  ARGV[2] new deadline (ms)
  ARGV[3..] pairs of id, token
  Returns the ids whose lease was lost (token changed or job no longer active).
]]
local rcall = redis.call
local active_key, job_prefix, deadline = KEYS[1], ARGV[1], ARGV[2]
local lost = {}
for i = 3, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  if rcall("HGET", job_prefix .. id, "tok") == token and rcall("ZSCORE", active_key, id) then
    rcall("ZADD", active_key, "XX", deadline, id)
  else
    lost[#lost + 1] = id
  end
end
return lost
