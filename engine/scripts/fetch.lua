--[[ fetch: promote due delayed jobs, then lease up to N waiting jobs, lowest priority first.
  KEYS[1] priorities   (zset)   priority levels that have a waiting list
  KEYS[2] delayed      (zset)   delayed job ids by due time (ms)
  KEYS[3] active       (zset)   leased job ids by lease deadline (ms)
  KEYS[4] paused       (string) present while the queue is paused
  KEYS[5] fence        (string) fencing-token counter
  KEYS[6] notify       (list)   wake-up token
  KEYS[7] failed       (zset)   dead-letter job ids by time (ms)
  KEYS[8] id counter   (string) generated job ids (for malformed-entry records)
  KEYS[9] events       (stream) capped event log
  KEYS[10] replay record (string) the ids and tokens this call leased, kept for one lease
                                 under the caller's request id: a replay of the call (its
                                 reply was lost and it was sent again) answers those same
                                 jobs, still leased, and leases nothing more
  ARGV[1] job key prefix
  ARGV[2] wait key prefix
  ARGV[3] now (ms)
  ARGV[4] max jobs to lease
  ARGV[5] lease duration (ms)
  ARGV[6] worker id
  ARGV[7] max delayed jobs to promote in this call
  ARGV[8] events stream max length
  ARGV[9] "1" if the caller runs nothing now, so it may take a quarantined job
  ARGV[10] metrics key prefix (the minute number is appended), as finish.lua
  ARGV[11] metrics TTL (s)
  Returns: {paused (0/1), next delayed due ms (-1 if none), count, held (0/1),
            then 8 values per leased job: id, token, name, data, ready ms, attempts made, opts, stalls}
  A replay writes nothing; its header says not paused and not held.
  Every entry is checked before anything is written for it, so the script never errors
  halfway (Redis would keep the writes made before the error and lose the rest of the
  batch). A list entry without a job hash (raw bytes pushed by hand, or a key of another
  type) is recorded as a new failed job keeping the raw id; a job hash whose counters are
  not numbers is failed in place; a ready time that is no number reads as now. Each counts
  in the minute's metrics as a failed try (e) and failed for good (f).
  Quarantine: a job with stalls > 0 was running when a worker died, and may be what killed
  it. It is only leased alone, to a caller running nothing (ARGV[9] = "1"), so a poison job
  cannot take innocent jobs down with it again. Reaching one otherwise, the script puts it
  and everything after it back at the head of their lists and answers held = 1.
]]
local rcall = redis.call
local prios_key, delayed_key, active_key, paused_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local fence_key, notify_key, failed_key, counter_key, events_key, replay_key =
  KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local job_prefix, wait_prefix = ARGV[1], ARGV[2]
local now, max_jobs, lease = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local worker, max_promote, events_max = ARGV[6], tonumber(ARGV[7]), ARGV[8]
local alone_ok = ARGV[9] == "1"
local metrics_prefix, metrics_ttl = ARGV[10], tonumber(ARGV[11])

local function next_due()
  local first = rcall("ZRANGE", delayed_key, 0, 0, "WITHSCORES")
  if first[2] then return tonumber(first[2]) end
  return -1
end

