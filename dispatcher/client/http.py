"""A typed Python client of the dispatcher's HTTP API (httpx and the API's own pydantic models).

Importable without Redis, dramatiq or the server's dependencies. `submit` generates an idempotency
key once and sends it with each of its own retries, so a submission retried after a timeout or a
dropped connection never creates a second campaign; reads are retried the same way. Controls
(pause, resume, cancel) are sent once: the caller decides whether to repeat them.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from dispatcher.api.models import CampaignProgress, IntakeRecordBody, SubmitReportBody
from dispatcher.client.errors import ApiResponseError, ApiUnreachable, WaitTimeout
from dispatcher.spec import CampaignSpec

__all__ = ["DispatcherClient"]

#: Answers worth another try: overloaded, unavailable, or the key's first try still running.
_RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: Campaign statuses after which nothing more happens to it.
_ENDED = frozenset({"finished", "cancelled"})


def _spec_json(spec: CampaignSpec | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(spec, CampaignSpec):
        dumped: dict[str, Any] = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
        return dumped
    return dict(spec)


class DispatcherClient:
    """The HTTP API at `base_url`, with bearer `token`."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_s: float = 30.0,
        max_tries: int = 8,
        max_backoff_s: float = 10.0,
        http: httpx.Client | None = None,
    ) -> None:
        self._own = http is None
        self.http = http or httpx.Client(base_url=base_url, timeout=timeout_s)
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.max_tries = max_tries
        self.max_backoff_s = max_backoff_s

    def close(self) -> None:
        if self._own:
            self.http.close()

    def __enter__(self) -> DispatcherClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    # --- submitting -------------------------------------------------------------------------

    def submit(
        self,
        spec: CampaignSpec | Mapping[str, Any],
        contacts: Iterable[str | Mapping[str, Any]] | None = None,
        *,
        file: str | Path | None = None,
        strict: bool = False,
        idempotency_key: str | None = None,
    ) -> SubmitReportBody:
        """Submit a campaign: `contacts` inline, or a CSV/JSON Lines `file`.

        Retried on timeouts, dropped connections and 5xx with one idempotency key (generated
        unless given), so it creates at most one campaign; `replayed` tells an earlier try made
        it. A refusal raises `ApiResponseError` (`report` lists the rejected rows).
        """
        if (contacts is None) == (file is None):
            raise ValueError("give exactly one of contacts or file")
        key = idempotency_key or f"client-{uuid.uuid4().hex}"
        headers = {"Idempotency-Key": key}
        params = {"strict": "true"} if strict else {}
        if contacts is not None:
            content = json.dumps(
                {
                    "spec": _spec_json(spec),
                    "contacts": [c if isinstance(c, str) else dict(c) for c in contacts],
                },
                ensure_ascii=False,
            ).encode()
            headers["Content-Type"] = "application/json"
            response = self._request(
                "POST", "/campaigns", content=content, headers=headers, params=params,
                retry_in_progress=True,
            )  # fmt: skip
        else:
            path = Path(str(file))
            spec_text = json.dumps(_spec_json(spec), ensure_ascii=False)

            def files() -> dict[str, Any]:
                return {"file": (path.name, path.read_bytes())}

            response = self._request(
                "POST", "/campaigns", data={"spec": spec_text}, files_of=files, headers=headers,
                params=params, retry_in_progress=True,
            )  # fmt: skip
        return SubmitReportBody.model_validate(response.json())

    # --- reading ------------------------------------------------------------------------------

    def status(self, campaign_id: str) -> CampaignProgress:
        """The campaign's status, counts by contact state, rate and ETA."""
        return CampaignProgress.model_validate(
            self._request("GET", f"/campaigns/{campaign_id}").json()
        )

    def campaigns(
        self, status: str | None = None, page_size: int = 100
    ) -> Iterator[CampaignProgress]:
        """Every campaign (in `status`), newest first, page after page."""
        params: dict[str, Any] = {"limit": page_size}
        if status is not None:
            params["status"] = status
        while True:
            response = self._request("GET", "/campaigns", params=params)
            for item in response.json():
                yield CampaignProgress.model_validate(item)
            cursor = response.headers.get("x-next-cursor")
            if not cursor:
                return
            params["cursor"] = cursor

    def wait(
        self, campaign_id: str, *, timeout_s: float | None = None, interval_s: float = 2.0
    ) -> CampaignProgress:
        """Poll until the campaign has ended (finished, or cancelled with nothing open)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            progress = self.status(campaign_id)
            if progress.status in _ENDED and progress.open == 0:
                return progress
            if deadline is not None and time.monotonic() + interval_s > deadline:
                raise WaitTimeout(f"campaign {campaign_id} is still {progress.status}")
            time.sleep(interval_s)

    def results(self, campaign_id: str) -> Iterator[dict[str, Any]]:
        """Every contact with its state, the caller's `ref` and the provider's details."""
        url = f"/campaigns/{campaign_id}/results"
        with self.http.stream("GET", url, params={"format": "jsonl"}) as response:
            if response.status_code != 200:
                response.read()
                raise ApiResponseError(response.status_code, _error_body(response))
            for line in response.iter_lines():
                if line.strip():
                    yield json.loads(line)

    def intake(self, external_id: str) -> IntakeRecordBody:
        """What became of an intake series sent over dramatiq (`external_id`)."""
        response = self._request("GET", f"/intake/{external_id}")
        return IntakeRecordBody.model_validate(response.json())

    # --- controls -----------------------------------------------------------------------------

    def pause(self, campaign_id: str, reason: str | None = None) -> dict[str, Any]:
        """Stop new dials at once (sent once; a repeat answers 409)."""
        body = {"reason": reason} if reason else None
        return self._control(campaign_id, "pause", body)

    def resume(self, campaign_id: str) -> dict[str, Any]:
        return self._control(campaign_id, "resume", None)

    def cancel(self, campaign_id: str) -> dict[str, Any]:
        return self._control(campaign_id, "cancel", None)

    def _control(
        self, campaign_id: str, operation: str, body: dict[str, Any] | None
    ) -> dict[str, Any]:
        url = f"/campaigns/{campaign_id}/{operation}"
        response = self._request("POST", url, json=body, tries=1)
        result: dict[str, Any] = response.json()
        return result

    # --- transport ----------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        url: str,
        *,
        tries: int | None = None,
        retry_in_progress: bool = False,
        files_of: Any = None,
        **kwargs: Any,
    ) -> httpx.Response:
        attempts = tries or self.max_tries
        last = ""
        retry_after: str | None = None
        for attempt in range(attempts):
            if attempt:
                time.sleep(self._pause(attempt, retry_after))
            retry_after = None
            try:
                if files_of is not None:
                    kwargs["files"] = files_of()
                response = self.http.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            in_progress = (
                response.status_code == 409 and _code(response) == "submission_in_progress"
            )
            if response.status_code in _RETRY_STATUSES or (retry_in_progress and in_progress):
                last = f"HTTP {response.status_code}"
                retry_after = response.headers.get("retry-after")
                continue
            if response.status_code >= 400:
                raise ApiResponseError(response.status_code, _error_body(response))
            return response
        raise ApiUnreachable(f"{method} {url}: no answer after {attempts} tries ({last})")

    def _pause(self, attempt: int, retry_after: str | None) -> float:
        if retry_after is not None and retry_after.isdigit():
            return min(float(retry_after), self.max_backoff_s)
        base: float = min(0.25 * 2.0**attempt, self.max_backoff_s)
        return base * random.uniform(0.5, 1.0)


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"error": "error", "message": response.text[:200]}
    return body if isinstance(body, dict) else {"error": "error", "message": str(body)[:200]}


def _code(response: httpx.Response) -> str:
    return str(_error_body(response).get("error", ""))
