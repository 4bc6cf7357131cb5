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
    "CLOSE_RETRIES",
    "FINISH_BATCH",
    "MARK_SENT",
    "RECONCILE",
    "RELEASE_BATCH",
    "SET_STATUS",
    "TAKE_RETRIES",
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
# ARGV: batch key base, batch size, and the contacts as one string of lines
#       "<phone>\t<data JSON or ''>\t<window group or ''>" (one argument instead of three per
#       contact: packing thousands of arguments was most of the client's time)
# Returns the codes as one string, one character per line: 0 duplicate, 1 accepted (pending),
# 2 blocked by the DNC list.
ADD_CONTACTS = """
-- Contacts are batched per window group (the time zone their call window is read in): each group
-- fills its own current batch; batch numbers are shared by the whole campaign. Writes are
-- gathered and done once per chunk (one HSET of all records, one RPUSH per batch), and the
-- do-not-call set is only looked at when it is not empty.
local meta, contacts, data, counts, dnc = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local base, size = ARGV[1], tonumber(ARGV[2])
local check_dnc = redis.call('SCARD', dnc) > 0
local current, out, seen, recs, datas = {}, {}, {}, {}, {}
local added, blocked = 0, 0
local function flush(g)
  if #g.push > 0 then redis.call('RPUSH', base .. ':bp:' .. g.bn, unpack(g.push)); g.push = {} end
end
for line in string.gmatch(ARGV[3], '[^\\n]+') do
  local t1 = string.find(line, '\\t', 1, true)
  local t2 = string.find(line, '\\t', t1 + 1, true)
  local phone = string.sub(line, 1, t1 - 1)
  local extra = string.sub(line, t1 + 1, t2 - 1)
  local group = string.sub(line, t2 + 1)
  local code
  if seen[phone] or redis.call('HEXISTS', contacts, phone) == 1 then
    code = '0'
  elseif check_dnc and redis.call('SISMEMBER', dnc, phone) == 1 then
    recs[#recs + 1] = phone; recs[#recs + 1] = '{"s":"blocked","r":"do-not-call list"}'
    blocked = blocked + 1
    code = '2'
  else
    local g = current[group]
    if not g then
      local saved = redis.call('HMGET', meta, 'bn:' .. group, 'bf:' .. group)
      g = {bn = tonumber(saved[1] or '0'), fill = tonumber(saved[2] or '0'), push = {}}
      current[group] = g
    end
    if g.bn == 0 or g.fill >= size then
      flush(g)
      g.bn = redis.call('HINCRBY', meta, 'batches', 1)
      g.fill = 0
      if group ~= '' then redis.call('HSET', base .. ':b:' .. g.bn, 'zone', group) end
    end
    g.fill = g.fill + 1
    g.push[#g.push + 1] = phone
    local z = ''
    if group ~= '' then z = ',"z":' .. cjson.encode(group) end
    recs[#recs + 1] = phone; recs[#recs + 1] = '{"s":"pending","b":' .. g.bn .. z .. '}'
    added = added + 1
    code = '1'
  end
  seen[phone] = true
  if code ~= '0' and extra ~= '' then datas[#datas + 1] = phone; datas[#datas + 1] = extra end
  out[#out + 1] = code
end
for group, g in pairs(current) do
  flush(g)
  redis.call('HSET', meta, 'bn:' .. group, g.bn, 'bf:' .. group, g.fill)
end
if #recs > 0 then redis.call('HSET', contacts, unpack(recs)) end
if #datas > 0 then redis.call('HSET', data, unpack(datas)) end
if added > 0 then redis.call('HINCRBY', counts, 'pending', added) end
if blocked > 0 then redis.call('HINCRBY', counts, 'blocked', blocked) end
return table.concat(out)
"""

