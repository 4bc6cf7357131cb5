"""Submitting campaigns and looking at them: submit, status, list, export."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import click

from dispatcher.commands.context import open_checked_store, open_store, settings_of
from dispatcher.commands.output import echo_json, echo_json_line, json_option
from dispatcher.commands.provider import account_check_for
from dispatcher.settings import Settings

__all__ = ["LIST_LIMIT_DEFAULT", "LIST_LIMIT_MAX", "export", "list_campaigns", "status", "submit"]

#: `list --limit`: the same bounds as the HTTP API's `GET /campaigns?limit=` (a test compares them).
LIST_LIMIT_DEFAULT = 50
LIST_LIMIT_MAX = 500
#: Rejected rows printed by the text reports (the JSON report has the first 100).
ROWS_SHOWN = 10

_EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)

# --- submit ---------------------------------------------------------------------------------------


@click.command()
@click.argument("spec_file", type=_EXISTING_FILE)
@click.argument("contacts_file", type=_EXISTING_FILE)
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
@click.option(
    "--idempotency-key",
    help="Makes re-running safe: the same key and content print the first run's report.",
)
@json_option("Print the report as JSON")
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
    idempotency_key: str | None,
    as_json: bool,
) -> None:
    """Submit a campaign: SPEC_FILE (.json/.toml) and CONTACTS_FILE (.csv/.jsonl).

    Exits 1 when the submission is refused (nothing to dial, or a rejected row with --strict);
    a dry run exits 1 when the real submission would be.
    """
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
    # A dry run writes nothing; a submission is refused on a Redis that would lose it.
    store = open_store(settings) if dry_run else open_checked_store(settings)
    contacts = open_contacts(contacts_file, settings.default_region, fmt)  # type: ignore[arg-type]
    check = account_check_for(settings, store)
    preflight = None if check is None else check.check
    if dry_run:
        from dispatcher.dry_run import dry_run as run_dry

        estimate = run_dry(
            store, settings, spec, contacts, strict=strict, preflight=preflight
        ).as_dict()
        if as_json:
            echo_json(estimate)
        else:
            _print_dry_run(estimate)
        if estimate["would_be_refused_because"] is not None:
            ctx.exit(1)
        return
    report = _submit(settings, store, spec, contacts, strict, preflight, idempotency_key)
    _print_report(report.as_dict(), as_json)
    if report.campaign_id is None:
        ctx.exit(1)


def _submit(
    settings: Settings,
    store: Any,
    spec: Any,
    contacts: Any,
    strict: bool,
    preflight: Any,
    idempotency_key: str | None,
) -> Any:
    from dispatcher.producer import submit_campaign
    from dispatcher.queue import make_enqueue

    enqueue = make_enqueue(settings, store.client)
    return submit_campaign(
        store,
        enqueue,
        spec,
        contacts,
        strict=strict,
        pace_per_s=settings.provider_rate_per_s,
        preflight=preflight,
        idempotency_key=idempotency_key,
        lease_ms=int(settings.idempotency_lease_s * 1000),
    )


def _print_report(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        echo_json(report)
        return
    if report["campaign_id"] is None:
        click.echo(f"refused: {report['refused_because']}", err=True)
    else:
        again = (
            " (the first submission with this idempotency key)" if report.get("replayed") else ""
        )
        click.echo(f"campaign {report['campaign_id']} {report['status']}{again}")
    click.echo(
        f"accepted {report['accepted']}, duplicates {report['duplicates']}, "
        f"blocked {report['blocked']}, rejected {report['rejected']}, batches {report['batches']}"
    )
    _print_rejections(report["rejected_by_reason"], report["rejected_rows"])


def _print_rejections(by_reason: Mapping[str, int], rows: Sequence[Mapping[str, Any]]) -> None:
    for reason, count in by_reason.items():
        click.echo(f"  rejected {count:>7}  {reason}")
    for row in rows[:ROWS_SHOWN]:
        click.echo(f"  row {row['row']}: {row['reason']} ({row['value']!r})")


def _print_dry_run(estimate: dict[str, Any]) -> None:
    click.echo("dry run: nothing was written or enqueued")
    click.echo(
        f"would dial {estimate['would_dial']}, duplicates {estimate['duplicates']}, "
        f"blocked {estimate['blocked']}, rejected {estimate['rejected']}, "
        f"batches {estimate['batches']}"
    )
    _print_rejections(estimate["rejected_by_reason"], estimate["rejected_rows"])
    for zone, count in estimate["batches_by_zone"].items():
        click.echo(f"  batches {count:>8}  {zone}")
    click.echo(f"  text-to-speech generations: {estimate['generated_audio_requests']}")
    click.echo(f"  estimated duration: {estimate['estimated_duration_s']:g} s")
    click.echo(f"  estimated cost: {estimate['estimated_cost']:g}")
    if estimate["would_be_refused_because"] is not None:
        click.echo(f"would be refused: {estimate['would_be_refused_because']}", err=True)


# --- status, list, export -------------------------------------------------------------------------


@click.command()
@click.argument("campaign_id")
@json_option("Print as JSON; with --watch, JSON Lines: one object per change")
@click.option("--watch", is_flag=True, help="Follow until the campaign is finished or cancelled.")
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0),
    help="With --watch: give up after this many seconds (exit status 1).",
)
@click.pass_context
def status(
    ctx: click.Context, campaign_id: str, as_json: bool, watch: bool, timeout_s: float | None
) -> None:
    """Show a campaign's status: counts by state, rate, ETA."""
    if timeout_s is not None and not watch:
        raise click.UsageError("--timeout goes with --watch")
    store = open_store(settings_of(ctx))
    if not watch:
        progress = _progress(store, campaign_id)
        if as_json:
            echo_json(progress.as_dict())
        else:
            click.echo(_describe(progress))
        return
    from dispatcher.watch import follow_campaign, is_final, watch_campaign

    if as_json:
        last = None
        for last in follow_campaign(store, campaign_id, timeout_s=timeout_s):
            echo_json_line(last.as_dict())
    else:
        watch_campaign(store, campaign_id, timeout_s=timeout_s)
        last = _progress(store, campaign_id)
        click.echo(_describe(last))
    assert last is not None  # follow_campaign yields at least once
    if not is_final(last):
        raise click.ClickException(
            f"campaign {campaign_id} still {last.status} after {timeout_s:g}s"
        )


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
@click.option(
    "--limit",
    type=click.IntRange(1, LIST_LIMIT_MAX),
    default=LIST_LIMIT_DEFAULT,
    show_default=True,
    help=f"How many, newest first (1..{LIST_LIMIT_MAX}).",
)
@json_option("Print JSON Lines, one campaign per line")
@click.pass_context
def list_campaigns(ctx: click.Context, limit: int, as_json: bool) -> None:
    """List campaigns, newest first."""
    store = open_store(settings_of(ctx))
    for campaign_id in store.list_campaigns(limit):
        progress = _progress(store, campaign_id)
        if as_json:
            echo_json_line(progress.as_dict())
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
@json_option("JSON Lines: the same as --format jsonl")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File (default stdout); written whole or not at all.",
)
@click.option(
    "--keep-formulas",
    is_flag=True,
    help="CSV: write cells starting with = + - @ as they are (by default a leading ' is added "
    "so spreadsheets do not run them).",
)
@click.pass_context
def export(
    ctx: click.Context,
    campaign_id: str,
    fmt: str,
    as_json: bool,
    output: Path | None,
    keep_formulas: bool,
) -> None:
    """Export every contact with its outcome and the provider's details."""
    from dispatcher.export import export_rows, write_csv, write_jsonl

    store = open_store(settings_of(ctx))
    store.meta(campaign_id)  # an unknown campaign is an error before anything is written
    rows = export_rows(store, campaign_id)
    jsonl = as_json or fmt == "jsonl"

    def writer(out: TextIO) -> int:
        if jsonl:
            return write_jsonl(rows, out)
        return write_csv(rows, out, keep_formulas=keep_formulas)

    if output is None:
        writer(sys.stdout)
        return
    # Written beside the target and renamed at the end: never a header-only or half file.
    handle, partial = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            count = writer(out)
        os.replace(partial, output)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    click.echo(f"{count} contacts written to {output}", err=True)
