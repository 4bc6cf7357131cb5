-- KEYS: meta, counts, contacts, batch, batch phones, dnc, today's dial counts, retry,
--       pending-batch deadlines, leases, event stream, epoch marker
-- ARGV: now_ms, lease_ms, token, batch number, daily cap per number (0: none), defer-until ms,
--       the epoch id the caller started in ('': not checked)
-- Returns {'claimed', phone...} | {'sending', lease_until_ms} | {'held', campaign status}
--         | {'untrusted'} (the epoch marker is not the caller's: nothing was claimed)
--         | {the batch's status}
--
-- A contact record that starts `{"s":"pending","b":<this batch>` and has no top-level `"a"`
-- (what add_contacts writes, with or without its zone and ref) is claimed by rewriting its head
-- as a string; any other shape is decoded and encoded with cjson. Both give the same record.
-- uses: prelude
local meta, counts, contacts, batch, bp, dnc = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local cap, retry, due_set, leases, stream = KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11]
local now, lease, token, bn = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
local cap_max, defer_until = tonumber(ARGV[5]), tonumber(ARGV[6])
if ARGV[7] ~= '' then
  -- The epoch check (store.trust), atomically with the claim: a Redis that lost its data (the DNC
  -- list with it) dials nobody. The caller judges and records the loss.
  local epoch = redis.call('HMGET', KEYS[12], 'id', 'lost')
  if epoch[1] ~= ARGV[7] or (epoch[2] and epoch[2] ~= '') then return {'untrusted'} end
end
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
if #phones == 0 then phones = nil end
-- Read in one call each: the records, today's dial counts, whether the DNC list has anyone.
local raws = phones and redis.call('HMGET', contacts, unpack(phones)) or {}
local dials = (phones and cap_max > 0) and redis.call('HMGET', cap, unpack(phones)) or {}
local any_dnc = redis.call('SCARD', dnc) > 0
local head = '{"s":"pending","b":' .. bn
local cut = #head + 1
local sending_head = '{"s":"sending","b":' .. bn .. ',"a":1'
local writes, counted, seen = {}, {}, {}
for i, phone in ipairs(phones or {}) do
  local raw = raws[i]
  -- A phone listed twice is claimed once (its second record read above would be stale).
  if raw and not seen[phone] then
    seen[phone] = true
    local rec = nil
    local after = string.sub(raw, cut, cut)
    local plain = string.sub(raw, 1, #head) == head and (after == ',' or after == '}')
      and not string.find(raw, '"a":', cut, true)
    if not plain then rec = cjson.decode(raw) end
    if plain or (rec.s == 'pending' and tostring(rec.b) == bn) then
      local n = cap_max > 0 and tonumber(dials[i] or '0') or 0
      if any_dnc and redis.call('SISMEMBER', dnc, phone) == 1 then
        rec = rec or cjson.decode(raw)
        move(counts, rec.s, 'blocked')
        rec.s = 'blocked'
        rec.r = 'do-not-call list'
        outcome(phone, rec)
        writes[#writes + 1] = phone; writes[#writes + 1] = cjson.encode(rec)
      elseif cap_max > 0 and n >= cap_max then
        -- This number had its dials for the day (all campaigns together): try again tomorrow.
        rec = rec or cjson.decode(raw)
        rec.b = nil
        rec.r = 'daily dial cap reached; deferred'
        redis.call('ZADD', retry, defer_until, phone)
        writes[#writes + 1] = phone; writes[#writes + 1] = cjson.encode(rec)
      else
        if cap_max > 0 then
          counted[#counted + 1] = phone; counted[#counted + 1] = n + 1
        end
        writes[#writes + 1] = phone
        if plain then
          writes[#writes + 1] = sending_head .. string.sub(raw, cut)
        else
          rec.s = 'sending'
          rec.a = (rec.a or 0) + 1
          writes[#writes + 1] = cjson.encode(rec)
        end
        claimed[#claimed + 1] = phone
      end
    end
  end
end
-- Written in slices: `unpack` has a limit on how many values it can spread.
for i = 1, #writes, 500 do
  redis.call('HSET', contacts, unpack(writes, i, math.min(i + 499, #writes)))
end
for i = 1, #counted, 500 do
  redis.call('HSET', cap, unpack(counted, i, math.min(i + 499, #counted)))
end
if #counted > 0 then redis.call('PEXPIRE', cap, 172800000) end
-- Every contact claimed was `pending`: the counters move once for the batch.
if #claimed > 1 then
  redis.call('HINCRBY', counts, 'pending', 1 - #claimed)
  redis.call('HINCRBY', counts, 'sending', #claimed - 1)
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