-- A leased job's reply fields, after its id and token.
local function leased_fields(out, job_key, att)
  local f
  if att then
    f = rcall("HMGET", job_key, "name", "data", "rt", "opts", "stl")
  else
    f = rcall("HMGET", job_key, "name", "data", "rt", "opts", "stl", "att")
    att = tonumber(f[6]) or 0
  end
  out[#out + 1] = f[1] or ""
  out[#out + 1] = f[2] or ""
  out[#out + 1] = tonumber(f[3]) or now  -- a ready time that is no number reads as now
  out[#out + 1] = att
  out[#out + 1] = f[4] or ""
  out[#out + 1] = f[5] or 0
end

-- 0. A replay: answer the jobs the first run leased that this lease still holds.
local replayed = rcall("GET", replay_key)
if replayed then
  local pairs_ = cmsgpack.unpack(replayed)
  local out = {0, next_due(), 0, 0}
  for i = 1, #pairs_, 2 do
    local id, token = pairs_[i], pairs_[i + 1]
    local job_key = job_prefix .. id
    if rcall("HGET", job_key, "tok") == tostring(token) and rcall("ZSCORE", active_key, id) then
      out[#out + 1] = id
      out[#out + 1] = token
      leased_fields(out, job_key, nil)
      out[3] = out[3] + 1
    end
  end
  return out
end

-- 1. Promote delayed jobs that are due.
local due = rcall("ZRANGEBYSCORE", delayed_key, "-inf", now, "LIMIT", 0, max_promote)
for _, id in ipairs(due) do
  local prio = rcall("HGET", job_prefix .. id, "prio") or "0"
  rcall("RPUSH", wait_prefix .. prio, id)
  rcall("ZADD", prios_key, tonumber(prio), prio)
  rcall("HSET", job_prefix .. id, "state", "waiting")
  rcall("ZREM", delayed_key, id)
end

if rcall("EXISTS", paused_key) == 1 then
  return {1, next_due(), 0, 0}
end

-- 2. Pop ids, lowest priority number first (remembering each one's list).
local ids = {}
local lists = {}
local prios = rcall("ZRANGE", prios_key, 0, -1)
for _, prio in ipairs(prios) do
  local want = max_jobs - #ids
  if want <= 0 then break end
  local list_key = wait_prefix .. prio
  local popped = rcall("LPOP", list_key, want)
  if popped then
    for _, id in ipairs(popped) do
      ids[#ids + 1] = id
      lists[#ids] = prio
    end
  end
  if rcall("LLEN", list_key) == 0 then rcall("ZREM", prios_key, prio) end
end

-- Put ids[from..] back at the head of their lists, in their original order.
local function put_back(from)
  for j = #ids, from, -1 do
    rcall("LPUSH", wait_prefix .. lists[j], ids[j])
    rcall("ZADD", prios_key, tonumber(lists[j]), lists[j])
  end
end

-- 3. Lease each job: bump attempts before the handler runs, record token and worker.
local out = {0, 0, 0, 0}
local count = 0
local token = 0
if #ids > 0 then token = rcall("INCRBY", fence_key, #ids) - #ids end
local deadline = now + lease
local alone = false
local leased = {}
-- A corrupt entry is failed with its reason and never touches the rest of the batch.
local function count_failure()
  local metrics_key = metrics_prefix .. math.floor(now / 60000)
  rcall("HINCRBY", metrics_key, "f", 1)
  rcall("HINCRBY", metrics_key, "e", 1)
  rcall("EXPIRE", metrics_key, metrics_ttl)
end

-- An entry naming no job hash: a new failed record keeps the raw id; a foreign key of
-- another type is left as it is.
local function record_malformed(id, kind)
  -- Like add.lua: never take an id a client-chosen job already uses.
  local rec
  repeat
    rec = tostring(rcall("INCR", counter_key))
  until rcall("EXISTS", job_prefix .. rec) == 0
  local why = "waiting-list entry has no job hash (raw bytes kept in 'raw')"
  if kind ~= "none" then
    why = "waiting-list entry '" .. id .. "' names a " .. kind .. " key, not a job hash"
  end
  rcall("HSET", job_prefix .. rec, "name", "", "state", "failed", "ts", now, "ft", now,
        "prio", "0", "att", 0, "raw", id, "err", "MalformedJobError: " .. why)
  rcall("ZADD", failed_key, now, rec)
  rcall("XADD", events_key, "MAXLEN", "~", events_max, "*", "ev", "malformed", "id", rec)
  count_failure()
end

-- A job hash's stall count, read once; or, when its counters are not numbers (it cannot
-- be leased: failed in place), nil and the reason.
local function read_stalls(job_key)
  local f = rcall("HMGET", job_key, "att", "stl")
  for n, name in ipairs({"att", "stl"}) do
    if f[n] and not string.match(f[n], "^%-?%d+$") then
      return nil, "field '" .. name .. "' is not a number: '" .. f[n] .. "'"
    end
  end
  return tonumber(f[2] or "0"), nil
end

local function fail_in_place(id, job_key, why)
  rcall("HSET", job_key, "state", "failed", "ft", now, "err", "MalformedJobError: " .. why)
  rcall("ZADD", failed_key, now, id)
  rcall("XADD", events_key, "MAXLEN", "~", events_max, "*", "ev", "malformed", "id", id)
  count_failure()
end

for i, id in ipairs(ids) do
  token = token + 1
  local job_key = job_prefix .. id
  local kind = rcall("TYPE", job_key)["ok"]
  local stalls, bad = 0, nil
  if kind == "hash" then stalls, bad = read_stalls(job_key) end
  stalls = stalls or 0
  if alone then
    put_back(i)
    break
  elseif stalls > 0 and not (alone_ok and count == 0) then
    put_back(i)
    out[4] = 1
    break
  end
  alone = stalls > 0
  if kind ~= "hash" then
    record_malformed(id, kind)
  elseif bad then
    fail_in_place(id, job_key, bad)
  else
    local att = rcall("HINCRBY", job_key, "att", 1)
    rcall("HSET", job_key, "state", "active", "tok", token, "wk", worker, "pt", now)
    rcall("ZADD", active_key, deadline, id)
    out[#out + 1] = id
    out[#out + 1] = token
    leased_fields(out, job_key, att)
    leased[#leased + 1] = id
    leased[#leased + 1] = token
    count = count + 1
  end
end

-- 4. More work left: pass the wake-up on so another blocked worker starts too.
if #ids > 0 and rcall("ZCARD", prios_key) > 0 and rcall("LLEN", notify_key) == 0 then
  rcall("RPUSH", notify_key, "1")
end
out[2] = next_due()
out[3] = count
if count > 0 then rcall("SET", replay_key, cmsgpack.pack(leased), "PX", lease) end
return out
