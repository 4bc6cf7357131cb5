"""The Lua scripts that change campaign state atomically.

Every change of a contact's state happens inside one of these scripts, together with the matching
change of the campaign's counters, so the counters always equal the per-contact sum whatever
process dies when. Contact records are small JSON objects (`s` state, `b` batch number, `c` api
call id, `r` reason, `a` attempts, and the provider's outcome details), decoded and re-encoded here.
"""

from __future__ import annotations

__all__ = [
    "ADD_CONTACTS",
    "CLAIM_BATCH",
    "FINISH_BATCH",
    "MARK_SENT",
    "RECONCILE",
    "RELEASE_BATCH",
    "SET_STATUS",
    "TERMINAL_STATES",
]

TERMINAL_STATES = (
    "completed",
    "no_answer",
    "busy",
    "failed",
    "invalid",
    "blocked",
    "cancelled",
    "unknown",
    "expired",
)

# Shared Lua helpers, prepended to the scripts that need them.
_PRELUDE = """
local TERMINAL = {}
for _, s in ipairs({__TERMINAL__}) do TERMINAL[s] = true end

local function move(counts, from, to)
  if from == to then return end
  if from then redis.call('HINCRBY', counts, from, -1) end
  redis.call('HINCRBY', counts, to, 1)
end

-- A campaign whose contacts are all terminal becomes finished (a plan-ahead campaign can get
-- there while still scheduled).
local function maybe_finish(meta, counts, now_ms)
  local status = redis.call('HGET', meta, 'status')
  if status ~= 'running' and status ~= 'paused' and status ~= 'scheduled' then return 0 end
  if redis.call('HGET', meta, 'submitted') ~= '1' then return 0 end
  local open = redis.call('HMGET', counts, 'pending', 'sending', 'sent')
  local n = 0
  for _, v in ipairs(open) do n = n + (tonumber(v) or 0) end
  if n > 0 then return 0 end
  redis.call('HSET', meta, 'status', 'finished', 'finished_at', now_ms)
  return 1
end
""".replace("__TERMINAL__", ", ".join(f"'{s}'" for s in TERMINAL_STATES))

# KEYS: meta, contacts, data, counts, dnc
# ARGV: batch key base, batch size, then pairs of (phone, data JSON or '')
# Returns one code per pair: 0 duplicate, 1 accepted (pending), 2 blocked by the DNC list.
ADD_CONTACTS = """
local meta, contacts, data, counts, dnc = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local base, size = ARGV[1], tonumber(ARGV[2])
local bn = tonumber(redis.call('HGET', meta, 'batches') or '0')
local fill = tonumber(redis.call('HGET', meta, 'batch_fill') or '0')
local out = {}
local added, blocked = 0, 0
for i = 3, #ARGV, 2 do
  local phone, extra = ARGV[i], ARGV[i + 1]
  local code
  if redis.call('HEXISTS', contacts, phone) == 1 then
    code = 0
  elseif redis.call('SISMEMBER', dnc, phone) == 1 then
    redis.call('HSET', contacts, phone, cjson.encode({s = 'blocked', r = 'do-not-call list'}))
    blocked = blocked + 1
    code = 2
  else
    if fill == 0 or fill >= size then bn = bn + 1; fill = 0 end
    fill = fill + 1
    redis.call('RPUSH', base .. ':bp:' .. bn, phone)
    redis.call('HSET', contacts, phone, cjson.encode({s = 'pending', b = bn}))
    added = added + 1
    code = 1
  end
  if code ~= 0 and extra ~= '' then redis.call('HSET', data, phone, extra) end
  out[#out + 1] = code
end
if added > 0 then redis.call('HINCRBY', counts, 'pending', added) end
if blocked > 0 then redis.call('HINCRBY', counts, 'blocked', blocked) end
redis.call('HSET', meta, 'batches', bn, 'batch_fill', fill)
return out
"""

# KEYS: meta, counts, contacts, batch, batch phones, dnc
# ARGV: now_ms, lease_ms, token, batch number
# Returns {'claimed', phone...} | {'sending', lease_until_ms} | {'held', campaign status}
#         | {the batch's status}
CLAIM_BATCH = (
    _PRELUDE
    + """
local meta, counts, contacts, batch, bp, dnc = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local now, lease, token, bn = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
local st = redis.call('HGET', batch, 'status') or 'pending'
-- Re-read here, atomically with the claim: a pause or cancel that landed while this worker waited
-- for its pacing slot must stop the dial.
local cstatus = redis.call('HGET', meta, 'status')
if st == 'pending' and cstatus ~= 'running' and cstatus ~= 'scheduled' then
  return {'held', cstatus or 'missing'}
end
if st == 'sending' then
  return {'sending', redis.call('HGET', batch, 'lease_until') or '0'}
end
if st ~= 'pending' then return {st} end
local phones = redis.call('LRANGE', bp, 0, -1)
local claimed = {'claimed'}
for _, phone in ipairs(phones) do
  local raw = redis.call('HGET', contacts, phone)
  if raw then
    local rec = cjson.decode(raw)
    if rec.s == 'pending' and tostring(rec.b) == bn then
      if redis.call('SISMEMBER', dnc, phone) == 1 then
        move(counts, rec.s, 'blocked')
        rec.s = 'blocked'
        rec.r = 'do-not-call list'
      else
        move(counts, rec.s, 'sending')
        rec.s = 'sending'
        rec.a = (rec.a or 0) + 1
        claimed[#claimed + 1] = phone
      end
      redis.call('HSET', contacts, phone, cjson.encode(rec))
    end
  end
end
if #claimed == 1 then
  redis.call('HSET', batch, 'status', 'done')
  maybe_finish(meta, counts, now)
  return {'empty'}
end
redis.call('HSET', batch, 'status', 'sending', 'lease_until', now + lease, 'token', token)
redis.call('HINCRBY', batch, 'attempts', 1)
return claimed
"""
)

