--[[ add: enqueue one or more jobs atomically.
  KEYS[1] id counter        (string)  generated job ids
  KEYS[2] priorities        (zset)    priority levels that have a waiting list
  KEYS[3] delayed           (zset)    delayed job ids scored by due time (ms)
  KEYS[4] notify            (list)    at most one wake-up token for blocked workers
  KEYS[5] replay record     (string)  this call's reply, kept REPLAY_MS (60 s) under the
                                      caller's request id: a replay of the call (its reply
                                      was lost and the client sent it again) answers from
                                      it and writes nothing, so no job is created twice
  KEYS[6] guard (optional)  (string)  a claim key: when given, the jobs are added only if
                                      SET guard NX succeeds (cron ticks: once per tick)
  ARGV[1] key base          ("<prefix>:{q}:"; job hashes are base .. "job:" .. id, waiting
                            lists base .. "wait:" .. priority)
  ARGV[2] now (ms)
  ARGV[3] n, the number of jobs; then 6 values per job:
          id ("" = generate), name, data (JSON), priority, delay (ms), opts (JSON or "")
  ARGV[4 + 6n] guard TTL (s) and ARGV[5 + 6n] guard value, only with KEYS[6]
  (Few fixed arguments: packing them is a producer's main cost per single add.)
  Returns a flat array: id, 1 (created) or 0 (already existed), for each job; an empty
  array when the guard was already claimed.
]]
local REPLAY_MS = 60000  -- longer than any client retry (redis-py's take seconds)
local rcall = redis.call
local counter_key, prios_key, delayed_key, notify_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local replay_key, guard_key = KEYS[5], KEYS[6]
local job_prefix, wait_prefix = ARGV[1] .. "job:", ARGV[1] .. "wait:"
local now = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local replayed = rcall("GET", replay_key)
if replayed then return cmsgpack.unpack(replayed) end
if guard_key then
  local ttl, owner = tonumber(ARGV[4 + 6 * n]), ARGV[5 + 6 * n]
  if not rcall("SET", guard_key, owner, "NX", "EX", ttl) then return {} end
end

local out = {}
local seen_prio = {}
local woke = false
for i = 0, n - 1 do
  local at = 4 + i * 6
  local id, name, data = ARGV[at], ARGV[at + 1], ARGV[at + 2]
  local prio, delay, opts = ARGV[at + 3], tonumber(ARGV[at + 4]), ARGV[at + 5]
  local created = 1
  if id == "" then
    -- A client id may look like a generated one: skip any number already taken.
    repeat
      id = tostring(rcall("INCR", counter_key))
    until rcall("EXISTS", job_prefix .. id) == 0
  elseif rcall("EXISTS", job_prefix .. id) == 1 then
    created = 0
  end
  if created == 1 then
    local job_key = job_prefix .. id
    local state = "waiting"
    if delay > 0 then state = "delayed" end
    rcall("HSET", job_key, "name", name, "data", data, "ts", now, "state", state,
          "prio", prio, "rt", now + delay)
    if opts ~= "" then rcall("HSET", job_key, "opts", opts) end
    if delay > 0 then
      rcall("ZADD", delayed_key, now + delay, id)
    else
      rcall("RPUSH", wait_prefix .. prio, id)
      if not seen_prio[prio] then
        rcall("ZADD", prios_key, tonumber(prio), prio)
        seen_prio[prio] = true
      end
    end
    woke = true
  end
  out[#out + 1] = id
  out[#out + 1] = created
end
-- Delayed jobs wake workers too, so a blocked worker shortens its block to the due time.
if woke and rcall("LLEN", notify_key) == 0 then
  rcall("RPUSH", notify_key, "1")
end
rcall("SET", replay_key, cmsgpack.pack(out), "PX", REPLAY_MS)
return out
