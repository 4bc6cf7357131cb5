-- Apply the provider's view of one api call to its contacts; idempotent.
-- KEYS: meta, counts, contacts, poll, retry, calls, the do-not-call set, event stream
-- ARGV: api call id, now_ms, next due ms (or '' when the provider says every call is final),
--       retry policy JSON or '', '1' when this answer is authoritative for the whole api call
--       (a `get`: a contact it leaves out was not called as far as the provider will say),
--       due ms to poll again when a non-authoritative final answer leaves contacts open,
--       campaign key base, the most numbers this answer may add to the do-not-call set ('' for
--       no limit), then triples of (phone, new terminal state or '', detail JSON object)
-- Returns {contacts changed, campaign finished (0/1), phones unknown to the campaign,
--          contacts the final answer left out (ended `unknown`, or still polled),
--          numbers added to the do-not-call set, `toBlock`s over the limit (the call stays polled),
--          the outcomes of this call's dials ended now: a flat list of state, contacts}
-- uses: prelude
local meta, counts, contacts, poll, retry, calls = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local dnc, stream = KEYS[7], KEYS[8]
local call_id, now, due = ARGV[1], tonumber(ARGV[2]), ARGV[3]
-- {outcome = {max attempts, interval ms}} for the outcomes the campaign redials
local policy = ARGV[4] ~= '' and cjson.decode(ARGV[4]) or {}
local authoritative, fallback_due, base = ARGV[5] == '1', ARGV[6], ARGV[7]
local block_cap = tonumber(ARGV[8])
local changed, strangers, left_out, blocked, over_cap = 0, 0, 0, 0, 0
local matched = 0  -- listed phones that are contacts of this api call
local ended = {}  -- outcome -> dials of this call that ended with it now (a retry's included)
local function tally(state) ended[state] = (ended[state] or 0) + 1 end

-- `toBlock` adds a number to the global do-not-call set only when it is one of this campaign's
-- contacts and was dialled in this api call (now or in an earlier attempt): an answer naming
-- anybody else, or more numbers than it may, cannot grow the list.
local function dialled_in(rec)
  if rec.c == call_id then return true end
  for _, earlier in ipairs(rec.hist or {}) do
    if earlier.c == call_id then return true end
  end
  return false
end

local function block(phone, rec, detail)
  if not detail.tb or detail.tb == 0 or not dialled_in(rec) then return end
  if redis.call('SISMEMBER', dnc, phone) == 1 then return end
  if block_cap and blocked >= block_cap then
    over_cap = over_cap + 1
    return
  end
  redis.call('SADD', dnc, phone)
  blocked = blocked + 1
end

-- The counters move once per state at the end (two HINCRBYs per changed contact were a good
-- part of a get's cost); nothing in between reads them.
local delta = {}
local function move(_, from, to)
  if from == to then return end
  if from then delta[from] = (delta[from] or 0) - 1 end
  delta[to] = (delta[to] or 0) + 1
end

-- Every listed contact read in one HMGET; a phone listed twice reads what its first entry wrote.
local listed, written = {}, {}
for i = 9, #ARGV, 3 do listed[#listed + 1] = ARGV[i] end
local stored = {}
for i = 1, #listed, 4000 do
  local found = redis.call('HMGET', contacts, unpack(listed, i, math.min(i + 3999, #listed)))
  for j = 1, #found do stored[i + j - 1] = found[j] end
end

local seen = {}
for i = 9, #ARGV, 3 do
  local phone, state, detail = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  seen[phone] = true
  local raw = written[phone] or stored[(i - 6) / 3]
  if not raw then
    strangers = strangers + 1
  else
    local rec = cjson.decode(raw)
    local details = cjson.decode(detail)
    if dialled_in(rec) then matched = matched + 1 end
    block(phone, rec, details)
    if rec.c == call_id and not TERMINAL[rec.s] then
      for k, v in pairs(details) do rec[k] = v end
      local rule = state ~= '' and policy[state] or nil
      if rule and (rec.a or 1) < rule[1] then
        -- Another attempt: keep this one in the history, wait in the retry set; the poller forms
        -- retry batches when they are due, and those go through the batch actor like any other.
        local hist = rec.hist or {}
        hist[#hist + 1] = {c = rec.c, s = state, h = rec.h, ans = rec.ans, fin = rec.fin}
        rec.hist = hist
        move(counts, rec.s, 'pending')
        rec.s = 'pending'
        rec.c = nil
        rec.b = nil
        redis.call('ZADD', retry, now + rule[2], phone)
        changed = changed + 1
        tally(state)
      elseif state ~= '' then
        move(counts, rec.s, state)
        rec.s = state
        changed = changed + 1
        outcome(phone, rec)
        tally(state)
      end
      written[phone] = cjson.encode(rec)
      redis.call('HSET', contacts, phone, written[phone])
    elseif rec.c == call_id and rec.s == 'unknown' and rec.late then
      -- A create whose success came after its lease ran out: the provider's outcome replaces
      -- `unknown` (never a retry: the campaign may have finished meanwhile).
      for k, v in pairs(details) do rec[k] = v end
      if state ~= '' then
        move(counts, rec.s, state)
        rec.s = state
        rec.late = nil
        rec.r = nil
        changed = changed + 1
        outcome(phone, rec)
        tally(state)
      end
      written[phone] = cjson.encode(rec)
      redis.call('HSET', contacts, phone, written[phone])
    end
  end
end
if matched == 0 and not authoritative then
  -- A webhook naming none of this api call's contacts says nothing about it: its polling stays
  -- as it was (a forged or misdirected payload cannot postpone it).
elseif due == '' then
  -- Every call the provider listed is final. Contacts of this api call it did not list (a phone
  -- left out of calls[], or written differently) would wait forever: an authoritative answer ends
  -- them `unknown`; a webhook's keeps the call polled, so the next `get` decides.
  local bn = redis.call('HGET', calls, call_id)
  if bn then
    for _, phone in ipairs(redis.call('LRANGE', base .. ':bp:' .. bn, 0, -1)) do
      if not seen[phone] then
        local raw = redis.call('HGET', contacts, phone)
        if raw then
          local rec = cjson.decode(raw)
          if rec.c == call_id and rec.s == 'sent' then
            left_out = left_out + 1
            if authoritative then
              move(counts, rec.s, 'unknown')
              rec.s = 'unknown'
              rec.r = 'the provider reported api call ' .. call_id .. ' final without this number'
              redis.call('HSET', contacts, phone, cjson.encode(rec))
              outcome(phone, rec)
              changed = changed + 1
              tally('unknown')
            end
          end
        end
      end
    end
  end
  if (left_out > 0 and not authoritative) or over_cap > 0 then
    redis.call('ZADD', poll, 'XX', tonumber(fallback_due), call_id)
  else
    redis.call('ZREM', poll, call_id)
    redis.call('HDEL', calls, 'n:' .. call_id, 'm:' .. call_id)
  end
else
  redis.call('ZADD', poll, 'XX', tonumber(due), call_id)
  redis.call('HDEL', calls, 'm:' .. call_id)
end
for state, n in pairs(delta) do
  if n ~= 0 then redis.call('HINCRBY', counts, state, n) end
end
local outcomes = {}
for state, n in pairs(ended) do
  outcomes[#outcomes + 1] = state
  outcomes[#outcomes + 1] = n
end
return {changed, maybe_finish(meta, counts, now, stream), strangers, left_out, blocked, over_cap,
  outcomes}
