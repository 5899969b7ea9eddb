--[[ finish: record the outcome of leased jobs (complete, retry later, or fail for good).
  A job is only changed while the caller still holds its lease: the token must match the
  job's current token and the job must be in the active set. Otherwise it is reported back
  as rejected and left alone (a reclaimed job is never overwritten by a stale worker).
  A finished job keeps its lease's token as 'tok' = "f" .. token (no live lease matches
  it), so a replay of the call (its reply was lost and it was sent again) skips the jobs it
  already finished rather than calling them lost.
  KEYS[1] active       (zset)   leased job ids
  KEYS[2] completed    (zset)   completed job ids by finish time (ms)
  KEYS[3] failed       (zset)   failed job ids by failure time (ms)
  KEYS[4] delayed      (zset)   delayed job ids by due time (ms)
  KEYS[5] priorities   (zset)   priority levels with a waiting list
  KEYS[6] notify       (list)   wake-up token
  KEYS[7] events       (stream) capped event log
  ARGV[1] job key prefix
  ARGV[2] wait key prefix
  ARGV[3] log key prefix
  ARGV[4] metrics key prefix (the minute number is appended)
  ARGV[5] now (ms)
  ARGV[6] completed jobs to keep (-1 = all)
  ARGV[7] failed jobs to keep (-1 = all)
  ARGV[8] metrics TTL (s)
  ARGV[9] events stream max length
  ARGV[10] the outcomes, one JSON array of 8-element arrays:
          [id, token, outcome ("c" complete, "C" complete and delete,
           "r" retry after delay, "f" fail), value (result JSON for c, error for r/f),
           traceback, run ms, wait ms, retry delay ms]
          (one argument instead of 8 per job: packing hundreds of arguments was the
          caller's single biggest cost per job)
  Returns the ids whose outcome was rejected (lease lost).
]]
local rcall = redis.call
local active_key, completed_key, failed_key, delayed_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local prios_key, notify_key, events_key = KEYS[5], KEYS[6], KEYS[7]
local job_prefix, wait_prefix, log_prefix, metrics_prefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local now = tonumber(ARGV[5])
local keep_completed, keep_failed = tonumber(ARGV[6]), tonumber(ARGV[7])
local metrics_ttl, events_max = tonumber(ARGV[8]), ARGV[9]
local outcomes = cjson.decode(ARGV[10])

local rejected = {}
local metrics = {}
local woke = false
local function bump(field, by) metrics[field] = (metrics[field] or 0) + by end
-- Log-scale histogram bucket: four buckets per doubling, enough for p50/p95 within ~19%.
local function bucket(ms) return math.floor(math.log(ms + 1) / math.log(2) * 4) end

local function trim(key, keep)
  if keep < 0 then return end
  local extra = rcall("ZCARD", key) - keep
  if extra <= 0 then return end
  local old = rcall("ZRANGE", key, 0, extra - 1)
  for _, id in ipairs(old) do rcall("DEL", job_prefix .. id, log_prefix .. id) end
  rcall("ZREMRANGEBYRANK", key, 0, extra - 1)
end

for _, o in ipairs(outcomes) do
  local id, token, outcome, value, tb = o[1], o[2], o[3], o[4], o[5]
  local run_ms, wait_ms, delay = tonumber(o[6]), tonumber(o[7]), tonumber(o[8])
  local job_key = job_prefix .. id
  local held = rcall("HGET", job_key, "tok")
  if held ~= token or not rcall("ZSCORE", active_key, id) then
    if held ~= "f" .. token then rejected[#rejected + 1] = id end
  else
    local done = "f" .. token
    rcall("ZREM", active_key, id)
    bump("rs", run_ms); bump("ws", wait_ms)
    bump("r" .. bucket(run_ms), 1); bump("w" .. bucket(wait_ms), 1)
    if outcome == "C" then
      rcall("DEL", job_key, log_prefix .. id)
      bump("c", 1)
    elseif outcome == "c" then
      rcall("HSET", job_key, "state", "completed", "ft", now, "rms", run_ms, "tok", done)
      if value ~= "" then rcall("HSET", job_key, "res", value) end
      rcall("ZADD", completed_key, now, id)
      bump("c", 1)
    elseif outcome == "r" then
      rcall("HSET", job_key, "err", value, "tb", tb, "rt", now + delay, "rms", run_ms,
            "tok", done)
      if delay > 0 then
        rcall("HSET", job_key, "state", "delayed")
        rcall("ZADD", delayed_key, now + delay, id)
      else
        local prio = rcall("HGET", job_key, "prio") or "0"
        rcall("HSET", job_key, "state", "waiting")
        rcall("RPUSH", wait_prefix .. prio, id)
        rcall("ZADD", prios_key, tonumber(prio), prio)
      end
      woke = true
      bump("e", 1)
      rcall("XADD", events_key, "MAXLEN", "~", events_max, "*", "ev", "retrying", "id", id,
            "err", string.sub(value, 1, 500))
    else
      rcall("HSET", job_key, "state", "failed", "ft", now, "err", value, "tb", tb, "rms", run_ms,
            "tok", done)
      rcall("ZADD", failed_key, now, id)
      bump("f", 1); bump("e", 1)
      rcall("XADD", events_key, "MAXLEN", "~", events_max, "*", "ev", "failed", "id", id,
            "err", string.sub(value, 1, 500))
    end
  end
end

trim(completed_key, keep_completed)
trim(failed_key, keep_failed)
if next(metrics) ~= nil then
  local metrics_key = metrics_prefix .. math.floor(now / 60000)
  for field, by in pairs(metrics) do rcall("HINCRBY", metrics_key, field, by) end
  rcall("EXPIRE", metrics_key, metrics_ttl)
end
if woke and rcall("LLEN", notify_key) == 0 then rcall("RPUSH", notify_key, "1") end
return rejected
