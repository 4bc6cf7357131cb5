-- Claim the api calls due for a poll, leased: their score moves to now + lease, so a poller that
-- dies only delays them. KEYS: poll, calls. ARGV: now_ms, lease_ms, most ids.
-- Returns id, times polled (for the backoff), id, times polled, ...
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), id)
  out[#out + 1] = id
  out[#out + 1] = redis.call('HINCRBY', KEYS[2], 'n:' .. id, 1)
end
return out
