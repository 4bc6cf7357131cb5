"""Write requirements.lock: the runtime dependencies exactly as installed in the tested venv.

    .venv/bin/python deploy/lock.py > deploy/requirements.lock

Walks the requirement tree of the installed `effebot-dispatcher` (markers evaluated for the
Docker image's platform: Linux, CPython 3.11), so the image installs the versions the test suite
ran against, nothing more (no test tools).
"""

from __future__ import annotations

import sys
from importlib import metadata

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = "effebot-dispatcher"
ENVIRONMENT = {
    **default_environment(),
    "sys_platform": "linux",
    "platform_system": "Linux",
    "python_version": "3.11",
}


def walk(name: str, extras: frozenset[str], found: dict[str, str]) -> None:
    """Add `name` and what it needs (with `extras`) to `found`."""
    dist = metadata.distribution(name)
    for line in dist.requires or []:
        req = Requirement(line)
        wanted = any(
            req.marker is None or req.marker.evaluate({**ENVIRONMENT, "extra": extra})
            for extra in (extras or {""})
        )
        if not wanted:
            continue
        child = canonicalize_name(req.name)
        if child in found:
            continue
        found[child] = metadata.version(req.name)
        walk(req.name, frozenset(req.extras), found)


def main() -> None:
    found: dict[str, str] = {}
    walk(ROOT, frozenset(), found)
    sys.stdout.write(f"# {ROOT} runtime dependencies, pinned; regenerate: see deploy/lock.py\n")
    for name in sorted(found):
        sys.stdout.write(f"{name}=={found[name]}\n")


if __name__ == "__main__":
    main()
