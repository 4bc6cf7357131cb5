"""One rendering of `/metrics` shared by every scrape within a short window."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["MetricsCache"]


class MetricsCache:
    """The last rendering of the metrics, reused for `ttl_s`; one rendering at a time."""

    def __init__(
        self,
        render: Callable[[], bytes],
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._render = render
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._body = b""
        self._expires_at = float("-inf")

    def get(self) -> bytes:
        """The cached text, or a new rendering when it is older than `ttl_s`."""
        # Scrapes arriving while one renders wait for it rather than reading Redis themselves.
        with self._lock:
            if self._clock() >= self._expires_at:
                self._body = self._render()
                self._expires_at = self._clock() + self._ttl_s
            return self._body
