"""What the console costs at scale: 10,000 campaigns, and one campaign of 1,000,000 contacts.

A fresh embedded Redis (so `INFO commandstats` holds only this benchmark's commands) and the API
served by `dispatcher serve` in its own process. The big campaign is submitted by the real producer
(no worker runs: it stays `running` with every contact pending, the largest state a page can meet);
the small ones are written with the store's own calls (meta, counters, the index). Then the
requests each console page makes are timed (median of `--repeats`) and their Redis commands
counted:

* `list`: the first page of 50 campaigns (`GET /campaigns?limit=50`), and filtered by status;
* `campaign`: a campaign's page (`GET /campaigns/{id}`, `/activity?minutes=1440`, `/events`),
  for the 1,000,000-contact campaign and, as the baseline, a 10-contact one.

    .venv/bin/python -m bench.console_scale [--campaigns 10000] [--contacts 1000000]
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import redis

from bench.harness import ApiProcess, emit, machine, parse_args, parser, phones, submit
from dispatcher.redis_server import EmbeddedRedis
from dispatcher.settings import Settings
from dispatcher.spec import parse_spec
from dispatcher.store import StateStore

TOKEN = "bench-console-token-0123456789"  # noqa: S105 - the throwaway API's own token
STATUSES = ("running", "paused", "finished", "cancelled", "scheduled")


def commands(client: redis.Redis) -> int:
    """Commands the server has run so far, the INFO calls that read it left out."""
    stats: dict[str, Any] = client.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")


def small_campaigns(store: StateStore, count: int) -> None:
    """`count` finished-looking campaigns of 100 contacts each, written directly."""
    spec = parse_spec({"name": "small", "call": {"dutyPhone": 1, "record": {"text": "Hi"}}})
    rng = random.Random(7)
    for i in range(count):
        campaign_id = f"s{i:015d}"
        store.create_campaign(campaign_id, f"campaign {i}", spec.to_json())
        status = rng.choice(STATUSES)
        pipe = store.client.pipeline(transaction=False)
        pipe.hset(store.campaign_keys(campaign_id).meta, mapping={"status": status, "submitted": 1})
        done = 100 if status == "finished" else rng.randrange(100)
        pipe.hset(
            store.campaign_keys(campaign_id).counts,
            mapping={"completed": done, "pending": 100 - done},
        )
        pipe.execute()


def timed(http: httpx.Client, paths: list[str], repeats: int) -> tuple[float, int]:
    """Median milliseconds to fetch every path once, and the bytes of one such round."""
    times = []
    size = 0
    for _ in range(repeats):
        started = time.perf_counter()
        size = 0
        for path in paths:
            answer = http.get(path)
            answer.raise_for_status()
            size += len(answer.content)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), size


def page_commands(client: redis.Redis, http: httpx.Client, paths: list[str]) -> int:
    before = commands(client)
    for path in paths:
        http.get(path).raise_for_status()
    return commands(client) - before


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__ or "")
    p.add_argument("--campaigns", type=int, default=10_000)
    p.add_argument("--contacts", type=int, default=1_000_000)
    p.add_argument("--repeats", type=int, default=20)
    args = parse_args(p, argv)
    if args.smoke:
        args.campaigns, args.contacts, args.repeats = 200, 5_000, 3
    with EmbeddedRedis() as server, tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            redis_url=server.url, key_prefix="bench", queue_name="bench", _env_file=None
        )
        client = redis.Redis.from_url(server.url)
        store = StateStore(client, "bench")
        started = time.perf_counter()
        small_campaigns(store, args.campaigns)
        baseline = submit(settings, store, phones(10, offset=10**7)).campaign_id
        big = submit(settings, store, phones(args.contacts)).campaign_id
        setup_s = time.perf_counter() - started
        assert big is not None
        assert baseline is not None
        env = {
            "DISPATCHER_REDIS_URL": server.url,
            "DISPATCHER_KEY_PREFIX": "bench",
            "DISPATCHER_QUEUE_NAME": "bench",
            "DISPATCHER_API_TOKENS": f'["{TOKEN}"]',
            "DISPATCHER_LOG_LEVEL": "WARNING",
            "DISPATCHER_ALLOW_UNSAFE_REDIS": "true",  # its own throw-away Redis
            "PATH": "/usr/bin:/bin",
        }
        with (
            ApiProcess(env, Path(tmp) / "api.log") as api,
            httpx.Client(
                base_url=api.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
            ) as http,
        ):
            pages = {
                "list": ["/campaigns?limit=50"],
                "list_running": ["/campaigns?limit=50&status=running"],
                "campaign": [f"/campaigns/{big}", f"/campaigns/{big}/activity?minutes=1440",
                             f"/campaigns/{big}/events?limit=20"],
                "campaign_baseline": [f"/campaigns/{baseline}",
                                      f"/campaigns/{baseline}/activity?minutes=1440",
                                      f"/campaigns/{baseline}/events?limit=20"],
            }  # fmt: skip
            for paths in pages.values():
                timed(http, paths, 1)  # warm up: connections, scripts, caches
            results = {name: timed(http, paths, args.repeats) for name, paths in pages.items()}
            cost = {name: page_commands(client, http, paths) for name, paths in pages.items()}
        extra = {"campaigns": args.campaigns + 2, "contacts": args.contacts, "machine": machine()}
        emit("console_setup_s", setup_s, "s", **extra)
        for name in ("list", "list_running"):
            ms, size = results[name]
            emit(
                f"console_{name}_page_ms", ms, "ms", bytes=size, redis_commands=cost[name], **extra
            )
        ms, size = results["campaign"]
        base_ms, _ = results["campaign_baseline"]
        emit(
            "console_campaign_page_ms", ms, "ms", baseline=base_ms, ratio=ms / base_ms,
            bytes=size, **extra,
        )  # fmt: skip
        emit(
            "console_campaign_page_redis_commands", cost["campaign"], "commands",
            baseline=cost["campaign_baseline"], **extra,
        )  # fmt: skip


if __name__ == "__main__":
    main()
