"""The `dispatcher` command line: one click group, each command a thin shell over the library."""

from __future__ import annotations

import sys

import click

from dispatcher import __version__

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dispatcher")
def cli() -> None:
    """Paced, safe voice-call campaigns on the effebot API."""


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="dispatcher")
