"""Streaming contact readers: CSV, JSON lines and plain iterables in, `Contact` or `Rejection` out.

Every reader is a generator that holds one row at a time, so a million-row file costs no more
memory than a ten-row one. A row that cannot become a contact is yielded as a `Rejection` with its
row number and a precise reason, and reading goes on; only problems with the source as a whole
(unreadable, no header, no phone column) raise `ContactsError`. Duplicates are left to the caller.

Row numbers are what a person sees: in a CSV the header is row 1, so the first contact is row 2
(records, not physical lines, so a quoted value spanning lines still counts once, as in a
spreadsheet); in JSON lines the line number; in an iterable the 1-based position.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import itertools
import json
import operator
import re
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple, TextIO

from dispatcher.errors import ContactsError
from dispatcher.phones import InvalidPhone, normalise_phone

__all__ = [
    "MAX_DATA_FIELDS",
    "MAX_REF_CHARS",
    "MAX_VALUE_CHARS",
    "Contact",
    "Rejection",
    "open_contacts",
    "read_csv",
    "read_iterable",
    "read_jsonl",
]

#: Data fields kept per contact (besides phone and timezone): bounds Redis memory per contact.
MAX_DATA_FIELDS = 50
#: Longest data value accepted, in characters.
MAX_VALUE_CHARS = 1000
#: Longest JSON line parsed at all.
MAX_LINE_CHARS = 100_000
#: How much of an offending value a rejection repeats.
SHOWN_CHARS = 64
#: Longest `ref` (the caller's own id for a contact, carried to results, events and webhooks).
MAX_REF_CHARS = 128

PHONE_FIELD = "phone"
TIMEZONE_FIELD = "timezone"
REF_FIELD = "ref"

# Undecodable bytes are read with "surrogateescape" and show up as lone surrogates.
_UNDECODABLE = re.compile("[\udc80-\udcff]")
_DELIMITERS = (",", ";", "\t", "|")

Source = str | Path | TextIO


class Contact(NamedTuple):
    """One accepted contact: its row, provider-format phone, other fields, optional zone and the
    caller's optional `ref`.

    A named tuple (immutable like the frozen dataclass it was, and built four times faster: one
    is made per row of a million-row list).
    """

    row: int
    phone: str
    data: dict[str, str]
    timezone: str | None = None
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    """One row that did not become a contact, and why."""

    row: int
    reason: str
    value: str = ""

    def at(self, row: int) -> Rejection:
        """The same rejection for another row."""
        return Rejection(row, self.reason, self.value)


def open_contacts(
    path: str | Path, default_region: str, fmt: Literal["csv", "jsonl"] | None = None
) -> Iterator[Contact | Rejection]:
    """Read a contact file, choosing the reader from `fmt` or else the file's extension."""
    chosen = fmt or _format_for(Path(path))
    if chosen == "csv":
        return read_csv(path, default_region)
    if chosen == "jsonl":
        return read_jsonl(path, default_region)
    raise ContactsError(f"unknown contacts format {chosen!r}: use csv or jsonl")


def read_csv(source: Source, default_region: str) -> Iterator[Contact | Rejection]:
    """Contacts from a CSV with a header row holding a `phone` column (any case)."""
    with _opened(source) as lines:
        yield from _read_csv_lines(lines, default_region)


def read_jsonl(source: Source, default_region: str) -> Iterator[Contact | Rejection]:
    """Contacts from JSON lines, one object per line with a `phone` field; blank lines skipped."""
    with _opened(source) as lines:
        for number, line in enumerate(lines, start=1):
            text = line.strip()
            if not text:
                continue
            if len(text) > MAX_LINE_CHARS:
                yield Rejection(number, f"line longer than {MAX_LINE_CHARS} characters")
                continue
            if not text.isascii() and _UNDECODABLE.search(text):
                yield Rejection(number, "not valid UTF-8", _shown(text))
                continue
            try:
                item = json.loads(text)
            except json.JSONDecodeError as exc:
                yield Rejection(number, f"not valid JSON: {exc.msg}", _shown(text))
                continue
            if not isinstance(item, dict):
                yield Rejection(number, "not a JSON object", _shown(text))
                continue
            yield _from_mapping(number, item, default_region)


def read_iterable(
    items: Iterable[Mapping[str, object] | str], default_region: str
) -> Iterator[Contact | Rejection]:
    """Contacts from Python values: a mapping with a `phone` key, or a bare phone string."""
    for number, item in enumerate(items, start=1):
        if isinstance(item, str):
            yield _from_mapping(number, {PHONE_FIELD: item}, default_region)
        elif isinstance(item, Mapping):
            yield _from_mapping(number, item, default_region)
        else:
            yield Rejection(number, "not a phone or a mapping", _shown(repr(item)))


