-- Claim the api calls due for a poll, leased: their score moves to now + lease, so a poller that
-- dies only delays them. Nothing is claimed unless one call is due by now; then the get is filled
-- with the calls due within the next fill_ms too (a get costs the same with 1 id or 50).
-- KEYS: poll, calls. ARGV: now_ms, lease_ms, most ids, fill_ms.
-- Returns id, poll counter (see dispatcher/store/polling.py), id, poll counter, ...
local now = tonumber(ARGV[1])
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #first == 0 or tonumber(first[2]) > now then
  return {}
end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now + tonumber(ARGV[4] or 0),
  'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), id)
  out[#out + 1] = id
  out[#out + 1] = redis.call('HINCRBY', KEYS[2], 'n:' .. id, 1)
end
return out
