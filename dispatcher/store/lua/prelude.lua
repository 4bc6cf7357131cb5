-- Shared helpers, prepended to every script whose header says `-- uses: prelude`.
-- __TERMINAL__ is replaced with the terminal contact states and __EVENTS_MAXLEN__ with the event
-- stream's approximate bound (dispatcher.store.scripts).
local TERMINAL = {}
for _, s in ipairs({__TERMINAL__}) do TERMINAL[s] = true end

local function move(counts, from, to)
  if from == to then return end
  if from then redis.call('HINCRBY', counts, from, -1) end
  redis.call('HINCRBY', counts, to, 1)
end

-- Contacts this script made terminal, published as one stream entry (at-least-once readers dedupe
-- on the entry id). Published by the same script that changes the state, so no change can happen
-- without its event.
local OUTCOMES = {}
local OUTCOME_FIELDS = {
  {'x', 'ref'}, {'r', 'reason'}, {'a', 'attempts'}, {'c', 'api_call_id'},
  {'st', 'provider_status'}, {'h', 'hangup_cause'}, {'ans', 'answered_at'},
  {'fin', 'finished_at'}, {'cost', 'cost'}, {'d', 'ivr_digit'},
}

local function outcome(phone, rec)
  local o = {phone = phone, state = rec.s}
  for _, f in ipairs(OUTCOME_FIELDS) do
    if rec[f[1]] ~= nil then o[f[2]] = rec[f[1]] end
  end
  OUTCOMES[#OUTCOMES + 1] = o
end

local function publish_outcomes(stream, meta)
  if #OUTCOMES == 0 then return end
  redis.call('XADD', stream, 'MAXLEN', '~', __EVENTS_MAXLEN__, '*', 'type', 'contacts',
    'campaign_id', redis.call('HGET', meta, 'id') or '', 'contacts', cjson.encode(OUTCOMES))
  OUTCOMES = {}
end

-- `ended`: the campaign has nothing left to do (finished, or cancelled with every contact closed).
local function publish_status(stream, meta, status, previous, ended)
  redis.call('XADD', stream, 'MAXLEN', '~', __EVENTS_MAXLEN__, '*', 'type', 'campaign',
    'campaign_id', redis.call('HGET', meta, 'id') or '', 'status', status,
    'previous', previous or '', 'ended', ended and '1' or '0')
end

-- A campaign whose contacts are all terminal becomes finished (a plan-ahead campaign can get
-- there while still scheduled); a cancelled one records that it has ended. Either way its end is
-- published once, after the outcomes this script produced.
local function maybe_finish(meta, counts, now_ms, stream)
  publish_outcomes(stream, meta)
  local status = redis.call('HGET', meta, 'status')
  local live = status == 'running' or status == 'paused' or status == 'scheduled'
  if not live and status ~= 'cancelled' then return 0 end
  if redis.call('HGET', meta, 'submitted') ~= '1' then return 0 end
  local open = redis.call('HMGET', counts, 'pending', 'sending', 'sent')
  local n = 0
  for _, v in ipairs(open) do n = n + (tonumber(v) or 0) end
  if n > 0 then return 0 end
  if not live then
    if redis.call('HSETNX', meta, 'ended_at', now_ms) == 1 then
      publish_status(stream, meta, status, status, true)
    end
    return 0
  end
  redis.call('HSET', meta, 'status', 'finished', 'finished_at', now_ms, 'ended_at', now_ms)
  publish_status(stream, meta, 'finished', status, true)
  return 1
end
