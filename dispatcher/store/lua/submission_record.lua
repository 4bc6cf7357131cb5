-- A submission record (an idempotency key or an intake series), changed only by its owner.
-- KEYS: record
-- ARGV: operation, campaign id, then per operation:
--   reserve <lease ms> <field> <value> ...: create the record (state `reading`, this campaign)
--       unless it exists; returns {'reserved'} or {'exists', field, value, ...}
--   begin <unused> <field> <value> ...: the same for an intake series (state `draft`, no expiry)
--   extend <lease ms>: keep a `reading` record of this campaign alive; returns 1 if it did
--   release: delete a `reading` record of this campaign; returns 1 if it did
local key, op, cid = KEYS[1], ARGV[1], ARGV[2]
if op == 'reserve' or op == 'begin' then
  if redis.call('EXISTS', key) == 1 then
    local found = redis.call('HGETALL', key)
    table.insert(found, 1, 'exists')
    return found
  end
  if op == 'reserve' then
    redis.call('HSET', key, 'campaign_id', cid, 'state', 'reading', unpack(ARGV, 4))
    redis.call('PEXPIRE', key, tonumber(ARGV[3]))
  else
    redis.call('HSET', key, 'campaign_id', cid, 'state', 'draft', unpack(ARGV, 4))
  end
  return {'reserved'}
end
local owner, state = unpack(redis.call('HMGET', key, 'campaign_id', 'state'))
if owner ~= cid or state ~= 'reading' then return 0 end
if op == 'extend' then
  redis.call('PEXPIRE', key, tonumber(ARGV[3]))
elseif op == 'release' then
  redis.call('DEL', key)
end
return 1
