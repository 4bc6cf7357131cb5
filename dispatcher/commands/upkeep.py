"""Keeping Redis in shape: `purge` (retention by hand) and `redis-reset` (accept a data loss)."""

from __future__ import annotations

import time

import click

from dispatcher.commands.context import open_store, settings_of
from dispatcher.commands.output import echo_json, json_option

__all__ = ["purge", "redis_reset"]


def _when(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ms / 1000)) if ms else "unknown"


@click.command()
@click.option(
    "--older-than",
    "older_than_days",
    type=click.FloatRange(min=0),
    help="Days since a campaign ended (default: DISPATCHER_RETENTION_DAYS).",
)
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
@json_option("Print the campaigns and counts as one JSON object")
@click.pass_context
def purge(ctx: click.Context, older_than_days: float | None, dry_run: bool, as_json: bool) -> None:
    """Remove finished and cancelled campaigns that ended more than --older-than days ago.

    Everything of such a campaign goes: contacts, batches, poll counters, its index entries and
    webhook deliveries; its idempotency key or intake record becomes a tombstone, so a retried
    submission is refused instead of dialling everyone again. Nothing still active (draft,
    scheduled, running, paused, calls in flight) is removed, whatever its age; the do-not-call
    list never is.
    """
    from dispatcher.retention import DAY_MS, purge_ended

    settings = settings_of(ctx)
    days = settings.retention_days if older_than_days is None else older_than_days
    store = open_store(settings)
    tombstone_ms = max(int(settings.retention_days * DAY_MS), DAY_MS)
    report = purge_ended(store, days, dry_run=dry_run, tombstone_ms=tombstone_ms)
    if as_json:
        echo_json(report.as_dict())
        return
    verb = "would remove" if dry_run else "removed"
    for ended in report.campaigns:
        click.echo(
            f"{ended.campaign_id}  {ended.status:<9}  ended {_when(ended.ended_at_ms)}  "
            f"{ended.contacts} contacts  {ended.name}"
        )
    detail = "" if dry_run else f" ({report.keys_removed} keys)"
    click.echo(
        f"{verb} {len(report.campaigns)} campaign(s) that ended before "
        f"{_when(report.cutoff_ms)} UTC{detail}",
        err=True,
    )


@click.command("redis-reset")
@click.option(
    "--accept-data-loss",
    is_flag=True,
    help="Required: you checked what was lost and want the dispatcher to work again.",
)
@json_option()
@click.pass_context
def redis_reset(ctx: click.Context, accept_data_loss: bool, as_json: bool) -> None:
    """Start a new epoch after Redis lost its data, so the processes dial again.

    Running processes stop dialling (and /readyz answers 503) when the epoch marker is gone or
    changed: Redis came back empty, and with it the campaigns and the do-not-call list. Restore
    what you can first (re-import the do-not-call list: `dispatcher dnc import`), then run this;
    the running processes adopt the new epoch without a restart.
    """
    if not accept_data_loss:
        raise click.UsageError("--accept-data-loss is required: the old data does not come back")
    store = open_store(settings_of(ctx))
    before = store.read_epoch()
    epoch = store.reset_epoch("cli:redis-reset")
    result = {
        "epoch": epoch.id,
        "previous": (before.id or before.previous) if before is not None else "",
        "loss": before.lost if before is not None else "",
    }
    if as_json:
        echo_json(result)
    else:
        click.echo(f"new epoch {epoch.id} (was {result['previous'] or 'none'})")
