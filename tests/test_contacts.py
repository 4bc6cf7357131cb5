"""Streaming contact readers: accepted rows, every rejection with its row, and laziness."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from dispatcher.contacts import (
    MAX_DATA_FIELDS,
    MAX_VALUE_CHARS,
    Contact,
    Rejection,
    open_contacts,
    read_csv,
    read_iterable,
    read_jsonl,
)
from dispatcher.errors import ContactsError

US = "US"
PHONE = "12025550143"
OTHER = "12025550144"


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _rejections(items: list[Contact | Rejection]) -> list[tuple[int, str]]:
    return [(r.row, r.reason) for r in items if isinstance(r, Rejection)]


# --- CSV -----------------------------------------------------------------------------------------


def test_csv_rows_become_contacts_with_spreadsheet_row_numbers(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "c.csv",
        " Phone ,name,Timezone\n+1 202 555 0143,Ann,America/New_York\n(202) 555-0144,Bob,\n",
    )
    assert list(read_csv(path, US)) == [
        Contact(2, PHONE, {"name": "Ann"}, "America/New_York"),
        Contact(3, OTHER, {"name": "Bob"}, None),
    ]


def test_csv_with_a_utf8_bom_reads_its_first_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "bom.csv", "\ufeffphone,city\n2025550143,Zürich\n".encode())
    assert list(read_csv(path, US)) == [Contact(2, PHONE, {"city": "Zürich"})]


def test_csv_from_a_text_stream_with_a_bom_and_semicolons() -> None:
    stream = io.StringIO("\ufeffname;phone\nAnn;2025550143\n")
    assert list(read_csv(stream, US)) == [Contact(2, PHONE, {"name": "Ann"})]


def test_csv_quoted_value_spanning_lines_counts_as_one_row() -> None:
    stream = io.StringIO('phone,note\n2025550143,"two\nlines"\nnope,x\n')
    items = list(read_csv(stream, US))
    assert items[0] == Contact(2, PHONE, {"note": "two\nlines"})
    assert _rejections(items) == [(3, "phone: not a number")]


def test_csv_every_row_level_problem_is_rejected_with_its_row_and_reason(tmp_path: Path) -> None:
    long_value = "x" * (MAX_VALUE_CHARS + 1)
    lines = [
        "phone,name,timezone",
        f"{PHONE},ok,",  # 2 accepted
        "2025550,short,",  # 3
        ",empty,",  # 4
        f"{PHONE},a,b,extra",  # 5
        f"{PHONE},zone,Mars/Olympus",  # 6
        f"{PHONE},{long_value},",  # 7
        "",  # 8 blank: skipped
        "hello,letters,",  # 9
        "+44 7911 123456,uk,",  # 10
        f"{OTHER}",  # 11 short row: missing values are empty
    ]
    path = _write(tmp_path, "bad.csv", "\n".join(lines) + "\n")
    items = list(read_csv(path, US))
    assert _rejections(items) == [
        (3, "phone: not a valid number for region US"),
        (4, "phone: empty"),
        (5, "4 fields but the header has 3"),
        (6, "timezone: not an IANA time zone"),
        (7, f"name: longer than {MAX_VALUE_CHARS} characters"),
        (9, "phone: not a number"),
        (10, "phone: too long for the provider (max 11 digits)"),
    ]
    contacts = [c for c in items if isinstance(c, Contact)]
    assert [(c.row, c.data) for c in contacts] == [(2, {"name": "ok"}), (11, {"name": ""})]


def test_csv_rejection_repeats_the_offending_value_truncated(tmp_path: Path) -> None:
    path = _write(tmp_path, "v.csv", "phone\n" + "9" * 60 + "abc" * 3 + "\n")
    (rejection,) = list(read_csv(path, US))
    assert isinstance(rejection, Rejection)
    assert rejection.value == ("9" * 60 + "abc" * 3)[:64]
    assert len(rejection.value) == 64


def test_csv_short_row_without_the_phone_is_rejected_as_missing(tmp_path: Path) -> None:
    path = _write(tmp_path, "m.csv", "name,phone\nAnn\n")
    assert _rejections(list(read_csv(path, US))) == [(2, "phone: missing")]


def test_csv_row_with_undecodable_bytes_is_rejected_and_reading_goes_on(tmp_path: Path) -> None:
    content = b"phone,name\n2025550143,Ann\n2025550144,\xff\xfe\n2025550145,Cy\n"
    items = list(read_csv(_write(tmp_path, "latin.csv", content), US))
    assert _rejections(items) == [(3, "not valid UTF-8")]
    assert [c.row for c in items if isinstance(c, Contact)] == [2, 4]


def test_csv_oversized_field_is_rejected_and_reading_goes_on(tmp_path: Path) -> None:
    content = f"phone,name\n{PHONE},{'y' * 200_000}\n{OTHER},ok\n"
    items = list(read_csv(_write(tmp_path, "huge.csv", content), US))
    assert len(items) == 2
    assert items[0].row == 2
    assert isinstance(items[0], Rejection)
    assert items[0].reason.startswith("unreadable CSV row: field larger than field limit")
    assert items[1] == Contact(3, OTHER, {"name": "ok"})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty file: no header row"),
        ("\n", "empty file: no header row"),
        ("name,mobile\nAnn,2025550143\n", "no 'phone' column; columns found: 'name', 'mobile'"),
        ("phone,a,a\n", "duplicate columns: a"),
        ("phone,PHONE\n", "more than one phone, timezone or ref column"),
        (
            "phone," + ",".join(f"c{i}" for i in range(MAX_DATA_FIELDS + 1)) + "\n",
            f"{MAX_DATA_FIELDS + 1} data columns; at most {MAX_DATA_FIELDS} are kept per contact",
        ),
    ],
)
def test_csv_file_level_problems_raise_contacts_error(
    tmp_path: Path, content: str, message: str
) -> None:
    with pytest.raises(ContactsError) as info:
        list(read_csv(_write(tmp_path, "f.csv", content), US))
    assert str(info.value) == message


def test_csv_header_with_undecodable_bytes_raises_contacts_error(tmp_path: Path) -> None:
    with pytest.raises(ContactsError, match="header row is not valid UTF-8"):
        list(read_csv(_write(tmp_path, "h.csv", b"phone,n\xe9\n1,2\n"), US))


def test_a_text_stream_that_cannot_be_decoded_raises_contacts_error() -> None:
    stream = io.TextIOWrapper(io.BytesIO(b"phone\n2025550143\n\xff\n"), encoding="utf-8")
    with pytest.raises(ContactsError, match="not valid UTF-8"):
        list(read_csv(stream, US))


def test_a_missing_file_raises_contacts_error(tmp_path: Path) -> None:
    with pytest.raises(ContactsError, match="cannot open"):
        list(read_csv(tmp_path / "nope.csv", US))


def test_csv_columns_without_a_name_are_dropped(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.csv", "phone,name,\n2025550143,Ann,\n")
    assert list(read_csv(path, US)) == [Contact(2, PHONE, {"name": "Ann"})]


# --- streaming -----------------------------------------------------------------------------------


def test_readers_yield_the_first_contact_before_the_input_is_exhausted() -> None:
    consumed: list[int] = []

    def lines() -> Iterator[str]:
        yield "phone,n\n"
        for i in range(1_000_000):
            consumed.append(i)
            yield f"20255501{i % 100:02d},{i}\n"

    reader = read_csv(lines(), US)  # type: ignore[arg-type]  # any iterator of lines will do
    first = next(reader)
    assert isinstance(first, Contact)
    assert first.row == 2
    assert len(consumed) < 10

    def items() -> Iterator[str]:
        for i in range(1_000_000):
            consumed.append(i)
            yield f"+1202555{i % 10000:04d}"

    consumed.clear()
    assert isinstance(next(read_iterable(items(), US)), Contact)
    assert len(consumed) == 1


# --- JSON lines ----------------------------------------------------------------------------------


def test_jsonl_objects_become_contacts_with_line_numbers(tmp_path: Path) -> None:
    lines = [
        json.dumps({"phone": "+12025550143", "name": "Ann", "age": 41, "vip": True, "x": None}),
        "",
        json.dumps({"Phone": 12025550144, "timezone": "Europe/Rome", "tags": ["a", "b"]}),
    ]
    path = _write(tmp_path, "c.jsonl", "\n".join(lines) + "\n")
    assert list(read_jsonl(path, US)) == [
        Contact(1, PHONE, {"name": "Ann", "age": "41", "vip": "true", "x": ""}),
        Contact(3, OTHER, {"tags": '["a","b"]'}, "Europe/Rome"),
    ]


def test_jsonl_every_line_level_problem_is_rejected_with_its_line_and_reason(
    tmp_path: Path,
) -> None:
    too_many = {f"f{i}": "v" for i in range(MAX_DATA_FIELDS + 1)} | {"phone": PHONE}
    lines = [
        "{not json",  # 1
        "[1, 2]",  # 2
        json.dumps({"name": "no phone"}),  # 3
        json.dumps({"phone": ""}),  # 4
        json.dumps({"phone": True}),  # 5
        json.dumps({"phone": PHONE, "timezone": 5}),  # 6
        json.dumps({"phone": PHONE, "note": "z" * (MAX_VALUE_CHARS + 1)}),  # 7
        json.dumps(too_many),  # 8
        json.dumps({"phone": PHONE}),  # 9 accepted
    ]
    items = list(read_jsonl(_write(tmp_path, "bad.jsonl", "\n".join(lines)), US))
    assert _rejections(items) == [
        (1, "not valid JSON: Expecting property name enclosed in double quotes"),
        (2, "not a JSON object"),
        (3, "phone: missing"),
        (4, "phone: empty"),
        (5, "phone: not text or a number"),
        (6, "timezone: not an IANA time zone"),
        (7, f"note: longer than {MAX_VALUE_CHARS} characters"),
        (8, f"more than {MAX_DATA_FIELDS} data fields"),
    ]
    assert items[-1] == Contact(9, PHONE, {})


def test_jsonl_line_with_undecodable_bytes_is_rejected(tmp_path: Path) -> None:
    content = b'{"phone": "2025550143"}\n{"phone": "\xff"}\n'
    items = list(read_jsonl(_write(tmp_path, "b.jsonl", content), US))
    assert _rejections(items) == [(2, "not valid UTF-8")]


# --- iterables and dispatch by extension ---------------------------------------------------------


def test_iterables_take_bare_phones_and_mappings_by_position() -> None:
    items = list(
        read_iterable(
            ["2025550143", {"phone": "2025550144", "name": "Bob"}, 42, {"name": "x"}],  # type: ignore[list-item]
            US,
        )
    )
    assert items == [
        Contact(1, PHONE, {}),
        Contact(2, OTHER, {"name": "Bob"}),
        Rejection(3, "not a phone or a mapping", "42"),
        Rejection(4, "phone: missing"),
    ]


@pytest.mark.parametrize("name", ["c.csv", "c.CSV"])
def test_open_contacts_picks_csv_by_extension(tmp_path: Path, name: str) -> None:
    path = _write(tmp_path, name, "phone\n2025550143\n")
    assert list(open_contacts(path, US)) == [Contact(2, PHONE, {})]


@pytest.mark.parametrize("name", ["c.jsonl", "c.ndjson"])
def test_open_contacts_picks_jsonl_by_extension(tmp_path: Path, name: str) -> None:
    path = _write(tmp_path, name, '{"phone": "2025550143"}\n')
    assert list(open_contacts(path, US)) == [Contact(1, PHONE, {})]


def test_open_contacts_honours_an_explicit_format(tmp_path: Path) -> None:
    path = _write(tmp_path, "c.txt", '{"phone": "2025550143"}\n')
    assert list(open_contacts(path, US, fmt="jsonl")) == [Contact(1, PHONE, {})]


def test_open_contacts_refuses_an_unknown_extension_at_once(tmp_path: Path) -> None:
    with pytest.raises(ContactsError, match=r"use \.csv, \.jsonl or \.ndjson"):
        open_contacts(tmp_path / "c.xlsx", US)
