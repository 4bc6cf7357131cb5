"""The `dispatcher` command line: one click group, each command a thin shell over the library.

Errors the user can fix (a bad spec, an unreadable file, Redis not reachable) print one line and
exit with status 1; usage errors exit with 2 (click's convention); nothing prints a traceback.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from dispatcher import __version__
from dispatcher.api.command import serve_command
from dispatcher.errors import ConfigurationError, DispatcherError
from dispatcher.logs import configure_logging
from dispatcher.sandbox.command import sandbox_command
from dispatcher.settings import Settings

__all__ = ["cli", "main"]


class _Group(click.Group):
    """A group that turns the dispatcher's own errors into one line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DispatcherError as exc:
            raise click.ClickException(str(exc)) from None
        except ValidationError as exc:
            from dispatcher.spec import format_validation_error

            raise click.ClickException(format_validation_error(exc)) from None


def _settings(ctx: click.Context) -> Settings:
    settings = ctx.obj
    assert isinstance(settings, Settings)
    return settings


def _store(settings: Settings) -> Any:
    from dispatcher.state import StateStore

    if settings.redis_url is None:
        raise ConfigurationError(
            "DISPATCHER_REDIS_URL is not set (only `dispatcher demo` starts a Redis of its own)"
        )
    store = StateStore.connect(settings.redis_url, settings.key_prefix)
    store.ping()
    return store


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dispatcher")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Paced, safe voice-call campaigns on the effebot API.

    Configuration comes from DISPATCHER_* environment variables (or a .env file): at least
    DISPATCHER_REDIS_URL, and DISPATCHER_EFFEBOT_API_KEY for the workers.
    """
    try:
        settings = Settings()
    except ValidationError as exc:
        from dispatcher.spec import format_validation_error

        raise click.ClickException(
            f"invalid DISPATCHER_* setting: {format_validation_error(exc)}"
        ) from None
    configure_logging(level=settings.log_level, fmt=settings.log_format, secrets=settings.secrets())
    ctx.obj = settings


# --- submit ---------------------------------------------------------------------------------------


@cli.command()
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

    settings = _settings(ctx)
    overrides = {
        "name": name,
        "batch_size": batch_size,
        "dials_per_minute": dials_per_minute,
        "start_at": start_at,
    }
    spec = load_spec(spec_file, overrides)
    store = _store(settings)
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
    return submit_campaign(store, enqueue, spec, contacts, strict=strict)


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


# --- controls -------------------------------------------------------------------------------------


def _controls(settings: Settings) -> Any:
    from dispatcher.controls import Controls
    from dispatcher.queue import make_enqueue

    store = _store(settings)
    return Controls(store, make_enqueue(settings, store.client))


def _print_result(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(" ".join(f"{k}={v}" for k, v in result.items()))


@cli.command()
@click.argument("campaign_id")
@click.option("--reason", help="Why (shown by `status`).")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def pause(ctx: click.Context, campaign_id: str, reason: str | None, as_json: bool) -> None:
    """Stop new dials at once; calls planned at the provider are moved out of the way."""
    _print_result(_controls(_settings(ctx)).pause(campaign_id, reason), as_json)


@cli.command()
@click.argument("campaign_id")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def resume(ctx: click.Context, campaign_id: str, as_json: bool) -> None:
    """Continue a paused campaign exactly where it stopped."""
    _print_result(_controls(_settings(ctx)).resume(campaign_id), as_json)


@cli.command()
@click.argument("campaign_id")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def cancel(ctx: click.Context, campaign_id: str, as_json: bool) -> None:
    """Cancel: unsent contacts end cancelled, planned calls are removed at the provider."""
    _print_result(_controls(_settings(ctx)).cancel(campaign_id), as_json)


@cli.command()
@click.argument("campaign_id")
@click.argument("start_at")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def reschedule(ctx: click.Context, campaign_id: str, start_at: str, as_json: bool) -> None:
    """Move a scheduled campaign's START_AT (ISO 8601 with a time zone)."""
    from datetime import datetime

    try:
        when = datetime.fromisoformat(start_at)
    except ValueError:
        raise click.BadParameter(
            f"{start_at!r} is not an ISO 8601 time", param_hint="START_AT"
        ) from None
    if when.tzinfo is None:
        raise click.BadParameter(
            "give a time zone, e.g. 2026-12-01T09:00:00+01:00", param_hint="START_AT"
        )
    _print_result(_controls(_settings(ctx)).reschedule(campaign_id, when), as_json)


