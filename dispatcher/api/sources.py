"""Where a request came from, believing `X-Forwarded-For` only from trusted proxies (pure)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

__all__ = ["Networks", "client_address", "networks", "source_allowed"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Networks = tuple[Network, ...]


def networks(entries: Sequence[str]) -> Networks:
    """Addresses and CIDR ranges as networks; `ValueError` names a bad entry."""
    out: list[Network] = []
    for entry in entries:
        try:
            out.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an address or CIDR range: {entry!r}") from None
    return tuple(out)


def _within(address: str, ranges: Networks) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in net for net in ranges)


def client_address(peer: str | None, forwarded_for: str | None, trusted: Networks) -> str | None:
    """The client's address: the peer, or, behind trusted proxies, the last untrusted hop.

    `X-Forwarded-For` is read right to left, skipping hops that are trusted proxies; anything to
    the left of the first untrusted hop could have been written by the client and is ignored.
    """
    if peer is None or not forwarded_for or not _within(peer, trusted):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _within(hop, trusted):
            return hop
    return hops[0] if hops else peer


def source_allowed(address: str | None, allowed: Networks) -> bool:
    """True when no allow-list is configured, or the address is on it."""
    if not allowed:
        return True
    return address is not None and _within(address, allowed)
