-- KEYS: meta, contacts, data, counts, dnc, event stream
-- ARGV: batch key base, batch size, and the contacts as one string of lines
--       "<phone>\t<data JSON or ''>\t<window group or ''>[\t<caller's ref>]" (one argument
--       instead of several per contact: packing thousands of arguments was most of the client's
--       time)
-- Returns the codes as one string, one character per line: 0 duplicate, 1 accepted (pending),
-- 2 blocked by the DNC list.
-- Contacts are batched per window group (the time zone their call window is read in): each group
-- fills its own current batch; batch numbers are shared by the whole campaign. Writes are
-- gathered and done once per chunk (one HSET of all records, one RPUSH per batch), and the
-- do-not-call set is only looked at when it is not empty. Blocked contacts are terminal at once:
-- their outcomes are published (a draft that is then refused publishes a `discarded` status, so
-- readers know to drop them).
-- uses: prelude
local meta, contacts, data, counts, dnc = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local base, size = ARGV[1], tonumber(ARGV[2])
local check_dnc = redis.call('SCARD', dnc) > 0
local current, out, seen, recs, datas = {}, {}, {}, {}, {}
local added, blocked = 0, 0
local function flush(g)
  if #g.push > 0 then redis.call('RPUSH', base .. ':bp:' .. g.bn, unpack(g.push)); g.push = {} end
end
-- One pass splits the lines, one HMGET looks every phone up (a call per contact into Redis was
-- a third of the script's time), then one pass decides.
local phones, extras, groups, refs = {}, {}, {}, {}
local n = 0
for phone, extra, group, ref in string.gmatch(ARGV[3], '([^\t\n]+)\t([^\t\n]*)\t([^\t\n]*)\t?([^\n]*)') do
  n = n + 1
  phones[n], extras[n], groups[n], refs[n] = phone, extra, group, ref
end
local stored = {}
for i = 1, n, 4000 do
  local found = redis.call('HMGET', contacts, unpack(phones, i, math.min(i + 3999, n)))
  for j = 1, #found do stored[i + j - 1] = found[j] end
end
local nr, nd = 0, 0  -- lengths of recs and datas (cheaper than `#` on every append)
for i = 1, n do
  local phone, extra, group, ref = phones[i], extras[i], groups[i], refs[i]
  local x = ''
  if ref ~= '' then x = ',"x":' .. cjson.encode(ref) end
  local code
  if seen[phone] or stored[i] then
    code = '0'
  elseif check_dnc and redis.call('SISMEMBER', dnc, phone) == 1 then
    recs[nr + 1] = phone; recs[nr + 2] = '{"s":"blocked","r":"do-not-call list"' .. x .. '}'
    nr = nr + 2
    local o = {s = 'blocked', r = 'do-not-call list'}
    if ref ~= '' then o.x = ref end
    outcome(phone, o)
    blocked = blocked + 1
    code = '2'
  else
    local g = current[group]
    if not g then
      local saved = redis.call('HMGET', meta, 'bn:' .. group, 'bf:' .. group)
      g = {bn = tonumber(saved[1] or '0'), fill = tonumber(saved[2] or '0'), push = {}}
      current[group] = g
    end
    if g.bn == 0 or g.fill >= size then
      flush(g)
      g.bn = redis.call('HINCRBY', meta, 'batches', 1)
      g.fill = 0
      g.rec = nil
      if group ~= '' then redis.call('HSET', base .. ':b:' .. g.bn, 'zone', group) end
    end
    g.fill = g.fill + 1
    g.push[#g.push + 1] = phone
    if not g.rec then
      -- The record up to the caller's ref: the same for every contact of the batch.
      local z = ''
      if group ~= '' then z = ',"z":' .. cjson.encode(group) end
      g.rec = '{"s":"pending","b":' .. g.bn .. z
    end
    recs[nr + 1] = phone; recs[nr + 2] = g.rec .. x .. '}'
    nr = nr + 2
    added = added + 1
    code = '1'
  end
  seen[phone] = true
  if code ~= '0' and extra ~= '' then datas[nd + 1] = phone; datas[nd + 2] = extra; nd = nd + 2 end
  out[i] = code
end
for group, g in pairs(current) do
  flush(g)
  redis.call('HSET', meta, 'bn:' .. group, g.bn, 'bf:' .. group, g.fill)
end
if nr > 0 then redis.call('HSET', contacts, unpack(recs)) end
if nd > 0 then redis.call('HSET', data, unpack(datas)) end
if added > 0 then redis.call('HINCRBY', counts, 'pending', added) end
if blocked > 0 then redis.call('HINCRBY', counts, 'blocked', blocked) end
if #OUTCOMES > 0 then
  -- Marks the draft as having published: if it is then refused, its discarding is published too.
  redis.call('HSET', meta, 'published', 1)
  publish_outcomes(KEYS[6], meta)
end
return table.concat(out)
