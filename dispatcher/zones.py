"""Time zone names: a contact's zone, and the name contacts of a zone are grouped under.

Pure functions over the machine's zone files (read once and cached): which zone a phone number
is in (`phonenumbers`' data, when it names one zone or several equivalent ones), and the one name
each zone is batched and labelled under, so that "US/Eastern" and "America/New_York" are one group
named after a real place, and a Berlin number is labelled "Europe/Berlin".
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import TZPATH, ZoneInfo, ZoneInfoNotFoundError, available_timezones

from dispatcher.phones import phone_time_zones

__all__ = [
    "ZONE_RULES_SINCE",
    "InvalidTimeZone",
    "canonical_zone_name",
    "contact_zone",
    "load_zone",
]

#: Zones whose offsets agree from this instant on are one zone to the dispatcher.
ZONE_RULES_SINCE = datetime(2020, 1, 1, tzinfo=UTC)


class InvalidTimeZone(ValueError):
    """A name that is not an IANA time zone known to this machine."""


def load_zone(name: str) -> ZoneInfo:
    """The zone for an IANA name ("Europe/London"), or `InvalidTimeZone`."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidTimeZone(f"unknown time zone {name!r}") from None


def contact_zone(phone_digits: str, explicit: str | None, default: str) -> ZoneInfo:
    """A contact's zone: the explicit column, else the number's single zone, else the default.

    A number whose candidate zones are all equivalent (the UK's "Europe/London", "Europe/Jersey",
    ... are one zone under four names) counts as one zone. An invalid explicit name raises
    `InvalidTimeZone`, so the contact row can be rejected with that reason.
    """
    if explicit is not None and explicit.strip():
        return load_zone(explicit.strip())
    candidates = phone_time_zones(phone_digits)
    families = _zone_table().family
    if len({families.get(name, name) for name in candidates}) == 1:
        return load_zone(min(candidates, key=_name_preference))
    return load_zone(default)


def canonical_zone_name(name: str) -> str:
    """The name contacts of a zone are grouped and labelled under.

    A main zone (zone1970.tab: "Europe/Berlin", "America/New_York") is its own name. Any other
    name stands for the main zone with the same rules from `ZONE_RULES_SINCE` on, preferring the
    one it is a copy of ("US/Eastern" -> "America/New_York"), then one of its own country
    ("Europe/Jersey" -> "Europe/London": they differ only in 19th-century history, which this
    machine's zone files keep), else the first main zone of its family, else "UTC". Main zones
    with identical rules ("Europe/Berlin", "Europe/Paris") stay apart on purpose: a batch is
    labelled with a place its contacts are in, at the cost of a few more, smaller batches.
    Unknown names come back as they are.
    """
    if name in _main_zones():
        return name
    return _zone_table().alias_target.get(name, name)


@dataclass(frozen=True)
class _ZoneTable:
    family: dict[str, str]  # every zone name -> one name for all zones with the same rules
    alias_target: dict[str, str]  # every name that is not a main zone -> its main zone


@functools.cache
def _zone_table() -> _ZoneTable:
    """Zone families and alias targets (read once: ~600 small files, ~0.1 s)."""
    families: dict[object, list[str]] = {}
    contents: dict[str, bytes] = {}
    for name in available_timezones():
        data = _tzif_bytes(name)
        if data is not None:
            contents[name] = data
            families.setdefault(_rules_since(data), []).append(name)
    main = _main_zones()
    countries = _zone_countries()
    family: dict[str, str] = {}
    alias_target: dict[str, str] = {}
    for names in families.values():
        best = min(names, key=_name_preference)
        mains = sorted(name for name in names if name in main)
        for name in names:
            family[name] = best
            if name in main:
                continue
            copies = [m for m in mains if contents[m] == contents[name]]
            compatriots = [m for m in mains if countries.get(m, set()) & countries.get(name, set())]
            alias_target[name] = (copies or compatriots or [best])[0]
    return _ZoneTable(family=family, alias_target=alias_target)


def _name_preference(name: str) -> tuple[int, str]:
    """Main zones (zone1970.tab: "Europe/London", not "Europe/Jersey") first, then "UTC"."""
    if name in _main_zones():
        return 0, name
    return (1 if name == "UTC" else 2), name


@functools.cache
def _main_zones() -> frozenset[str]:
    for table in ("zone1970.tab", "zone.tab"):
        rows = _tab_rows(table)
        if rows:
            return frozenset(row[2] for row in rows)
    return frozenset()


@functools.cache
def _zone_countries() -> dict[str, set[str]]:
    """Zone name -> the ISO country codes zone.tab and zone1970.tab list it for."""
    countries: dict[str, set[str]] = {}
    for table in ("zone.tab", "zone1970.tab"):
        for row in _tab_rows(table):
            countries.setdefault(row[2], set()).update(row[0].split(","))
    return countries


def _tab_rows(table: str) -> list[list[str]]:
    data = _tzif_bytes(table)
    if data is None:
        return []
    lines = data.decode("utf-8", "replace").splitlines()
    return [line.split("\t") for line in lines if line and not line.startswith("#")]


def _tzif_bytes(name: str) -> bytes | None:
    for root in TZPATH:
        path = Path(root) / name
        try:
            return path.read_bytes()
        except OSError:
            continue
    return None


def _rules_since(data: bytes) -> object:
    """What decides a zone's offsets from `ZONE_RULES_SINCE` on, read from a TZif file.

    The offset in force at the cut-off, each later (instant, offset) change and the footer's
    POSIX rule for the years after the table; abbreviations and DST flags do not move instants.
    Files this cannot read are compared whole.
    """
    header = struct.Struct(">4s c 15x 6l")
    if len(data) < header.size or data[:4] != b"TZif" or data[4:5] < b"2":
        return data
    _, _, isut, isstd, leap, time_n, type_n, char_n = header.unpack_from(data)
    offset = header.size + time_n * 5 + type_n * 6 + char_n + leap * 8 + isstd + isut
    _, _, isut, isstd, leap, time_n, type_n, char_n = header.unpack_from(data, offset)
    offset += header.size
    times = struct.unpack_from(f">{time_n}q", data, offset)
    offset += time_n * 8
    indexes = data[offset : offset + time_n]
    offset += time_n
    utoffs = [struct.unpack_from(">l", data, offset + 6 * i)[0] for i in range(type_n)]
    offset += type_n * 6 + char_n + leap * 12 + isstd + isut
    footer = data[offset:].strip()
    cutoff = int(ZONE_RULES_SINCE.timestamp())
    current = utoffs[0] if utoffs else 0
    changes: list[tuple[int, int]] = []
    for when, index in zip(times, indexes, strict=True):
        utoff = utoffs[index]
        if when <= cutoff:
            current = utoff
        elif utoff != (changes[-1][1] if changes else current):
            changes.append((when, utoff))
    return current, tuple(changes), footer
