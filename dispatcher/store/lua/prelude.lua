-- Shared helpers, prepended to every script whose header says `-- uses: prelude`.
-- __TERMINAL__ is replaced with the terminal contact states (dispatcher.store.scripts).
local TERMINAL = {}
for _, s in ipairs({__TERMINAL__}) do TERMINAL[s] = true end

local function move(counts, from, to)
  if from == to then return end
  if from then redis.call('HINCRBY', counts, from, -1) end
  redis.call('HINCRBY', counts, to, 1)
end

-- A campaign whose contacts are all terminal becomes finished (a plan-ahead campaign can get
-- there while still scheduled).
local function maybe_finish(meta, counts, now_ms)
  local status = redis.call('HGET', meta, 'status')
  if status ~= 'running' and status ~= 'paused' and status ~= 'scheduled' then return 0 end
  if redis.call('HGET', meta, 'submitted') ~= '1' then return 0 end
  local open = redis.call('HMGET', counts, 'pending', 'sending', 'sent')
  local n = 0
  for _, v in ipairs(open) do n = n + (tonumber(v) or 0) end
  if n > 0 then return 0 end
  redis.call('HSET', meta, 'status', 'finished', 'finished_at', now_ms)
  return 1
end
