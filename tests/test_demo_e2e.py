"""`dispatcher demo`, the README's main job: run as a user would, on the shipped samples.

It must finish the sample campaign on embedded defaults (its own Redis, the sandbox, in-process
workers), print the submit report and a summary that add up, export every contact, and leave no
process behind.
"""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest

from dispatcher.spec import load_spec
from dispatcher.store import TERMINAL_STATES
from tests.fixtures.campaigns import DISPATCHER
from tests.fixtures.workers import wait_for

pytestmark = pytest.mark.slow

SAMPLES = Path(str(resources.files("dispatcher").joinpath("samples")))


def test_the_shipped_sample_campaign_is_the_reminder_the_readme_describes() -> None:
    spec = load_spec(SAMPLES / "campaign.toml")
    assert spec.name == "Demo: appointment reminders"
    assert (spec.batch_size, spec.dials_per_minute) == (50, 30000)
    assert spec.call is not None
    wire = spec.call.to_request(["15035550100"]).to_wire()
    assert wire["dutyPhone"] == 1
    assert "outgoingPhone" not in wire
    assert (wire["lang"], wire["needRecording"]) == ("en-US", 1)
    assert wire["record"]["gender"] == 0
    assert wire["record"]["text"].startswith("Hello, this is a reminder")
    assert [(i["digit"], i["needBlock"]) for i in wire["ivrs"]] == [(1, 0), (2, 1)]
    assert wire["ivrs"][0]["smsText"] == "Thank you, your appointment is confirmed."


def session_processes(session_id: int) -> list[str]:
    """Live (not zombie) processes in a session: `pid command`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, session = fields[0], int(fields[3])
        if session == session_id and state != "Z":
            found.append(f"{entry.name} {command}")
    return found


def test_the_demo_runs_the_sample_campaign_to_the_end_and_leaves_nothing_running(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCHER_")}
    env["COLUMNS"] = "200"  # rich wraps at the terminal's width; keep each line whole
    out_dir = tmp_path / "out"
    process = subprocess.Popen(
        [DISPATCHER, "demo", "--output-dir", str(out_dir)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own session: whatever it starts can be found afterwards
    )
    try:
        output, _ = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # Everything it started (redis-server, the sandbox) ended with it.
    wait_for(lambda: not session_processes(process.pid), 5)
    left = session_processes(process.pid)
    for line in left:  # not to leak them into the rest of the run when this fails
        os.kill(int(line.split()[0]), signal.SIGKILL)
    assert process.returncode == 0, output
    assert left == [], left

    with (SAMPLES / "contacts.csv").open(encoding="utf-8", newline="") as fh:
        rows = sum(1 for _ in csv.DictReader(fh))
    report = re.search(
        r"accepted (\d+), duplicates dropped (\d+), blocked (\d+), rejected (\d+)", output
    )
    assert report is not None, output
    accepted, duplicates, blocked, rejected = map(int, report.groups())
    assert accepted + duplicates + blocked + rejected == rows
    assert accepted > 0

    # The summary table: one row per state, the total, all terminal.
    table = dict(re.findall(r"│ (\w+)\s+│\s+(\d+) │", output))
    total = int(table.pop("total"))
    summary = {state: int(count) for state, count in table.items() if state != "state"}
    assert total == accepted == sum(summary.values())
    assert set(summary) <= set(TERMINAL_STATES)
    assert re.search(r"^finished: ", output, re.MULTILINE), output

    exported = re.search(r"Results: (\d+) contacts exported to", output)
    assert exported is not None, output
    assert int(exported.group(1)) == accepted
    [csv_path] = out_dir.glob("demo-*.csv")
    with csv_path.open(encoding="utf-8", newline="") as fh:
        states = Counter(row["state"] for row in csv.DictReader(fh))
    assert states == summary
