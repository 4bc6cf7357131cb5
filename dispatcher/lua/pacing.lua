-- GCRA reservation across several limits in one step (the arithmetic is explained in
-- dispatcher/pacing.py; tests/test_pacing.py checks its properties against this script).
--
-- KEYS[i]   the theoretical arrival time (TAT, microseconds on the Redis clock) of limit i
-- ARGV[1]   longest acceptable wait, microseconds
-- ARGV[2i]  increment of limit i for this request (cost / rate), microseconds, rounded up
-- ARGV[2i+1] tolerance of limit i ((burst - 1) / rate), microseconds, rounded down
-- ARGV[2n+2] optional: "now" in microseconds instead of the server's clock (tests only: a clock
--           they control makes the arithmetic exact whatever the machine's load)
--
-- Returns {granted (0|1), wait_us, start_us}: the request may start wait_us after now, at
-- start_us. When granted, every limit's TAT has moved past the reserved start; when refused,
-- nothing has changed.
local now
if #ARGV >= 2 * #KEYS + 2 then
  now = tonumber(ARGV[2 * #KEYS + 2])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local max_wait = tonumber(ARGV[1])

local tats = {}
local start = now
for i = 1, #KEYS do
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
  tats[i] = tat
  local earliest = tat - tonumber(ARGV[2 * i + 1])
  if earliest > start then
    start = earliest
  end
end

local wait = start - now
if wait > max_wait then
  return {0, wait, start}
end

for i = 1, #KEYS do
  local tat = tats[i]
  if start > tat then
    tat = start
  end
  local new_tat = tat + tonumber(ARGV[2 * i])
  -- Once the TAT has passed the key says nothing an absent key would not: let it vanish.
  local ttl_ms = math.floor((new_tat - now) / 1000) + 1000
  redis.call('SET', KEYS[i], string.format('%.0f', new_tat), 'PX', ttl_ms)
end
return {1, wait, start}
