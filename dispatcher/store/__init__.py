"""The Redis state store: campaigns, contacts, batches, the poll schedule and the DNC list.

The only package that talks to Redis for campaign state (the pacer keeps its own keys); redis
errors are translated to `StateError` here. Changes that touch a contact's state go through the Lua
scripts in `lua/`, so counters and per-contact states never disagree. `StateStore` is the one
object callers hold; each concern lives in its own module and class:

* `campaigns`: meta, status, counters, the campaign index and the active set;
* `contacts`: adding contacts at submission, reading them back;
* `batches`: claim → sent / released / finished;
* `polling`: the poll schedule, reconciliation, retries;
* `upkeep`: what the reconciler reads and writes (overdue batches, leases, provider actions owed);
* `submissions`: idempotency keys and intake series;
* `events`: the event stream's readers and the webhook deliveries waiting to be sent;
* `shared`: the do-not-call list, deployment-wide values, locks, events;
* `activity`: dials and outcomes per minute, and the recent events, for the console;
* `epoch`: the marker that tells a Redis that lost its data from a fresh install;
* `retention`: removing campaigns that ended long ago;
* `archive`: an ended campaign's contacts rewritten into compressed buckets (`archive_format`).

How the client is built (a URL or Sentinels, TLS) is `connection`'s; what a claim must reach before
it is acted on (`WAIT` / `WAITAOF`) is `durability`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import redis
from redis.commands.core import Script

from dispatcher.store.activity import ActivityStore, Minute
from dispatcher.store.archive import ArchiveOutcome, ArchiveStore
from dispatcher.store.base import now_ms, text, translate
from dispatcher.store.batches import BatchStore, Claim, Sent
from dispatcher.store.campaigns import CampaignStore, SubmissionGuard
from dispatcher.store.connection import connect_redis, redis_target
from dispatcher.store.contacts import ContactRecord, ContactStore
from dispatcher.store.durability import NO_DURABILITY, Durability
from dispatcher.store.epoch import Epoch, EpochStore
from dispatcher.store.events import EventStore, StreamEntry
from dispatcher.store.keys import CampaignKeys, Keys
from dispatcher.store.polling import CallView, PollStore, ReconcileResult
from dispatcher.store.retention import Ended, RetentionStore
from dispatcher.store.scripts import EVENTS_MAXLEN, TERMINAL_STATES
from dispatcher.store.shared import SharedState
from dispatcher.store.submissions import PartResult, SubmissionStore
from dispatcher.store.upkeep import CampaignView, Owed, UpkeepStore

if TYPE_CHECKING:
    from dispatcher.settings import Settings

__all__ = [
    "TERMINAL_STATES",
    "ArchiveOutcome",
    "CallView",
    "CampaignKeys",
    "CampaignView",
    "Claim",
    "ContactRecord",
    "Durability",
    "Ended",
    "Epoch",
    "Keys",
    "Minute",
    "Owed",
    "PartResult",
    "ReconcileResult",
    "Sent",
    "StateStore",
    "StreamEntry",
    "SubmissionGuard",
    "now_ms",
    "text",
    "translate",
]


class StateStore(
    CampaignStore,
    ContactStore,
    BatchStore,
    PollStore,
    UpkeepStore,
    SubmissionStore,
    EventStore,
    SharedState,
    ActivityStore,
    EpochStore,
    RetentionStore,
    ArchiveStore,
):
    """Campaign state in Redis under one key prefix."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        *,
        events_maxlen: int = EVENTS_MAXLEN,
        durability: Durability = NO_DURABILITY,
    ) -> None:
        self.client = client
        self.keys = Keys(prefix)
        self.events_maxlen = events_maxlen
        self.durability = durability
        self._scripts: dict[str, Script] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> StateStore:
        """A store on a new client to the Redis the settings name (URL or Sentinels), with the
        configured claim durability."""
        durability = Durability(
            settings.claim_durability,
            settings.claim_durability_replicas,
            settings.claim_durability_timeout_ms,
        )
        return cls(
            connect_redis(redis_target(settings)),
            settings.key_prefix,
            events_maxlen=settings.event_stream_maxlen,
            durability=durability,
        )

    @classmethod
    def connect(cls, url: str, prefix: str, *, events_maxlen: int = EVENTS_MAXLEN) -> StateStore:
        """A store on a new connection pool to `url`."""
        client = redis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
        return cls(client, prefix, events_maxlen=events_maxlen)
