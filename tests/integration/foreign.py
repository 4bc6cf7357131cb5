"""Running the `examples/` scripts the way another service would: nothing of ours importable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# Runs a script with `dispatcher`, `workers` and `tests` made unimportable, so a script that
# imports anything of ours fails at once instead of passing by accident.
_BLOCKED_RUNNER = """
import runpy, sys
class _Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("dispatcher", "workers", "tests"):
            raise ImportError(f"{name} must not be imported by a foreign service")
        return None
sys.meta_path.insert(0, _Blocked())
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def start_foreign(script: str, *args: str, cwd: Path) -> subprocess.Popen[str]:
    """Start `examples/<script>` with our packages blocked; its stdout is a pipe."""
    return subprocess.Popen(
        [sys.executable, "-c", _BLOCKED_RUNNER, str(EXAMPLES / script), *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_foreign(
    script: str, *args: str, cwd: Path, timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `examples/<script>` with our packages blocked; the finished process."""
    return subprocess.run(
        [sys.executable, "-c", _BLOCKED_RUNNER, str(EXAMPLES / script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
