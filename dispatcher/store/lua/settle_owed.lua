-- Settle or postpone a provider action owed by a campaign, only if it is still the one the caller
-- read (a pause → resume → pause while the park was in flight records a new one, which must run).
-- KEYS: owed
-- ARGV: operation, the value the caller read, the new value ('' to delete: done)
-- Returns 1 if it changed
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current ~= ARGV[2] then return 0 end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
end
return 1
