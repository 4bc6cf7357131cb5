"""Reconciliation: the provider's details of one api call, applied to its contacts.

One idempotent function, used by the poller and by the webhook receiver alike: applying the same
details twice, or older details after newer ones reached a terminal state, changes nothing. A call
is final for a phone when the provider says so (a final status, or `finishedAt` set); status strings
we do not know are kept raw on the contact and logged, never crashed on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dispatcher.effebot.responses import CallDetails, PhoneCall
from dispatcher.logs import get_logger
from dispatcher.outcomes import classify_call, is_known_status
from dispatcher.retry_policy import RETRYABLE_OUTCOMES, RetryPolicy
from dispatcher.spec import parse_stored_spec
from dispatcher.store import CallView, StateStore

__all__ = [
    "MAX_DETAIL_CHARS",
    "CallUpdate",
    "plan_updates",
    "reconcile_call",
    "reconcile_calls",
    "retry_policy_json",
]

log = get_logger(__name__)

#: Characters of one provider string kept on a contact (status, IVR answers, recording path):
#: far above anything the provider sends, far below what a forged webhook could.
MAX_DETAIL_CHARS = 1024


@dataclass(frozen=True, slots=True)
class CallUpdate:
    """What one provider call means for one contact."""

    phone: str
    state: str  # a terminal contact state, or '' while the call is not final
    detail: dict[str, Any]
    to_block: bool


def retry_policy_json(policy: RetryPolicy) -> str:
    """Pure: the policy as the reconcile script takes it: `{outcome: [attempts, interval ms]}`."""
    rules = {}
    for outcome in sorted(RETRYABLE_OUTCOMES):
        rule = policy.rule_for(outcome)
        if rule is not None:
            rules[outcome] = [rule.max_attempts, int(rule.interval_s * 1000)]
    return json.dumps(rules, separators=(",", ":")) if rules else ""


def _unix_s(value: Any) -> int | None:
    return None if value is None else int(value.timestamp())


def _detail(call: PhoneCall) -> dict[str, Any]:
    # Short keys: this is stored per contact, and a 100,000-contact campaign multiplies every byte.
    detail: dict[str, Any] = {
        "st": call.status,
        "h": call.hangup_cause,
        "stt": _unix_s(call.started_at),
        "ans": _unix_s(call.answered_at),
        "fin": _unix_s(call.finished_at),
        "cost": call.cost,
        "d": call.ivr_digit,
        "ia": call.ivr_answers,
        "rec": call.record_file_path,
        "ms": call.manager_status,
        "tb": 1 if call.to_block else None,
    }
    return {
        k: v[:MAX_DETAIL_CHARS] if isinstance(v, str) else v
        for k, v in detail.items()
        if v is not None and v != ""
    }


def plan_updates(details: CallDetails) -> tuple[list[CallUpdate], bool]:
    """Pure: the per-contact updates of one api call, and whether all its calls are final."""
    updates: list[CallUpdate] = []
    all_final = bool(details.calls)
    for call in details.calls:
        if not call.phone:
            continue
        state = classify_call(
            call.status,
            call.hangup_cause,
            finished=call.finished_at is not None,
            answered=call.answered_at is not None,
        )
        if state is None:
            all_final = False
        updates.append(
            CallUpdate(
                phone=call.phone,
                state="" if state is None else state.value,
                detail=_detail(call),
                to_block=call.to_block,
            )
        )
    return updates, all_final


def reconcile_call(
    store: StateStore,
    campaign_id: str,
    details: CallDetails,
    *,
    next_due_ms: int,
    source: str,
    retry_policy: str | None = None,
    max_blocks: int | None = None,
) -> bool:
    """Apply one api call's details; returns True when the campaign just finished.

    `next_due_ms` is when to poll the call again if it is not final yet (the webhook receiver
    passes a later time than the poller: webhooks are the fast path, polling the safety net).
    """
    return reconcile_calls(
        store,
        campaign_id,
        [(details, next_due_ms)],
        source=source,
        retry_policy=retry_policy,
        max_blocks=max_blocks,
    )


def reconcile_calls(
    store: StateStore,
    campaign_id: str,
    calls: Sequence[tuple[CallDetails, int]],
    *,
    source: str,
    retry_policy: str | None = None,
    max_blocks: int | None = None,
) -> bool:
    """Apply several api calls' (details, next due ms) in one round trip; True if it finished.

    Only a poll's answer (`source="poll"`, a `get`) is authoritative for a whole api call: when it
    says the call is final, contacts it does not list end `unknown`. A webhook's final answer that
    leaves contacts out keeps the call polled instead, so the next `get` decides.

    `toBlock` puts a number on the do-not-call list inside the same script, and only when it is a
    contact of the campaign dialled in that api call; `max_blocks` caps how many one api call's
    answer may add (the webhook receiver's limit), and a call over it stays polled.
    """
    planned = []
    for details, next_due_ms in calls:
        api_call_id = str(details.id)
        updates, all_final = plan_updates(details)
        for update in updates:
            status = update.detail.get("st")
            if isinstance(status, str) and not is_known_status(status):
                log.warning(
                    "reconcile.unknown_status",
                    campaign_id=campaign_id,
                    api_call_id=api_call_id,
                    status=status,
                    hangup_cause=update.detail.get("h"),
                )
        planned.append(
            CallView(
                api_call_id,
                [(u.phone, u.state, u.detail) for u in updates],
                next_due_ms,
                all_final,
            )
        )
    if retry_policy is None:
        spec = parse_stored_spec(store.meta(campaign_id)["spec"])
        retry_policy = retry_policy_json(spec.retry)
    results = store.reconcile_many(
        campaign_id, planned, retry_policy, authoritative=source == "poll", max_blocks=max_blocks
    )
    store.note_outcomes(campaign_id, [result.outcomes for result in results])
    finished = False
    for call, result in zip(planned, results, strict=True):
        if result.strangers:
            log.warning(
                "reconcile.unknown_phones",
                campaign_id=campaign_id,
                api_call_id=call.api_call_id,
                count=result.strangers,
            )
        if result.left_out:
            log.warning(
                "reconcile.left_out",
                campaign_id=campaign_id,
                api_call_id=call.api_call_id,
                count=result.left_out,
                source=source,
                ended_unknown=source == "poll",
            )
        if result.blocked:
            log.info(
                "reconcile.blocked",
                campaign_id=campaign_id,
                api_call_id=call.api_call_id,
                count=result.blocked,
                source=source,
            )
        if result.blocks_refused:
            log.warning(
                "reconcile.blocks_refused",
                campaign_id=campaign_id,
                api_call_id=call.api_call_id,
                count=result.blocks_refused,
                limit=max_blocks,
                source=source,
            )
        log.debug(
            "reconcile.applied",
            campaign_id=campaign_id,
            api_call_id=call.api_call_id,
            source=source,
            changed=result.changed,
            final=call.final,
        )
        finished = finished or result.finished
    if finished:
        log.info("campaign.finished", campaign_id=campaign_id)
    return finished
