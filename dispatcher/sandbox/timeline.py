"""The life of one dialled phone, drawn once and then read lazily from the simulated clock.

A phone's *fate* (outcome, ring and talk durations, the IVR answer, the manager leg, the cost) is
drawn at creation from the api call's seeded RNG. Nothing runs per call afterwards: its status,
timestamps and fields at any simulated instant are a pure function of the fate, the moment its dial
starts and that instant, which is what keeps 100k calls cheap.

    planned ──(startedAt)──▶ dialing ──(answeredAt)──▶ in_progress ──(finishedAt)──▶ completed
                                 └──────────────(finishedAt)──────────────▶ no_answer | busy |
                                                                             failed | invalid_number
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from dispatcher.sandbox.config import FINAL_STATUSES

__all__ = [
    "IvrPress",
    "IvrSpec",
    "PhoneFate",
    "draw_fate",
    "fate_event_times",
    "phone_status",
    "phone_view",
]

PLANNED = "planned"
DIALING = "dialing"
IN_PROGRESS = "in_progress"


@dataclass(frozen=True, slots=True)
class IvrSpec:
    """One validated IVR action of an api call."""

    id: int
    digit: int | None = None
    keywords: tuple[str, ...] = ()
    need_block: bool = False
    manager_phone: str | None = None
    sms_text: str | None = None
    webhook_url: str | None = None
    webhook_parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IvrPress:
    """What the answering person did: which IVR fired, with what answer, and the manager leg.

    `answer` is None when nobody pressed or said anything and the default action (an `ivrs`
    entry with neither `digit` nor `keyWords`: the reference's "stay on the line") fired.
    """

    ivr_index: int
    answer: int | str | None
    after_answer_s: int
    manager_ring_s: int | None = None
    manager_answered: bool = False


@dataclass(frozen=True, slots=True)
class PhoneFate:
    """Everything random about one phone's call, drawn once."""

    status: str
    queue_s: int
    ring_s: int
    talk_s: int
    press: IvrPress | None
    cost: float

    @property
    def answered(self) -> bool:
        return self.status == "completed"

    @property
    def duration_s(self) -> int:
        """From plannedAt to the final status."""
        return self.queue_s + self.ring_s + self.talk_s


def _between(rng: random.Random, low: int, high: int) -> int:
    """A uniform integer in [low, high]; `randint` costs 4x as much, and 100k calls add up."""
    return low + int(rng.random() * (high - low + 1))


def _pick_outcome(rng: random.Random, outcomes: dict[str, float]) -> str:
    total = sum(outcomes.values())
    point = rng.random() * total
    for name, weight in outcomes.items():
        point -= weight
        if point < 0 and weight > 0:
            return name
    return next(name for name, weight in reversed(outcomes.items()) if weight > 0)


def draw_fate(
    rng: random.Random,
    *,
    outcomes: dict[str, float],
    ivrs: list[IvrSpec],
    press_probability: float,
    manager_answer_probability: float,
    price_per_minute: float,
) -> PhoneFate:
    """Draw one phone's fate; the same RNG state always gives the same fate."""
    status = _pick_outcome(rng, outcomes)
    queue_s = _between(rng, 0, 2)
    if status == "completed":
        ring_s, talk_s = _between(rng, 3, 30), _between(rng, 10, 90)
    elif status == "no_answer":
        ring_s, talk_s = _between(rng, 20, 30), 0
    elif status == "busy":
        ring_s, talk_s = _between(rng, 3, 8), 0
    else:  # failed, invalid_number: the network gives up quickly
        ring_s, talk_s = _between(rng, 1, 4), 0
    press = None
    candidates = _pressable(ivrs)
    default = next(
        (i for i, ivr in enumerate(ivrs) if ivr.digit is None and not ivr.keywords), None
    )
    index: int | None = None
    answer: int | str | None = None
    if status == "completed" and candidates and rng.random() < press_probability:
        index = rng.choice(candidates)
        pressed = ivrs[index]
        answer = pressed.digit if pressed.digit is not None else rng.choice(pressed.keywords)
    elif status == "completed" and default is not None:
        index = default  # nothing pressed or said: the "stay on the line" action
    if index is not None:
        ivr = ivrs[index]
        after_answer_s = _between(rng, 2, max(2, min(talk_s - 2, 20)))
        press = IvrPress(index, answer, after_answer_s)
        if ivr.manager_phone:
            manager_ring_s = _between(rng, 3, 20)
            answered = rng.random() < manager_answer_probability
            press = IvrPress(index, answer, after_answer_s, manager_ring_s, answered)
            manager_talk_s = _between(rng, 20, 120) if answered else 0
            # The subscriber stays on the line while the manager is rung and talks.
            talk_s = max(talk_s, after_answer_s + 1 + manager_ring_s + manager_talk_s)
    cost = 0.0
    if status == "completed":
        cost = round(math.ceil(talk_s / 60) * price_per_minute, 4)
    return PhoneFate(status, queue_s, ring_s, talk_s, press, cost)


def _pressable(ivrs: list[IvrSpec]) -> list[int]:
    """The actions a press or a word can fire; of several with one digit, the first one."""
    seen: set[int] = set()
    found = []
    for i, ivr in enumerate(ivrs):
        if ivr.digit is not None:
            if ivr.digit in seen:
                continue
            seen.add(ivr.digit)
            found.append(i)
        elif ivr.keywords:
            found.append(i)
    return found


def phone_status(fate: PhoneFate, started_at: int, now_s: float) -> str:
    """The phone's status at simulated time `now_s`, its dial having started at `started_at`."""
    if now_s < started_at:
        return PLANNED
    finished_at = started_at + fate.ring_s + fate.talk_s
    if now_s >= finished_at:
        return fate.status
    if fate.answered and now_s >= started_at + fate.ring_s:
        return IN_PROGRESS
    return DIALING


def fate_event_times(fate: PhoneFate, started_at: int) -> tuple[list[int], int | None]:
    """The simulated instants of the phone's status changes, and of its IVR press (or None)."""
    answered_at = started_at + fate.ring_s
    finished_at = answered_at + fate.talk_s
    changes = [started_at, answered_at, finished_at] if fate.answered else [started_at, finished_at]
    press_at = answered_at + fate.press.after_answer_s if fate.press is not None else None
    return changes, press_at


def _at(moment: int, now_s: float) -> int | None:
    return moment if now_s >= moment else None


def phone_view(
    fate: PhoneFate,
    *,
    phone: str,
    started_at: int,
    created_at: int,
    now_s: float,
    ivrs: list[IvrSpec],
    need_recording: bool,
    record_path: str,
    label: str,
) -> dict[str, Any]:
    """One entry of a call-details `calls[]` array as the phone looks at `now_s`."""
    status = phone_status(fate, started_at, now_s)
    final = status in FINAL_STATUSES
    answered_at = started_at + fate.ring_s if fate.answered else None
    finished_at = started_at + fate.ring_s + fate.talk_s
    view: dict[str, Any] = {
        "phone": phone,
        "ivrDigit": None,
        "startedAt": _at(started_at, now_s),
        "answeredAt": _at(answered_at, now_s) if answered_at is not None else None,
        "managerStartedAt": None,
        "managerAnsweredAt": None,
        "finishedAt": finished_at if final else None,
        "toBlock": 0,
        "status": status,
        "hangupCause": FINAL_STATUSES[status] if final else None,
        "managerStatus": None,
        "recordFilePath": record_path if final and need_recording and fate.answered else None,
        "cost": fate.cost if final else 0.0,
        "createdAt": created_at,
        "updatedAt": created_at,
        "label": label,
        "ivrAnswers": None,
        "ivrIdList": [],
        "comment": None,
    }
    moments = [created_at, started_at, finished_at]
    if answered_at is not None:
        moments.append(answered_at)
    press = fate.press
    if (
        press is not None
        and answered_at is not None
        and now_s >= answered_at + press.after_answer_s
    ):
        pressed_at = answered_at + press.after_answer_s
        moments.append(pressed_at)
        ivr = ivrs[press.ivr_index]
        if isinstance(press.answer, int):
            view["ivrDigit"] = press.answer
        view["ivrAnswers"] = None if press.answer is None else str(press.answer)
        view["ivrIdList"] = [ivr.id]
        view["toBlock"] = 1 if ivr.need_block else 0
        if press.manager_ring_s is not None:
            manager_started_at = pressed_at + 1
            manager_answered_at = manager_started_at + press.manager_ring_s
            moments += [manager_started_at, manager_answered_at]
            view["managerStartedAt"] = _at(manager_started_at, now_s)
            if press.manager_answered:
                view["managerAnsweredAt"] = _at(manager_answered_at, now_s)
            if now_s >= manager_answered_at:
                view["managerStatus"] = "completed" if press.manager_answered else "no_answer"
            elif now_s >= manager_started_at:
                view["managerStatus"] = DIALING
    view["updatedAt"] = max(m for m in moments if now_s >= m) if now_s >= created_at else created_at
    return view
