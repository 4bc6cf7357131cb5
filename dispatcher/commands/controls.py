"""Campaign controls: pause, resume, cancel, reschedule."""

from __future__ import annotations

from typing import Any

import click

from dispatcher.commands.context import open_store, settings_of
from dispatcher.commands.output import echo_json, json_option
from dispatcher.settings import Settings

__all__ = ["cancel", "pause", "reschedule", "resume"]

# --- controls -------------------------------------------------------------------------------------


def _controls(settings: Settings) -> Any:
    from dispatcher.controls import Controls
    from dispatcher.queue import make_enqueue

    store = open_store(settings)
    return Controls(
        store, make_enqueue(settings, store.client), pace_per_s=settings.provider_rate_per_s
    )


def _print_result(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        echo_json(result)
    else:
        click.echo(" ".join(f"{k}={v}" for k, v in result.items()))


@click.command()
@click.argument("campaign_id")
@click.option("--reason", help="Why (shown by `status`).")
@json_option()
@click.pass_context
def pause(ctx: click.Context, campaign_id: str, reason: str | None, as_json: bool) -> None:
    """Stop new dials at once; calls planned at the provider are moved out of the way."""
    _print_result(_controls(settings_of(ctx)).pause(campaign_id, reason), as_json)


@click.command()
@click.argument("campaign_id")
@json_option()
@click.pass_context
def resume(ctx: click.Context, campaign_id: str, as_json: bool) -> None:
    """Continue a paused campaign exactly where it stopped."""
    _print_result(_controls(settings_of(ctx)).resume(campaign_id), as_json)


@click.command()
@click.argument("campaign_id")
@json_option()
@click.pass_context
def cancel(ctx: click.Context, campaign_id: str, as_json: bool) -> None:
    """Cancel: unsent contacts end cancelled, planned calls are removed at the provider."""
    _print_result(_controls(settings_of(ctx)).cancel(campaign_id), as_json)


@click.command()
@click.argument("campaign_id")
@click.argument("start_at")
@json_option()
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
    _print_result(_controls(settings_of(ctx)).reschedule(campaign_id, when), as_json)
