"""`dispatcher archive`: move ended campaigns' contacts into compressed buckets now."""

from __future__ import annotations

import click

from dispatcher.commands.context import open_store, settings_of
from dispatcher.commands.output import echo_json, json_option

__all__ = ["archive"]


@click.command()
@click.argument("campaign_id", required=False)
@click.option(
    "--after",
    "after_s",
    type=click.FloatRange(min=0),
    help="Seconds since a campaign ended (default: DISPATCHER_ARCHIVE_AFTER_S; 0: at once).",
)
@click.option("--dry-run", is_flag=True, help="Say what would be archived; change nothing.")
@json_option("Print the campaigns and what became of each as one JSON object")
@click.pass_context
def archive(
    ctx: click.Context, campaign_id: str | None, after_s: float | None, dry_run: bool, as_json: bool
) -> None:
    """Archive CAMPAIGN_ID's contacts, or every ended campaign's not archived yet.

    A finished or cancelled campaign that ended more than --after seconds ago and has nothing open
    (no contact pending, sending or sent; nothing to poll, retry or ask the provider) has its
    contacts and their data rewritten into compressed buckets, about a quarter of their live size,
    in one transaction; results, export and the API read them as before. Its counters and meta
    stay; webhooks for it are refused (410) from then on. The reconciler does the same by itself
    (DISPATCHER_ARCHIVE_ENABLED), a few campaigns per sweep.
    """
    from dispatcher.archive import archive_campaigns

    settings = settings_of(ctx)
    grace_s = settings.archive_after_s if after_s is None else after_s
    store = open_store(settings)
    ids = None if campaign_id is None else [campaign_id]
    report = archive_campaigns(store, grace_s, ids, dry_run=dry_run)
    if as_json:
        echo_json(report.as_dict())
        return
    for c in report.campaigns:
        detail = f"{c.contacts} contacts"
        if c.outcome == "archived":
            detail += f" in {c.buckets} bucket(s), {c.archive_bytes} bytes"
        why = f" ({c.reason})" if c.reason else ""
        click.echo(f"{c.campaign_id}  {c.outcome:<15}  {detail}{why}  {c.name}")
    verb = "would archive" if dry_run else "archived"
    click.echo(f"{verb} {len(report.archived)} campaign(s) in {report.duration_s:.2f} s", err=True)
    if campaign_id is not None and report.campaigns[0].outcome == "gone":
        raise click.ClickException(f"no campaign {campaign_id!r}")