# --- CSV -----------------------------------------------------------------------------------------


def _read_csv_lines(lines: Iterator[str], default_region: str) -> Iterator[Contact | Rejection]:
    first = next(lines, None)
    if first is None or not first.strip():
        raise ContactsError("empty file: no header row")
    first = first.removeprefix("\ufeff")
    if _UNDECODABLE.search(first):
        raise ContactsError("the header row is not valid UTF-8")
    reader = csv.reader(itertools.chain([first], lines), delimiter=_delimiter(first))
    header = [name.strip() for name in next(reader)]
    layout = _Layout.from_header(header)
    width = len(header)
    phone_at, zone_at, ref_at, names, positions = (
        layout.phone_at,
        layout.zone_at,
        layout.ref_at,
        layout.names,
        layout.positions,
    )
    pick = _picker(positions)
    row = 1
    while True:
        try:
            # The loop is hot (a million rows): the common case is checked with as few calls as
            # possible, and only a row that fails a cheap check is looked at closely.
            for record in reader:
                row += 1
                size = len(record)
                if size != width:
                    if size > width:
                        yield Rejection(
                            row,
                            f"{size} fields but the header has {width}",
                            _shown(",".join(record)),
                        )
                        continue
                    if size == 0 or (size == 1 and not record[0].strip()):
                        continue  # a blank line
                    if phone_at >= size:
                        yield Rejection(row, "phone: missing")
                        continue
                    record += [""] * (width - size)
                joined = "".join(record)
                if not joined.isascii() and _UNDECODABLE.search(joined):
                    yield Rejection(row, "not valid UTF-8", _shown(",".join(record)))
                    continue
                raw = record[phone_at]
                try:
                    phone = normalise_phone(raw, default_region)
                except InvalidPhone as exc:
                    yield Rejection(row, f"phone: {exc}", _shown(raw))
                    continue
                zone = None
                if zone_at is not None:
                    zone = record[zone_at].strip() or None
                    if zone is not None and not _is_zone(zone):
                        yield Rejection(row, "timezone: not an IANA time zone", _shown(zone))
                        continue
                ref = None
                if ref_at is not None:
                    ref = record[ref_at].strip() or None
                    if ref is not None:
                        bad_ref = _bad_ref(ref)
                        if bad_ref is not None:
                            yield bad_ref.at(row)
                            continue
                values = pick(record)
                if len(joined) > MAX_VALUE_CHARS:
                    too_long = _too_long(names, values)
                    if too_long is not None:
                        yield too_long.at(row)
                        continue
                yield Contact(row, phone, dict(zip(names, values)), zone, ref)  # noqa: B905
            return
        except csv.Error as exc:
            row += 1
            yield Rejection(row, f"unreadable CSV row: {exc}")


def _picker(positions: tuple[int, ...]) -> Callable[[list[str]], tuple[str, ...]]:
    """A fast function taking the values at `positions` out of a CSV record, as a tuple."""
    if len(positions) > 1:
        return operator.itemgetter(*positions)
    if positions:
        at = positions[0]
        return lambda record: (record[at],)
    return lambda record: ()


def _bad_ref(ref: str) -> Rejection | None:
    """The rejection for a `ref` that cannot be carried (too long, control characters)."""
    if len(ref) > MAX_REF_CHARS:
        return Rejection(0, f"ref: longer than {MAX_REF_CHARS} characters", _shown(ref))
    if not ref.isprintable():
        return Rejection(0, "ref: control or invisible characters", _shown(ref))
    return None


