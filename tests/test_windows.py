"""Call windows: table tests for the examples a reader needs, then properties over DST zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from dispatcher.windows import (
    ALWAYS_OPEN_KEY,
    WEEKDAYS,
    CallWindow,
    InvalidTimeZone,
    canonical_zone_name,
    contact_zone,
    group_key,
    is_open,
    next_open,
    window_close,
)

NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
ZONES = [NEW_YORK, LONDON, LORD_HOWE, ZoneInfo("UTC"), ZoneInfo("Asia/Kolkata")]


def local(zone: ZoneInfo, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=zone, fold=fold)  # type: ignore[misc]


# --- validation ----------------------------------------------------------------------------------


def test_default_window_is_open_all_day_every_day_in_utc() -> None:
    window = CallWindow()
    assert window.hours == ("00:00-24:00",)
    assert window.weekdays == WEEKDAYS
    assert window.default_timezone == "UTC"
    assert window.is_unrestricted()


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("hours", ["9-17"], "HH:MM-HH:MM"),
        ("hours", ["09:00-25:00"], "impossible"),
        ("hours", ["24:00-02:00"], "impossible"),
        ("hours", ["09:00-09:00"], "empty"),
        ("hours", [], "at least 1"),
        ("weekdays", ["funday"], "mon"),
        ("weekdays", [], "at least 1"),
        ("default_timezone", "Mars/Olympus", "unknown time zone"),
        ("start_date", "not a date", "date"),
    ],
)
def test_invalid_window_fields_are_named_in_the_error(
    field: str, value: object, words: str
) -> None:
    with pytest.raises(ValidationError) as info:
        CallWindow.model_validate({field: value})
    error = info.value.errors()[0]
    assert error["loc"][0] == field
    assert words in error["msg"]


def test_expiry_before_start_is_refused() -> None:
    with pytest.raises(ValidationError, match="expiry_date is before start_date"):
        CallWindow(start_date=date(2024, 5, 2), expiry_date=date(2024, 5, 1))


def test_unknown_window_keys_are_refused() -> None:
    with pytest.raises(ValidationError, match="hourz"):
        CallWindow.model_validate({"hourz": ["09:00-17:00"]})


def test_weekdays_are_case_insensitive_and_ranges_may_have_spaces() -> None:
    window = CallWindow.model_validate({"weekdays": ["Mon", "FRI"], "hours": ["09:00 - 17:00"]})
    assert window.weekdays == ("mon", "fri")
    assert is_open(window, LONDON, local(LONDON, 2024, 5, 3, 9, 0))


# --- is_open / next_open / window_close tables ---------------------------------------------------


OFFICE = CallWindow(
    hours=["09:00-12:00", "13:00-18:00"], weekdays=["mon", "tue", "wed", "thu", "fri"]
)
NIGHT_FRIDAY = CallWindow(hours=["22:00-02:00"], weekdays=["fri"])


@pytest.mark.parametrize(
    ("window", "at", "expected"),
    [
        # Friday 2024-05-03
        (OFFICE, local(LONDON, 2024, 5, 3, 8, 59), local(LONDON, 2024, 5, 3, 9, 0)),
        (OFFICE, local(LONDON, 2024, 5, 3, 10, 30), local(LONDON, 2024, 5, 3, 10, 30)),
        (OFFICE, local(LONDON, 2024, 5, 3, 12, 0), local(LONDON, 2024, 5, 3, 13, 0)),
        (OFFICE, local(LONDON, 2024, 5, 3, 18, 0), local(LONDON, 2024, 5, 6, 9, 0)),
        # crossing midnight: the range belongs to Friday, so Saturday 01:00 is still open ...
        (NIGHT_FRIDAY, local(LONDON, 2024, 5, 4, 1, 0), local(LONDON, 2024, 5, 4, 1, 0)),
        # ... but Saturday 22:00 is not: next Friday.
        (NIGHT_FRIDAY, local(LONDON, 2024, 5, 4, 2, 0), local(LONDON, 2024, 5, 10, 22, 0)),
        # New York spring forward: 02:30 never shows; the range opens when the clock jumps.
        (
            CallWindow(hours=["02:30-04:00"]),
            local(NEW_YORK, 2024, 3, 10, 0, 0),
            local(NEW_YORK, 2024, 3, 10, 3, 0),
        ),
        # New York fall back: 01:30 shows twice; from the second 01:05, the open one is that one.
        (
            CallWindow(hours=["01:00-01:10"]),
            local(NEW_YORK, 2024, 11, 3, 1, 5, fold=1),
            local(NEW_YORK, 2024, 11, 3, 1, 5, fold=1),
        ),
        # ... and from the first 01:30, a range inside the repeated hour opens at its second one.
        (
            CallWindow(hours=["01:10-01:20"]),
            local(NEW_YORK, 2024, 11, 3, 1, 30),
            local(NEW_YORK, 2024, 11, 3, 1, 10, fold=1),
        ),
        # Lord Howe moves its clock by 30 minutes: 02:00 -> 02:30 on 2024-10-06.
        (
            CallWindow(hours=["02:10-02:20", "02:40-03:00"]),
            local(LORD_HOWE, 2024, 10, 6, 1, 0),
            local(LORD_HOWE, 2024, 10, 6, 2, 40),
        ),
    ],
)
def test_next_open_examples(window: CallWindow, at: datetime, expected: datetime) -> None:
    assert next_open(window, at.tzinfo, at) == expected  # type: ignore[arg-type]


def test_fall_back_hour_is_open_both_times_it_shows() -> None:
    window = CallWindow(hours=["01:00-01:30"])
    first = local(NEW_YORK, 2024, 11, 3, 1, 15)
    second = local(NEW_YORK, 2024, 11, 3, 1, 15, fold=1)
    assert first.astimezone(UTC) + timedelta(hours=1) == second.astimezone(UTC)
    assert is_open(window, NEW_YORK, first)
    assert is_open(window, NEW_YORK, second)
    assert not is_open(window, NEW_YORK, local(NEW_YORK, 2024, 11, 3, 1, 45))
    # The first showing closes at 01:30 EDT; it opens again when the clock falls back.
    assert window_close(window, NEW_YORK, first) == local(NEW_YORK, 2024, 11, 3, 1, 30)
    reopened = next_open(window, NEW_YORK, local(NEW_YORK, 2024, 11, 3, 1, 30))
    assert reopened == local(NEW_YORK, 2024, 11, 3, 1, 0, fold=1)


def test_dates_are_local_and_inclusive_and_a_range_belongs_to_its_start_day() -> None:
    window = CallWindow(
        hours=["22:00-02:00"], start_date=date(2024, 5, 3), expiry_date=date(2024, 5, 4)
    )
    # Friday 01:00 belongs to Thursday's range, before the start date.
    assert not is_open(window, LONDON, local(LONDON, 2024, 5, 3, 1, 0))
    assert next_open(window, LONDON, local(LONDON, 2024, 4, 1)) == local(LONDON, 2024, 5, 3, 22)
    # The expiry day's range runs past midnight into the next day ...
    assert is_open(window, LONDON, local(LONDON, 2024, 5, 5, 1, 59))
    # ... and after it nothing opens again.
    assert next_open(window, LONDON, local(LONDON, 2024, 5, 5, 2, 0)) is None
    assert window_close(window, LONDON, local(LONDON, 2024, 5, 4, 23)) == local(
        LONDON, 2024, 5, 5, 2
    )


def test_window_close_joins_ranges_that_touch_across_midnight() -> None:
    window = CallWindow(hours=["20:00-24:00", "00:00-08:00"])
    at = local(LONDON, 2024, 5, 3, 21)
    assert window_close(window, LONDON, at) == local(LONDON, 2024, 5, 4, 8)


def test_window_close_is_at_when_closed_and_none_when_always_open() -> None:
    at = local(LONDON, 2024, 5, 4, 12)  # Saturday
    assert window_close(OFFICE, LONDON, at) == at
    assert window_close(CallWindow(), LONDON, at) is None


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        is_open(OFFICE, LONDON, datetime(2024, 5, 3, 10))


def test_answers_keep_the_callers_time_zone() -> None:
    at = datetime(2024, 5, 3, 6, 0, tzinfo=UTC)  # 07:00 in London
    opened = next_open(OFFICE, LONDON, at)
    assert opened is not None
    assert opened.tzinfo is UTC
    assert opened == datetime(2024, 5, 3, 8, 0, tzinfo=UTC)


# --- zones and groups ----------------------------------------------------------------------------


def test_contact_zone_prefers_explicit_then_single_number_zone_then_default() -> None:
    assert contact_zone("12025550143", "Europe/Paris", "UTC").key == "Europe/Paris"
    assert contact_zone("12025550143", None, "UTC").key == "America/New_York"
    # UK numbers list London, Jersey, Guernsey and Man: one zone under four names.
    assert contact_zone("447911123456", None, "UTC").key == "Europe/London"
    # Russian mobiles span eleven zones: the campaign's default decides.
    assert contact_zone("79161234567", None, "Asia/Tokyo").key == "Asia/Tokyo"
    assert contact_zone("79161234567", "  ", "Asia/Tokyo").key == "Asia/Tokyo"


def test_an_unknown_explicit_zone_is_an_error_naming_it() -> None:
    with pytest.raises(InvalidTimeZone, match="Nowhere/Land"):
        contact_zone("12025550143", "Nowhere/Land", "UTC")


def test_equivalent_zones_share_a_group_and_different_ones_do_not() -> None:
    assert canonical_zone_name("Europe/Jersey") == canonical_zone_name("Europe/London")
    assert canonical_zone_name("US/Eastern") == canonical_zone_name("America/New_York")
    assert group_key(OFFICE, ZoneInfo("Europe/Jersey")) == group_key(OFFICE, LONDON)
    assert group_key(OFFICE, NEW_YORK) != group_key(OFFICE, LONDON)
    assert group_key(OFFICE, ZoneInfo("Asia/Kolkata")) == "Asia/Kolkata"
    assert canonical_zone_name("Not/AZone") == "Not/AZone"


def test_an_unrestricted_window_puts_every_zone_in_one_group() -> None:
    window = CallWindow(hours=["00:00-12:00", "12:00-24:00"])
    assert group_key(window, NEW_YORK) == group_key(window, LORD_HOWE) == ALWAYS_OPEN_KEY


# --- properties ----------------------------------------------------------------------------------


@st.composite
def hours_ranges(draw: st.DrawFn) -> str:
    start = draw(st.integers(0, 24 * 4 - 1)) * 15
    length = draw(st.integers(1, 24 * 4 - 1)) * 15
    end = start + length
    if end == 24 * 60:
        return f"{start // 60:02d}:{start % 60:02d}-24:00"
    end %= 24 * 60
    return f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"


@st.composite
def windows(draw: st.DrawFn) -> CallWindow:
    start = draw(st.none() | st.dates(date(2024, 1, 1), date(2025, 12, 31)))
    expiry = draw(st.none() | st.dates(start or date(2024, 1, 1), date(2026, 1, 31)))
    return CallWindow(
        hours=draw(st.lists(hours_ranges(), min_size=1, max_size=3)),
        weekdays=draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True)),
        start_date=start,
        expiry_date=expiry,
    )


# Instants near the DST changes of the three zones are where bugs live: bias towards them.
_TRANSITIONS_UTC = [
    datetime(2024, 3, 10, 7, tzinfo=UTC),  # New York spring forward
    datetime(2024, 11, 3, 6, tzinfo=UTC),  # New York fall back
    datetime(2024, 3, 31, 1, tzinfo=UTC),  # London
    datetime(2024, 10, 27, 1, tzinfo=UTC),
    datetime(2024, 4, 6, 15, tzinfo=UTC),  # Lord Howe back 30 minutes
    datetime(2024, 10, 5, 15, 30, tzinfo=UTC),  # Lord Howe forward 30 minutes
]
instants = st.one_of(
    st.datetimes(datetime(2024, 1, 1), datetime(2025, 12, 31), timezones=st.just(UTC)),
    st.builds(
        lambda base, minutes, second: base + timedelta(minutes=minutes, seconds=second),
        st.sampled_from(_TRANSITIONS_UTC),
        st.integers(-3 * 24 * 60, 3 * 24 * 60),
        st.integers(0, 59),
    ),
)
zones = st.sampled_from(ZONES)


def _sample_points(start: datetime, end: datetime) -> list[datetime]:
    """Even points between start and end plus the last instants before end."""
    span = end - start
    points = [start + span * i / 97 for i in range(97)]
    points += [end - timedelta(microseconds=1), end - timedelta(seconds=1), end - _MINUTE_]
    return [p for p in points if start <= p < end]


_MINUTE_ = timedelta(minutes=1)


@settings(max_examples=150, deadline=None)
@given(window=windows(), zone=zones, at=instants)
def test_next_open_is_open_and_nothing_before_it_is(
    window: CallWindow, zone: ZoneInfo, at: datetime
) -> None:
    opened = next_open(window, zone, at)
    if opened is None:
        assert window.expiry_date is not None
        assert not any(is_open(window, zone, p) for p in _sample_points(at, at + timedelta(days=9)))
        return
    assert opened >= at
    assert is_open(window, zone, opened)
    assert not any(is_open(window, zone, p) for p in _sample_points(at, opened))
    assert next_open(window, zone, opened) == opened


@settings(max_examples=150, deadline=None)
@given(window=windows(), zone=zones, at=instants)
def test_window_close_ends_the_open_interval(
    window: CallWindow, zone: ZoneInfo, at: datetime
) -> None:
    opened = next_open(window, zone, at)
    if opened is None:
        return
    closed = window_close(window, zone, opened)
    if closed is None:
        # Never closes: unrestricted, or ranges that cover whole days from some date on.
        later = [opened + timedelta(days=d, minutes=m) for d in (0, 1, 3, 8) for m in (0, 7, 600)]
        assert all(is_open(window, zone, p) for p in later)
        return
    assert closed > opened
    assert not is_open(window, zone, closed)
    assert all(is_open(window, zone, p) for p in _sample_points(opened, closed))


# Worked examples from published zone rules (each instant in UTC, the local reading in the
# comment): New York is UTC-5 (EST) and UTC-4 (EDT), DST 2024 from 10 March 07:00 UTC to
# 3 November 06:00 UTC; London is UTC+0 and UTC+1 (BST), BST 2024 from 31 March 01:00 UTC to
# 27 October 01:00 UTC; Lord Howe is UTC+10:30, and UTC+11 in summer (to 6 April 15:00 UTC,
# from 5 October 15:30 UTC in 2024); Kolkata is UTC+5:30 all year. 2024-06-14 is a Friday.
DAY_9_TO_5 = CallWindow(hours=["09:00-17:00"])
WORKWEEK_INDIA = CallWindow(hours=["09:00-18:00"], weekdays=["mon", "tue", "wed", "thu", "fri"])
SPRING_GAP = CallWindow(hours=["02:30-04:00"])
FALL_BACK_HOUR = CallWindow(hours=["01:00-02:00"])
HALF_HOUR = CallWindow(hours=["09:00-09:30"])
FIRST_THREE_DAYS = CallWindow(start_date=date(2024, 6, 10), expiry_date=date(2024, 6, 12))
NIGHTS_10_TO_12 = CallWindow(
    hours=["22:00-02:00"], start_date=date(2024, 6, 10), expiry_date=date(2024, 6, 12)
)
UTC_ZONE = ZoneInfo("UTC")
KOLKATA = ZoneInfo("Asia/Kolkata")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("window", "zone", "at", "expected"),
    [
        (DAY_9_TO_5, NEW_YORK, utc(2024, 7, 1, 13, 0), True),  # 09:00 EDT
        (DAY_9_TO_5, NEW_YORK, utc(2024, 7, 1, 12, 59), False),  # 08:59 EDT
        (DAY_9_TO_5, NEW_YORK, utc(2024, 7, 1, 20, 59), True),  # 16:59 EDT
        (DAY_9_TO_5, NEW_YORK, utc(2024, 7, 1, 21, 0), False),  # 17:00 EDT: the end is out
        (DAY_9_TO_5, NEW_YORK, utc(2024, 1, 15, 13, 30), False),  # 08:30 EST
        (DAY_9_TO_5, NEW_YORK, utc(2024, 1, 15, 14, 0), True),  # 09:00 EST
        (SPRING_GAP, NEW_YORK, utc(2024, 3, 10, 6, 59), False),  # 01:59 EST
        (SPRING_GAP, NEW_YORK, utc(2024, 3, 10, 7, 0), True),  # 03:00 EDT, right after the gap
        (SPRING_GAP, NEW_YORK, utc(2024, 3, 10, 7, 59), True),  # 03:59 EDT
        (SPRING_GAP, NEW_YORK, utc(2024, 3, 10, 8, 0), False),  # 04:00 EDT
        (FALL_BACK_HOUR, NEW_YORK, utc(2024, 11, 3, 4, 59), False),  # 00:59 EDT
        (FALL_BACK_HOUR, NEW_YORK, utc(2024, 11, 3, 5, 30), True),  # 01:30 EDT
        (FALL_BACK_HOUR, NEW_YORK, utc(2024, 11, 3, 6, 30), True),  # 01:30 EST, the second time
        (FALL_BACK_HOUR, NEW_YORK, utc(2024, 11, 3, 7, 0), False),  # 02:00 EST
        (NIGHT_FRIDAY, LONDON, utc(2024, 6, 14, 21, 0), True),  # Friday 22:00 BST
        (NIGHT_FRIDAY, LONDON, utc(2024, 6, 15, 0, 30), True),  # Saturday 01:30, Friday's range
        (NIGHT_FRIDAY, LONDON, utc(2024, 6, 15, 21, 30), False),  # Saturday 22:30
        (NIGHT_FRIDAY, LONDON, utc(2024, 6, 16, 0, 30), False),  # Sunday 01:30, Saturday's range
        (NIGHT_FRIDAY, LONDON, utc(2024, 1, 12, 22, 0), True),  # Friday 22:00 GMT
        (NIGHT_FRIDAY, LONDON, utc(2024, 1, 12, 21, 59), False),  # Friday 21:59 GMT
        (HALF_HOUR, LORD_HOWE, utc(2024, 1, 9, 22, 0), True),  # 09:00 (UTC+11)
        (HALF_HOUR, LORD_HOWE, utc(2024, 1, 9, 22, 30), False),  # 09:30 (UTC+11)
        (HALF_HOUR, LORD_HOWE, utc(2024, 7, 9, 22, 0), False),  # 08:30 (UTC+10:30)
        (HALF_HOUR, LORD_HOWE, utc(2024, 7, 9, 22, 30), True),  # 09:00 (UTC+10:30)
        (WORKWEEK_INDIA, KOLKATA, utc(2024, 6, 17, 3, 30), True),  # Monday 09:00 IST
        (WORKWEEK_INDIA, KOLKATA, utc(2024, 6, 17, 12, 29), True),  # Monday 17:59 IST
        (WORKWEEK_INDIA, KOLKATA, utc(2024, 6, 17, 12, 30), False),  # Monday 18:00 IST
        (WORKWEEK_INDIA, KOLKATA, utc(2024, 6, 15, 3, 30), False),  # Saturday 09:00 IST
        (WORKWEEK_INDIA, KOLKATA, utc(2024, 6, 14, 22, 0), False),  # Saturday 03:30 IST
        (FIRST_THREE_DAYS, UTC_ZONE, utc(2024, 6, 9, 23, 59), False),
        (FIRST_THREE_DAYS, UTC_ZONE, utc(2024, 6, 10, 0, 0), True),
        (FIRST_THREE_DAYS, UTC_ZONE, utc(2024, 6, 12, 23, 59), True),  # the expiry day is in
        (FIRST_THREE_DAYS, UTC_ZONE, utc(2024, 6, 13, 0, 0), False),
        (FIRST_THREE_DAYS, KOLKATA, utc(2024, 6, 9, 18, 30), True),  # 10 June 00:00 IST
        (NIGHTS_10_TO_12, UTC_ZONE, utc(2024, 6, 10, 1, 0), False),  # the 9th's range
        (NIGHTS_10_TO_12, UTC_ZONE, utc(2024, 6, 13, 1, 0), True),  # the 12th's range
        (NIGHTS_10_TO_12, UTC_ZONE, utc(2024, 6, 13, 22, 30), False),  # after the expiry
    ],
)
def test_is_open_worked_examples_on_published_zone_rules(
    window: CallWindow, zone: ZoneInfo, at: datetime, expected: bool
) -> None:
    assert is_open(window, zone, at) is expected


@settings(max_examples=100)
@given(
    window=windows().map(lambda w: CallWindow(hours=w.hours, weekdays=w.weekdays)),
    zone=st.sampled_from([ZoneInfo("UTC"), ZoneInfo("Asia/Kolkata"), ZoneInfo("Etc/GMT+7")]),
    at=instants,
    weeks=st.integers(1, 10),
)
def test_without_dates_or_dst_a_window_repeats_every_week(
    window: CallWindow, zone: ZoneInfo, at: datetime, weeks: int
) -> None:
    assert is_open(window, zone, at) == is_open(window, zone, at + timedelta(weeks=weeks))


@settings(max_examples=100)
@given(window=windows(), at=instants, hours=st.integers(-12, 14))
def test_the_same_wall_clock_reading_gives_the_same_answer_in_any_fixed_offset_zone(
    window: CallWindow, at: datetime, hours: int
) -> None:
    # Etc/GMT-3 is UTC+3 (POSIX signs): its clock reads UTC's plus three hours.
    name = "Etc/GMT" if hours == 0 else f"Etc/GMT{-hours:+d}"
    shifted = at - timedelta(hours=hours)
    assert is_open(window, ZoneInfo(name), shifted) == is_open(window, ZoneInfo("UTC"), at)


@settings(max_examples=40, deadline=None)
@given(zone=zones, at=instants, hour=st.integers(0, 23))
def test_a_one_day_window_opens_within_a_week_and_matches_a_minute_by_minute_search(
    zone: ZoneInfo, at: datetime, hour: int
) -> None:
    window = CallWindow(hours=[f"{hour:02d}:00-{hour:02d}:45"], weekdays=["wed"])
    opened = next_open(window, zone, at)
    assert opened is not None
    assert opened - at <= timedelta(days=8)
    minute = at.replace(second=0, microsecond=0)
    while not is_open(window, zone, max(minute, at)):
        minute += _MINUTE_
    assert opened == max(minute, at)


def test_a_zone_is_grouped_under_its_own_name_not_the_first_of_its_rule_family() -> None:
    # Berlin shares its rules with Africa/Ceuta and New York with America/Detroit; a batch of
    # Berliners must still say Europe/Berlin.
    berlin = contact_zone("493090182000", None, "UTC")
    new_york = contact_zone("12125550143", None, "UTC")
    assert (berlin.key, new_york.key) == ("Europe/Berlin", "America/New_York")
    assert group_key(OFFICE, berlin) == "Europe/Berlin"
    assert group_key(OFFICE, new_york) == "America/New_York"
    assert canonical_zone_name("Europe/Busingen") == "Europe/Zurich"  # a German enclave, CH time
    assert canonical_zone_name("Asia/Calcutta") == "Asia/Kolkata"
