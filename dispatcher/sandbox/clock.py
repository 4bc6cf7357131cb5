"""The sandbox's simulated clock: real start + real elapsed x speedup, in UNIX seconds."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["SimClock"]


class SimClock:
    """Simulated UNIX time that runs `speedup` times faster than the wall clock."""

    def __init__(
        self,
        speedup: float = 1.0,
        *,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self._sim_anchor = wall()
        self._real_anchor = monotonic()
        self.speedup = speedup

    def now(self) -> float:
        """The simulated time now (UNIX seconds, fractional)."""
        return self._sim_anchor + (self._monotonic() - self._real_anchor) * self.speedup

    def now_s(self) -> int:
        """The simulated time now, as the API's integer UNIX seconds."""
        return int(self.now())

    def set_speedup(self, speedup: float) -> None:
        """Change the speed from now on without making simulated time jump."""
        if speedup <= 0:
            raise ValueError("speedup must be > 0")
        self._sim_anchor = self.now()
        self._real_anchor = self._monotonic()
        self.speedup = speedup

    def realign(self) -> None:
        """Start simulated time again from the wall clock (a reset account starts from now)."""
        self._sim_anchor = self._wall()
        self._real_anchor = self._monotonic()

    def real_delay_s(self, sim_at: float) -> float:
        """Real seconds from now until the simulated instant `sim_at` (0 if already past)."""
        return max(0.0, (sim_at - self.now()) / self.speedup)
