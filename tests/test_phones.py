"""Phone normalisation: the provider's digits, readable reasons, and a fast path that agrees."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dispatcher import phones
from dispatcher.phones import InvalidPhone, normalise_phone, phone_time_zones

VALID_US = "12025550143"


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+1 (202) 555-0143", "US", VALID_US),
        ("202-555-0143", "US", VALID_US),
        ("12025550143", "US", VALID_US),
        ("  +12025550143 ", "GB", VALID_US),
        ("+7 912 345-67-89", "RU", "79123456789"),
        ("8 (912) 345-67-89", "RU", "79123456789"),
        ("79123456789", "RU", "79123456789"),
        ("(416) 555-0143", "CA", "14165550143"),
        ("+1 416 555 0143", "US", "14165550143"),
    ],
)
def test_formatted_numbers_normalise_to_provider_digits(
    raw: str, region: str, expected: str
) -> None:
    assert normalise_phone(raw, region) == expected


def test_plain_international_digits_are_accepted_when_not_valid_in_the_default_region() -> None:
    assert normalise_phone("79123456789", "US") == "79123456789"


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        ("", "US", "empty"),
        ("   ", "US", "empty"),
        ("hello", "US", "not a number"),
        ("2025550", "US", "not a valid number for region US"),
        ("+1 202 555 01", "US", "not a valid number for region US"),
        ("+44 7911 123456", "US", "too long for the provider (max 11 digits)"),
        ("+999 1234567", "US", "unknown country code"),
        ("1" * 70, "US", "too long (70 characters)"),
    ],
)
def test_invalid_numbers_raise_with_a_human_reason(raw: str, region: str, reason: str) -> None:
    with pytest.raises(InvalidPhone) as info:
        normalise_phone(raw, region)
    assert str(info.value) == reason


def test_invalid_phone_is_a_value_error() -> None:
    assert issubclass(InvalidPhone, ValueError)


def test_an_unknown_default_region_is_caller_misuse() -> None:
    with pytest.raises(ValueError, match="unknown default region"):
        normalise_phone("hello", "XX")


def test_time_zones_come_from_the_number() -> None:
    assert "America/New_York" in phone_time_zones(VALID_US)
    assert phone_time_zones("99999") == ()


# --- properties ----------------------------------------------------------------------------------

_US_NUMBERS = st.builds(
    lambda area, exchange, line: f"{area}{exchange}{line:04d}",
    st.sampled_from(["202", "212", "312", "415", "617", "713"]),
    st.integers(200, 999).map(str),
    st.integers(0, 9999),
)
_NOISE = st.sampled_from(["", " ", "-", ".", "(", ")", "  "])


@given(national=_US_NUMBERS, noise=st.lists(_NOISE, min_size=11, max_size=11), plus=st.booleans())
def test_formatting_noise_around_a_valid_number_normalises_to_the_same_digits(
    national: str, noise: list[str], plus: bool
) -> None:
    clean = normalise_phone(national, "US")
    digits = "1" + national
    noisy = "".join(n + d for n, d in zip(noise, digits, strict=True))
    assert normalise_phone(("+" if plus else "") + noisy, "US") == clean == digits


@given(raw=st.text(max_size=30), region=st.sampled_from(["US", "GB", "RU", "DE", "IN"]))
@example(raw="+", region="US")
@example(raw="00", region="GB")
def test_output_is_always_digits_of_provider_length_or_invalid_phone(raw: str, region: str) -> None:
    try:
        digits = normalise_phone(raw, region)
    except InvalidPhone:
        return
    assert digits.isascii()
    assert digits.isdigit()
    assert len(digits) <= phones.PROVIDER_MAX_DIGITS


@given(raw=st.text(alphabet=st.characters(categories=["L", "P", "S", "Zs"]), max_size=30))
def test_garbage_without_digits_never_passes(raw: str) -> None:
    with pytest.raises(InvalidPhone):
        normalise_phone(raw, "US")


def _authoritative(text: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return f"{number.country_code}{phonenumbers.national_significant_number(number)}"


def _example_numbers() -> list[tuple[str, str]]:
    samples = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (
            phonenumbers.PhoneNumberType.FIXED_LINE,
            phonenumbers.PhoneNumberType.MOBILE,
            phonenumbers.PhoneNumberType.TOLL_FREE,
            phonenumbers.PhoneNumberType.VOIP,
        ):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                samples.append((region, phonenumbers.format_number(number, 0)))
    return samples


def test_fast_path_agrees_with_phonenumbers_on_every_regions_example_numbers() -> None:
    checked = 0
    for region, e164 in _example_numbers():
        digits = e164[1:]
        national = phonenumbers.national_significant_number(phonenumbers.parse(e164))
        for text, default in ((e164, "US"), (digits, region), (national, region), (digits, "US")):
            fast = phones._fast(text, default)
            if fast is not None:
                checked += 1
                assert fast == _authoritative(text, default), (text, default)
    assert checked > 500


@settings(max_examples=300)
@given(
    digits=st.text(alphabet="0123456789", min_size=7, max_size=15),
    plus=st.booleans(),
    region=st.sampled_from(["US", "CA", "GB", "RU", "KZ", "DE", "IT", "FR", "IN", "BR", "JM"]),
)
def test_fast_path_only_answers_what_phonenumbers_would(
    digits: str, plus: bool, region: str
) -> None:
    text = ("+" if plus else "") + digits
    fast = phones._fast(text, region)
    if fast is not None:
        assert fast == _authoritative(text, region)


_VALID_SAMPLES = [
    (region, phonenumbers.format_number(number, 0))
    for region in ("US", "CA", "GB", "DE", "FR", "IT", "RU", "IN", "BR", "JM")
    for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE)
    if (number := phonenumbers.example_number_for_type(region, kind)) is not None
]


@settings(max_examples=400)
@given(
    sample=st.sampled_from(_VALID_SAMPLES),
    tail=st.integers(0, 9999),
    shape=st.sampled_from(["e164", "digits", "national"]),
)
def test_fast_path_answers_generated_numbers_exactly_as_the_full_parse(
    sample: tuple[str, str], tail: int, shape: str
) -> None:
    """Numbers near real ones (last four digits varied): valid ones in the shapes a contact list
    holds, invalid ones too. Whenever the fast path answers, the full parse answers the same, and
    the commonest shape (E.164 with plus) of a valid number is answered by the fast path itself."""
    region, e164 = sample
    e164 = f"{e164[:-4]}{tail:04d}"
    national = phonenumbers.national_significant_number(phonenumbers.parse(e164))
    text = {"e164": e164, "digits": e164[1:], "national": national}[shape]
    fast = phones._fast(text, region)
    full = _authoritative(text, region)
    if fast is not None:
        assert fast == full
    if shape == "e164" and full is not None and len(full) <= phones.PROVIDER_MAX_DIGITS:
        assert fast == full
    try:
        assert normalise_phone(text, region) == full
    except InvalidPhone:
        assert full is None or len(full) > phones.PROVIDER_MAX_DIGITS
