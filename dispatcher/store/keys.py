"""Every Redis key and queue name the dispatcher uses, in one place.

Per-campaign keys carry a hash tag (`{c:<id>}`) so that a Redis Cluster could shard by campaign:
every multi-key script the state store runs touches one campaign's keys only, plus, for a few, the
global do-not-call set (a documented exception: in a Cluster the DNC set would move to a per-shard
copy).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ACTOR_CONTROL",
    "ACTOR_INTAKE",
    "ACTOR_POLL",
    "ACTOR_SEND_BATCH",
    "CALLBACKS_GROUP",
    "CAMPAIGN_LOCKS",
    "ERROR_CLASSES",
    "WORKER_ID_PREFIX",
    "CampaignKeys",
    "Keys",
]

#: Actor names: the producer enqueues by name, so it needs no import of the workers package.
ACTOR_SEND_BATCH = "send_batch"
ACTOR_POLL = "poll_campaign"
ACTOR_CONTROL = "control_campaign"
#: Worker processes name their dramatiq broker this + a uuid: its heartbeats tell workers from
#: producers (every broker that enqueues heartbeats too).
WORKER_ID_PREFIX = "worker-"
#: The intake actor other services send campaigns to (a published contract: see README).
ACTOR_INTAKE = "intake_campaign"
#: The consumer group the webhook deliverer reads the event stream with.
CALLBACKS_GROUP = "dispatcher-callbacks"
#: Per-campaign sliding windows of failed creates (`<base>:ev:err:<class>`, the auto-pause guard).
ERROR_CLASSES = ("retry_safe", "rejected", "ambiguous")
#: Per-campaign short locks (`<base>:lock:<name>`).
CAMPAIGN_LOCKS = ("recording",)


@dataclass(frozen=True, slots=True)
class CampaignKeys:
    """The keys of one campaign."""

    prefix: str
    campaign_id: str

    @property
    def base(self) -> str:
        return f"{self.prefix}:{{c:{self.campaign_id}}}"

    @property
    def meta(self) -> str:
        """Hash: status, name, spec (JSON), timestamps, totals."""
        return f"{self.base}:meta"

    @property
    def counts(self) -> str:
        """Hash: contact state -> number of contacts in it (always the per-contact sum)."""
        return f"{self.base}:counts"

    @property
    def contacts(self) -> str:
        """Hash: phone -> packed contact record (state, batch, outcome details)."""
        return f"{self.base}:contacts"

    @property
    def data(self) -> str:
        """Hash: phone -> JSON of the contact's own columns (only for contacts that have any)."""
        return f"{self.base}:data"

    @property
    def archive(self) -> str:
        """Hash: bucket number -> compressed contacts and their data, once the campaign is
        archived (`store.archive`); `contacts`, `data` and the `bp` lists are gone then."""
        return f"{self.base}:archive"

    @property
    def reading(self) -> str:
        """Sorted set: readers streaming the live `contacts` hash, by when their lease (renewed
        every page) runs out; the archive waits for none to be left, so a stream never loses its
        hash half-way."""
        return f"{self.base}:reading"

    @property
    def calls(self) -> str:
        """Hash: api call id -> batch number."""
        return f"{self.base}:calls"

    @property
    def poll(self) -> str:
        """Sorted set: api call id scored by the time (ms) it is next due for polling."""
        return f"{self.base}:poll"

    @property
    def retry(self) -> str:
        """Sorted set: phones waiting for another attempt, scored by when it is due (ms)."""
        return f"{self.base}:retry"

    @property
    def batch_due(self) -> str:
        """Sorted set: pending batches by the time (ms) a message should have picked them up.

        The reconciler sends a batch again when that time passes and it is still pending.
        """
        return f"{self.base}:bdue"

    @property
    def leases(self) -> str:
        """Sorted set: batches being sent, by the time (ms) their claim's lease runs out."""
        return f"{self.base}:leases"

    @property
    def owed(self) -> str:
        """Hash: provider action owed (park, unpark, replan, cancel) -> `<due ms>:<version>`."""
        return f"{self.base}:owed"

    @property
    def tick(self) -> str:
        """String: present while a poll message for this campaign is scheduled."""
        return f"{self.base}:tick"

    @property
    def events(self) -> str:
        """List: recent notable events (pause reasons, faults), newest first, capped."""
        return f"{self.base}:events"

    @property
    def callbacks(self) -> str:
        """List: the campaign's webhook deliveries (JSON), oldest first; the head is sent next."""
        return f"{self.base}:cb"

    @property
    def activity(self) -> str:
        """Hash: `<unix minute>:<dials or outcome>` -> count, the last day (`store.activity`)."""
        return f"{self.base}:activity"

    def batch(self, batch_no: int) -> str:
        """Hash: status, api call id, attempts, lease of one batch."""
        return f"{self.base}:b:{batch_no}"

    def batch_phones(self, batch_no: int) -> str:
        """List: the phones of one batch, in submission order."""
        return f"{self.base}:bp:{batch_no}"

    @property
    def dial_pace(self) -> str:
        """String: the campaign's dials-per-minute pace (outside the hash tag, with a TTL)."""
        return f"{self.prefix}:pace:dials:{self.campaign_id}"

    def every_key(self, batches: int) -> list[str]:
        """Every key the campaign can have, given its number of batches (`meta` last)."""
        names = [
            self.counts,
            self.contacts,
            self.data,
            self.archive,
            self.reading,
            self.calls,
            self.poll,
            self.retry,
            self.batch_due,
            self.leases,
            self.owed,
            self.tick,
            self.events,
            self.callbacks,
            self.activity,
            self.dial_pace,
        ]
        names += [f"{self.base}:ev:err:{name}" for name in ERROR_CLASSES]
        names += [f"{self.base}:lock:{name}" for name in CAMPAIGN_LOCKS]
        for bn in range(1, batches + 1):
            names += [self.batch(bn), self.batch_phones(bn)]
        return [*names, self.meta]


