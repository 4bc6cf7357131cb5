"""What one sweep of the reconciler costs Redis: commands per sweep, by scenario.

A fresh embedded Redis (so `INFO commandstats` holds nothing but the sweep's own commands) and the
real producer; no worker runs, so the state stays where each scenario puts it:

* `idle`: 100 active campaigns with nothing to do (paused, each with pending batches long overdue
  and a call to poll later);
* `midflight`: one campaign of 100,000 contacts (2,000 batches of 50): half sent and polled later,
  20 being sent under live leases, the rest pending with their messages queued (picked up over the
  next minutes at the campaign's pace).

Each scenario is swept once to settle (the first sweep arms polls and gives queued batches longer),
then the steady-state sweep is measured: Redis commands (script bodies count their inner calls),
round trips are not counted. Figures go to the README's reconciler section.

    .venv/bin/python -m bench.reconciler_cost [--campaigns 100] [--contacts 100000]
"""

from __future__ import annotations

from typing import Any

import httpx
import redis

from bench.harness import emit, machine, parse_args, parser, phones, submit
from dispatcher.controls import Controls
from dispatcher.effebot.client import EffebotClient
from dispatcher.pacing import GlobalPacer
from dispatcher.queue import make_broker, make_enqueue
from dispatcher.redis_server import EmbeddedRedis
from dispatcher.settings import SANDBOX_API_KEY, Settings
from dispatcher.store import StateStore, now_ms
from workers.context import WorkerContext
from workers.reconciler import sweep


def commands(client: redis.Redis) -> int:
    """Commands the server has run so far, the INFO calls that read it left out."""
    stats: dict[str, Any] = client.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")


def context(url: str, prefix: str) -> tuple[WorkerContext, httpx.Client]:
    settings = Settings(
        redis_url=url,
        key_prefix=prefix,
        queue_name=prefix,
        effebot_base_url="http://127.0.0.1:9",  # never called: no balance check is configured
        effebot_api_key=SANDBOX_API_KEY,
        _env_file=None,
    )
    client = redis.Redis.from_url(url)
    http = httpx.Client()
    ctx = WorkerContext(
        settings=settings,
        store=StateStore(client, prefix),
        client=EffebotClient.from_settings(settings, http),
        pacer=GlobalPacer(client, prefix),
        broker=make_broker(settings, client),
    )
    return ctx, http


def measure(ctx: WorkerContext) -> tuple[int, dict[str, Any]]:
    """Settle with one sweep, then count the commands of the next one."""
    sweep(ctx)
    client = ctx.store.client
    before = commands(client)
    report = sweep(ctx)
    return commands(client) - before, vars(report)


def idle(url: str, campaigns: int) -> None:
    ctx, http = context(url, "idle")
    store = ctx.store
    controls = Controls(store, make_enqueue(ctx.settings, store.client))
    for i in range(campaigns):
        cid = submit(ctx.settings, store, phones(100, offset=i * 100), batch_size=10).campaign_id
        assert cid is not None
        controls.pause(cid, "idle")
        store.settle(cid, store.owed(cid, "park"))  # type: ignore[arg-type]
        claim = store.claim_batch(cid, 1, 60_000, "bench")
        # One call in flight, checked again in an hour; the other batches long overdue (paused).
        store.mark_sent(cid, 1, "bench", str(i + 1), claim.phones, now_ms() + 3_600_000)
        key = store.campaign_keys(cid).batch_due
        store.client.zadd(key, {str(bn): 0 for bn in range(2, 11)})
    count, report = measure(ctx)
    emit(
        "reconciler_commands_per_sweep_idle",
        count,
        "commands",
        campaigns=campaigns,
        per_campaign=count / campaigns,
        report=report,
        machine=machine(),
    )
    http.close()


def midflight(url: str, contacts: int) -> None:
    ctx, http = context(url, "midflight")
    store = ctx.store
    cid = submit(
        ctx.settings, store, phones(contacts), batch_size=50, dials_per_minute=6000
    ).campaign_id
    assert cid is not None
    batches = store.batch_count(cid)
    for bn in range(1, batches // 2 + 1):
        claim = store.claim_batch(cid, bn, 60_000, "bench")
        store.mark_sent(cid, bn, "bench", str(bn), claim.phones, now_ms() + 60_000)
    for bn in range(batches // 2 + 1, batches // 2 + 21):
        store.claim_batch(cid, bn, 60_000, "bench")
    count, report = measure(ctx)
    emit(
        "reconciler_commands_per_sweep_midflight",
        count,
        "commands",
        contacts=contacts,
        batches=batches,
        report=report,
        machine=machine(),
    )
    http.close()


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--campaigns", type=int, default=100)
    p.add_argument("--contacts", type=int, default=100_000)
    args = parse_args(p, argv)
    if args.smoke:
        args.campaigns, args.contacts = 5, 2_000
    with EmbeddedRedis() as server:
        idle(server.url, args.campaigns)
    with EmbeddedRedis() as server:
        midflight(server.url, args.contacts)


if __name__ == "__main__":
    main()