# --- status, list, export -------------------------------------------------------------------------


@cli.command()
@click.argument("campaign_id")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--watch", is_flag=True, help="Follow with a live progress bar until it ends.")
@click.pass_context
def status(ctx: click.Context, campaign_id: str, as_json: bool, watch: bool) -> None:
    """Show a campaign's status: counts by state, rate, ETA."""
    store = _store(_settings(ctx))
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
    from dispatcher.state import now_ms

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


@cli.command("list")
@click.option("--limit", default=50, show_default=True, help="How many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON lines.")
@click.pass_context
def list_campaigns(ctx: click.Context, limit: int, as_json: bool) -> None:
    """List campaigns, newest first."""
    store = _store(_settings(ctx))
    for campaign_id in store.list_campaigns(limit):
        progress = _progress(store, campaign_id)
        if as_json:
            click.echo(json.dumps(progress.as_dict()))
        else:
            click.echo(
                f"{campaign_id}  {progress.status:<10} {progress.done:>8}/{progress.total:<8} "
                f"{progress.name}"
            )


@cli.command()
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

    store = _store(_settings(ctx))
    rows = export_rows(store, campaign_id)
    writer = write_csv if fmt == "csv" else write_jsonl
    if output is None:
        writer(rows, sys.stdout)
        return
    with output.open("w", encoding="utf-8", newline="") as out:
        count = writer(rows, out)
    click.echo(f"{count} contacts written to {output}", err=True)


# --- do-not-call ----------------------------------------------------------------------------------


@cli.group()
def dnc() -> None:
    """Manage the do-not-call list (checked at submit and again before each dial)."""


def _normalised(settings: Settings, phones: tuple[str, ...]) -> list[str]:
    from dispatcher.phones import InvalidPhone, normalise_phone

    out = []
    for raw in phones:
        try:
            out.append(normalise_phone(raw, settings.default_region))
        except InvalidPhone as exc:
            raise click.ClickException(f"{raw!r}: {exc}") from None
    return out


@dnc.command("add")
@click.argument("phones", nargs=-1, required=True)
@click.pass_context
def dnc_add(ctx: click.Context, phones: tuple[str, ...]) -> None:
    """Add numbers to the do-not-call list."""
    settings = _settings(ctx)
    added = _store(settings).dnc_add(_normalised(settings, phones))
    click.echo(f"{added} added")


@dnc.command("remove")
@click.argument("phones", nargs=-1, required=True)
@click.pass_context
def dnc_remove(ctx: click.Context, phones: tuple[str, ...]) -> None:
    """Remove numbers from the do-not-call list."""
    settings = _settings(ctx)
    removed = _store(settings).dnc_remove(_normalised(settings, phones))
    click.echo(f"{removed} removed")


@dnc.command("list")
@click.pass_context
def dnc_list(ctx: click.Context) -> None:
    """Print the do-not-call list, one number per line."""
    for phone in _store(_settings(ctx)).dnc_iter():
        click.echo(phone)


