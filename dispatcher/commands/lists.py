"""Lists kept beside campaigns: the do-not-call list, and uploaded recordings."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from dispatcher.commands.context import open_store, settings_of
from dispatcher.commands.output import echo_json, echo_json_line, json_option
from dispatcher.errors import ConfigurationError
from dispatcher.settings import Settings

__all__ = ["dnc", "records"]

# --- do-not-call ----------------------------------------------------------------------------------


@click.group()
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
@json_option()
@click.pass_context
def dnc_add(ctx: click.Context, phones: tuple[str, ...], as_json: bool) -> None:
    """Add numbers to the do-not-call list."""
    settings = settings_of(ctx)
    added = open_store(settings).dnc_add(_normalised(settings, phones))
    if as_json:
        echo_json({"added": added})
    else:
        click.echo(f"{added} added")


@dnc.command("remove")
@click.argument("phones", nargs=-1, required=True)
@json_option()
@click.pass_context
def dnc_remove(ctx: click.Context, phones: tuple[str, ...], as_json: bool) -> None:
    """Remove numbers from the do-not-call list."""
    settings = settings_of(ctx)
    removed = open_store(settings).dnc_remove(_normalised(settings, phones))
    if as_json:
        echo_json({"removed": removed})
    else:
        click.echo(f"{removed} removed")


@dnc.command("list")
@json_option("Print JSON Lines, one number per line")
@click.pass_context
def dnc_list(ctx: click.Context, as_json: bool) -> None:
    """Print the do-not-call list, one number per line."""
    for phone in open_store(settings_of(ctx)).dnc_iter():
        if as_json:
            echo_json_line({"phone": phone})
        else:
            click.echo(phone)


@dnc.command("import")
@click.argument("contacts_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]))
@json_option("Print the counts and the first 100 rejected rows as JSON")
@click.pass_context
def dnc_import(ctx: click.Context, contacts_file: Path, fmt: str | None, as_json: bool) -> None:
    """Import numbers from a CSV (a `phone` column) or JSON Lines file."""
    from dispatcher.contacts import Contact, open_contacts

    settings = settings_of(ctx)
    store = open_store(settings)
    rejected: list[dict[str, Any]] = []

    def phones() -> Any:
        for item in open_contacts(contacts_file, settings.default_region, fmt):  # type: ignore[arg-type]
            if isinstance(item, Contact):
                yield item.phone
            else:
                rejected.append({"row": item.row, "reason": item.reason, "value": item.value})

    added = store.dnc_add(phones())
    if as_json:
        echo_json({"added": added, "rejected": len(rejected), "rejected_rows": rejected[:100]})
        return
    click.echo(f"{added} added, {len(rejected)} rejected")
    for row in rejected[:20]:
        click.echo(f"  row {row['row']}: {row['reason']} ({row['value']!r})", err=True)


# --- recordings -----------------------------------------------------------------------------------


@click.group()
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
@json_option()
@click.pass_context
def records_upload(ctx: click.Context, audio_file: Path, name: str | None, as_json: bool) -> None:
    """Upload AUDIO_FILE with apiCalls/createRecord; prints the id to use as record.id."""
    settings = settings_of(ctx)
    store = open_store(settings)
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
    if as_json:
        echo_json({"id": record.id, "name": record.name, "status": record.status})
    else:
        click.echo(f"record {record.id} ({record.status or 'uploaded'})")


@records.command("list")
@json_option("Print JSON Lines, one recording per line")
@click.pass_context
def records_list(ctx: click.Context, as_json: bool) -> None:
    """Recordings uploaded with this tool (the provider's API has no listing)."""
    for record_id, raw in sorted(open_store(settings_of(ctx)).get_global("records").items()):
        info = json.loads(raw)
        if as_json:
            echo_json_line({"id": int(record_id), **info})
        else:
            click.echo(f"{record_id}  {info.get('status') or '-':<12} {info.get('name')}")


@records.command("remove")
@click.argument("record_ids", nargs=-1, required=True, type=int)
@json_option()
@click.pass_context
def records_remove(ctx: click.Context, record_ids: tuple[int, ...], as_json: bool) -> None:
    """Remove recordings with apiCalls/removeRecord."""
    settings = settings_of(ctx)
    store = open_store(settings)
    with _provider(settings, store) as client:
        removed = client.remove_records(list(record_ids))
    store.delete_global_fields("records", [str(r) for r in record_ids])
    if as_json:
        echo_json({"removed": len(removed), "ids": [r.id for r in removed]})
    else:
        click.echo(f"{len(removed)} removed")
