local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), id)
  out[#out + 1] = id
  out[#out + 1] = redis.call('HINCRBY', KEYS[2], 'n:' .. id, 1)
end
return out
