-- Append an IVR action's answer to a contact, up to a limit.
-- KEYS: contacts
-- ARGV: phone, answer, the most answers a contact keeps
-- Returns 1 recorded, 0 not a contact of this campaign, 2 the contact already has the most
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local rec = cjson.decode(raw)
local answers = rec.iv or {}
if #answers >= tonumber(ARGV[3]) then return 2 end
answers[#answers + 1] = ARGV[2]
rec.iv = answers
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(rec))
return 1
