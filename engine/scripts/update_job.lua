--[[ update_job: record progress or append a log line for a job the caller still leases.
  KEYS[1] job hash     (hash)
  KEYS[2] job log      (list) capped list of log lines
  ARGV[1] lease token
  ARGV[2] kind: "progress" or "log"
  ARGV[3] value: progress JSON, or the log line
  ARGV[4] max log lines kept
  Returns 1 if recorded, 0 if the lease was lost (nothing written).
]]
local rcall = redis.call
local job_key, log_key = KEYS[1], KEYS[2]
if rcall("HGET", job_key, "tok") ~= ARGV[1] then return 0 end
if ARGV[2] == "progress" then
  rcall("HSET", job_key, "prog", ARGV[3])
else
  local cap = tonumber(ARGV[4])
  if cap <= 0 then
    rcall("DEL", log_key)
  else
    rcall("RPUSH", log_key, ARGV[3])
    rcall("LTRIM", log_key, -cap, -1)
  end
end
return 1
