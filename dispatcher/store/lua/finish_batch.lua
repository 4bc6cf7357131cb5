-- End a batch's still-open contacts in one terminal state with a reason.
-- KEYS: meta, counts, contacts, batch, batch phones, pending-batch deadlines, leases, event stream
-- ARGV: state, reason, now_ms, batch status to record, the batch status required ('' any),
--       batch number, '1' to require that the batch's lease has run out by now_ms
-- Returns {contacts moved, campaign finished (0/1), 1 if it applied}
-- uses: prelude
local meta, counts, contacts, batch, bp = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local due_set, leases, stream = KEYS[6], KEYS[7], KEYS[8]
local state, reason, now, bstatus = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local expected, bn, lease_expired = ARGV[5], ARGV[6], ARGV[7] == '1'
local current = redis.call('HGET', batch, 'status') or 'pending'
if expected ~= '' and current ~= expected then
  return {0, 0, 0}
end
if lease_expired and tonumber(redis.call('HGET', batch, 'lease_until') or '0') > now then
  return {0, 0, 0}
end
local moved = 0
for _, phone in ipairs(redis.call('LRANGE', bp, 0, -1)) do
  local raw = redis.call('HGET', contacts, phone)
  if raw then
    local rec = cjson.decode(raw)
    if (rec.s == 'pending' or rec.s == 'sending') and tostring(rec.b) == bn then
      move(counts, rec.s, state)
      rec.s = state
      rec.r = reason
      redis.call('HSET', contacts, phone, cjson.encode(rec))
      if TERMINAL[state] then outcome(phone, rec) end
      moved = moved + 1
    end
  end
end
redis.call('HSET', batch, 'status', bstatus, 'reason', reason)
redis.call('HDEL', batch, 'lease_until', 'token')
redis.call('ZREM', due_set, bn)
redis.call('ZREM', leases, bn)
return {moved, maybe_finish(meta, counts, now, stream), 1}
