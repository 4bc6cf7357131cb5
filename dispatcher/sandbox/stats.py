"""What the sandbox saw: requests per endpoint and status, creates per phone, peak request rates."""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from typing import Any

__all__ = ["SlidingWindow", "Stats"]

WINDOW_S = 1.0


class SlidingWindow:
    """Arrival times within the last second, and the most ever seen at once."""

    __slots__ = ("_times", "peak")

    def __init__(self) -> None:
        self._times: deque[float] = deque()
        self.peak = 0

    def expire(self, now: float) -> int:
        """Drop arrivals older than one second; how many remain."""
        times = self._times
        while times and times[0] <= now - WINDOW_S:
            times.popleft()
        return len(times)

    def add(self, now: float) -> None:
        """Count one arrival at `now` (monotonic seconds)."""
        self.expire(now)
        self._times.append(now)
        self.peak = max(self.peak, len(self._times))

    def oldest(self) -> float | None:
        """The oldest arrival still in the window."""
        return self._times[0] if self._times else None


class Stats:
    """Counters the inspection route reports; reset with the sandbox."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start counting from zero."""
        self.requests: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.creates_per_phone: Counter[str] = Counter()
        self.window = SlidingWindow()
        self.windows: defaultdict[str, SlidingWindow] = defaultdict(SlidingWindow)
        self.webhooks: Counter[str] = Counter(sent=0, succeeded=0, failed=0, abandoned=0)

    def arrived(self, endpoint: str, now: float) -> None:
        """An API request arrived (before any fault or check)."""
        self.window.add(now)
        self.windows[endpoint].add(now)

    def answered(self, endpoint: str, status_code: int) -> None:
        """An API request was answered with `status_code` (or its answer started, when dropped)."""
        self.requests[endpoint][str(status_code)] += 1

    def create_applied(self, phones: list[str]) -> None:
        """A create (or create-from-template) was applied for these phones."""
        self.creates_per_phone.update(phones)

    def snapshot(self) -> dict[str, Any]:
        """The JSON-ready counters."""
        return {
            "requests": {name: dict(codes) for name, codes in self.requests.items()},
            "creates_per_phone": dict(self.creates_per_phone),
            "peak_rps": self.window.peak,
            "peak_rps_by_endpoint": {name: w.peak for name, w in self.windows.items()},
            "webhooks": dict(self.webhooks),
        }
