"""Checking a caller's `callback_url` and `metadata` before anything is stored (pure).

The dispatcher POSTs to the URL from its own network, so a URL is a server-side request the caller
chooses: only `http`/`https` with a host, no credentials in the URL, no fragment, at most
`MAX_URL_CHARS`. Addresses are not resolved here (a name can point anywhere later); a deployment
that must not reach internal addresses filters the workers' egress (see README).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

__all__ = ["MAX_METADATA_BYTES", "MAX_URL_CHARS", "check_callback_url", "check_metadata"]

#: Longest callback URL accepted.
MAX_URL_CHARS = 2000
#: Largest campaign `metadata` object, as compact JSON.
MAX_METADATA_BYTES = 4096


def check_callback_url(url: str) -> str:
    """`url` if it can be a webhook target; `ValueError` says why not."""
    if len(url) > MAX_URL_CHARS:
        raise ValueError(f"longer than {MAX_URL_CHARS} characters")
    if not url.isascii() or not url.isprintable() or " " in url:
        raise ValueError("must be an ASCII URL without spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("must name a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials (the deliveries are signed instead)")
    if parts.fragment:
        raise ValueError("must not have a #fragment")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError("has an invalid port") from None
    return url


def check_metadata(value: dict[str, Any]) -> dict[str, Any]:
    """`value` if it is small enough to carry with every event; `ValueError` otherwise."""
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_METADATA_BYTES:
        raise ValueError(f"{size} bytes as JSON; at most {MAX_METADATA_BYTES}")
    return value
