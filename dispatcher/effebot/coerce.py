"""Lenient readers for the provider's loosely typed JSON values.

The reference shows ids that may be strings, booleans as 0/1 or "true", timestamps as ints,
strings or null. A field we cannot interpret reads as `None` instead of failing the whole answer
(the original stays in the model's `raw`): a poller must not get stuck on one odd `cost`. Fields
the caller cannot do without (a create's id) are checked by the client, which raises
`MalformedResponse` when they are missing.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator

__all__ = [
    "LooseBool",
    "LooseDatetime",
    "LooseFloat",
    "LooseInt",
    "LooseIntList",
    "LooseStr",
    "flag_or_false",
    "loose_bool",
    "loose_datetime",
    "loose_float",
    "loose_int",
    "loose_int_list",
    "loose_str",
]

_INT_RE = re.compile(r"^[+-]?[0-9]+$")
_TRUE = frozenset({"1", "true", "yes", "y", "on", "t"})
_FALSE = frozenset({"0", "false", "no", "n", "off", "f", ""})
#: Timestamps above this are taken as milliseconds (it is the year 5138 in seconds).
_MS_THRESHOLD = 100_000_000_000


def loose_int(value: Any) -> int | None:
    """An int from an int, an integral float or a numeric string; otherwise None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        if _INT_RE.match(text):
            return int(text)
        number = loose_float(text)
        return loose_int(number)
    return None


def loose_float(value: Any) -> float | None:
    """A finite float from a number or a numeric string; otherwise None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip().replace(",", "."))
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def loose_bool(value: Any) -> bool | None:
    """A bool from true/false, 0/1, "0"/"1", "true"/"false", "yes"/"no"; otherwise None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return None


def flag_or_false(value: Any) -> bool:
    """A flag that defaults to False when absent or unreadable (e.g. `toBlock`)."""
    return bool(loose_bool(value))


def loose_datetime(value: Any) -> datetime | None:
    """An aware UTC datetime from UNIX seconds (or ms), a numeric string or ISO 8601; else None.

    0 and empty values read as None: the provider uses them for "not happened yet".
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        text = value.strip()
        number = loose_float(text)
        if number is None:
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                return None
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
        value = number
    if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        return None
    seconds = value / 1000 if value >= _MS_THRESHOLD else value
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def loose_str(value: Any) -> str | None:
    """A string from a string or a number (phones sometimes come as numbers); otherwise None."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else str(value)
    return None


def loose_int_list(value: Any) -> list[int]:
    """Ints from a list (unreadable items dropped), a single id, or a "1,2,3" string."""
    if isinstance(value, list | tuple):
        items: list[Any] = list(value)
    elif isinstance(value, str):
        items = [part for part in re.split(r"[,|\s]+", value) if part]
    elif value is None or isinstance(value, dict):
        items = []
    else:
        items = [value]
    return [number for number in (loose_int(item) for item in items) if number is not None]


LooseInt = Annotated[int | None, BeforeValidator(loose_int)]
LooseFloat = Annotated[float | None, BeforeValidator(loose_float)]
LooseBool = Annotated[bool | None, BeforeValidator(loose_bool)]
LooseDatetime = Annotated[datetime | None, BeforeValidator(loose_datetime)]
LooseStr = Annotated[str | None, BeforeValidator(loose_str)]
LooseIntList = Annotated[list[int], BeforeValidator(loose_int_list)]
