-- The epoch marker: one hash written once per install, so that a Redis that lost its data under
-- running processes is told apart from a fresh install.
-- KEYS: the marker, then keys whose presence means this install already holds data
-- ARGV: operation, new epoch id, now_ms, who, then per operation:
--   establish: create the marker unless it exists; returns {'found'|'created'|'adopted', hash...}
--       ('adopted': no marker but data: the first start of a version that keeps one)
--   lost <previous id> <reason>: record that the data was found lost (unless already recorded);
--       returns {'lost', hash...}
--   reset <reason>: replace the marker with a new epoch (an operator accepted the loss);
--       returns {'reset', hash...}
local marker, op, id, now, who = KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local outcome = op
if op == 'establish' then
  if redis.call('EXISTS', marker) == 1 then
    outcome = 'found'
  else
    outcome = 'created'
    for i = 2, #KEYS do
      if redis.call('EXISTS', KEYS[i]) == 1 then outcome = 'adopted' end
    end
    redis.call('HSET', marker, 'id', id, 'installed_at', now, 'by', who)
    if outcome == 'adopted' then redis.call('HSET', marker, 'adopted', 1) end
  end
elseif op == 'lost' then
  if redis.call('HEXISTS', marker, 'lost') == 0 then
    redis.call('HSET', marker, 'lost', ARGV[6], 'lost_at', now, 'lost_by', who, 'previous', ARGV[5])
  end
elseif op == 'reset' then
  local old = redis.call('HGET', marker, 'id') or redis.call('HGET', marker, 'previous') or ''
  local lost = redis.call('HGET', marker, 'lost') or ''
  redis.call('DEL', marker)
  redis.call('HSET', marker, 'id', id, 'installed_at', now, 'by', who, 'reset_at', now,
    'reset_from', old, 'accepted', lost)
else
  return redis.error_reply('unknown epoch operation ' .. op)
end
local out = redis.call('HGETALL', marker)
table.insert(out, 1, outcome)
return out