# KEYS: meta, counts, contacts, batch, batch phones, dnc, today's dial counts, retry
# ARGV: now_ms, lease_ms, token, batch number, daily cap per number (0: none), defer-until ms
# Returns {'claimed', phone...} | {'sending', lease_until_ms} | {'held', campaign status}
#         | {the batch's status}
CLAIM_BATCH = (
    _PRELUDE
    + """
local meta, counts, contacts, batch, bp, dnc = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local cap, retry = KEYS[7], KEYS[8]
local now, lease, token, bn = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
local cap_max, defer_until = tonumber(ARGV[5]), tonumber(ARGV[6])
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
      elseif cap_max > 0 and tonumber(redis.call('HGET', cap, phone) or '0') >= cap_max then
        -- This number had its dials for the day (all campaigns together): try again tomorrow.
        rec.b = nil
        rec.r = 'daily dial cap reached; deferred'
        redis.call('ZADD', retry, defer_until, phone)
      else
        if cap_max > 0 then
          redis.call('HINCRBY', cap, phone, 1)
          redis.call('PEXPIRE', cap, 172800000)
        end
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
if cap_max > 0 then redis.call('HSET', batch, 'cap_key', cap) end
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
-- The campaign's status comes back too: a pause or cancel may have landed meanwhile.
return {moved, redis.call('HGET', meta, 'status') or ''}
"""

# Give a claimed batch back (the request provably did not take effect).
# KEYS: counts, contacts, batch
# ARGV: token, then the phones
RELEASE_BATCH = """
local counts, contacts, batch = KEYS[1], KEYS[2], KEYS[3]
if redis.call('HGET', batch, 'token') ~= ARGV[1] then return 0 end
-- Nobody was dialled: give the numbers their daily-cap units back.
local cap = redis.call('HGET', batch, 'cap_key')
redis.call('HSET', batch, 'status', 'pending')
redis.call('HDEL', batch, 'lease_until', 'token', 'cap_key')
for i = 2, #ARGV do
  local raw = redis.call('HGET', contacts, ARGV[i])
  if raw then
    local rec = cjson.decode(raw)
    if rec.s == 'sending' then
      redis.call('HINCRBY', counts, 'sending', -1)
      redis.call('HINCRBY', counts, 'pending', 1)
      if cap then redis.call('HINCRBY', cap, ARGV[i], -1) end
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
# KEYS: meta, counts, contacts, poll, retry
# ARGV: api call id, now_ms, next due ms (or '' to stop polling it), retry policy JSON or '',
#       then triples of
#       (phone, new terminal state or '', detail JSON object)
# Returns {contacts changed, campaign finished (0/1), phones unknown to the campaign}
RECONCILE = (
    _PRELUDE
    + """
local meta, counts, contacts, poll, retry = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local call_id, now, due = ARGV[1], tonumber(ARGV[2]), ARGV[3]
-- {outcome = {max attempts, interval ms}} for the outcomes the campaign redials
local policy = ARGV[4] ~= '' and cjson.decode(ARGV[4]) or {}
local changed, strangers = 0, 0
for i = 5, #ARGV, 3 do
  local phone, state, detail = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local raw = redis.call('HGET', contacts, phone)
  if not raw then
    strangers = strangers + 1
  else
    local rec = cjson.decode(raw)
    if not TERMINAL[rec.s] and rec.c == call_id then
      for k, v in pairs(cjson.decode(detail)) do rec[k] = v end
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
      elseif state ~= '' then
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

# Turn due retries into batches (per window group), atomically.
# KEYS: meta, contacts, retry
# ARGV: now_ms, batch size, batch key base, most phones to take
# Returns the new batch numbers.
TAKE_RETRIES = """
local meta, contacts, retry = KEYS[1], KEYS[2], KEYS[3]
local now, size, base, most = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local due = redis.call('ZRANGEBYSCORE', retry, '-inf', now, 'LIMIT', 0, most)
local open = {}
local created = {}
for _, phone in ipairs(due) do
  redis.call('ZREM', retry, phone)
  local raw = redis.call('HGET', contacts, phone)
  if raw then
    local rec = cjson.decode(raw)
    if rec.s == 'pending' and not rec.b then
      local group = rec.z or ''
      local g = open[group]
      if not g or g.fill >= size then
        g = {bn = redis.call('HINCRBY', meta, 'batches', 1), fill = 0}
        open[group] = g
        created[#created + 1] = g.bn
        redis.call('HSET', base .. ':b:' .. g.bn, 'retry', 1)
        if group ~= '' then redis.call('HSET', base .. ':b:' .. g.bn, 'zone', group) end
      end
      g.fill = g.fill + 1
      redis.call('RPUSH', base .. ':bp:' .. g.bn, phone)
      rec.b = g.bn
      redis.call('HSET', contacts, phone, cjson.encode(rec))
    end
  end
end
return created
"""

# End every contact still waiting for a retry in one state (a cancelled campaign).
# KEYS: meta, counts, contacts, retry
# ARGV: state, reason, now_ms
CLOSE_RETRIES = (
    _PRELUDE
    + """
local meta, counts, contacts, retry = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local moved = 0
for _, phone in ipairs(redis.call('ZRANGE', retry, 0, -1)) do
  local raw = redis.call('HGET', contacts, phone)
  if raw then
    local rec = cjson.decode(raw)
    if rec.s == 'pending' and not rec.b then
      move(counts, rec.s, ARGV[1])
      rec.s = ARGV[1]
      rec.r = ARGV[2]
      redis.call('HSET', contacts, phone, cjson.encode(rec))
      moved = moved + 1
    end
  end
end
redis.call('DEL', retry)
return {moved, maybe_finish(meta, counts, tonumber(ARGV[3]))}
"""
)
