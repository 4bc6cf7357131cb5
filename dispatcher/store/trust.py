"""Whether a process may trust this Redis with promises, at start and while it runs.

At start (`RedisTrust.check_at_start`, called by the worker set-up, the HTTP app factory and the
CLI commands that write) a process refuses a Redis that would lose promises: no persistence at
all, a `maxmemory-policy` that evicts keys, a read-only replica (`health.trust_problems`), unless
`DISPATCHER_ALLOW_UNSAFE_REDIS` says the set-up is a throw-away one. It then establishes the epoch
marker (`store.epoch`) and remembers its id. A long-running process whose Redis does not answer
yet starts anyway and runs the same checks on its first `verify` (it dials nothing and is not
ready until they pass).

While it runs, `verify` compares the marker with the remembered id (one HGETALL): workers call it
before every claim and on every reconciler tick, `/readyz` on every probe. A marker gone or changed
means the data was lost: the first process to see it records that in the marker and logs it
(`redis.data_lost`, once per process); from then on every process refuses to dial and `/readyz`
answers 503 with the reason, until `dispatcher redis-reset --accept-data-loss` starts a new epoch
(which running processes adopt: the marker says an operator reset it).
"""

from __future__ import annotations

import os
import socket
import threading
import time

from dispatcher.errors import RedisUntrusted, StateError
from dispatcher.logs import get_logger
from dispatcher.store.epoch import Epoch, EpochStore
from dispatcher.store.health import read_redis_health, trust_problems

__all__ = ["OVERRIDE_HINT", "RESET_HINT", "RedisTrust"]

log = get_logger(__name__)

OVERRIDE_HINT = "DISPATCHER_ALLOW_UNSAFE_REDIS=true overrides this for throw-away set-ups"
RESET_HINT = "after checking what was lost, run `dispatcher redis-reset --accept-data-loss`"
#: `/readyz` reads the server's INFO and CONFIG at most this often (the epoch on every probe).
HEALTH_CACHE_S = 5.0


class RedisTrust:
    """One process's view of whether its Redis can be trusted (thread-safe)."""

    def __init__(
        self,
        store: EpochStore,
        *,
        role: str,
        allow_unsafe: bool = False,
        claim_durability: str = "none",
        establish: bool = True,
    ) -> None:
        self.store = store
        #: Write the marker when there is none (services); a one-shot command only reads it.
        self.establish = establish
        self.role = role
        self.who = f"{role}@{socket.gethostname()}:{os.getpid()}"
        self.allow_unsafe = allow_unsafe
        self.claim_durability = claim_durability
        self.epoch_id: str | None = None  # the epoch this process started in
        self._lost: str | None = None  # why the data was found lost, once it was
        self._lock = threading.Lock()
        self._health_at = -HEALTH_CACHE_S
        self._health_problem: str | None = None

    # --- at start ---------------------------------------------------------------------------------

    def check_at_start(self) -> Epoch:
        """Refuse (`RedisUntrusted`, logged) a Redis that would lose promises or lost its data;
        otherwise establish the epoch marker (only read it, with `establish=False`) and remember
        it."""
        problem = self._server_problem(at_start=True)
        if problem is not None:
            raise RedisUntrusted(problem)
        if not self.establish:
            found = self.store.read_epoch()
            epoch = found if found is not None else Epoch(id="")
        else:
            epoch, outcome = self.store.establish_epoch(self.who)
            if outcome != "found":
                log.info("redis.epoch_created", epoch=epoch.id, adopted=outcome == "adopted")
        if epoch.lost:
            reason = self._lost_message(epoch)
            log.error("redis.data_lost", role=self.role, reason=reason)
            raise RedisUntrusted(reason)
        self.epoch_id = epoch.id
        return epoch

    def check_at_start_or_later(self) -> None:
        """`check_at_start`, or, when Redis does not answer yet (`StateError`, logged), on the
        first `verify`: a process started before its Redis waits for it rather than dying."""
        try:
            self.check_at_start()
        except RedisUntrusted:
            raise
        except StateError as exc:
            log.warning("redis.unchecked", role=self.role, error=str(exc))

    def _server_problem(self, *, at_start: bool) -> str | None:
        """Why the server's configuration cannot be trusted (None: it can, or it is allowed)."""
        health = read_redis_health(self.store.client)
        fatal, weak = trust_problems(health, self.claim_durability)
        # A one-shot command's stderr is read by a person who chose the override already: its
        # notes are INFO (shown with DISPATCHER_LOG_LEVEL=INFO); a service's are warnings.
        note = log.info if self.role == "cli" else log.warning
        if at_start:
            for problem in weak:
                note("redis.weak", problem=problem)
        if not fatal:
            return None
        if self.allow_unsafe:
            if at_start:
                note("redis.unsafe_allowed", problems=fatal)
            return None
        message = f"refusing this Redis: {'; '.join(fatal)} ({OVERRIDE_HINT})"
        if at_start:
            log.error("redis.refused", role=self.role, problems=fatal)
        return message

    # --- while running ----------------------------------------------------------------------------

    def verify(self) -> str | None:
        """None while the epoch is the one this process started in (or one an operator reset
        to); else why the data must be taken as lost. One HGETALL; `StateError` when Redis does
        not answer."""
        if self.epoch_id is None:
            # Redis did not answer at start (`check_at_start_or_later`): check it now.
            try:
                self.check_at_start()
            except RedisUntrusted as exc:
                return str(exc)
            return None
        epoch = self.store.read_epoch()
        with self._lock:
            reason = self._judge(epoch)
            if reason is None:
                if self._lost is not None:
                    log.warning("redis.trusted_again", role=self.role, epoch=self.epoch_id)
                self._lost = None
                return None
            first = self._lost is None
            self._lost = reason
        if epoch is None or not epoch.lost:
            # Recorded for every process, including those started after the loss (which found
            # no marker, took the empty Redis for a fresh install and wrote one of their own).
            self.store.flag_epoch_lost(self.epoch_id, reason, self.who)
        if first:
            log.error(
                "redis.data_lost",
                role=self.role,
                reason=reason,
                epoch=self.epoch_id,
                hint=RESET_HINT,
            )
        return reason

    def _judge(self, epoch: Epoch | None) -> str | None:
        assert self.epoch_id is not None
        if epoch is None:
            return (
                "the epoch marker is gone: Redis lost its data (restarted empty, flushed, or "
                "another database); campaigns and the do-not-call list are not there any more"
            )
        if epoch.lost:
            return self._lost_message(epoch)
        if epoch.id != self.epoch_id:
            if epoch.reset_at_ms:
                log.warning("redis.epoch_reset_adopted", previous=self.epoch_id, epoch=epoch.id)
                self.epoch_id = epoch.id
                return None
            return (
                f"the epoch marker changed ({self.epoch_id} -> {epoch.id}): Redis lost its data "
                "and another process started afresh on it"
            )
        return None

    @staticmethod
    def _lost_message(epoch: Epoch) -> str:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch.lost_at_ms / 1000))
        return f"Redis data loss detected at {when}: {epoch.lost}; {RESET_HINT}"

    def ready_problem(self) -> str | None:
        """Why this process should not take traffic (None: ready): the epoch, then the server's
        configuration (read at most every few seconds)."""
        try:
            lost = self.verify()
            if lost is not None:
                return lost
            now = time.monotonic()
            if now - self._health_at >= HEALTH_CACHE_S:
                self._health_problem = self._server_problem(at_start=False)
                self._health_at = now
        except StateError as exc:
            return f"redis is not reachable: {exc}"
        return self._health_problem
