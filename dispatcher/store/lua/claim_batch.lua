-- KEYS: meta, counts, contacts, batch, batch phones, dnc, today's dial counts, retry,
--       pending-batch deadlines, leases, event stream
-- ARGV: now_ms, lease_ms, token, batch number, daily cap per number (0: none), defer-until ms
-- Returns {'claimed', phone...} | {'sending', lease_until_ms} | {'held', campaign status}
--         | {the batch's status}
-- uses: prelude
local meta, counts, contacts, batch, bp, dnc = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local cap, retry, due_set, leases, stream = KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11]
local now, lease, token, bn = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
local cap_max, defer_until = tonumber(ARGV[5]), tonumber(ARGV[6])
local st = redis.call('HGET', batch, 'status') or 'pending'
-- Re-read here, atomically with the claim: a pause or cancel that landed while this worker waited
-- for its pacing slot must stop the dial.
local cstatus = redis.call('HGET', meta, 'status')
if st == 'pending' and cstatus ~= 'running' and cstatus ~= 'scheduled' then
  return {'held', cstatus or 'missing'}
end
if st == 'sending' then
  return {'sending', redis.call('HGET', batch, 'lease_until') or '0'}
end
if st ~= 'pending' then return {st} end
local phones = redis.call('LRANGE', bp, 0, -1)
local claimed = {'claimed'}
for _, phone in ipairs(phones) do
  local raw = redis.call('HGET', contacts, phone)
  if raw then
    local rec = cjson.decode(raw)
    if rec.s == 'pending' and tostring(rec.b) == bn then
      if redis.call('SISMEMBER', dnc, phone) == 1 then
        move(counts, rec.s, 'blocked')
        rec.s = 'blocked'
        rec.r = 'do-not-call list'
        outcome(phone, rec)
      elseif cap_max > 0 and tonumber(redis.call('HGET', cap, phone) or '0') >= cap_max then
        -- This number had its dials for the day (all campaigns together): try again tomorrow.
        rec.b = nil
        rec.r = 'daily dial cap reached; deferred'
        redis.call('ZADD', retry, defer_until, phone)
      else
        if cap_max > 0 then
          redis.call('HINCRBY', cap, phone, 1)
          redis.call('PEXPIRE', cap, 172800000)
        end
        move(counts, rec.s, 'sending')
        rec.s = 'sending'
        rec.a = (rec.a or 0) + 1
        claimed[#claimed + 1] = phone
      end
      redis.call('HSET', contacts, phone, cjson.encode(rec))
    end
  end
end
redis.call('ZREM', due_set, bn)
if #claimed == 1 then
  redis.call('HSET', batch, 'status', 'done')
  maybe_finish(meta, counts, now, stream)
  return {'empty'}
end
redis.call('HSET', batch, 'status', 'sending', 'lease_until', now + lease, 'token', token)
redis.call('ZADD', leases, now + lease, bn)
if cap_max > 0 then redis.call('HSET', batch, 'cap_key', cap) end
redis.call('HINCRBY', batch, 'attempts', 1)
publish_outcomes(stream, meta)
return claimed
