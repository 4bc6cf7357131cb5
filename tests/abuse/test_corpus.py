"""The corpus covers every surface with a table of cases."""

from __future__ import annotations

from tests.abuse.test_cli_submit import SUBMIT_CASES
from tests.abuse.test_http_api import API_CASES
from tests.abuse.test_provider_answers import PROVIDER_CASES
from tests.abuse.test_webhooks import WEBHOOK_CASES


def test_every_surface_has_its_table_of_cases() -> None:
    counts = {
        "cli submit": len(SUBMIT_CASES),
        "provider answers": len(PROVIDER_CASES),
        "http api": len(API_CASES),
        "webhook receiver": len(WEBHOOK_CASES),
    }
    assert all(count >= 15 for count in counts.values()), counts
