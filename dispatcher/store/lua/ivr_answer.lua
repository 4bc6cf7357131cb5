local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local rec = cjson.decode(raw)
local answers = rec.iv or {}
answers[#answers + 1] = ARGV[2]
rec.iv = answers
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(rec))
return 1
