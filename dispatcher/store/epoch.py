"""The epoch marker: how a process tells a Redis that lost its data from a fresh install.

DESIGN.md invariant 7: a Redis emptied under running processes is reported, never trusted
silently. The marker (`Keys.epoch`, a hash with no TTL) is written once, by the first process that
finds neither it nor any of the dispatcher's data; every process remembers the epoch id it saw at
start. A process that later finds the marker gone, or another id in it, knows the data it relied on
is gone (the do-not-call list with it), records that in the marker (`lost`) so every other process
and every process started afterwards sees it too, and stops dialling until an operator accepts the
loss (`dispatcher redis-reset --accept-data-loss`), which writes a new epoch.

What it cannot see: a Redis that lost its data while *no* dispatcher process was running finds no
marker and no data, exactly like a first install. The start-up checks (persistence on, no
eviction) are what make that case unlikely.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from dispatcher.store.base import StoreBase, now_ms, text, translate

__all__ = ["Epoch", "EpochStore"]


@dataclass(frozen=True, slots=True)
class Epoch:
    """The marker as read: its id, when it was written, and whether the data was found lost."""

    id: str  # '' when the marker vanished and was re-created only to record the loss
    installed_at_ms: int = 0
    by: str = ""
    adopted: bool = False  # written over data a version without the marker had left
    lost: str = ""  # why a process found the data lost ('' while it is trusted)
    lost_at_ms: int = 0
    previous: str = ""  # the epoch id that process remembered
    reset_at_ms: int = 0  # an operator accepted a loss and started this epoch

    @classmethod
    def from_hash(cls, fields: dict[str, str]) -> Epoch:
        def number(name: str) -> int:
            value = fields.get(name, "")
            return int(value) if value.isdigit() else 0

        return cls(
            id=fields.get("id", ""),
            installed_at_ms=number("installed_at"),
            by=fields.get("by", ""),
            adopted=fields.get("adopted") == "1",
            lost=fields.get("lost", ""),
            lost_at_ms=number("lost_at"),
            previous=fields.get("previous", ""),
            reset_at_ms=number("reset_at"),
        )


def _decode(raw: Any) -> tuple[str, Epoch]:
    items = [text(v) for v in raw]
    fields = {items[i]: items[i + 1] for i in range(1, len(items) - 1, 2)}
    return items[0], Epoch.from_hash(fields)


class EpochStore(StoreBase):
    """Reading and writing the epoch marker."""

    def _epoch_script(self, op: str, who: str, *extra: str) -> tuple[str, Epoch]:
        keys = [self.keys.epoch]
        if op == "establish":
            # Any of these present means the install holds data: the DNC list and the campaign
            # index outlive every campaign, the event stream every contact that ended.
            keys += [self.keys.campaigns, self.keys.dnc, self.keys.events, self.keys.active]
        args: list[str | int] = [op, secrets.token_hex(8), now_ms(), who, *extra]
        return _decode(self._script("epoch")(keys=keys, args=args))

    @translate
    def establish_epoch(self, who: str) -> tuple[Epoch, str]:
        """The marker, written now if there is none; with `found`, `created` or `adopted`."""
        outcome, epoch = self._epoch_script("establish", who)
        return epoch, outcome

    @translate
    def read_epoch(self) -> Epoch | None:
        """The marker (one HGETALL), or None when there is none."""
        raw = self.client.hgetall(self.keys.epoch)
        if not raw:
            return None
        return Epoch.from_hash({text(k): text(v) for k, v in raw.items()})

    @translate
    def flag_epoch_lost(self, previous_id: str, reason: str, who: str) -> Epoch:
        """Record in the marker that the data was found lost (the first reason found stays)."""
        return self._epoch_script("lost", who, previous_id, reason)[1]

    @translate
    def reset_epoch(self, who: str) -> Epoch:
        """Start a new epoch: an operator accepted that the data of the old one is gone."""
        return self._epoch_script("reset", who)[1]
