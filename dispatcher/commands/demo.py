"""`dispatcher demo`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dispatcher.commands.context import settings_of

__all__ = ["demo"]

# --- demo -----------------------------------------------------------------------------------------


@click.command()
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
@click.option(
    "--console",
    "with_console",
    is_flag=True,
    help="Serve the web console too, print its URL and a token, and stay up until Ctrl-C.",
)
@click.option(
    "--console-port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="The console's port on 127.0.0.1 (0: any free port).",
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
    with_console: bool,
    console_port: int,
) -> None:
    """Run a whole campaign end to end on embedded defaults (Redis, the sandbox, workers).

    With --console the web console is served as well (its URL and a token for this run are
    printed first), and everything stays up after the campaign until Ctrl-C.
    """
    from dispatcher.demo import DemoOptions, run_demo

    run_demo(
        settings_of(ctx),
        DemoOptions(
            contacts_file=contacts_file,
            spec_file=spec_file,
            threads=threads,
            speedup=speedup,
            timeout_s=timeout_s,
            output_dir=output_dir,
            console=with_console,
            console_port=console_port,
        ),
        out=sys.stdout,
    )


# The sandbox is a command of its own module, registered here so `dispatcher --help` lists it.
