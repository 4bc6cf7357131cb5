-- Mark a campaign for removal if it may be removed: finished or cancelled before the cutoff, out
-- of the active set, no contact open. Checked and marked atomically; the caller then removes it.
-- KEYS: meta, counts, the active set
-- ARGV: cutoff_ms
-- Returns {batches, submission record key or false}, or false if it may not be removed
local meta, counts, active = KEYS[1], KEYS[2], KEYS[3]
local f = redis.call('HMGET', meta, 'id', 'status', 'finished_at', 'status_at', 'batches',
  'submission_key')
local id, status = f[1], f[2]
if not id then return false end
local ended
if status == 'finished' then
  ended = f[3] or f[4]
elseif status == 'cancelled' then
  ended = f[4]
else
  return false
end
if tonumber(ended or '0') > tonumber(ARGV[1]) then return false end
if redis.call('SISMEMBER', active, id) == 1 then return false end
for _, n in ipairs(redis.call('HMGET', counts, 'pending', 'sending', 'sent')) do
  if n and tonumber(n) ~= 0 then return false end
end
redis.call('HSET', meta, 'purging', 1)
return {f[5] or '0', f[6] or false}
