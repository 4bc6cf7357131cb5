-- What the reconciler needs of one campaign, in one call (dispatcher.store.upkeep.view_campaigns).
-- KEYS: meta, pending-batch deadlines, leases, owed, poll, retry, tick, counts
-- ARGV: overdue before (ms), now (ms), most batches of each kind
-- Returns {status or '', {overdue pending batches}, {expired leases}, {op, value, ...},
--          next poll ms or '', next retry ms or '', 1 if a poll is scheduled, open contacts}
-- Overdue pending batches are only read where the reconciler acts on them (running, scheduled,
-- cancelled): a paused campaign's pending batches wait for resume, whatever their number.
local meta, due_set, leases, owed, poll, retry, tick, counts =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local before, now, most = ARGV[1], ARGV[2], tonumber(ARGV[3])
local status = redis.call('HGET', meta, 'status') or ''
local overdue = {}
if status == 'running' or status == 'scheduled' or status == 'cancelled' then
  overdue = redis.call('ZRANGEBYSCORE', due_set, '-inf', before, 'LIMIT', 0, most)
end
local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, most)
local function head(key)
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if first[2] then return first[2] end
  return ''
end
local open = 0
for _, v in ipairs(redis.call('HMGET', counts, 'pending', 'sending', 'sent')) do
  open = open + (tonumber(v) or 0)
end
return {status, overdue, expired, redis.call('HGETALL', owed), head(poll), head(retry),
        redis.call('EXISTS', tick), open}
