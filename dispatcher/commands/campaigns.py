"""Submitting campaigns and looking at them: submit, status, list, export."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from dispatcher.commands.context import open_store, settings_of
from dispatcher.settings import Settings

__all__ = ["export", "list_campaigns", "status", "submit"]

# --- submit ---------------------------------------------------------------------------------------


@click.command()
@click.argument("spec_file", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("contacts_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", help="Override the spec's campaign name.")
@click.option("--batch-size", type=int, help="Override phones per create request.")
@click.option("--dials-per-minute", type=float, help="Override the campaign's pace.")
@click.option("--start-at", help="Override the start time (ISO 8601 with a time zone).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl"]),
    help="Contacts format (default: by extension).",
)
@click.option("--strict", is_flag=True, help="Refuse the whole submission if any row is rejected.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Validate and report what would be dialled, the batches and estimates; change nothing.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def submit(
    ctx: click.Context,
    spec_file: Path,
    contacts_file: Path,
    name: str | None,
    batch_size: int | None,
    dials_per_minute: float | None,
    start_at: str | None,
    fmt: str | None,
    strict: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Submit a campaign: SPEC_FILE (.json/.toml) and CONTACTS_FILE (.csv/.jsonl)."""
    from dispatcher.contacts import open_contacts
    from dispatcher.spec import load_spec

    settings = settings_of(ctx)
    overrides = {
        "name": name,
        "batch_size": batch_size,
        "dials_per_minute": dials_per_minute,
        "start_at": start_at,
    }
    spec = load_spec(spec_file, overrides)
    store = open_store(settings)
    contacts = open_contacts(contacts_file, settings.default_region, fmt)  # type: ignore[arg-type]
    if dry_run:
        from dispatcher.dry_run import dry_run as run_dry

        estimate = run_dry(store, settings, spec, contacts).as_dict()
        if as_json:
            click.echo(json.dumps(estimate, indent=2))
        else:
            click.echo("dry run: nothing was written or enqueued")
            for key, value in estimate.items():
                if key not in ("dry_run", "rejected_rows"):
                    click.echo(f"  {key}: {value}")
        return
    report = _submit(settings, store, spec, contacts, strict)
    _print_report(report.as_dict(), as_json)
    if report.campaign_id is None:
        ctx.exit(1)


def _submit(settings: Settings, store: Any, spec: Any, contacts: Any, strict: bool) -> Any:
    from dispatcher.producer import submit_campaign
    from dispatcher.queue import make_enqueue

    enqueue = make_enqueue(settings, store.client)
    return submit_campaign(
        store, enqueue, spec, contacts, strict=strict, pace_per_s=settings.provider_rate_per_s
    )


def _print_report(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    if report["campaign_id"] is None:
        click.echo(f"refused: {report['refused_because']}", err=True)
    else:
        click.echo(f"campaign {report['campaign_id']} {report['status']}")
    click.echo(
        f"accepted {report['accepted']}, duplicates {report['duplicates']}, "
        f"blocked {report['blocked']}, rejected {report['rejected']}, batches {report['batches']}"
    )
    for reason, count in report["rejected_by_reason"].items():
        click.echo(f"  rejected {count:>7}  {reason}")
    for row in report["rejected_rows"][:10]:
        click.echo(f"  row {row['row']}: {row['reason']} ({row['value']!r})")


# --- status, list, export -------------------------------------------------------------------------


@click.command()
@click.argument("campaign_id")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--watch", is_flag=True, help="Follow with a live progress bar until it ends.")
@click.pass_context
def status(ctx: click.Context, campaign_id: str, as_json: bool, watch: bool) -> None:
    """Show a campaign's status: counts by state, rate, ETA."""
    store = open_store(settings_of(ctx))
    if watch:
        from dispatcher.watch import watch_campaign

        watch_campaign(store, campaign_id)
    progress = _progress(store, campaign_id)
    if as_json:
        click.echo(json.dumps(progress.as_dict(), indent=2))
    else:
        click.echo(_describe(progress))


def _progress(store: Any, campaign_id: str) -> Any:
    from dispatcher.progress import compute_progress
    from dispatcher.store import now_ms

    return compute_progress(store.meta(campaign_id), store.counts(campaign_id), now_ms())


def _describe(progress: Any) -> str:
    lines = [
        f"campaign {progress.campaign_id} ({progress.name}): {progress.status}",
        f"  {progress.done}/{progress.total} done"
        + (f", {progress.rate_per_s}/s" if progress.rate_per_s else "")
        + (f", ETA {progress.eta_s}s" if progress.eta_s else ""),
    ]
    if progress.pause_reason:
        lines.append(f"  paused because: {progress.pause_reason}")
    lines += [f"  {state:<10} {count}" for state, count in progress.counts.items()]
    return "\n".join(lines)


@click.command("list")
@click.option("--limit", default=50, show_default=True, help="How many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON lines.")
@click.pass_context
def list_campaigns(ctx: click.Context, limit: int, as_json: bool) -> None:
    """List campaigns, newest first."""
    store = open_store(settings_of(ctx))
    for campaign_id in store.list_campaigns(limit):
        progress = _progress(store, campaign_id)
        if as_json:
            click.echo(json.dumps(progress.as_dict()))
        else:
            click.echo(
                f"{campaign_id}  {progress.status:<10} {progress.done:>8}/{progress.total:<8} "
                f"{progress.name}"
            )


@click.command()
@click.argument("campaign_id")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File (default stdout)."
)
@click.pass_context
def export(ctx: click.Context, campaign_id: str, fmt: str, output: Path | None) -> None:
    """Export every contact with its outcome and the provider's details."""
    from dispatcher.export import export_rows, write_csv, write_jsonl

    store = open_store(settings_of(ctx))
    rows = export_rows(store, campaign_id)
    writer = write_csv if fmt == "csv" else write_jsonl
    if output is None:
        writer(rows, sys.stdout)
        return
    with output.open("w", encoding="utf-8", newline="") as out:
        count = writer(rows, out)
    click.echo(f"{count} contacts written to {output}", err=True)
