"""Webhook deliveries to callers on a thread of every worker process (never a dialling thread).

Started only when `DISPATCHER_CALLBACK_SECRET` is set; with its own httpx client, opened at boot
and closed at shutdown. See `dispatcher.outbound.deliverer` for what it guarantees.
"""

from __future__ import annotations

import threading
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware

from dispatcher.errors import DispatcherError
from dispatcher.logs import get_logger
from dispatcher.outbound.deliverer import Deliverer
from dispatcher.outbound.sender import CallbackSender, make_callback_client
from dispatcher.outbound.signing import Signer
from dispatcher.settings import Settings
from dispatcher.store import StateStore

__all__ = ["CallbackDeliveries"]

log = get_logger(__name__)

#: How long one read of the event stream waits for new entries.
BLOCK_MS = 500
#: After an error (Redis away), the loop waits this long before trying again.
ERROR_PAUSE_S = 2.0


class CallbackDeliveries(Middleware):
    """Runs a `Deliverer` on a daemon thread from worker boot to worker shutdown."""

    def __init__(self, settings: Settings, store: StateStore) -> None:
        self.settings = settings
        self.store = store
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        secret = self.settings.callback_secret
        if secret is None:
            log.info("callbacks.disabled", hint="set DISPATCHER_CALLBACK_SECRET to deliver")
            return
        signer = Signer(secret.get_secret_value())
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(signer,), name="dispatcher-callbacks", daemon=True
        )
        self._thread.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.callback_timeout_s + 5)

    def _run(self, signer: Signer) -> None:
        with make_callback_client(self.settings.callback_timeout_s) as client:
            deliverer = Deliverer(self.store, self.settings, CallbackSender(client, signer))
            while not self._stop.is_set():
                try:
                    deliverer.ingest(BLOCK_MS)
                    deliverer.deliver_due()
                except DispatcherError as exc:
                    log.warning("callbacks.failed", error=str(exc))
                    self._stop.wait(ERROR_PAUSE_S)
                except Exception:  # the thread must survive anything to keep delivering
                    log.exception("callbacks.crashed")
                    self._stop.wait(ERROR_PAUSE_S)
