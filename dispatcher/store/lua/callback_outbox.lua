-- The webhook deliveries waiting to be sent: one list per campaign (oldest first, the head is sent
-- next, so a campaign's deliveries arrive in order), and a sorted set of campaigns by when their
-- head is due.
-- KEYS: due set, then per operation: claim -> nothing; done/retry/drop -> the campaign's list
-- ARGV: operation, now_ms, then:
--   claim <lease ms> <most>: due campaigns, each pushed to now + lease (one sender at a time)
--   done <campaign> <the head as sent>: pop it; the campaign is due again now, or leaves the set
--   retry <campaign> <the head as sent> <the head to keep> <due ms>: replace it, due then
--   drop <campaign>: forget every delivery of a campaign that no longer exists
--   idle <campaign>: the list was found empty: leave the due set if it still is
local due, op, now = KEYS[1], ARGV[1], tonumber(ARGV[2])
if op == 'claim' then
  local found = redis.call('ZRANGEBYSCORE', due, '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
  for _, cid in ipairs(found) do
    redis.call('ZADD', due, now + tonumber(ARGV[3]), cid)
  end
  return found
end
local list, cid = KEYS[2], ARGV[3]
if op == 'drop' then
  redis.call('DEL', list)
  redis.call('ZREM', due, cid)
  return 1
end
if op == 'idle' then
  if redis.call('LLEN', list) == 0 then redis.call('ZREM', due, cid) end
  return 1
end
if redis.call('LINDEX', list, 0) ~= ARGV[4] then return 0 end
if op == 'done' then
  redis.call('LPOP', list)
  if redis.call('LLEN', list) == 0 then
    redis.call('ZREM', due, cid)
  else
    redis.call('ZADD', due, now, cid)
  end
elseif op == 'retry' then
  redis.call('LSET', list, 0, ARGV[5])
  redis.call('ZADD', due, tonumber(ARGV[6]), cid)
end
return 1
