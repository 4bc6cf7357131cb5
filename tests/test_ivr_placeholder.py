from __future__ import annotations

from dispatcher.effebot.requests import CallOptions
from workers.batches import OUR_WEBHOOK, _with_our_ivr_webhooks

OPTIONS = CallOptions.model_validate(
    {
        "dutyPhone": 1,
        "record": {"text": "Press 1"},
        "ivrs": [
            {"digit": 1, "webhookUrl": OUR_WEBHOOK, "webhookParameters": {"k": "v"}},
            {"digit": 2, "webhookUrl": "https://elsewhere.example/hook"},
        ],
    }
)


def test_the_placeholder_becomes_the_campaigns_webhook_url() -> None:
    url = "https://dispatcher.example/webhooks/effebot/c1.abc"
    ivrs = _with_our_ivr_webhooks(OPTIONS, url).ivrs
    assert ivrs is not None
    assert [i.webhook_url for i in ivrs] == [url, "https://elsewhere.example/hook"]
    assert ivrs[0].webhook_parameters == '{"k": "v"}' or "k" in (ivrs[0].webhook_parameters or "")


def test_without_a_receiver_the_placeholder_is_dropped_not_sent() -> None:
    ivrs = _with_our_ivr_webhooks(OPTIONS, None).ivrs
    assert ivrs is not None
    assert ivrs[0].webhook_url is None
    assert ivrs[1].webhook_url == "https://elsewhere.example/hook"
    wire = OPTIONS.to_request(["12025550143"]).to_wire()
    assert OUR_WEBHOOK in str(wire)  # the raw options still hold it: only the actor replaces it
