"""What a worker process shares between its threads: settings, state, provider client, pacer.

Built once per process by `ProcessResources` (a dramatiq middleware): the httpx client is opened
in `after_worker_boot` and closed in `after_worker_shutdown`, once dramatiq has joined the worker
threads (its `before_worker_shutdown` runs *before* that: closing there cut the requests still in
flight, whose contacts then ended `unknown` though the provider may have created their calls).
`before_worker_shutdown` only tells the actors the process is stopping, so that one waiting for
its pacing slot hands its batch over instead of starting a request. `before_worker_boot` also sets
how long an idle queue consumer waits between fetches (`DISPATCHER_CONSUMER_IDLE_MS`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import dramatiq
import httpx
from dramatiq.middleware import Middleware

from dispatcher.effebot.client import EffebotClient
from dispatcher.effebot.transport import make_http_client
from dispatcher.errors import ConfigurationError
from dispatcher.logs import get_logger
from dispatcher.metrics import observe_provider_request
from dispatcher.pacing import GlobalPacer
from dispatcher.queue import send
from dispatcher.settings import Settings
from dispatcher.store import StateStore
from dispatcher.store.trust import RedisTrust

__all__ = ["ProcessResources", "WorkerContext"]

log = get_logger(__name__)


@dataclass
class WorkerContext:
    """Everything an actor needs, built once per process."""

    settings: Settings
    store: StateStore
    client: EffebotClient
    pacer: GlobalPacer
    broker: dramatiq.Broker
    stopping: threading.Event = field(default_factory=threading.Event)
    #: Whether Redis still holds the data this process started with (None: not checked here).
    trust: RedisTrust | None = None

    def redis_lost(self) -> str | None:
        """Why Redis must be taken to have lost its data (None: it has not, or is not checked)."""
        return None if self.trust is None else self.trust.verify()

    def trusted_epoch(self) -> str | None:
        """The epoch id a claim script checks the marker against: '' when this process does not
        check it (no `trust`), None when the full check must run first (Redis did not answer at
        start). The script's check is the one `RedisTrust.verify` makes (marker present, same id,
        not flagged lost); when it fails, `redis_lost` judges why and records it."""
        if self.trust is None:
            return ""
        return self.trust.epoch_id

    def send(self, actor_name: str, args: tuple[Any, ...], delay_s: float | None = None) -> None:
        """Enqueue a message for one of our actors (ids only)."""
        delay_ms = None if delay_s is None or delay_s <= 0 else int(delay_s * 1000)
        send(self.broker, self.settings.queue_name, actor_name, args, delay_ms)

    def enqueue(self, actor_name: str, args: tuple[Any, ...], delay_ms: int | None) -> None:
        """`send` in the shape of `dispatcher.queue.Enqueue`."""
        send(self.broker, self.settings.queue_name, actor_name, args, delay_ms)

    def sleep(self, seconds: float) -> None:
        """Sleep `seconds`, or less if the worker process is shutting down."""
        self.stopping.wait(max(seconds, 0.0))

    def wait(self, seconds: float) -> bool:
        """Wait `seconds`; False (early) if the worker process is shutting down."""
        self.sleep(seconds)
        return not self.stopping.is_set()


class ProcessResources(Middleware):
    """Opens the process's httpx client and state connection at boot, closes them at shutdown."""

    def __init__(
        self, settings: Settings, store: StateStore, trust: RedisTrust | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self.trust = trust
        self._lock = threading.Lock()
        self._http: httpx.Client | None = None
        self._context: WorkerContext | None = None
        self._broker: dramatiq.Broker | None = None
        self._stopping = threading.Event()

    def before_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        # dramatiq starts the worker threads before `after_worker_boot`: the first messages must
        # already find the broker (the context itself is built on first use).
        self._broker = broker
        # Read by the consumers and worker threads dramatiq creates right after this hook.
        if worker is not None and hasattr(worker, "worker_timeout"):
            worker.worker_timeout = self.settings.consumer_idle_ms

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        self._broker = broker
        self.context()
        log.info("worker.booted", queue=self.settings.queue_name, threads=worker.worker_threads)

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        # The worker threads are still running (dramatiq joins them after this): let them finish
        # what they started, but start nothing new that could outlive the process.
        self._stopping.set()
        log.info("worker.stopping")

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        with self._lock:
            if self._http is not None:
                self._http.close()
            self._http = None
            self._context = None
        log.info("worker.shutdown")

    def context(self) -> WorkerContext:
        """The process's context, built on first use."""
        with self._lock:
            if self._context is None:
                if self._broker is None:
                    raise ConfigurationError("the worker context is used before the worker booted")
                if self.settings.effebot_api_key is None:
                    raise ConfigurationError(
                        "DISPATCHER_EFFEBOT_API_KEY is not set: workers cannot call the provider"
                    )
                self._http = make_http_client(self.settings)
                self._context = WorkerContext(
                    settings=self.settings,
                    store=self.store,
                    client=EffebotClient.from_settings(
                        self.settings, self._http, on_request=observe_provider_request
                    ),
                    pacer=GlobalPacer(self.store.client, self.settings.key_prefix),
                    broker=self._broker,
                    stopping=self._stopping,
                    trust=self.trust,
                )
            return self._context
