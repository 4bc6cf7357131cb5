"""Fixtures of the sandbox tests: an httpx client to the session's (reset) sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from dispatcher.sandbox.testing import SandboxProcess


@pytest.fixture
def client(sandbox: SandboxProcess) -> Iterator[httpx.Client]:
    """A plain httpx client to the sandbox (the project's effebot client is not used here)."""
    with httpx.Client(base_url=sandbox.url, timeout=10.0) as http:
        yield http
