-- Give a claimed batch back (the request provably did not take effect).
-- KEYS: meta, counts, contacts, batch, pending-batch deadlines, leases, event stream
-- ARGV: token, now_ms, batch number, deadline ms for the message that will pick it up again,
--       then the phones
-- Returns 0 (not this claim's to give back), 1 (pending again) or 2 (the campaign was cancelled
-- meanwhile: the contacts end `cancelled` instead, so nothing is left waiting for a message).
-- uses: prelude
local meta, counts, contacts, batch = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local due_set, leases, stream = KEYS[5], KEYS[6], KEYS[7]
local token, now, bn, deadline = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
if redis.call('HGET', batch, 'token') ~= token then return 0 end
local cancelled = redis.call('HGET', meta, 'status') == 'cancelled'
-- Nobody was dialled: give the numbers their daily-cap units back.
local cap = redis.call('HGET', batch, 'cap_key')
redis.call('HDEL', batch, 'lease_until', 'token', 'cap_key')
redis.call('ZREM', leases, bn)
if cancelled then
  redis.call('HSET', batch, 'status', 'cancelled', 'reason', 'campaign cancelled')
else
  redis.call('HSET', batch, 'status', 'pending')
  redis.call('ZADD', due_set, deadline, bn)
end
for i = 5, #ARGV do
  local raw = redis.call('HGET', contacts, ARGV[i])
  if raw then
    local rec = cjson.decode(raw)
    -- Only the contacts this batch's claim took (the caller may pass every phone of the batch).
    if rec.s == 'sending' and tostring(rec.b) == bn then
      if cap then redis.call('HINCRBY', cap, ARGV[i], -1) end
      rec.a = math.max((rec.a or 1) - 1, 0)
      if cancelled then
        move(counts, 'sending', 'cancelled')
        rec.s = 'cancelled'
        rec.r = 'campaign cancelled'
        outcome(ARGV[i], rec)
      else
        move(counts, 'sending', 'pending')
        rec.s = 'pending'
      end
      redis.call('HSET', contacts, ARGV[i], cjson.encode(rec))
    end
  end
end
if cancelled then
  maybe_finish(meta, counts, now, stream)
  return 2
end
return 1
