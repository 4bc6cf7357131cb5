"""Opaque page cursors for `GET /campaigns` (pure): where the previous page stopped."""

from __future__ import annotations

import base64
import binascii

from dispatcher.api.errors import ApiError

__all__ = ["decode_cursor", "encode_cursor"]


def encode_cursor(position: tuple[int, str]) -> str:
    """A URL-safe token for (created ms, campaign id)."""
    created_ms, campaign_id = position
    raw = f"{created_ms}:{campaign_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[int, str]:
    """The position in `token`; a 422 naming `cursor` if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        created, _, campaign_id = raw.partition(":")
        if not campaign_id or not created.isdigit():
            raise ValueError(token)
        return int(created), campaign_id
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise ApiError(
            422, "`cursor` is not a cursor this API gave out", code="invalid_cursor"
        ) from None
