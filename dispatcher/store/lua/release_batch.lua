-- Give a claimed batch back (the request provably did not take effect).
-- KEYS: counts, contacts, batch
-- ARGV: token, then the phones
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
