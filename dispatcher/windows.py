"""Call windows: when a contact may be dialled, read on the wall clock of the contact's time zone.

A window is open at an instant when the contact's *local wall clock* shows an allowed time on an
allowed day. Everything follows from that one definition:

- `hours` are "HH:MM-HH:MM" ranges, start inclusive, end exclusive. An end before the start
  crosses midnight ("22:00-02:00"); "00:00-24:00" is the whole day (the default).
- A range belongs to the local day it STARTS on: "22:00-02:00" with weekdays ["fri"] is open
  Friday 22:00 to Saturday 02:00, and not Saturday 22:00 to Sunday 02:00. The same rule applies
  to the dates: a range starting on `expiry_date` may run past midnight into the next day, and a
  range that started the day before `start_date` stays closed even after midnight.
- `start_date` and `expiry_date` are local dates, both INCLUSIVE: "expiry_date = 2024-06-30" means
  ranges starting on June 30 are still dialled; contacts left after that end `expired`.
- DST: a wall time that does not exist (spring forward) simply never shows on the clock, so a
  range starting inside the gap opens at the first instant after it (e.g. New York
  "02:30-04:00" opens at 03:00 EDT on that Sunday). A wall time that happens twice (fall back)
  is open both times it shows.

`next_open` and `window_close` never step minute by minute: they scan the candidate instants
where openness can change (a range's start or end showing on the wall clock, and the zone's
offset transitions, located by sampling the offset every 6 hours and bisecting to the second),
one UTC day at a time, for at most `SCAN_LIMIT_DAYS`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dispatcher.zones import (
    ZONE_RULES_SINCE,
    InvalidTimeZone,
    canonical_zone_name,
    contact_zone,
    load_zone,
)

__all__ = [
    "ALWAYS_OPEN_KEY",
    "SCAN_LIMIT_DAYS",
    "WEEKDAYS",
    "ZONE_RULES_SINCE",
    "CallWindow",
    "InvalidTimeZone",
    "canonical_zone_name",
    "contact_zone",
    "group_key",
    "is_open",
    "load_zone",
    "next_open",
    "window_close",
]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
#: Weekday names in `date.weekday()` order.
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: How far ahead `next_open` / `window_close` look before answering "never".
SCAN_LIMIT_DAYS = 400
#: The group key of a window that is open at every instant: every zone shares it.
ALWAYS_OPEN_KEY = "*"

_RANGE = re.compile(r"(\d\d):(\d\d)\s*-\s*(\d\d):(\d\d)")
_DAY_S = 86_400
_MINUTE = timedelta(minutes=1)
_ZERO = timedelta(0)
# Offsets are within +-26 hours of UTC in every zone ever defined; one day either side covers them.
_SLACK = timedelta(days=2)


class CallWindow(BaseModel):
    """When contacts may be dialled, in each contact's local time (the spec's `[window]`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hours: tuple[str, ...] = Field(
        ("00:00-24:00",),
        min_length=1,
        description='Allowed local times, "HH:MM-HH:MM"; an end before the start crosses midnight.',
    )
    weekdays: tuple[Weekday, ...] = Field(
        WEEKDAYS, min_length=1, description="Days a range may start on (mon..sun)."
    )
    start_date: date | None = Field(None, description="First local day ranges may start on.")
    expiry_date: date | None = Field(
        None, description="Last local day ranges may start on (inclusive); then contacts expire."
    )
    default_timezone: str = Field(
        "UTC", description="For contacts whose number gives no single zone and no explicit zone."
    )

    @field_validator("hours")
    @classmethod
    def _valid_ranges(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            _parse_range(text)  # raises ValueError naming the range
        return value

    @field_validator("weekdays", mode="before")
    @classmethod
    def _lower_weekdays(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            return tuple(v.strip().lower() if isinstance(v, str) else v for v in value)
        return value

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        load_zone(value)
        return value

    @model_validator(mode="after")
    def _dates_in_order(self) -> CallWindow:
        if self.start_date and self.expiry_date and self.expiry_date < self.start_date:
            raise ValueError("expiry_date is before start_date")
        return self

    @functools.cached_property
    def _ranges(self) -> tuple[tuple[timedelta, timedelta], ...]:
        """(start, end) offsets from the start day's midnight; end > start, up to 48 hours."""
        return tuple(_parse_range(text) for text in self.hours)

    @functools.cached_property
    def _weekday_set(self) -> frozenset[int]:
        return frozenset(WEEKDAYS.index(day) for day in self.weekdays)

    @property
    def default_zone(self) -> ZoneInfo:
        """The campaign's default zone as a `ZoneInfo`."""
        return load_zone(self.default_timezone)

    def day_allowed(self, day: date) -> bool:
        """Whether ranges starting on this local day are dialled."""
        return (
            day.weekday() in self._weekday_set
            and (self.start_date is None or day >= self.start_date)
            and (self.expiry_date is None or day <= self.expiry_date)
        )

    def open_at_wall(self, wall: datetime) -> bool:
        """Whether a local wall-clock time (naive) lies in an allowed range."""
        since_midnight = wall - datetime.combine(wall.date(), time())
        for start, end in self._ranges:
            # The range may have started today or (crossing midnight) yesterday.
            if start <= since_midnight < end and self.day_allowed(wall.date()):
                return True
            if (
                end > timedelta(days=1)
                and since_midnight + timedelta(days=1) < end
                and self.day_allowed(wall.date() - timedelta(days=1))
            ):
                return True
        return False

    @functools.cached_property
    def _unrestricted(self) -> bool:
        if len(self._weekday_set) < 7 or self.start_date or self.expiry_date:
            return False
        covered = [False] * (24 * 60)
        for start, end in self._ranges:
            for minute in range(start // _MINUTE, end // _MINUTE):
                covered[minute % (24 * 60)] = True
        return all(covered)

    def is_unrestricted(self) -> bool:
        """Whether every instant is open whatever the zone (no day, date or hour limits)."""
        return self._unrestricted

    def wall_boundaries(self, first: date, last: date) -> Iterator[tuple[datetime, bool]]:
        """(naive wall time, True for a range start / False for an end) of ranges starting on
        allowed days from `first` to `last`."""
        day = first
        while day <= last:
            if self.day_allowed(day):
                midnight = datetime.combine(day, time())
                for start, end in self._ranges:
                    yield midnight + start, True
                    yield midnight + end, False
            day += timedelta(days=1)


def _parse_range(text: str) -> tuple[timedelta, timedelta]:
    match = _RANGE.fullmatch(text.strip())
    if not match:
        raise ValueError(f'hours range {text!r} is not "HH:MM-HH:MM"')
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        raise ValueError(f"hours range {text!r} has an impossible time (00:00..24:00)")
    start = timedelta(hours=h1, minutes=m1)
    end = timedelta(hours=h2, minutes=m2)
    if end == start:
        raise ValueError(f'hours range {text!r} is empty; the whole day is "00:00-24:00"')
    if end < start:
        end += timedelta(days=1)  # crosses midnight
    return start, end


# --- groups --------------------------------------------------------------------------------------


def group_key(window: CallWindow, zone: ZoneInfo) -> str:
    """Contacts with equal keys (under one window) have identical dialable instants.

    The canonical zone name; an unrestricted window (all days, all hours, no dates) puts every
    zone in one group, `ALWAYS_OPEN_KEY`.
    """
    if window.is_unrestricted():
        return ALWAYS_OPEN_KEY
    return canonical_zone_name(zone.key)


# --- instants ------------------------------------------------------------------------------------


def is_open(window: CallWindow, zone: ZoneInfo, at: datetime) -> bool:
    """Whether dialling is allowed at this instant (an aware datetime)."""
    return window.open_at_wall(_wall(zone, _aware(at)))


def next_open(window: CallWindow, zone: ZoneInfo, at: datetime) -> datetime | None:
    """The earliest instant >= `at` when dialling is allowed, in `at`'s zone; None if never.

    None means the window does not open again before its expiry (the contact ends `expired`),
    or not within `SCAN_LIMIT_DAYS`.
    """
    at = _aware(at)
    if window.open_at_wall(_wall(zone, at)):
        return at
    start_utc = at.astimezone(UTC)
    if window.start_date is not None:
        # Nothing opens before the start date: skip the days in between.
        earliest = datetime.combine(window.start_date, time(), UTC) - _SLACK
        start_utc = max(start_utc, earliest)
    found = _first_change(window, zone, start_utc, at, want_open=True)
    return None if found is None else found.astimezone(at.tzinfo)


def window_close(window: CallWindow, zone: ZoneInfo, at: datetime) -> datetime | None:
    """When the open interval containing `at` ends, in `at`'s zone.

    `at` itself when the window is closed at `at` (an empty interval); None when it stays open
    for good (or beyond `SCAN_LIMIT_DAYS`).
    """
    at = _aware(at)
    if not window.open_at_wall(_wall(zone, at)):
        return at
    if window.is_unrestricted():
        return None
    found = _first_change(window, zone, at.astimezone(UTC), at, want_open=False)
    return None if found is None else found.astimezone(at.tzinfo)


def _first_change(
    window: CallWindow, zone: ZoneInfo, chunk_utc: datetime, after: datetime, *, want_open: bool
) -> datetime | None:
    """The first candidate instant > `after` whose openness is `want_open`, scanning UTC days.

    Between two offset transitions the wall clock runs continuously, so openness can only turn
    on where a range start shows on the clock, only turn off where a range end does, and
    otherwise only change at a transition itself: those are the candidates.
    """
    last_day = None
    if window.expiry_date is not None:
        # A range starting on the expiry day ends at most two wall days later.
        last_day = datetime.combine(window.expiry_date, time(), UTC) + 2 * _SLACK
    limit = chunk_utc + timedelta(days=SCAN_LIMIT_DAYS)
    day = timedelta(days=1)
    while chunk_utc < limit:
        if want_open and last_day is not None and chunk_utc > last_day:
            return None
        chunk_end = chunk_utc + day
        candidates = list(_transitions(zone, chunk_utc, chunk_end))
        naive = chunk_utc.replace(tzinfo=None)
        first = (naive - 2 * _SLACK).date()
        last = (naive + day + _SLACK).date()
        for wall, is_start in window.wall_boundaries(first, last):
            if is_start == want_open:
                candidates.extend(_instants_showing(zone, wall))
        for candidate in sorted(c for c in candidates if chunk_utc <= c < chunk_end):
            if candidate > after and window.open_at_wall(_wall(zone, candidate)) == want_open:
                return candidate
        chunk_utc = chunk_end
    return None


def _instants_showing(zone: ZoneInfo, wall: datetime) -> Iterator[datetime]:
    """The UTC instants at which the zone's clock shows this wall time (0, 1 or 2 of them)."""
    for fold in (0, 1):
        instant = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        if _wall(zone, instant) == wall:
            yield instant


def _transitions(zone: ZoneInfo, start_utc: datetime, end_utc: datetime) -> Iterator[datetime]:
    """UTC instants in [start, end) where the zone's offset changes (to the second).

    Samples every 6 hours and bisects; two transitions less than 6 hours apart would be missed,
    and no zone has those.
    """
    step = timedelta(hours=6)
    lo = start_utc - timedelta(seconds=1)  # so that a transition exactly at `start` is seen
    lo_offset = _offset(zone, lo)
    while lo < end_utc:
        hi = min(lo + step, end_utc)
        hi_offset = _offset(zone, hi)
        if hi_offset != lo_offset:
            a, b = _epoch_s(lo), _epoch_s(hi)  # offset(a) == lo_offset != offset(b)
            while b - a > 1:
                mid = (a + b) // 2
                if _offset(zone, _from_epoch(mid)) == lo_offset:
                    a = mid
                else:
                    b = mid
            yield _from_epoch(b)
        lo, lo_offset = hi, hi_offset


def _offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    return instant.astimezone(zone).utcoffset() or _ZERO


def _epoch_s(instant: datetime) -> int:
    return int(instant.timestamp())


def _from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _wall(zone: ZoneInfo, instant: datetime) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("window arithmetic needs an aware datetime")
    return at
