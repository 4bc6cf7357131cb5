-- Apply the provider's view of one api call to its contacts; idempotent.
-- KEYS: meta, counts, contacts, poll, retry
-- ARGV: api call id, now_ms, next due ms (or '' to stop polling it), retry policy JSON or '',
--       then triples of
--       (phone, new terminal state or '', detail JSON object)
-- Returns {contacts changed, campaign finished (0/1), phones unknown to the campaign}
-- uses: prelude
local meta, counts, contacts, poll, retry = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local call_id, now, due = ARGV[1], tonumber(ARGV[2]), ARGV[3]
-- {outcome = {max attempts, interval ms}} for the outcomes the campaign redials
local policy = ARGV[4] ~= '' and cjson.decode(ARGV[4]) or {}
local changed, strangers = 0, 0
for i = 5, #ARGV, 3 do
  local phone, state, detail = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local raw = redis.call('HGET', contacts, phone)
  if not raw then
    strangers = strangers + 1
  else
    local rec = cjson.decode(raw)
    if not TERMINAL[rec.s] and rec.c == call_id then
      for k, v in pairs(cjson.decode(detail)) do rec[k] = v end
      local rule = state ~= '' and policy[state] or nil
      if rule and (rec.a or 1) < rule[1] then
        -- Another attempt: keep this one in the history, wait in the retry set; the poller forms
        -- retry batches when they are due, and those go through the batch actor like any other.
        local hist = rec.hist or {}
        hist[#hist + 1] = {c = rec.c, s = state, h = rec.h, ans = rec.ans, fin = rec.fin}
        rec.hist = hist
        move(counts, rec.s, 'pending')
        rec.s = 'pending'
        rec.c = nil
        rec.b = nil
        redis.call('ZADD', retry, now + rule[2], phone)
        changed = changed + 1
      elseif state ~= '' then
        move(counts, rec.s, state)
        rec.s = state
        changed = changed + 1
      end
      redis.call('HSET', contacts, phone, cjson.encode(rec))
    end
  end
end
if due == '' then
  redis.call('ZREM', poll, call_id)
else
  redis.call('ZADD', poll, 'XX', tonumber(due), call_id)
end
return {changed, maybe_finish(meta, counts, now), strangers}
