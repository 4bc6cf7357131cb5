"""Webhooks as the reference describes them, fired by one scheduler task in the server's loop.

The scheduler keeps a heap of due simulated instants: every status change of every phone of an
api call that has a `webhookUrl`, and every IVR press whose action has one. It sleeps until the
next one is due (in real time, through the clock's speedup), then POSTs. Changes of one api call
that fall due together are coalesced into one POST of its current details. A delivery is tried up
to `webhook_tries` times, `webhook_retry_interval_s` simulated seconds apart, until HTTP 200.

The scheduler only decides and renders, in the API's loop where the state lives; the POSTs go
out from a process of their own (`delivery.WebhookSender`, `poster`), at most
`webhook_concurrency` at once, so webhooks never starve the API of its loop or its GIL.
Deliveries wait their turn in a queue that holds at most one per api call: a change of a call
whose delivery is still waiting joins it (the details are rendered when it leaves, so they are
the latest). A slow receiver therefore gets fewer, fresher POSTs rather than a growing backlog
of stale ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from dataclasses import dataclass
from typing import Any, cast

from dispatcher.logs import get_logger
from dispatcher.sandbox.clock import SimClock
from dispatcher.sandbox.delivery import DeliveryResult, WebhookSender
from dispatcher.sandbox.state import ApiCall, SandboxState
from dispatcher.sandbox.stats import Stats
from dispatcher.sandbox.timeline import fate_event_times

__all__ = ["WebhookScheduler"]

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class _StatusChange:
    call_id: int
    version: int


@dataclass(frozen=True, slots=True)
class _IvrPress:
    call_id: int
    version: int
    phone_index: int


@dataclass(frozen=True, slots=True)
class _Retry:
    url: str
    payload: dict[str, Any] | None  # None: re-render the api call's details at send time
    call: ApiCall | None  # the object, not the id: ids start again at 1 after a reset
    attempt: int


_Item = _StatusChange | _IvrPress | _Retry


class WebhookScheduler:
    """Computes due webhook instants from call timelines and delivers them."""

    def __init__(self, state: SandboxState, stats: Stats, clock: SimClock) -> None:
        self._state = state
        self._stats = stats
        self._clock = clock
        self._heap: list[tuple[float, int, _Item]] = []
        self._seq = itertools.count()
        self._wake: asyncio.Event | None = None
        self._runner: asyncio.Task[None] | None = None
        self._sender: WebhookSender | None = None
        self._limit = 1
        self._in_flight = 0
        #: Deliveries waiting for a free slot, in order; one per api call (key: its id).
        self._waiting: dict[tuple[str, int], _Retry] = {}
        state.listeners.append(self.schedule)

    def _push(self, due: float, item: _Item) -> None:
        heapq.heappush(self._heap, (due, next(self._seq), item))

    def schedule(self, call: ApiCall) -> None:
        """Queue the webhook instants of a new or replanned api call."""
        for index, phone in enumerate(call.phones):
            changes, press_at = fate_event_times(phone.fate, phone.started_at)
            if call.webhook_url:
                for moment in changes:
                    self._push(moment, _StatusChange(call.id, call.version))
            press = phone.fate.press
            if (
                press_at is not None
                and press is not None
                and call.ivrs[press.ivr_index].webhook_url
            ):
                self._push(press_at, _IvrPress(call.id, call.version, index))
        self.wake()

    def wake(self) -> None:
        """Re-read the heap now (new events, or the speedup changed)."""
        if self._wake is not None:
            self._wake.set()

    def clear(self) -> None:
        """Forget every pending event (the sandbox was reset)."""
        self._heap.clear()
        self._waiting.clear()

    async def start(self, timeout_s: float, concurrency: int = 16) -> None:
        """Start the scheduler task in the running loop, and the sender's process."""
        self._wake = asyncio.Event()
        self._limit, self._in_flight = concurrency, 0
        self._sender = WebhookSender(concurrency, timeout_s, self._delivered)
        self._sender.start()
        self._runner = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop the scheduler and any delivery in flight."""
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        if self._sender is not None:
            await self._sender.stop()

    async def _run(self) -> None:
        assert self._wake is not None  # set by start() before the task exists
        while True:
            self._wake.clear()
            now = self._clock.now()
            due: list[_Item] = []
            while self._heap and self._heap[0][0] <= now:
                due.append(heapq.heappop(self._heap)[2])
            if due:
                self._fire(due)
            timeout_s = self._clock.real_delay_s(self._heap[0][0]) if self._heap else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout_s)

    def _fire(self, due: list[_Item]) -> None:
        changed: dict[int, None] = {}
        for item in due:
            if isinstance(item, _Retry):
                self._send(item)
                continue
            call = self._state.call(item.call_id)
            if call is None or call.version != item.version:
                continue  # removed or replanned since queued
            if isinstance(item, _StatusChange):
                changed[call.id] = None
            elif isinstance(item, _IvrPress):
                self._send(_Retry(*_ivr_delivery(call, item.phone_index), None, 1))
        for call_id in changed:
            call = self._state.call(call_id)
            if call is not None and call.webhook_url:
                self._send(_Retry(call.webhook_url, None, call, 1))

    def _send(self, item: _Retry) -> None:
        """Queue a delivery: a call's details join the one already waiting for that call."""
        if item.payload is None and item.call is not None:
            key = ("call", id(item.call))
            waiting = self._waiting.get(key)
            if waiting is not None and waiting.attempt >= item.attempt:
                return  # it will render the latest details when it leaves
        else:
            key = ("raw", next(self._seq))
        self._waiting[key] = item
        self._pump()

    def _pump(self) -> None:
        """Hand waiting deliveries to the sender while it has free slots."""
        if self._sender is None:
            return  # not started
        while self._waiting and self._in_flight < self._limit:
            key = next(iter(self._waiting))
            item = self._waiting.pop(key)
            payload = item.payload
            call = item.call
            final = False
            if payload is None:
                if call is None or self._state.call(call.id) is not call:
                    continue  # the api call was removed (or the sandbox reset) after it was queued
                now = self._clock.now()
                call.webhook_try = item.attempt
                payload = self._state.details(call, now)
                final = call.final(now)
            self._stats.webhooks["sent"] += 1
            self._in_flight += 1
            self._sender.submit(item.url, payload, (item, final))

    def _delivered(self, result: DeliveryResult) -> None:
        token, status_code = result
        item, final = cast(tuple[_Retry, bool], token)  # what `_pump` handed over
        self._in_flight = max(self._in_flight - 1, 0)
        try:
            self._settle(item, final, status_code)
        finally:
            self._pump()

    def _settle(self, item: _Retry, final: bool, status_code: int | None) -> None:
        call = item.call
        if status_code == 200:
            self._stats.webhooks["succeeded"] += 1
            if call is not None and final:
                call.webhook_sent = True
            return
        self._stats.webhooks["failed"] += 1
        log.debug(
            "sandbox.webhook_failed",
            api_call_id=_id(call),
            attempt=item.attempt,
            status_code=status_code,
        )
        config = self._state.config
        if item.attempt >= config.webhook_tries:
            self._stats.webhooks["abandoned"] += 1
            return
        retry = _Retry(item.url, item.payload, item.call, item.attempt + 1)
        self._push(self._clock.now() + config.webhook_retry_interval_s, retry)
        self.wake()


def _id(call: ApiCall | None) -> int | None:
    return call.id if call is not None else None


def _ivr_delivery(call: ApiCall, phone_index: int) -> tuple[str, dict[str, Any]]:
    phone = call.phones[phone_index]
    press = phone.fate.press
    assert press is not None  # only presses are queued as IVR events
    ivr = call.ivrs[press.ivr_index]
    assert ivr.webhook_url is not None  # only IVRs with a URL are queued
    # The default ("stay on the line") action fires without an answer: it is sent as "".
    answer = "" if press.answer is None else press.answer
    payload: dict[str, Any] = {"call": {"phone": phone.phone, "answer": answer}}
    payload.update((k, v) for k, v in ivr.webhook_parameters.items() if k != "call")
    return ivr.webhook_url, payload
