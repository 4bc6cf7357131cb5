"""The emulated account, in memory: records, api calls and their phones, caller numbers, balance.

Calls are never stepped: each phone keeps its drawn fate and the simulated instant its dial
starts, and everything else is computed from the clock when asked (see `timeline`). Money follows
the same rule: answered calls are charged when their finish time has passed, by `settle()`, which
pops a heap of due charges whenever the balance is read or needed.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from dispatcher.sandbox.clock import SimClock
from dispatcher.sandbox.config import FINAL_STATUSES, AccountPhone, SandboxConfig
from dispatcher.sandbox.errors import InsufficientBalance
from dispatcher.sandbox.timeline import (
    IvrSpec,
    PhoneFate,
    draw_fate,
    phone_status,
    phone_view,
)
from dispatcher.sandbox.validation import CreateSpec, build_ivrs

__all__ = ["ApiCall", "PhoneCall", "Record", "SandboxState"]

FIRST_RECORD_ID = 10_001


@dataclass(slots=True, eq=False)
class PhoneCall:
    """One phone of an api call: its number, fate, and when its dial starts (simulated)."""

    phone: str
    fate: PhoneFate
    started_at: int


@dataclass(slots=True, eq=False)
class ApiCall:
    """One accepted create request: one id, one entry per phone."""

    id: int
    created_at: int
    planned_at: int
    need_recording: bool
    webhook_url: str | None
    ivrs: list[IvrSpec]
    phones: list[PhoneCall]
    label: str
    version: int = 0
    webhook_try: int = 0
    webhook_sent: bool = False

    def started(self, now_s: float) -> bool:
        """Whether any of its phones has started dialling."""
        return any(now_s >= p.started_at for p in self.phones)

    def final(self, now_s: float) -> bool:
        """Whether every phone has reached a final status."""
        return all(phone_status(p.fate, p.started_at, now_s) in FINAL_STATUSES for p in self.phones)


@dataclass(slots=True)
class Record:
    """An audio record of the account; in moderation until `approved_at` (simulated seconds)."""

    id: int
    created_at: int
    name: str
    text: str | None
    cost: float
    approved_at: float = 0.0

    @property
    def path(self) -> str:
        return f"/records/{self.id}.mp3"

    def in_moderation(self, now_s: float) -> bool:
        """Whether a call cannot use it yet."""
        return now_s < self.approved_at

    def view(self, now_s: float) -> dict[str, Any]:
        """The reference's record shape, as it stands at `now_s`."""
        pending = self.in_moderation(now_s)
        return {
            "id": self.id,
            "createdAt": self.created_at,
            "needModeration": int(pending),
            "moderatorComment": None,
            "name": self.name,
            "path": self.path,
            "status": "moderation" if pending else "approved",
            "recordText": self.text,
            "cost": self.cost,
        }


@dataclass(slots=True)
class _Account:
    phones: list[AccountPhone]
    records: dict[int, Record]
    balance: float
    next_call_id: int = 1
    next_record_id: int = FIRST_RECORD_ID
    next_ivr_id: int = 1
    next_phone_id: int = 100
    calls: dict[int, ApiCall] = field(default_factory=dict)
    charges: list[tuple[int, int, int, int]] = field(default_factory=list)


