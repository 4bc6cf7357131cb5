"""How every command prints: data on stdout, everything else on stderr, and one `--json` convention.

* stdout carries the data a command was asked for and nothing else; messages about what happened
  (`4 contacts written to out.csv`, a refusal, a warning) and every log line go to stderr, so
  `dispatcher ... | jq` or `> file` always gets clean data.
* `--json`: a command that answers with one thing prints one JSON object; a command that lists
  things, or follows something over time (`status --watch`), prints JSON Lines: one compact object
  per line, flushed as it goes. Field names are the HTTP API's where both exist.
* Exit status: 0 done; 1 an error the user can fix, or a refusal (a submission or dry run with
  nothing to dial, `--watch --timeout` ran out), reported in one line on stderr; 2 a usage error
  (bad option, missing file). Nothing prints a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

__all__ = ["echo_json", "echo_json_line", "json_option"]

F = TypeVar("F", bound=Callable[..., Any])


def json_option(what: str = "Print JSON") -> Callable[[F], F]:
    """The `--json` flag (parameter `as_json`), described the same way on every command."""
    return click.option("--json", "as_json", is_flag=True, help=f"{what} (see README, --json).")


def echo_json(value: Any) -> None:
    """One JSON document on stdout."""
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def echo_json_line(value: Any) -> None:
    """One JSON Lines record on stdout."""
    click.echo(json.dumps(value, ensure_ascii=False))
