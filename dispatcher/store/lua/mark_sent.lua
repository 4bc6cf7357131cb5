-- Record the api call created for a batch and schedule its first poll.
-- KEYS: meta, counts, contacts, batch, calls, poll, leases, owed
-- ARGV: batch number, api call id, due_ms, now_ms, planned_at_ms or '', claim token, then the
--       phones sent
-- Returns {contacts moved to sent, the campaign's status, 1 if the success came late}
--
-- A pause or cancel that landed while the request was in flight did not see this call: the
-- provider action it now owes (remove it; park it if it is planned) is recorded here, in the same
-- step, so that it cannot be lost between this script and the control message.
--
-- The provider created the calls, so the call is always recorded and polled. Normally the batch
-- is still `sending` under this worker's claim. A success that comes *late* (the lease ran out and
-- the reconciler already ended the batch's contacts `unknown`) is recorded all the same: the
-- contacts keep `unknown` but learn their api call id and are marked late, so the provider's
-- outcome replaces `unknown` when it arrives (see reconcile.lua); they are never dialled again.
local meta, counts, contacts, batch = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local calls, poll, leases, owed = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local bn, call_id, due, now, token = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[6]
local status = redis.call('HGET', batch, 'status') or 'pending'
if status == 'sent' and redis.call('HGET', batch, 'api_call_id') == call_id then
  -- Already recorded (a retried write after a Redis outage).
  return {0, redis.call('HGET', meta, 'status') or '', 0}
end
local late = not (status == 'sending' and redis.call('HGET', batch, 'token') == token)
redis.call('HSET', batch, 'status', 'sent', 'api_call_id', call_id, 'sent_at', now)
if late then redis.call('HSET', batch, 'late', 1) end
if ARGV[5] ~= '' then redis.call('HSET', batch, 'planned_at', ARGV[5]) end
redis.call('HDEL', batch, 'lease_until', 'token')
redis.call('ZREM', leases, bn)
redis.call('HSET', calls, call_id, bn)
redis.call('ZADD', poll, due, call_id)
local moved = 0
for i = 7, #ARGV do
  local phone = ARGV[i]
  local raw = redis.call('HGET', contacts, phone)
  if raw then
    local rec = cjson.decode(raw)
    if tostring(rec.b) == bn then
      if not late and (rec.s == 'sending' or rec.s == 'pending') then
        redis.call('HINCRBY', counts, rec.s, -1)
        redis.call('HINCRBY', counts, 'sent', 1)
        rec.s = 'sent'
        rec.c = call_id
        redis.call('HSET', contacts, phone, cjson.encode(rec))
        moved = moved + 1
      elseif late and rec.s == 'unknown' and not rec.c then
        rec.c = call_id
        rec.late = 1
        redis.call('HSET', contacts, phone, cjson.encode(rec))
      end
    end
  end
end
local cstatus = redis.call('HGET', meta, 'status') or ''
-- Owed actions are `<due ms>:<version>:<tries>` (dispatcher.store.upkeep); the version here is the
-- api call id, which is unique.
if cstatus == 'cancelled' then
  redis.call('HDEL', owed, 'park', 'unpark', 'replan')
  redis.call('HSET', owed, 'cancel', now .. ':c' .. call_id .. ':0')
elseif cstatus == 'paused' and ARGV[5] ~= '' then
  redis.call('HDEL', owed, 'unpark')
  redis.call('HSET', owed, 'park', now .. ':c' .. call_id .. ':0')
end
return {moved, cstatus, late and 1 or 0}
