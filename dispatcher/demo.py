"""`dispatcher demo`: one whole campaign end to end, on embedded defaults.

With no `DISPATCHER_REDIS_URL` it starts an embedded, throw-away redis-server (no persistence: the
start-up checks are overridden for it, `allow_unsafe_redis`); with no
`DISPATCHER_EFFEBOT_API_KEY` it starts the sandbox on a free port (a subprocess, sped up); workers
run in this process (a dramatiq `Worker` with the same actors and middleware as `dramatiq
workers.app`). It submits the shipped sample campaign, shows live progress, prints a summary and
exports the results. Everything it started is stopped when it returns, whatever happens.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import dramatiq
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from dispatcher.contacts import open_contacts
from dispatcher.export import export_rows, write_csv
from dispatcher.logs import configure_logging, get_logger
from dispatcher.producer import SubmitReport, submit_campaign
from dispatcher.progress import compute_progress
from dispatcher.queue import make_enqueue
from dispatcher.redis_server import EmbeddedRedis
from dispatcher.settings import SANDBOX_API_KEY, Settings
from dispatcher.spec import load_spec
from dispatcher.store import StateStore, now_ms
from dispatcher.watch import watch_campaign

__all__ = ["DemoOptions", "run_demo"]

log = get_logger(__name__)


@dataclass(frozen=True)
class DemoOptions:
    contacts_file: Path | None = None
    spec_file: Path | None = None
    threads: int = 8
    speedup: float = 300.0
    timeout_s: float = 120.0
    output_dir: Path = Path("out")
    console: bool = False  # serve the web console, and stay up after the campaign until Ctrl-C
    console_host: str = "127.0.0.1"
    console_port: int = 8000  # 0: any free port


@contextlib.contextmanager
def _redis(settings: Settings, console: Console) -> Iterator[Settings]:
    if settings.has_redis():
        console.print(f"Redis: {settings.redis_where()} (from the environment)")
        yield settings
        return
    with EmbeddedRedis() as server:
        console.print(f"Redis: embedded redis-server on port {server.port}")
        # Thrown away at the end (no persistence, on purpose): the one set-up the start-up
        # checks are told to let pass.
        yield settings.model_copy(update={"redis_url": server.url, "allow_unsafe_redis": True})


@contextlib.contextmanager
def _provider(settings: Settings, speedup: float, console: Console) -> Iterator[Settings]:
    if settings.effebot_api_key is not None:
        console.print(f"Provider: {settings.effebot_base_url} (the API key from the environment)")
        yield settings
        return
    from dispatcher.sandbox.testing import SandboxProcess

    with SandboxProcess(speedup=speedup, seed=42) as sandbox:
        console.print(f"Provider: the sandbox at {sandbox.url} (clock x{speedup:g})")
        yield settings.model_copy(
            update={
                "effebot_base_url": sandbox.url,
                "effebot_api_key": SecretStr(SANDBOX_API_KEY),
                # Sped-up calls finish in well under a second: poll often.
                "poll_first_delay_s": 0.5,
                "poll_max_interval_s": 2.0,
                "poll_tick_max_s": 0.5,
            }
        )


@contextlib.contextmanager
def _workers(settings: Settings, threads: int) -> Iterator[None]:
    from workers.setup import build_worker_app

    app = build_worker_app(settings)
    worker = dramatiq.Worker(app.broker, worker_threads=threads, worker_timeout=100)
    worker.start()
    try:
        yield
    finally:
        worker.stop(timeout=10_000)
        app.broker.close()


def _sample(name: str) -> Path:
    return Path(str(resources.files("dispatcher").joinpath("samples", name)))


def run_demo(settings: Settings, options: DemoOptions, out: TextIO) -> SubmitReport:
    """Run the demo; returns the submit report (the CLI prints everything along the way)."""
    console = Console(file=out, highlight=False)
    spec = load_spec(options.spec_file or _sample("campaign.toml"))
    contacts_path = options.contacts_file or _sample("contacts.csv")
    options.output_dir.mkdir(parents=True, exist_ok=True)
    log_path = options.output_dir / "demo.log"
    with log_path.open("a", encoding="utf-8") as log_file, _redis(settings, console) as base:
        # The console shows progress; the structured logs of this run go to a file.
        configure_logging(
            level=settings.log_level, fmt="json", secrets=settings.secrets(), stream=log_file
        )
        console.print(f"Logs: {log_path}")
        return _run(base, options, console, out, spec, contacts_path)


def _run(
    settings: Settings,
    options: DemoOptions,
    console: Console,
    out: TextIO,
    spec: Any,
    contacts_path: Path,
) -> SubmitReport:
    with _provider(settings, options.speedup, console) as run_settings:
        store = StateStore.from_settings(run_settings)
        with (
            _workers(run_settings, options.threads),
            _console(run_settings, options, console) as stay_up,
        ):
            console.print(f"Workers: {options.threads} threads in this process")
            report = _submit(run_settings, store, spec, contacts_path)
            _print_report(console, report, contacts_path)
            if report.campaign_id is not None:
                watch_campaign(store, report.campaign_id, timeout_s=options.timeout_s, out=out)
                _summary(console, store, report.campaign_id, options.output_dir)
            stay_up()
        store.client.close()
    return report


@contextlib.contextmanager
def _console(settings: Settings, options: DemoOptions, console: Console) -> Iterator[Any]:
    """With `--console`: the API and console served until Ctrl-C after the campaign."""
    if not options.console:
        yield lambda: None
        return
    from dispatcher.console.demo import serve_console, wait_for_interrupt

    with serve_console(settings, options.console_host, options.console_port) as access:
        # soft_wrap: the URL and the token stay whole on narrow terminals (copied as they are).
        console.print(f"Console: {access.url}  token: {access.token}", soft_wrap=True)

        def stay_up() -> None:
            console.print(
                f"The stack stays up for the console at {access.url} (token: {access.token}); "
                "press Ctrl-C to stop everything.",
                soft_wrap=True,
            )
            wait_for_interrupt()
            console.print("Stopping.")

        yield stay_up


def _submit(settings: Settings, store: StateStore, spec: Any, contacts_path: Path) -> SubmitReport:
    contacts = open_contacts(contacts_path, settings.default_region)
    return submit_campaign(
        store,
        make_enqueue(settings, store.client),
        spec,
        contacts,
        pace_per_s=settings.provider_rate_per_s,
    )


def _print_report(console: Console, report: SubmitReport, source: Path) -> None:
    console.print(f"Submitted {source.name}: campaign [bold]{report.campaign_id}[/bold]")
    console.print(
        f"  accepted {report.accepted}, duplicates dropped {report.duplicates}, "
        f"blocked {report.blocked}, rejected {report.rejected}, in {report.batches} batches"
    )
    for row in report.rejected_rows[:5]:
        console.print(f"  rejected row {row['row']}: {row['reason']} ({row['value']!r})")
    if report.rejected > 5:
        console.print(f"  ... and {report.rejected - 5} more rejected rows")


def _summary(console: Console, store: StateStore, campaign_id: str, output_dir: Path) -> None:
    progress = compute_progress(store.meta(campaign_id), store.counts(campaign_id), now_ms())
    table = Table(title=f"{progress.status}: {progress.name}", title_justify="left", min_width=48)
    table.add_column("state")
    table.add_column("contacts", justify="right")
    for state, count in progress.counts.items():
        table.add_row(state, str(count))
    table.add_row("[bold]total[/bold]", f"[bold]{progress.total}[/bold]")
    console.print(table)
    if progress.rate_per_s:
        console.print(f"Throughput: {progress.rate_per_s} contacts/s")
    path = output_dir / f"demo-{campaign_id}.csv"
    started = time.monotonic()
    with path.open("w", encoding="utf-8", newline="") as fh:
        count = write_csv(export_rows(store, campaign_id), fh)
    console.print(
        f"Results: {count} contacts exported to {path} in {time.monotonic() - started:.2f}s"
    )
