-- Record the api call created for a batch and schedule its first poll.
-- KEYS: meta, counts, contacts, batch, calls, poll, leases, owed, active campaigns
-- ARGV: batch number, api call id, due_ms, now_ms, planned_at_ms or '', claim token, campaign
--       id, then the phones sent
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
--
-- A record that starts `{"s":"sending","b":<this batch>` and has no top-level `"c"` (what
-- claim_batch writes for a first attempt) is moved by rewriting its head as a string; any other
-- shape is decoded and encoded with cjson. Both give the same record.
local meta, counts, contacts, batch = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local calls, poll, leases, owed = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local bn, call_id, due, now, token = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[6]
-- A late success may reach a campaign that already left the active set: its call must still be
-- polled.
redis.call('SADD', KEYS[9], ARGV[7])
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
local left = {}  -- contacts moved to `sent`, by the state they left
local head = '{"s":"sending","b":' .. bn
local cut = #head + 1
local sent_head = '{"s":"sent","b":' .. bn .. ',"c":' .. cjson.encode(call_id)
local phones = {unpack(ARGV, 8)}
local raws = #phones > 0 and redis.call('HMGET', contacts, unpack(phones)) or {}
local writes, seen = {}, {}
for i, phone in ipairs(phones) do
  local raw = raws[i]
  if raw and not seen[phone] then
    seen[phone] = true
    local after = string.sub(raw, cut, cut)
    if not late and string.sub(raw, 1, #head) == head and (after == ',' or after == '}')
        and not string.find(raw, '"c":', cut, true) then
      left.sending = (left.sending or 0) + 1
      writes[#writes + 1] = phone; writes[#writes + 1] = sent_head .. string.sub(raw, cut)
      moved = moved + 1
    else
      local rec = cjson.decode(raw)
      if tostring(rec.b) == bn then
        if not late and (rec.s == 'sending' or rec.s == 'pending') then
          left[rec.s] = (left[rec.s] or 0) + 1
          rec.s = 'sent'
          rec.c = call_id
          writes[#writes + 1] = phone; writes[#writes + 1] = cjson.encode(rec)
          moved = moved + 1
        elseif late and rec.s == 'unknown' and not rec.c then
          rec.c = call_id
          rec.late = 1
          writes[#writes + 1] = phone; writes[#writes + 1] = cjson.encode(rec)
        end
      end
    end
  end
end
-- Written in slices: `unpack` has a limit on how many values it can spread.
for i = 1, #writes, 500 do
  redis.call('HSET', contacts, unpack(writes, i, math.min(i + 499, #writes)))
end
for state, n in pairs(left) do redis.call('HINCRBY', counts, state, -n) end
if moved > 0 then redis.call('HINCRBY', counts, 'sent', moved) end
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