def _too_long(names: tuple[str, ...], values: tuple[str, ...]) -> Rejection | None:
    """The rejection for the first value over MAX_VALUE_CHARS, with row 0 (set by `at`)."""
    for name, value in zip(names, values, strict=True):
        if len(value) > MAX_VALUE_CHARS:
            return Rejection(0, f"{name}: longer than {MAX_VALUE_CHARS} characters", _shown(value))
    return None


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where the phone, the time zone and the data columns are in a CSV header."""

    phone_at: int
    zone_at: int | None
    ref_at: int | None
    names: tuple[str, ...]
    positions: tuple[int, ...]

    @classmethod
    def from_header(cls, header: list[str]) -> _Layout:
        if _UNDECODABLE.search("".join(header)):
            raise ContactsError("the header row is not valid UTF-8")
        folded = [name.casefold() for name in header]
        if PHONE_FIELD not in folded:
            found = ", ".join(repr(n) for n in header if n) or "none"
            raise ContactsError(f"no {PHONE_FIELD!r} column; columns found: {found}")
        named = [n for n in header if n]
        duplicates = sorted({n for n in named if named.count(n) > 1})
        if duplicates:
            raise ContactsError(f"duplicate columns: {', '.join(duplicates)}")
        if any(folded.count(name) > 1 for name in (PHONE_FIELD, TIMEZONE_FIELD, REF_FIELD)):
            raise ContactsError("more than one phone, timezone or ref column")
        phone_at = folded.index(PHONE_FIELD)
        zone_at = folded.index(TIMEZONE_FIELD) if TIMEZONE_FIELD in folded else None
        ref_at = folded.index(REF_FIELD) if REF_FIELD in folded else None
        # Columns without a name (a trailing delimiter in the header) carry nothing to keep.
        positions = tuple(
            i for i, name in enumerate(header) if name and i not in (phone_at, zone_at, ref_at)
        )
        if len(positions) > MAX_DATA_FIELDS:
            raise ContactsError(
                f"{len(positions)} data columns; at most {MAX_DATA_FIELDS} are kept per contact"
            )
        names = tuple(header[i] for i in positions)
        return cls(phone_at, zone_at, ref_at, names, positions)


def _delimiter(header_line: str) -> str:
    """The delimiter a header uses: the most frequent of , ; tab | (comma on a tie)."""
    counts = [(header_line.count(d), -i, d) for i, d in enumerate(_DELIMITERS)]
    return max(counts)[2] if max(counts)[0] else ","


# --- mappings (JSON lines, iterables) ------------------------------------------------------------


def _from_mapping(row: int, item: Mapping[str, object], default_region: str) -> Contact | Rejection:
    raw_phone: object = None
    raw_zone: object = None
    raw_ref: object = None
    data: dict[str, str] = {}
    for key, value in item.items():
        name = str(key).strip()
        folded = name.casefold()
        if folded == PHONE_FIELD:
            raw_phone = value
        elif folded == TIMEZONE_FIELD:
            raw_zone = value
        elif folded == REF_FIELD:
            raw_ref = value
        elif name:
            if len(data) == MAX_DATA_FIELDS:
                return Rejection(row, f"more than {MAX_DATA_FIELDS} data fields")
            text = _as_text(value)
            if len(text) > MAX_VALUE_CHARS:
                return Rejection(
                    row, f"{name}: longer than {MAX_VALUE_CHARS} characters", _shown(text)
                )
            data[name] = text
    if raw_phone is None:
        return Rejection(row, "phone: missing")
    if isinstance(raw_phone, bool) or not isinstance(raw_phone, str | int):
        return Rejection(row, "phone: not text or a number", _shown(_as_text(raw_phone)))
    phone_text = str(raw_phone)
    try:
        phone = normalise_phone(phone_text, default_region)
    except InvalidPhone as exc:
        return Rejection(row, f"phone: {exc}", _shown(phone_text))
    zone = None
    if raw_zone is not None and raw_zone != "":
        if not isinstance(raw_zone, str) or not _is_zone(raw_zone.strip()):
            return Rejection(row, "timezone: not an IANA time zone", _shown(_as_text(raw_zone)))
        zone = raw_zone.strip()
    ref = None
    if raw_ref is not None and raw_ref != "":
        if isinstance(raw_ref, bool) or not isinstance(raw_ref, str | int):
            return Rejection(row, "ref: not text or a number", _shown(_as_text(raw_ref)))
        ref = str(raw_ref).strip() or None
        bad_ref = None if ref is None else _bad_ref(ref)
        if bad_ref is not None:
            return bad_ref.at(row)
    return Contact(row, phone, data, zone, ref)


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if type(value) is int:  # not bool; str() is what json.dumps would write, and faster
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# --- helpers -------------------------------------------------------------------------------------


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _is_zone(name: str) -> bool:
    return name in _zones()


def _shown(value: str) -> str:
    return value[:SHOWN_CHARS]


def _format_for(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    raise ContactsError(f"cannot tell the format of {path.name!r}: use .csv, .jsonl or .ndjson")


@contextlib.contextmanager
def _opened(source: Source) -> Iterator[Iterator[str]]:
    """Lines of a path (decoded leniently, BOM dropped) or of a text stream the caller owns."""
    if not isinstance(source, str | Path):
        yield _decoded(source)
        return
    try:
        file = open(source, encoding="utf-8-sig", errors="surrogateescape", newline="")  # noqa: SIM115
    except OSError as exc:
        raise ContactsError(f"cannot open {str(source)!r}: {exc.strerror}") from exc
    with file:
        yield file  # surrogateescape: undecodable bytes never raise, rows are checked instead


def _decoded(lines: Iterable[str]) -> Iterator[str]:
    """Lines, with a stream's decoding error turned into `ContactsError`."""
    iterator = iter(lines)
    while True:
        try:
            line = next(iterator)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            raise ContactsError(f"the contacts are not valid UTF-8: {exc.reason}") from exc
        yield line