class SandboxState:
    """All mutable state of one sandbox; methods take validated values."""

    def __init__(self, config: SandboxConfig, clock: SimClock) -> None:
        self.config = config
        self.clock = clock
        #: Called with every api call whose timeline is new or changed (the webhook scheduler).
        self.listeners: list[Callable[[ApiCall], None]] = []
        self._account = self._fresh_account()

    def _fresh_account(self) -> _Account:
        now = self.clock.now_s()
        records = {
            rid: Record(rid, now, f"record-{rid}", None, 0.0) for rid in self.config.record_ids
        }
        return _Account(
            phones=[p.model_copy() for p in self.config.phones],
            records=records,
            balance=self.config.balance,
            next_record_id=max([FIRST_RECORD_ID - 1, *records]) + 1,
        )

    def reset(self) -> None:
        """Forget calls, created records, confirmed phones and spending (the config stays)."""
        self._account = self._fresh_account()

    # --- money ------------------------------------------------------------------------------------
    def settle(self) -> float:
        """Charge every answered call whose finish time has passed; the balance after."""
        account = self._account
        now = self.clock.now()
        charges = account.charges
        while charges and charges[0][0] <= now:
            _, call_id, index, version = heapq.heappop(charges)
            call = account.calls.get(call_id)
            if call is None or call.version != version:
                continue  # removed or replanned: its new charge is queued under the new version
            account.balance -= call.phones[index].fate.cost
        return account.balance

    def set_balance(self, balance: float) -> None:
        """Set the balance (a runtime knob for tests)."""
        self.settle()
        self._account.balance = balance

    def _queue_charges(self, call: ApiCall) -> None:
        for index, phone in enumerate(call.phones):
            if phone.fate.cost > 0:
                finished = phone.started_at + phone.fate.ring_s + phone.fate.talk_s
                heapq.heappush(self._account.charges, (finished, call.id, index, call.version))

    def _spend(self, amount: float) -> None:
        balance = self.settle()
        if balance <= 0 or balance < amount:
            raise InsufficientBalance
        self._account.balance = round(balance - amount, 6)

    # --- api calls --------------------------------------------------------------------------------
    def account_phone_numbers(self) -> set[str]:
        """Every caller number of the account (personal, shared and system)."""
        return {p.phone for p in self._account.phones}

    def confirmed_phone_numbers(self) -> set[str]:
        """The numbers added and confirmed in the account: what `outgoingPhone` may be."""
        return {p.phone for p in self._account.phones if not p.is_system and p.overall == 0}

    def record_ids(self) -> set[int]:
        """Ids of the records that exist now."""
        return set(self._account.records)

    def records_in_moderation(self) -> set[int]:
        """Ids of the records that exist but have not passed moderation yet."""
        now = self.clock.now()
        return {r.id for r in self._account.records.values() if r.in_moderation(now)}

    def duty_phones(self) -> list[str]:
        """The work (system) numbers dutyPhone=1 picks from."""
        return [p.phone for p in self._account.phones if p.is_system]

    def create_call(self, spec: CreateSpec, *, label: str) -> dict[str, Any]:
        """Apply a validated create; the response body. Raises InsufficientBalance."""
        account = self._account
        config = self.config
        record_cost = round(spec.generated_records * config.price_per_generated_record, 6)
        self._spend(record_cost)
        now = self.clock.now_s()
        planned_at = spec.planned_at if spec.planned_at is not None else now
        call_id = account.next_call_id
        account.next_call_id += 1
        ivrs = build_ivrs(spec.ivr_specs, account.next_ivr_id)
        account.next_ivr_id += len(ivrs)
        # One RNG per api call id: outcomes do not depend on the order requests interleave in.
        rng = random.Random(f"{config.seed}:{call_id}")
        phones = []
        for number in spec.phones:
            fate = draw_fate(
                rng,
                outcomes=config.outcomes,
                ivrs=ivrs,
                press_probability=config.ivr_press_probability,
                manager_answer_probability=config.manager_answer_probability,
                price_per_minute=config.price_per_minute,
            )
            started_at = planned_at + fate.queue_s
            if config.instant:
                started_at = now - fate.ring_s - fate.talk_s
            phones.append(PhoneCall(number, fate, started_at))
        call = ApiCall(
            id=call_id,
            created_at=now,
            planned_at=planned_at,
            need_recording=spec.need_recording,
            webhook_url=spec.webhook_url,
            ivrs=ivrs,
            phones=phones,
            label=label,
        )
        account.calls[call_id] = call
        self._queue_charges(call)
        self._notify(call)
        return {
            "id": call_id,
            "createdAt": now,
            "plannedAt": planned_at,
            "needrecording": int(spec.need_recording),
            "phone": list(spec.phones) if spec.phones_as_list else spec.phones[0],
            "recordCost": record_cost,
        }

    def _notify(self, call: ApiCall) -> None:
        for listener in self.listeners:
            listener(call)

    def call(self, call_id: int) -> ApiCall | None:
        """The api call with that id, if it exists."""
        return self._account.calls.get(call_id)

    def details(self, call: ApiCall, now_s: float | None = None) -> dict[str, Any]:
        """The call-details object of one api call (the `apiCalls/get` shape)."""
        now = self.clock.now() if now_s is None else now_s
        record_path = f"/recordings/{call.id}"
        return {
            "id": call.id,
            "createdAt": call.created_at,
            "needRecording": int(call.need_recording),
            "plannedAt": call.planned_at,
            "webhookUrl": call.webhook_url,
            "webhookSent": int(call.webhook_sent),
            "amoscriptId": None,
            "webhookParameters": None,
            "webhookTry": call.webhook_try,
            "recognitionGroupId": None,
            "generateGroupId": None,
            "calls": [
                phone_view(
                    p.fate,
                    phone=p.phone,
                    started_at=p.started_at,
                    created_at=call.created_at,
                    now_s=now,
                    ivrs=call.ivrs,
                    need_recording=call.need_recording,
                    record_path=f"{record_path}/{i}.mp3",
                    label=call.label,
                )
                for i, p in enumerate(call.phones)
            ],
        }

    def get_details(self, ids: Iterable[int]) -> list[dict[str, Any]]:
        """Details of the known ids, in the order asked; unknown ids are omitted."""
        now = self.clock.now()
        calls = self._account.calls
        return [self.details(calls[i], now) for i in ids if i in calls]

    def replan(self, changes: Iterable[tuple[int, int]]) -> list[int]:
        """Move not-yet-started api calls to new planned times; the ids that moved."""
        now = self.clock.now()
        updated = []
        for call_id, replanned_at in changes:
            call = self._account.calls.get(call_id)
            if call is None or call.started(now):
                continue
            call.version += 1
            call.planned_at = replanned_at
            for phone in call.phones:
                phone.started_at = replanned_at + phone.fate.queue_s
            self._queue_charges(call)
            self._notify(call)
            updated.append(call_id)
        return updated

    def remove(self, ids: Iterable[int]) -> list[int]:
        """Delete not-yet-started api calls; the ids removed."""
        now = self.clock.now()
        removed = []
        for call_id in ids:
            call = self._account.calls.get(call_id)
            if call is None or call.started(now):
                continue
            del self._account.calls[call_id]
            call.version += 1  # invalidates its queued webhook events and charges
            removed.append(call_id)
        return removed

    def calls_by_status(self) -> dict[str, int]:
        """How many phones are in each status now."""
        now = self.clock.now()
        counts: Counter[str] = Counter()
        for call in self._account.calls.values():
            for p in call.phones:
                counts[phone_status(p.fate, p.started_at, now)] += 1
        return dict(counts)

    # --- records ----------------------------------------------------------------------------------
    def create_record(self, name: str, text: str | None) -> dict[str, Any]:
        """Add a record (generated from `text`, or an uploaded file when None).

        A share `moderation_rate` of them start in moderation, approved `moderation_s` simulated
        seconds later; which ones is drawn from the seed and the record id.
        """
        config = self.config
        cost = config.price_per_generated_record if text is not None else 0.0
        self._spend(cost)
        account = self._account
        record_id = account.next_record_id
        now = self.clock.now_s()
        approved_at = float(now)
        if random.Random(f"{config.seed}:record:{record_id}").random() < config.moderation_rate:
            approved_at = now + config.moderation_s
        record = Record(record_id, now, name, text, cost, approved_at)
        account.next_record_id += 1
        account.records[record.id] = record
        return record.view(self.clock.now())

    def remove_records(self, ids: Iterable[int]) -> list[dict[str, Any]]:
        """Delete records; one removal object per record that existed."""
        now = self.clock.now_s()
        removed = []
        for record_id in ids:
            record = self._account.records.pop(record_id, None)
            if record is None:
                continue
            removed.append(
                {
                    "id": record.id,
                    "createdAt": record.created_at,
                    "name": record.name,
                    "path": record.path,
                    "moderatorComment": None,
                    "needModeration": int(record.in_moderation(now)),
                    "status": "deleted",
                    "deletedAt": now,
                }
            )
        return removed

    # --- account ----------------------------------------------------------------------------------
    def user_info(self) -> dict[str, Any]:
        """The `apiCalls/userInfo` body."""
        return {"id": self.config.account_id, "balance": round(self.settle(), 4)}

    def phone_list(self, include_shared: bool) -> list[dict[str, Any]]:
        """Caller numbers: personal ones, plus shared/system ones when `include_shared`."""
        return [
            {"id": p.id, "phone": p.phone, "isSystem": p.is_system, "overall": p.overall}
            for p in self._account.phones
            if include_shared or (not p.is_system and p.overall == 0)
        ]

    def confirm_phone(self, phone: str) -> None:
        """Add a personal confirmed caller number (idempotent)."""
        account = self._account
        if phone not in self.account_phone_numbers():
            account.phones.append(AccountPhone(id=account.next_phone_id, phone=phone))
            account.next_phone_id += 1

    def language_list(self) -> list[dict[str, Any]]:
        """The `apiCalls/getAvailableLanguages` data."""
        return [
            {"id": lang.id, "name": lang.name, "defaultLangCode": lang.code}
            for lang in self.config.languages
        ]

    def template_list(self, only_moderated: bool) -> list[dict[str, Any]]:
        """The templates (shape chosen by the sandbox: the reference shows none)."""
        return [
            {
                "id": t.id,
                "name": t.name,
                "isModerated": int(t.moderated),
                "recordId": t.record_id,
                "recordText": t.record_text,
                "ivrs": t.ivrs,
            }
            for t in self.config.templates
            if t.moderated or not only_moderated
        ]
