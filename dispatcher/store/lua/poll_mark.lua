-- Take the right to schedule a campaign's poll message for due_ms: granted when no poll is
-- scheduled, or when the one scheduled is for later (the new message supersedes it: the old one,
-- finding the marker changed, does nothing). KEYS: tick. ARGV: due_ms, ttl_ms.
-- Returns 1 when granted (the caller sends the message), 0 otherwise.
local current = redis.call('GET', KEYS[1])
local due = tonumber(ARGV[1])
if current then
  local scheduled = tonumber(current)
  -- A marker from before due times were kept ("1") counts as scheduled now.
  if scheduled == nil or scheduled <= 1 or scheduled <= due then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', math.max(tonumber(ARGV[2]), 1))
return 1
