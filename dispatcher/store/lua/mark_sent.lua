-- KEYS: meta, counts, contacts, batch, calls, poll
-- ARGV: batch number, api call id, due_ms, now_ms, planned_at_ms or '', then the phones sent
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