@dnc.command("import")
@click.argument("contacts_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]))
@click.pass_context
def dnc_import(ctx: click.Context, contacts_file: Path, fmt: str | None) -> None:
    """Import numbers from a CSV (a `phone` column) or JSON Lines file."""
    from dispatcher.contacts import Contact, open_contacts

    settings = _settings(ctx)
    store = _store(settings)
    rejected: list[str] = []

    def phones() -> Any:
        for item in open_contacts(contacts_file, settings.default_region, fmt):  # type: ignore[arg-type]
            if isinstance(item, Contact):
                yield item.phone
            else:
                rejected.append(f"row {item.row}: {item.reason}")

    added = store.dnc_add(phones())
    click.echo(f"{added} added, {len(rejected)} rejected")
    for line in rejected[:20]:
        click.echo(f"  {line}", err=True)


# --- recordings -----------------------------------------------------------------------------------


@cli.group()
def records() -> None:
    """Audio recordings at the provider: upload a file, list what was uploaded here, remove."""


@contextlib.contextmanager
def _provider(settings: Settings, store: Any) -> Iterator[Any]:
    """A client for one operator request, after waiting for the global pacing budget."""
    from dispatcher.effebot.client import EffebotClient
    from dispatcher.effebot.transport import make_http_client
    from dispatcher.pacing import GlobalPacer
    from workers.limits import provider_limit

    if settings.effebot_api_key is None:
        raise ConfigurationError("DISPATCHER_EFFEBOT_API_KEY is not set")
    GlobalPacer(store.client, settings.key_prefix).acquire([provider_limit(settings)], 60.0)
    with make_http_client(settings) as http:
        yield EffebotClient.from_settings(settings, http)


@records.command("upload")
@click.argument("audio_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="The recording's name (default: the file name).")
@click.pass_context
def records_upload(ctx: click.Context, audio_file: Path, name: str | None) -> None:
    """Upload AUDIO_FILE with apiCalls/createRecord; prints the id to use as record.id."""
    settings = _settings(ctx)
    store = _store(settings)
    with _provider(settings, store) as client:
        record = client.create_file_record(
            name or audio_file.name, audio_file.read_bytes(), audio_file.name
        )
    store.set_global(
        "records",
        {
            str(record.id): json.dumps(
                {"name": record.name, "status": record.status, "file": audio_file.name}
            )
        },
    )
    click.echo(f"record {record.id} ({record.status or 'uploaded'})")


@records.command("list")
@click.pass_context
def records_list(ctx: click.Context) -> None:
    """Recordings uploaded with this tool (the provider's API has no listing)."""
    for record_id, raw in sorted(_store(_settings(ctx)).get_global("records").items()):
        info = json.loads(raw)
        click.echo(f"{record_id}  {info.get('status') or '-':<12} {info.get('name')}")


@records.command("remove")
@click.argument("record_ids", nargs=-1, required=True, type=int)
@click.pass_context
def records_remove(ctx: click.Context, record_ids: tuple[int, ...]) -> None:
    """Remove recordings with apiCalls/removeRecord."""
    settings = _settings(ctx)
    store = _store(settings)
    with _provider(settings, store) as client:
        removed = client.remove_records(list(record_ids))
    store.delete_global_fields("records", [str(r) for r in record_ids])
    click.echo(f"{len(removed)} removed")


# --- demo -----------------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--contacts",
    "contacts_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Contacts to use instead of the shipped sample.",
)
@click.option(
    "--spec",
    "spec_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Spec to use instead of the shipped sample.",
)
@click.option("--threads", default=8, show_default=True, help="In-process worker threads.")
@click.option("--speedup", default=300.0, show_default=True, help="Sandbox clock speed-up.")
@click.option(
    "--timeout",
    "timeout_s",
    default=120.0,
    show_default=True,
    help="Give up waiting after this many seconds.",
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("out"),
    show_default=True,
    help="Where the exported results go.",
)
@click.pass_context
def demo(
    ctx: click.Context,
    contacts_file: Path | None,
    spec_file: Path | None,
    threads: int,
    speedup: float,
    timeout_s: float,
    output_dir: Path,
) -> None:
    """Run a whole campaign end to end on embedded defaults (Redis, the sandbox, workers)."""
    from dispatcher.demo import DemoOptions, run_demo

    run_demo(
        _settings(ctx),
        DemoOptions(
            contacts_file=contacts_file,
            spec_file=spec_file,
            threads=threads,
            speedup=speedup,
            timeout_s=timeout_s,
            output_dir=output_dir,
        ),
        out=sys.stdout,
    )


# The sandbox is a command of its own module, registered here so `dispatcher --help` lists it.
cli.add_command(sandbox_command)
cli.add_command(serve_command)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="dispatcher")
