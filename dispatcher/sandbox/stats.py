"""What the sandbox saw: requests per endpoint and status, creates per phone, peak request rates."""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, defaultdict, deque
from typing import Any

__all__ = ["SlidingWindow", "Stats"]

WINDOW_S = 1.0


class SlidingWindow:
    """Arrival times of the last seconds, and the most ever seen in any one second.

    A second is the half-open interval (t - 1, t]. Arrivals are kernel stamps (see `arrivals`),
    so one handled later may carry an earlier stamp than the one before it: each is inserted in
    order and counted in every second it falls into. Two seconds of history are kept, so an
    arrival handled up to a second late is counted exactly; one later than that is ignored.
    """

    __slots__ = ("_latest", "_times", "peak")

    def __init__(self) -> None:
        self._times: deque[float] = deque()
        self._latest = float("-inf")
        self.peak = 0

    def expire(self, now: float) -> int:
        """Forget what no longer matters at `now`; how many arrivals are in (now - 1, now]."""
        self._latest = max(self._latest, now)
        times = self._times
        while times and times[0] <= self._latest - 2 * WINDOW_S:
            times.popleft()
        return bisect_right(times, now) - bisect_right(times, now - WINDOW_S)

    def add(self, now: float) -> None:
        """Count one arrival at `now` (monotonic seconds)."""
        self.expire(now)
        if now <= self._latest - WINDOW_S:
            return  # more than a second late: the seconds it belongs to were already judged
        times = self._times
        at = bisect_right(times, now)
        times.insert(at, now)
        # The seconds that end at this arrival or at a later one less than a second after it.
        for index in range(at, len(times)):
            end = times[index]
            if end >= now + WINDOW_S:
                break
            inside = bisect_right(times, end) - bisect_right(times, end - WINDOW_S)
            self.peak = max(self.peak, inside)

    def oldest(self) -> float | None:
        """The oldest arrival in the second that ends at the latest one seen."""
        times = self._times
        first = bisect_right(times, self._latest - WINDOW_S)
        return times[first] if first < len(times) else None


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
        #: Ids asked for by the `apiCalls/get` requests that were answered 200 (the poll benchmark
        #: divides it by their number: how full a `get` is).
        self.get_ids = 0

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
            "get_ids": self.get_ids,
        }
