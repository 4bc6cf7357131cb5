"""The `dispatcher` command line: one click group, each command a thin shell over the library.

Errors the user can fix (a bad spec or setting, Redis not reachable) print one line on stderr and
exit with status 1; usage errors (a bad option, a missing file) exit with 2 (click's convention);
nothing prints a traceback. Data goes to stdout, logs to stderr (`dispatcher.commands.output`).
"""

from __future__ import annotations

import sys
from typing import Any

import click
from pydantic import ValidationError

from dispatcher import __version__
from dispatcher.api.command import serve_command
from dispatcher.commands.archive import archive
from dispatcher.commands.campaigns import export, list_campaigns, status, submit
from dispatcher.commands.controls import cancel, pause, reschedule, resume
from dispatcher.commands.demo import demo
from dispatcher.commands.doctor import doctor
from dispatcher.commands.lists import dnc, records
from dispatcher.commands.upkeep import purge, redis_reset
from dispatcher.errors import ConfigurationError, DispatcherError
from dispatcher.logs import configure_logging
from dispatcher.sandbox.command import sandbox_command
from dispatcher.settings import Settings, load_settings

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


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dispatcher")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Paced, safe voice-call campaigns on the effebot API.

    Configuration comes from DISPATCHER_* environment variables (or a .env file): at least
    DISPATCHER_REDIS_URL (or DISPATCHER_REDIS_SENTINELS with DISPATCHER_REDIS_SENTINEL_MASTER),
    and DISPATCHER_EFFEBOT_API_KEY for the workers.
    """
    try:
        settings = load_settings()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    configure_logging(
        level=_log_level(settings, ctx.invoked_subcommand),
        fmt=settings.log_format,
        secrets=settings.secrets(),
        stream=sys.stderr,
    )
    ctx.obj = settings


#: Commands that run until stopped: their event log is what an operator watches.
_SERVICES = frozenset({"serve", "sandbox", "demo"})


def _log_level(settings: Settings, command: str | None) -> str:
    """The settings' level; WARNING for one-shot commands on a terminal unless it was set.

    Data goes to stdout and logs to stderr, always. On a terminal the two land on one screen,
    where INFO events repeat the report the command prints; DISPATCHER_LOG_LEVEL brings them back.
    """
    quiet = command not in _SERVICES and "log_level" not in settings.model_fields_set
    return "WARNING" if quiet and sys.stderr.isatty() else settings.log_level


cli.add_command(submit)
cli.add_command(status)
cli.add_command(list_campaigns)
cli.add_command(export)
cli.add_command(pause)
cli.add_command(resume)
cli.add_command(cancel)
cli.add_command(reschedule)
cli.add_command(dnc)
cli.add_command(records)
cli.add_command(demo)
cli.add_command(sandbox_command)
cli.add_command(serve_command)
cli.add_command(doctor)
cli.add_command(purge)
cli.add_command(archive)
cli.add_command(redis_reset)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="dispatcher")
