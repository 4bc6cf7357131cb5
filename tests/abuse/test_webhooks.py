"""The webhook receiver under attack: forged and foreign tokens, another campaign's token, foreign
phones, do-not-call floods, huge and endless IVR answers, replays, ended campaigns, sources.

The provider cannot sign its webhooks, so whoever learns a campaign's URL can post to it: what a
payload can change must stay inside that campaign and be bounded. Each case: the answer it must
get, and the state of both campaigns and the do-not-call list unchanged (`snapshot`), or changed
only by what the case allows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import redis

from dispatcher.settings import Settings
from dispatcher.store import StateStore, now_ms
from dispatcher.store.contacts import MAX_IVR_ANSWERS
from dispatcher.webhook_tokens import webhook_token
from tests.abuse.conftest import WEBHOOK_SECRET, AppFactory
from tests.abuse.corpus import SPEC, snapshot

CALL_A, CALL_B = 777, 778


@dataclass(frozen=True)
class Campaign:
    """A campaign whose one batch was created at the provider."""

    id: str
    call_id: int
    phones: list[str]

    @property
    def token(self) -> str:
        return webhook_token(WEBHOOK_SECRET, self.id)


def sent_campaign(api: httpx.Client, store: StateStore, call_id: int, first: int) -> Campaign:
    phones = [f"1201555{n:04d}" for n in range(first, first + 2)]
    response = api.post("/campaigns", json={"spec": SPEC, "contacts": phones})
    assert response.status_code == 201, response.text
    campaign_id = response.json()["campaign_id"]
    claim = store.claim_batch(campaign_id, 1, 60_000, "lease")
    store.mark_sent(campaign_id, 1, "lease", str(call_id), claim.phones, now_ms() + 60_000)
    return Campaign(campaign_id, call_id, list(claim.phones))


@dataclass(frozen=True)
class Scene:
    """Two campaigns side by side: the one under attack and another one."""

    a: Campaign
    b: Campaign
    store: StateStore


@pytest.fixture
def scene(api: httpx.Client, settings: Settings, redis_client: redis.Redis) -> Scene:
    store = StateStore(redis_client, settings.key_prefix)
    return Scene(
        sent_campaign(api, store, CALL_A, 100), sent_campaign(api, store, CALL_B, 200), store
    )


def details(call_id: int, phones: list[str], **fields: Any) -> dict[str, Any]:
    """Final call details of `phones` (answered, finished), with `fields` on every call."""
    now = int(time.time())
    calls = [
        {
            "phone": phone,
            "status": "completed",
            "answeredAt": now - 20,
            "finishedAt": now - 5,
            "hangupCause": 16,
            **fields,
        }
        for phone in phones
    ]
    return {"id": call_id, "calls": calls}


Body = Callable[[Scene], Any]
Path = Callable[[Scene], str]


def own(scene: Scene) -> str:
    return f"/webhooks/effebot/{scene.a.token}"


@dataclass(frozen=True)
class WebhookCase:
    """One hostile webhook: where it goes, what it carries, and what it must be answered."""

    status: int
    code: str  # the error code, or the outcome of a 200 answer
    body: Body = field(default=lambda s: details(s.a.call_id, s.a.phones))
    path: Path = own
    content: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()
    settings: tuple[tuple[str, Any], ...] = ()
    #: Something to do to the scene first (e.g. end the campaign long ago).
    prepare: Callable[[Scene], None] | None = None


def _ended_long_ago(scene: Scene) -> None:
    two_days_ago = now_ms() - 2 * 24 * 3600 * 1000
    scene.store.set_meta(scene.a.id, {"status": "finished", "finished_at": two_days_ago})


def _cancelled_long_ago(scene: Scene) -> None:
    two_days_ago = now_ms() - 2 * 24 * 3600 * 1000
    scene.store.set_meta(scene.a.id, {"status": "cancelled", "status_at": two_days_ago})


def _deleted(scene: Scene) -> None:
    scene.store.delete_campaign(scene.a.id)


WEBHOOK_CASES: dict[str, WebhookCase] = {
    # --- tokens --------------------------------------------------------------------------------
    "token-random": WebhookCase(404, "bad_token", path=lambda s: "/webhooks/effebot/nope.nope"),
    "token-of-another-secret": WebhookCase(
        404, "bad_token",
        path=lambda s: f"/webhooks/effebot/{webhook_token('another-secret', s.a.id)}",
    ),
    "token-without-its-mac": WebhookCase(
        404, "bad_token", path=lambda s: f"/webhooks/effebot/{s.a.id}"
    ),
    "token-mac-cut-short": WebhookCase(
        404, "bad_token", path=lambda s: f"/webhooks/effebot/{s.a.token[:-1]}"
    ),
    "token-mac-of-another-campaign": WebhookCase(
        404, "bad_token",
        path=lambda s: f"/webhooks/effebot/{s.a.id}.{s.b.token.rpartition('.')[2]}",
    ),
    "token-mac-in-capitals": WebhookCase(
        404, "bad_token",
        path=lambda s: f"/webhooks/effebot/{s.a.id}.{s.a.token.rpartition('.')[2].upper()}",
    ),
    "token-for-a-campaign-that-does-not-exist": WebhookCase(
        404, "campaign_not_found",
        path=lambda s: f"/webhooks/effebot/{webhook_token(WEBHOOK_SECRET, 'fedcba9876543210')}",
    ),
    "token-for-a-deleted-campaign": WebhookCase(404, "campaign_not_found", prepare=_deleted),
    "token-overlong": WebhookCase(
        422, "invalid_request", path=lambda s: f"/webhooks/effebot/{'a' * 300}.{'b' * 32}"
    ),
    "token-with-an-encoded-slash": WebhookCase(
        404, "not_found", path=lambda s: f"/webhooks/effebot/x%2F..%2F{s.a.token}"
    ),
    # --- another campaign's token, foreign phones ------------------------------------------------
    "another-campaigns-token-with-this-campaigns-details": WebhookCase(
        200, "applied", path=lambda s: f"/webhooks/effebot/{s.b.token}"
    ),
    "another-campaigns-phones-with-toblock": WebhookCase(
        200, "applied", body=lambda s: details(s.a.call_id, s.b.phones, toBlock=1)
    ),
    "foreign-phones-with-toblock": WebhookCase(
        200, "applied",
        body=lambda s: details(s.a.call_id, ["12125550000", "442079460000"], toBlock=1),
    ),
    "own-phones-of-another-api-call-with-toblock": WebhookCase(
        200, "applied", body=lambda s: details(s.b.call_id, s.a.phones, toBlock=1)
    ),
    "ivr-answer-for-a-foreign-phone": WebhookCase(
        200, "unknown_phone", body=lambda s: {"call": {"phone": "12125550000", "answer": 1}}
    ),
    "ivr-answer-for-another-campaigns-phone": WebhookCase(
        200, "unknown_phone", body=lambda s: {"call": {"phone": s.b.phones[0], "answer": "yes"}}
    ),
    # --- malformed and oversize ------------------------------------------------------------------
    "body-not-json": WebhookCase(400, "malformed", content=b"<html>"),
    "body-nested-too-deep": WebhookCase(400, "malformed", content=b"[" * 100_000),
    "body-empty": WebhookCase(400, "malformed", content=b""),
    "body-a-list": WebhookCase(
        422, "invalid_request", body=lambda s: [details(s.a.call_id, s.a.phones)]
    ),
    "details-of-the-wrong-types": WebhookCase(
        422, "malformed", body=lambda s: {"id": "x", "calls": "none"}
    ),
    "details-without-an-id": WebhookCase(422, "malformed", body=lambda s: {"calls": []}),
    "details-listing-more-calls-than-a-batch": WebhookCase(
        422, "malformed",
        body=lambda s: details(s.a.call_id, [f"1201666{n:04d}" for n in range(1001)], toBlock=1),
    ),
    "body-over-the-limit": WebhookCase(
        413, "too_large",
        body=lambda s: {**details(s.a.call_id, s.a.phones), "padding": "x" * (5 * 1024 * 1024)},
    ),
    "ivr-phone-of-the-wrong-type": WebhookCase(
        422, "malformed", body=lambda s: {"call": {"phone": True, "answer": 1}}
    ),
    "ivr-phone-a-list": WebhookCase(
        422, "malformed", body=lambda s: {"call": {"phone": s.a.phones, "answer": 1}}
    ),
    "ivr-without-an-answer": WebhookCase(
        422, "malformed", body=lambda s: {"call": {"phone": s.a.phones[0]}}
    ),
    # --- sources, ended campaigns ----------------------------------------------------------------
    "source-outside-the-default-allow-list": WebhookCase(
        403, "source_refused", settings=(("webhook_allowed_sources", ["209.97.136.240"]),)
    ),
    "source-forged-with-x-forwarded-for": WebhookCase(
        403, "source_refused",
        headers=(("x-forwarded-for", "209.97.136.240"),),
        settings=(("webhook_allowed_sources", ["209.97.136.240"]),),
    ),
    "campaign-finished-long-ago": WebhookCase(410, "campaign_ended", prepare=_ended_long_ago),
    "campaign-cancelled-long-ago": WebhookCase(410, "campaign_ended", prepare=_cancelled_long_ago),
    "ivr-answer-for-a-campaign-ended-long-ago": WebhookCase(
        410, "campaign_ended", body=lambda s: {"call": {"phone": s.a.phones[0], "answer": 1}},
        prepare=_ended_long_ago,
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(WEBHOOK_CASES))
def test_a_hostile_webhook_gets_its_answer_and_changes_nothing(
    name: str,
    serve: AppFactory,
    scene: Scene,
    settings: Settings,
    redis_client: redis.Redis,
) -> None:
    case = WEBHOOK_CASES[name]
    http = serve(**dict(case.settings)) if case.settings else serve()
    if case.prepare is not None:
        case.prepare(scene)
    before = snapshot(redis_client, settings.key_prefix)
    headers = {"content-type": "application/json", **dict(case.headers)}
    if case.content is not None:
        response = http.post(case.path(scene), content=case.content, headers=headers)
    else:
        response = http.post(case.path(scene), json=case.body(scene), headers=headers)
    assert response.status_code == case.status, response.text
    answer = response.json()
    if case.status == 200:
        assert answer == {"outcome": case.code}
    else:
        assert answer["error"] == case.code, answer
        assert answer.get("message")
    assert "Traceback" not in response.text
    assert snapshot(redis_client, settings.key_prefix) == before


def test_a_replayed_webhook_changes_nothing_the_second_time(
    api: httpx.Client, scene: Scene, settings: Settings, redis_client: redis.Redis
) -> None:
    body = details(scene.a.call_id, scene.a.phones, toBlock=1)
    url = f"/webhooks/effebot/{scene.a.token}"
    assert api.post(url, json=body).json() == {"outcome": "applied"}
    assert scene.store.counts(scene.a.id) == {"completed": 2}
    assert scene.store.dnc_contains_many(scene.a.phones) == [True, True]
    after_first = snapshot(redis_client, settings.key_prefix)
    for _ in range(3):
        assert api.post(url, json=body).json() == {"outcome": "applied"}
    assert snapshot(redis_client, settings.key_prefix) == after_first


def test_one_payload_adds_at_most_the_limit_to_the_dnc_list_and_polling_decides_the_rest(
    serve: AppFactory, scene: Scene
) -> None:
    http = serve(webhook_max_blocks=1)
    body = details(scene.a.call_id, scene.a.phones, toBlock=1)
    assert http.post(f"/webhooks/effebot/{scene.a.token}", json=body).status_code == 200
    assert sorted(scene.store.dnc_contains_many(scene.a.phones)) == [False, True]
    # The call is still polled: the provider's own `get` (not capped) adds the other one.
    assert str(scene.a.call_id) in dict(scene.store.poll_entries(scene.a.id))


def test_a_huge_ivr_answer_is_cut_and_an_endless_stream_of_them_is_capped(
    api: httpx.Client, scene: Scene
) -> None:
    url = f"/webhooks/effebot/{scene.a.token}"
    phone = scene.a.phones[0]
    huge = api.post(url, json={"call": {"phone": phone, "answer": "x" * 1_000_000}})
    assert huge.json() == {"outcome": "recorded"}
    outcomes = [
        api.post(url, json={"call": {"phone": phone, "answer": n}}).json()["outcome"]
        for n in range(MAX_IVR_ANSWERS + 5)
    ]
    assert outcomes == ["recorded"] * (MAX_IVR_ANSWERS - 1) + ["full"] * 6
    record = scene.store.contact(scene.a.id, phone)
    assert record is not None
    assert len(record.fields["iv"]) == MAX_IVR_ANSWERS
    assert len(record.fields["iv"][0]) == 200


def test_huge_provider_strings_in_call_details_are_cut(api: httpx.Client, scene: Scene) -> None:
    body = details(scene.a.call_id, scene.a.phones, ivrAnswers="y" * 1_000_000)
    assert api.post(f"/webhooks/effebot/{scene.a.token}", json=body).status_code == 200
    record = scene.store.contact(scene.a.id, scene.a.phones[0])
    assert record is not None
    assert len(record.fields["ia"]) == 1024


def test_a_campaign_that_ended_recently_still_takes_its_late_webhooks(
    api: httpx.Client, scene: Scene
) -> None:
    scene.store.set_meta(scene.a.id, {"status": "cancelled", "status_at": now_ms() - 60_000})
    body = details(scene.a.call_id, scene.a.phones)
    assert api.post(f"/webhooks/effebot/{scene.a.token}", json=body).status_code == 200
    assert scene.store.counts(scene.a.id) == {"completed": 2}


def test_by_default_only_the_address_the_reference_names_may_post(
    serve: AppFactory, scene: Scene, settings: Settings, redis_client: redis.Redis
) -> None:
    default = Settings(_env_file=None).webhook_allowed_sources  # type: ignore[call-arg]
    assert default == ["209.97.136.240"]
    http = serve(webhook_allowed_sources=default)
    before = snapshot(redis_client, settings.key_prefix)
    response = http.post(
        f"/webhooks/effebot/{scene.a.token}", json=details(scene.a.call_id, scene.a.phones)
    )
    assert response.status_code == 403
    assert snapshot(redis_client, settings.key_prefix) == before
