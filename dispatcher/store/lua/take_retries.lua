-- Turn due retries into batches (per window group), atomically.
-- KEYS: meta, contacts, retry, pending-batch deadlines
-- ARGV: now_ms, batch size, batch key base, most phones to take, deadline ms for the new
--       batches' messages (the reconciler sends them if nobody did by then)
-- Returns the new batch numbers.
local meta, contacts, retry, due_set = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now, size, base, most = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local due = redis.call('ZRANGEBYSCORE', retry, '-inf', now, 'LIMIT', 0, most)
local open = {}
local created = {}
for _, phone in ipairs(due) do
  redis.call('ZREM', retry, phone)
  local raw = redis.call('HGET', contacts, phone)
  if raw then
    local rec = cjson.decode(raw)
    if rec.s == 'pending' and not rec.b then
      local group = rec.z or ''
      local g = open[group]
      if not g or g.fill >= size then
        g = {bn = redis.call('HINCRBY', meta, 'batches', 1), fill = 0}
        open[group] = g
        created[#created + 1] = g.bn
        redis.call('ZADD', due_set, tonumber(ARGV[5]), g.bn)
        redis.call('HSET', base .. ':b:' .. g.bn, 'retry', 1)
        if group ~= '' then redis.call('HSET', base .. ':b:' .. g.bn, 'zone', group) end
      end
      g.fill = g.fill + 1
      redis.call('RPUSH', base .. ':bp:' .. g.bn, phone)
      rec.b = g.bn
      redis.call('HSET', contacts, phone, cjson.encode(rec))
    end
  end
end
return created
