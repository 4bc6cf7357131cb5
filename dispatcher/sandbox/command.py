"""`dispatcher sandbox`: serve the effebot emulator over HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from dispatcher.logs import configure_logging, get_logger
from dispatcher.sandbox.config import SandboxConfig, parse_outcomes
from dispatcher.sandbox.server import build_server

__all__ = ["sandbox_command"]

log = get_logger(__name__)


def _outcomes(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return parse_outcomes(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="TCP port to listen on.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A JSON file of SandboxConfig fields; the options below override it.",
)
@click.option(
    "--api-key",
    "api_keys",
    multiple=True,
    help="An API key the sandbox accepts (repeatable). Default: sandbox-key.",
)
@click.option("--seed", type=int, help="Seed of the simulated outcomes (default 0).")
@click.option("--speedup", type=float, help="Simulated seconds per real second (default 1.0).")
@click.option(
    "--instant/--no-instant",
    default=None,
    help="Make every call final at creation (benchmarks).",
)
@click.option("--balance", type=float, help="Starting balance (default 1000.0).")
@click.option(
    "--outcomes",
    callback=_outcomes,
    help="Outcome mix, e.g. completed=0.6,no_answer=0.2,busy=0.1,failed=0.05,invalid_number=0.05.",
)
@click.option("--latency-ms", type=float, help="Latency added to every API request.")
@click.option(
    "--error-rate", type=float, help="Share of API requests answered 5xx without applying them."
)
@click.option(
    "--hang-rate", type=float, help="Share of API requests applied, then answered --hang-s late."
)
@click.option("--hang-s", type=float, help="How long a hung request waits (default 120).")
@click.option(
    "--drop-rate",
    type=float,
    help="Share of API requests applied, then cut mid-response (the ambiguous case).",
)
@click.option(
    "--rate-limit",
    "rate_limit_per_s",
    type=int,
    help="API requests per second (all endpoints, sliding 1 s window); above: 429 + Retry-After.",
)
@click.option(
    "--rate-limited-rate",
    type=float,
    help="Share of API requests answered 429 + Retry-After: 1 whatever the rate (not applied).",
)
@click.option(
    "--require-gender/--no-require-gender",
    default=None,
    help="record.gender mandatory, as the reference's table says (default; its samples omit it).",
)
@click.option(
    "--reference-shapes/--array-shapes",
    default=None,
    help="get/removeRecord answer one bare object when there is one (default), or always arrays.",
)
@click.option("--moderation-rate", type=float, help="Share of created records put in moderation.")
@click.option("--moderation-s", type=float, help="Simulated seconds until they are approved.")
@click.option(
    "--generated-voice-moderation/--no-generated-voice-moderation",
    default=None,
    help="Refuse record.text creates: the account's generated voice is still moderated.",
)
@click.option(
    "--languages-method",
    "languages_methods",
    type=click.Choice(["GET", "POST"]),
    multiple=True,
    help="A method getAvailableLanguages takes (repeatable; default both).",
)
@click.option(
    "--refusal-status", type=int, help="Answer validation/balance refusals with this status (200)."
)
@click.option("--max-url-bytes", type=int, help="Answer longer request lines with 414.")
@click.option("--template-list-path", help="Path of the template list endpoint (a guess).")
@click.option("--template-create-path", help="Path of create-from-template (a guess).")
@click.option("--log-level", default="INFO", show_default=True, help="DEBUG, INFO, WARNING...")
@click.option(
    "--log-format",
    type=click.Choice(["auto", "json", "console"]),
    default="auto",
    show_default=True,
)
def sandbox_command(
    host: str,
    port: int,
    config_file: Path | None,
    api_keys: tuple[str, ...],
    log_level: str,
    log_format: str,
    **knobs: Any,
) -> None:
    """Serve a stateful emulator of the effebot API (see dispatcher/sandbox/README.md)."""
    values: dict[str, Any] = {}
    if config_file is not None:
        values = json.loads(config_file.read_text(encoding="utf-8"))
    if api_keys:
        values["api_keys"] = list(api_keys)
    values.update(
        {
            name: list(value) if isinstance(value, tuple) else value
            for name, value in knobs.items()
            if value is not None and value != ()
        }
    )
    try:
        config = SandboxConfig.model_validate(values)
    except ValidationError as exc:
        raise click.UsageError(str(exc)) from exc
    configure_logging(level=log_level.upper(), fmt=log_format, secrets=config.api_keys)
    log.info(
        "sandbox.starting",
        host=host,
        port=port,
        api_keys=len(config.api_keys),
        speedup=config.speedup,
        instant=config.instant,
        seed=config.seed,
    )
    build_server(config, host=host, port=port).run()
    log.info("sandbox.stopped", port=port)
