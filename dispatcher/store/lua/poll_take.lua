-- A poll message starts: it acts if it is the one scheduled (the marker holds its due time), or
-- if no poll is marked at all (a lost marker: polling more is safe, polling never is not); a
-- message that a sooner one superseded does nothing. The marker is cleared when it acts.
-- KEYS: tick. ARGV: the message's due ms ('0' for a message that carries none: it always acts).
-- Returns 1 to act, 0 to do nothing.
local current = redis.call('GET', KEYS[1])
if current and ARGV[1] ~= '0' and current ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
return 1
