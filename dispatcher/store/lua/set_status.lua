-- Change a campaign's status if it is one of the expected ones.
-- KEYS: meta, event stream
-- ARGV: new status, now_ms, then the statuses it may be in now
-- Returns the status before (the change happened only if it was one of those listed)
-- uses: prelude
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return false end
for i = 3, #ARGV do
  if ARGV[i] == current then
    redis.call('HSET', KEYS[1], 'status', ARGV[1], 'status_at', ARGV[2])
    if ARGV[1] ~= current then publish_status(KEYS[2], KEYS[1], ARGV[1], current, false) end
    return current
  end
end
return current
