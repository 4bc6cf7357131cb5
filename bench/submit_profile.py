"""Where a submit's time goes, and what the proposed batched `ADD_CONTACTS` script would save.

Not one of the five benchmarks: the measurements behind the proposal in bench/README.md
("Profiles"). For N generated CSV rows, each step of `submit_campaign` is timed on its own:
reading and normalising (`open_contacts`), adding the contacts through the current
`StateStore.add_contacts` (wall time and the server's own EVALSHA time from `INFO commandstats`),
the same with `PROPOSED_ADD_CONTACTS` below as first proposed (arguments as triples; one RPUSH per
batch, one HSET per chunk, string concatenation instead of `cjson.encode`, the DNC set only looked
at when it is not empty, the codes returned as one string: adopted in
`dispatcher/store/lua/add_contacts.lua` by a8dcefd, with one argument per chunk since 64dcafe),
and enqueueing one dramatiq message per batch (`send`, one at a time).

    .venv/bin/python -m bench.submit_profile [--rows 100000]
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from bench.harness import emit, machine, parse_args, parser
from bench.submit_scale import write_csv
from dispatcher.contacts import Contact, open_contacts
from dispatcher.queue import make_broker, send
from dispatcher.redis_server import EmbeddedRedis
from dispatcher.settings import Settings
from dispatcher.store import StateStore

#: ADD_CONTACTS with the same behaviour, batched. Returns the codes as one string ("1120...").
PROPOSED_ADD_CONTACTS = """
local meta, contacts, data, counts, dnc = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local base, size = ARGV[1], tonumber(ARGV[2])
local check_dnc = redis.call('SCARD', dnc) > 0
local current, out, seen, recs, datas = {}, {}, {}, {}, {}
local added, blocked = 0, 0
local function flush(g)
  if #g.push > 0 then redis.call('RPUSH', base .. ':bp:' .. g.bn, unpack(g.push)); g.push = {} end
end
for i = 3, #ARGV, 3 do
  local phone, extra, group = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local code
  if seen[phone] or redis.call('HEXISTS', contacts, phone) == 1 then
    code = '0'
  elseif check_dnc and redis.call('SISMEMBER', dnc, phone) == 1 then
    recs[#recs + 1] = phone; recs[#recs + 1] = '{"s":"blocked","r":"do-not-call list"}'
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
      if group ~= '' then redis.call('HSET', base .. ':b:' .. g.bn, 'zone', group) end
    end
    g.fill = g.fill + 1
    g.push[#g.push + 1] = phone
    local z = ''
    if group ~= '' then z = ',"z":' .. cjson.encode(group) end
    recs[#recs + 1] = phone; recs[#recs + 1] = '{"s":"pending","b":' .. g.bn .. z .. '}'
    added = added + 1
    code = '1'
  end
  seen[phone] = true
  if code ~= '0' and extra ~= '' then datas[#datas + 1] = phone; datas[#datas + 1] = extra end
  out[#out + 1] = code
end
for group, g in pairs(current) do
  flush(g)
  redis.call('HSET', meta, 'bn:' .. group, g.bn, 'bf:' .. group, g.fill)
end
if #recs > 0 then redis.call('HSET', contacts, unpack(recs)) end
if #datas > 0 then redis.call('HSET', data, unpack(datas)) end
if added > 0 then redis.call('HINCRBY', counts, 'pending', added) end
if blocked > 0 then redis.call('HINCRBY', counts, 'blocked', blocked) end
return table.concat(out)
"""

CHUNK = 1000
BATCH = 50


def _evalsha_s(client: redis.Redis) -> float:
    stats = client.info("commandstats").get("cmdstat_evalsha", {})
    return float(stats.get("usec", 0)) / 1e6


def add_all(source: str | None, url: str, items: list[tuple[str, str, str]]) -> dict[str, Any]:
    """Add every item in chunks like the producer; wall and server seconds.

    `source` None: through `StateStore.add_contacts` (whatever the current script is);
    otherwise that script, called with (phone, data, group) triples as arguments.
    """
    client = redis.Redis.from_url(url)
    client.flushall()
    client.config_resetstat()
    store = StateStore(client, "bench")
    script = client.register_script(source) if source is not None else None
    ck = store.campaign_keys("c")
    keys = [ck.meta, ck.contacts, ck.data, ck.counts, store.keys.dnc]
    started = time.perf_counter()
    codes = ""
    for start in range(0, len(items), CHUNK):
        chunk = items[start : start + CHUNK]
        if script is None:
            codes += "".join(str(c) for c in store.add_contacts("c", BATCH, chunk))
            continue
        argv: list[Any] = [ck.base, BATCH]
        for phone, data, group in chunk:
            argv += [phone, data, group]
        reply = script(keys=keys, args=argv)
        codes += reply.decode() if isinstance(reply, bytes) else "".join(str(c) for c in reply)
    wall = time.perf_counter() - started
    result = {
        "wall_s": wall,
        "server_s": _evalsha_s(client),
        "accepted": codes.count("1"),
        "contacts": int(client.hlen(keys[1])),
        "batches": int(client.hget(ck.meta, "batches") or 0),
    }
    client.close()
    return result


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=100_000)
    args = parse_args(p, argv)
    if args.smoke:
        args.rows = 3000
    rows = args.rows
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis() as server:
        path = Path(tmp) / "contacts.csv"
        write_csv(path, rows)
        started = time.perf_counter()
        contacts = [c for c in open_contacts(path, "US") if isinstance(c, Contact)]
        read_s = time.perf_counter() - started
        items = [(c.phone, json.dumps(c.data, separators=(",", ":")), "") for c in contacts]
        current = add_all(None, server.url, items)
        proposed = add_all(PROPOSED_ADD_CONTACTS, server.url, items)
        if (current["accepted"], current["batches"]) != (proposed["accepted"], proposed["batches"]):
            raise RuntimeError(f"the proposed script differs: {current} vs {proposed}")
        client = redis.Redis.from_url(server.url)
        settings = Settings(redis_url=server.url, key_prefix="bench", queue_name="bench")
        broker = make_broker(settings, client)
        messages = rows // BATCH
        started = time.perf_counter()
        for batch_no in range(1, messages + 1):
            send(broker, settings.queue_name, "send_batch", ("c", batch_no))
        enqueue_s = time.perf_counter() - started
        client.close()
    per_row_us = {
        "read_and_normalise": read_s / rows * 1e6,
        "add_current_wall": current["wall_s"] / rows * 1e6,
        "add_current_server": current["server_s"] / rows * 1e6,
        "add_proposed_wall": proposed["wall_s"] / rows * 1e6,
        "add_proposed_server": proposed["server_s"] / rows * 1e6,
        "enqueue_one_message_per_50": enqueue_s / rows * 1e6,
    }
    emit(
        "submit_profile_add_contacts_server_time",
        proposed["server_s"],
        "s",
        baseline=current["server_s"],
        baseline_name="StateStore.add_contacts as it is now",
        ratio=proposed["server_s"] / current["server_s"],
        rows=rows,
    )
    emit(
        "submit_profile_per_row",
        sum(v for k, v in per_row_us.items() if "server" not in k and "proposed" not in k),
        "us per row (read + add + enqueue, current script)",
        steps_us=per_row_us,
        rows=rows,
        machine=machine(),
    )


if __name__ == "__main__":
    main()
