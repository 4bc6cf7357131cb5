"""The typed client (`dispatcher.client`) against the real API over HTTP; GET /campaigns pages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from dispatcher.client import ApiResponseError, DispatcherClient
from dispatcher.store import StateStore
from tests.api.conftest import SPEC, TOKEN, ApiServer, phones


@pytest.fixture
def dispatcher(app: Any, api_server: ApiServer) -> Any:
    with DispatcherClient(api_server.url, TOKEN, max_backoff_s=0.2) as client:
        yield client


def test_the_client_imports_without_redis_dramatiq_or_the_server() -> None:
    blocker = (
        "import sys\n"
        "class B:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        blocked = ('redis', 'dramatiq', 'fastapi', 'starlette', 'uvicorn')\n"
        "        if name.split('.')[0] in blocked:\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, B())\n"
        "from dispatcher.client import DispatcherClient\n"
        "from dispatcher.api.models import CampaignProgress, SubmitReportBody\n"
        "print('imported')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", blocker], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported"


def test_submit_status_results_and_controls(dispatcher: DispatcherClient) -> None:
    contacts = [{"phone": p, "ref": f"r{i}"} for i, p in enumerate(phones(4))]
    report = dispatcher.submit({**SPEC, "metadata": {"team": "billing"}}, contacts)
    assert report.accepted == 4
    assert report.campaign_id is not None
    again = dispatcher.submit(
        {**SPEC, "metadata": {"team": "billing"}}, contacts, idempotency_key="k-1"
    )
    assert again.campaign_id != report.campaign_id  # a new key is a new submission
    replay = dispatcher.submit(
        {**SPEC, "metadata": {"team": "billing"}}, contacts, idempotency_key="k-1"
    )
    assert replay.replayed
    assert replay.campaign_id == again.campaign_id
    status = dispatcher.status(report.campaign_id)
    assert status.metadata == {"team": "billing"}
    assert status.counts == {"pending": 4}
    rows = list(dispatcher.results(report.campaign_id))
    assert sorted(row["ref"] for row in rows) == ["r0", "r1", "r2", "r3"]
    assert dispatcher.pause(report.campaign_id, "checking")["status"] == "paused"
    assert dispatcher.resume(report.campaign_id)["status"] == "running"
    assert dispatcher.cancel(report.campaign_id)["status"] == "cancelled"
    ended = dispatcher.wait(report.campaign_id, timeout_s=10, interval_s=0.1)
    assert ended.counts == {"cancelled": 4}
    with pytest.raises(ApiResponseError) as refused:
        dispatcher.resume(report.campaign_id)
    assert refused.value.status == 409


def test_submit_a_file_and_read_a_refusal(dispatcher: DispatcherClient, tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text("phone\n" + "".join(f"{p}\n" for p in phones(3)) + "nope\n")
    report = dispatcher.submit(SPEC, file=path)
    assert (report.accepted, report.rejected) == (3, 1)
    with pytest.raises(ApiResponseError) as refused:
        dispatcher.submit(SPEC, file=path, strict=True)
    assert refused.value.code == "submission_refused"
    assert refused.value.report is not None
    with pytest.raises(ApiResponseError) as missing:
        dispatcher.intake("never-sent")
    assert missing.value.code == "intake_not_found"


class GivesUpOnce(httpx.HTTPTransport):
    """A client whose first submission reaches the server, but which stops waiting for the answer
    (as a client-side timeout does)."""

    def __init__(self) -> None:
        super().__init__()
        self.gave_up = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.method == "POST" and not self.gave_up:
            self.gave_up += 1
            response.close()
            raise httpx.ReadTimeout("gave up waiting", request=request)
        return response


def test_a_submit_whose_answer_was_lost_is_retried_into_the_same_campaign(
    app: Any, api_server: ApiServer, store: StateStore
) -> None:
    transport = GivesUpOnce()
    http = httpx.Client(base_url=api_server.url, transport=transport, timeout=30)
    with http, DispatcherClient(api_server.url, TOKEN, http=http, max_backoff_s=0.2) as client:
        report = client.submit(SPEC, phones(50))
    assert transport.gave_up == 1
    assert report.replayed
    assert store.list_campaigns() == [report.campaign_id]


def test_campaigns_are_listed_page_by_page_and_by_status(
    dispatcher: DispatcherClient, app: Any, api_server: ApiServer
) -> None:
    made = [dispatcher.submit(SPEC, phones(2)).campaign_id for _ in range(5)]
    assert made[1] is not None
    dispatcher.pause(made[1])
    listed = [c.campaign_id for c in dispatcher.campaigns(page_size=2)]
    assert listed == list(reversed(made))
    assert [c.campaign_id for c in dispatcher.campaigns(status="paused")] == [made[1]]
    with httpx.Client(base_url=api_server.url, headers={"Authorization": f"Bearer {TOKEN}"}) as raw:
        first = raw.get("/campaigns", params={"limit": 2})
        assert len(first.json()) == 2
        assert 'rel="next"' in first.headers["link"]
        last = raw.get("/campaigns", params={"limit": 10})
        assert "x-next-cursor" not in last.headers
        bad = raw.get("/campaigns", params={"cursor": "not-ours"})
        assert bad.status_code == 422
        assert bad.json()["error"] == "invalid_cursor"
