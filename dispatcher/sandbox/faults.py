"""Fault injection for the API endpoints: rate limiting, 5xx, hangs and dropped connections.

Each arriving request first meets the rate limiter (429 with Retry-After, not applied: a share
`rate_limited_rate` of requests whatever the pace, and every request above `rate_limit_per_s`),
then one draw decides its fate: a 5xx answer (not applied), a hang (applied, answered `hang_s`
late), a drop (applied, connection cut mid-response) or nothing. Every injected fault goes to the
log that `/_sandbox/stats` exposes, so tests can tell exactly what was applied.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, field
from typing import Any

from dispatcher.sandbox.config import SandboxConfig
from dispatcher.sandbox.stats import SlidingWindow

__all__ = ["DROP", "ERROR", "HANG", "RATE_LIMITED", "FaultEntry", "Faults"]

ERROR = "error"
HANG = "hang"
DROP = "drop"
RATE_LIMITED = "rate_limited"

ERROR_STATUSES = (500, 502, 503)

HTML_ERROR_BODY = (
    "<html><head><title>{status} Error</title></head>"
    "<body><center><h1>{status} Error</h1></center><hr><center>nginx</center></body></html>"
)


@dataclass(slots=True)
class FaultEntry:
    """One injected fault."""

    kind: str
    endpoint: str
    applied: bool
    status_code: int | None = None
    api_call_id: int | None = None
    phones: list[str] = field(default_factory=list)


class Faults:
    """Decides and logs faults; knobs are read from the (mutable) config on every request."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.log: list[FaultEntry] = []
        self.reset()

    def reset(self) -> None:
        """Forget the log and the rate window."""
        self._rng = random.Random(f"faults:{self.config.seed}")
        # A stream of its own, so turning the 429 share on does not change the other draws.
        self._rng_429 = random.Random(f"faults-429:{self.config.seed}")
        self._admitted = SlidingWindow()
        self.log = []

    def retry_after_s(self, now: float) -> int | None:
        """None if the request is admitted; else the Retry-After seconds of a 429."""
        share = self.config.rate_limited_rate
        if share and self._rng_429.random() < share:
            return 1
        limit = self.config.rate_limit_per_s
        if limit is None:
            return None
        if self._admitted.expire(now) >= limit:
            oldest = self._admitted.oldest()
            wait_s = (oldest + 1.0 - now) if oldest is not None else 1.0
            return max(1, math.ceil(wait_s))
        self._admitted.add(now)
        return None

    def draw(self) -> str | None:
        """ERROR, HANG, DROP or None for one admitted request."""
        config = self.config
        if not (config.error_rate or config.hang_rate or config.drop_rate):
            return None
        point = self._rng.random()
        if point < config.error_rate:
            return ERROR
        point -= config.error_rate
        if point < config.hang_rate:
            return HANG
        point -= config.hang_rate
        return DROP if point < config.drop_rate else None

    def error_answer(self) -> tuple[int, bool]:
        """The status of an injected 5xx, and whether its body is HTML rather than JSON."""
        return self._rng.choice(ERROR_STATUSES), self._rng.random() < 0.5

    def record(self, entry: FaultEntry) -> None:
        """Add one injected fault to the log."""
        self.log.append(entry)

    def snapshot(self) -> list[dict[str, Any]]:
        """The log, JSON-ready."""
        return [asdict(entry) for entry in self.log]