@dataclass(frozen=True, slots=True)
class Keys:
    """The dispatcher's global keys under one prefix."""

    prefix: str

    @property
    def campaigns(self) -> str:
        """Sorted set: campaign id scored by creation time (ms)."""
        return f"{self.prefix}:campaigns"

    @property
    def active(self) -> str:
        """Set: campaigns with work outstanding (the worker watchdog looks at these)."""
        return f"{self.prefix}:active"

    @property
    def dnc(self) -> str:
        """Set: the do-not-call list (normalised phones)."""
        return f"{self.prefix}:dnc"

    @property
    def epoch(self) -> str:
        """Hash: the epoch marker (`store.epoch`): written once per install, never removed."""
        return f"{self.prefix}:epoch"

    @property
    def retention_lease(self) -> str:
        """String: held while a retention sweep runs, and until the next one is due."""
        return f"{self.prefix}:retention"

    @property
    def reconciler_lease(self) -> str:
        """String: held by the worker process whose reconciler sweeps now (one at a time)."""
        return f"{self.prefix}:reconciler"

    @property
    def events(self) -> str:
        """Stream: campaign status changes and contacts' final outcomes, bounded (`MAXLEN ~`).

        Deployment-wide, like the DNC set: the scripts that end contacts get it in KEYS.
        """
        return f"{self.prefix}:events"

    @property
    def archive_due(self) -> str:
        """Sorted set: ended campaigns to archive, by the time (ms) they left the active set."""
        return f"{self.prefix}:archive:due"

    @property
    def drafts(self) -> str:
        """Sorted set: drafts (being submitted) by the time (ms) they expire if left unfinished."""
        return f"{self.prefix}:drafts"

    def idempotency(self, key_digest: str) -> str:
        """Hash: one `Idempotency-Key` (by digest): its campaign, state, fingerprints, report."""
        return f"{self.prefix}:idem:{key_digest}"

    def intake(self, external_id: str) -> str:
        """Hash: one intake message series (by the caller's `external_id`): parts, state, report."""
        return f"{self.prefix}:intake:{external_id}"

    @property
    def callbacks_due(self) -> str:
        """Sorted set: campaigns with webhook deliveries waiting, by when the next is due (ms)."""
        return f"{self.prefix}:cb:due"

    def dial_counts(self, day: str) -> str:
        """Hash: phone -> dials started on this UTC day (YYYYMMDD), all campaigns together."""
        return f"{self.prefix}:dials:{day}"

    @property
    def dramatiq_namespace(self) -> str:
        """The namespace dramatiq's Redis broker puts its queues under."""
        return f"{self.prefix}-dramatiq"

    def campaign(self, campaign_id: str) -> CampaignKeys:
        return CampaignKeys(self.prefix, campaign_id)
