"""Benchmark 2: submit at scale: contacts/s and peak RSS for 100,000 and 1,000,000 CSV rows.

For each size a CSV of distinct valid numbers (plus a name column) is generated, and the submit
(`open_contacts` → `submit_campaign` with the real broker: validation, normalisation, dedupe, the
DNC check, batching and enqueueing every batch message) runs in a fresh subprocess whose peak RSS
is read from its own `ru_maxrss` (`os.wait4`). The rate is timed around the submit itself, from
`open_contacts` to `submit_campaign` returning, with the broker enqueue the CLI and the HTTP API use
(`make_enqueue`: batch messages pipelined); `process_runs_s` is the child's whole run after its
imports. `cpu_us_per_row`: CPU time per row of the submitting process and of Redis (medians),
which a machine loaded by other jobs inflates far less than the wall clock. Baseline, same file,
same kind of subprocess: a bare `csv.reader` loop that only reads the rows (what no submit can
beat). Each size runs `--runs` times against a fresh embedded Redis; medians are printed.

    .venv/bin/python -m bench.submit_scale [--sizes 100000,1000000] [--runs 3]
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import SPEC, emit, machine, median_of, parse_args, parser, phones
from dispatcher.redis_server import EmbeddedRedis

TARGET_CONTACTS_PER_S = 100_000
TARGET_RSS_MB = 200


def write_csv(path: Path, rows: int) -> None:
    """A contacts CSV: `phone,name`, one distinct valid US number per row."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("phone,name\n")
        out.writelines(f"+{phone},Person {i}\n" for i, phone in enumerate(phones(rows)))


def child(mode: str, csv_path: str, redis_url: str, spec_path: str) -> None:
    """The measured subprocess: submit (or only read) the file; prints one JSON line."""
    started = time.perf_counter()
    if mode == "bare":
        with open(csv_path, encoding="utf-8", newline="") as handle:
            rows = sum(1 for _ in csv.reader(handle)) - 1
        result: dict[str, Any] = {"rows": rows}
    else:
        from dispatcher.contacts import open_contacts
        from dispatcher.logs import configure_logging
        from dispatcher.producer import submit_campaign
        from dispatcher.queue import make_enqueue
        from dispatcher.settings import Settings
        from dispatcher.spec import load_spec
        from dispatcher.store import StateStore

        configure_logging(level="WARNING", fmt="json")
        settings = Settings(redis_url=redis_url, key_prefix="bench", queue_name="bench")
        store = StateStore.connect(redis_url, settings.key_prefix)
        # What `dispatcher submit` and the HTTP API use: batch messages pipelined a page at a time.
        enqueue = make_enqueue(settings, store.client)
        spec = load_spec(spec_path)
        redis_cpu_before = _redis_cpu_s(store)
        cpu_before = time.process_time()
        submit_started = time.perf_counter()
        report = submit_campaign(store, enqueue, spec, open_contacts(csv_path, "US"))
        result = {"rows": report.total_rows, "accepted": report.accepted}
        result["submit_s"] = time.perf_counter() - submit_started
        # CPU seconds, which a loaded machine does not inflate the way it does the wall clock.
        result["producer_cpu_s"] = time.process_time() - cpu_before
        result["redis_cpu_s"] = _redis_cpu_s(store) - redis_cpu_before
    result["elapsed_s"] = time.perf_counter() - started
    result.setdefault("submit_s", result["elapsed_s"])
    print(json.dumps(result), flush=True)


def _redis_cpu_s(store: Any) -> float:
    info = store.client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def measure(mode: str, csv_path: Path, redis_url: str, spec_path: Path) -> dict[str, Any]:
    """Run one child; its JSON line plus its peak RSS in MB."""
    args = [sys.executable, "-m", "bench.submit_scale", "--child", mode, str(csv_path)]
    args += [redis_url, str(spec_path)]
    process = subprocess.Popen(args, stdout=subprocess.PIPE)  # noqa: S603 - our own command
    assert process.stdout is not None
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{mode} child failed with {process.returncode}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # kilobytes on Linux
    return result


def main(argv: list[str] | None = None) -> None:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:6])
        return
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", default="100000,1000000", help="comma-separated row counts")
    args = parse_args(p, argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.smoke:
        sizes, args.runs = [2000, 5000], 1
    with tempfile.TemporaryDirectory() as tmp:
        spec_path = Path(tmp) / "spec.json"
        spec_path.write_text(json.dumps(SPEC), encoding="utf-8")
        peaks: dict[int, float] = {}
        for size in sizes:
            csv_path = Path(tmp) / f"contacts-{size}.csv"
            write_csv(csv_path, size)
            runs: list[dict[str, Any]] = []
            bare: list[dict[str, Any]] = []
            for _ in range(args.runs):
                bare.append(measure("bare", csv_path, "-", spec_path))
                with EmbeddedRedis() as server:
                    run = measure("submit", csv_path, server.url, spec_path)
                if run["accepted"] != size:
                    raise RuntimeError(f"accepted {run['accepted']} of {size}")
                runs.append(run)
            # The submit itself (`open_contacts` -> `submit_campaign`, what a caller of the producer
            # waits for); `process_runs_s` adds the interpreter's start and imports (~0.5-1 s).
            rate = size / median_of([r["submit_s"] for r in runs])
            bare_rate = size / median_of([r["elapsed_s"] for r in bare])
            peaks[size] = median_of([r["peak_rss_mb"] for r in runs])
            common = {"rows": size, "machine": machine()}
            emit(
                f"submit_rate_{size}",
                rate,
                "contacts/s",
                baseline=bare_rate,
                baseline_name="csv.reader loop over the same file, nothing else",
                ratio=rate / bare_rate,
                target=TARGET_CONTACTS_PER_S,
                runs_s=[r["submit_s"] for r in runs],
                process_runs_s=[r["elapsed_s"] for r in runs],
                cpu_us_per_row={
                    "producer": median_of([r["producer_cpu_s"] for r in runs]) / size * 1e6,
                    "redis": median_of([r["redis_cpu_s"] for r in runs]) / size * 1e6,
                },
                baseline_runs_s=[r["elapsed_s"] for r in bare],
                **common,
            )
            emit(
                f"submit_peak_rss_{size}",
                peaks[size],
                "MB",
                baseline=median_of([r["peak_rss_mb"] for r in bare]),
                baseline_name="peak RSS of the csv.reader subprocess",
                target_below=TARGET_RSS_MB,
                runs_mb=[r["peak_rss_mb"] for r in runs],
                **common,
            )
            csv_path.unlink()
        if len(peaks) > 1:
            small, large = min(peaks), max(peaks)
            emit(
                "submit_rss_growth",
                peaks[large] / peaks[small],
                "ratio",
                rows=[small, large],
                note="peak RSS at the largest size over the smallest (flat = ~1)",
            )


if __name__ == "__main__":
    main()
