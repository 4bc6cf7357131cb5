-- End every contact still waiting for a retry in one state (a cancelled campaign).
-- KEYS: meta, counts, contacts, retry, event stream
-- ARGV: state, reason, now_ms
-- uses: prelude
local meta, counts, contacts, retry = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local moved = 0
for _, phone in ipairs(redis.call('ZRANGE', retry, 0, -1)) do
  local raw = redis.call('HGET', contacts, phone)
  if raw then
    local rec = cjson.decode(raw)
    if rec.s == 'pending' and not rec.b then
      move(counts, rec.s, ARGV[1])
      rec.s = ARGV[1]
      rec.r = ARGV[2]
      redis.call('HSET', contacts, phone, cjson.encode(rec))
      outcome(phone, rec)
      moved = moved + 1
    end
  end
end
redis.call('DEL', retry)
return {moved, maybe_finish(meta, counts, tonumber(ARGV[3]), KEYS[5])}