# KEYS: meta, counts, contacts, batch, calls, poll
# ARGV: batch number, api call id, due_ms, now_ms, planned_at_ms or '', then the phones sent
MARK_SENT = """
local meta, counts, contacts, batch = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local calls, poll = KEYS[5], KEYS[6]
local bn, call_id, due, now = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
redis.call('HSET', batch, 'status', 'sent', 'api_call_id', call_id, 'sent_at', now)
if ARGV[5] ~= '' then redis.call('HSET', batch, 'planned_at', ARGV[5]) end
redis.call('HDEL', batch, 'lease_until', 'token')
redis.call('HSET', calls, call_id, bn)
redis.call('ZADD', poll, due, call_id)
local moved = 0
for i = 6, #ARGV do
  local phone = ARGV[i]
  local raw = redis.call('HGET', contacts, phone)
  if raw then
    local rec = cjson.decode(raw)
    if (rec.s == 'sending' or rec.s == 'pending') and tostring(rec.b) == bn then
      redis.call('HINCRBY', counts, rec.s, -1)
      redis.call('HINCRBY', counts, 'sent', 1)
      rec.s = 'sent'
      rec.c = call_id
      redis.call('HSET', contacts, phone, cjson.encode(rec))
      moved = moved + 1
    end
  end
end
return moved
"""

# Give a claimed batch back (the request provably did not take effect).
# KEYS: counts, contacts, batch
# ARGV: token, then the phones
RELEASE_BATCH = """
local counts, contacts, batch = KEYS[1], KEYS[2], KEYS[3]
if redis.call('HGET', batch, 'token') ~= ARGV[1] then return 0 end
redis.call('HSET', batch, 'status', 'pending')
redis.call('HDEL', batch, 'lease_until', 'token')
for i = 2, #ARGV do
  local raw = redis.call('HGET', contacts, ARGV[i])
  if raw then
    local rec = cjson.decode(raw)
    if rec.s == 'sending' then
      redis.call('HINCRBY', counts, 'sending', -1)
      redis.call('HINCRBY', counts, 'pending', 1)
      rec.s = 'pending'
      rec.a = math.max((rec.a or 1) - 1, 0)
      redis.call('HSET', contacts, ARGV[i], cjson.encode(rec))
    end
  end
end
return 1
"""

# End a batch's still-open contacts in one terminal state with a reason.
# KEYS: meta, counts, contacts, batch, batch phones
# ARGV: state, reason, now_ms, batch status to record, the batch status required ('' any),
#       batch number
# Returns {contacts moved, campaign finished (0/1)}
FINISH_BATCH = (
    _PRELUDE
    + """
local meta, counts, contacts, batch, bp = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local state, reason, now, bstatus = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local expected, bn = ARGV[5], ARGV[6]
if expected ~= '' and (redis.call('HGET', batch, 'status') or 'pending') ~= expected then
  return {0, 0}
end
local moved = 0
for _, phone in ipairs(redis.call('LRANGE', bp, 0, -1)) do
  local raw = redis.call('HGET', contacts, phone)
  if raw then
    local rec = cjson.decode(raw)
    if (rec.s == 'pending' or rec.s == 'sending') and tostring(rec.b) == bn then
      move(counts, rec.s, state)
      rec.s = state
      rec.r = reason
      redis.call('HSET', contacts, phone, cjson.encode(rec))
      moved = moved + 1
    end
  end
end
redis.call('HSET', batch, 'status', bstatus, 'reason', reason)
redis.call('HDEL', batch, 'lease_until', 'token')
return {moved, maybe_finish(meta, counts, now)}
"""
)

# Apply the provider's view of one api call to its contacts; idempotent.
# KEYS: meta, counts, contacts, poll
# ARGV: api call id, now_ms, next due ms (or '' to stop polling it), then triples of
#       (phone, new terminal state or '', detail JSON object)
# Returns {contacts changed, campaign finished (0/1), phones unknown to the campaign}
RECONCILE = (
    _PRELUDE
    + """
local meta, counts, contacts, poll = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local call_id, now, due = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local changed, strangers = 0, 0
for i = 4, #ARGV, 3 do
  local phone, state, detail = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local raw = redis.call('HGET', contacts, phone)
  if not raw then
    strangers = strangers + 1
  else
    local rec = cjson.decode(raw)
    if not TERMINAL[rec.s] and rec.c == call_id then
      for k, v in pairs(cjson.decode(detail)) do rec[k] = v end
      if state ~= '' then
        move(counts, rec.s, state)
        rec.s = state
        changed = changed + 1
      end
      redis.call('HSET', contacts, phone, cjson.encode(rec))
    end
  end
end
if due == '' then
  redis.call('ZREM', poll, call_id)
else
  redis.call('ZADD', poll, 'XX', tonumber(due), call_id)
end
return {changed, maybe_finish(meta, counts, now), strangers}
"""
)

# Change a campaign's status if it is one of the expected ones.
# KEYS: meta
# ARGV: new status, now_ms, then the statuses it may be in now
# Returns the status before (the change happened only if it was one of those listed)
SET_STATUS = """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return false end
for i = 3, #ARGV do
  if ARGV[i] == current then
    redis.call('HSET', KEYS[1], 'status', ARGV[1], 'status_at', ARGV[2])
    return current
  end
end
return current
"""
