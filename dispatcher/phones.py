"""Phone numbers: parse, validate and normalise to the provider's format (E.164 digits, no plus).

`phonenumbers` is the authority on what a valid number is, but its `parse` + `is_valid_number`
cost 50-90 us per number, too slow for a million-row contact list. So the common shapes (digits
with optional separators, optionally led by "+") take a fast path that runs the *same* decisions
on `phonenumbers`' own region metadata with the patterns pre-combined into one compiled regex per
region. The fast path only ever answers "valid, and these are the digits"; whenever a number is
invalid or its shape needs any of `parse`'s subtler rules (an international dialling prefix, a
national prefix to strip, a leading zero, a non-geographic code) it defers to `phonenumbers`
itself, which also writes the human-readable reason. tests/test_phones.py checks both paths agree.

A plain digit string that is not valid in the default region is tried once more as an
international number, because that is exactly the provider's own format ("447911123456").
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import phonenumbers
from phonenumbers import timezone as pn_timezone

__all__ = ["PROVIDER_MAX_DIGITS", "InvalidPhone", "normalise_phone", "phone_time_zones"]

#: The provider's phone fields are string(11).
PROVIDER_MAX_DIGITS = 11
#: Longer raw values are rejected before any parsing (phonenumbers itself stops at 250).
MAX_RAW_CHARS = 64

_SEPARATORS = str.maketrans("", "", " -().")
_PARSE_REASONS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "not a number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
    phonenumbers.NumberParseException.TOO_LONG: "too long",
}
# Number types in the order phonenumbers tries them; for validity only "matches any" matters.
_TYPE_DESCS = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
)


class InvalidPhone(ValueError):
    """A raw value that is not a valid, dialable phone number; the message is the short reason."""


def normalise_phone(raw: str, default_region: str) -> str:
    """The provider's form of a phone number ("+1 (202) 555-0143" -> "12025550143")."""
    text = raw.strip()
    if not text:
        raise InvalidPhone("empty")
    if len(text) > MAX_RAW_CHARS:
        raise InvalidPhone(f"too long ({len(text)} characters)")
    region = default_region.upper()
    digits = _fast(text, region)
    if digits is None:
        digits = _slow(text, region)
    if len(digits) > PROVIDER_MAX_DIGITS:
        raise InvalidPhone(f"too long for the provider (max {PROVIDER_MAX_DIGITS} digits)")
    return digits


def phone_time_zones(phone_digits: str) -> tuple[str, ...]:
    """IANA time zones a normalised number may be in; empty when phonenumbers cannot tell."""
    try:
        number = phonenumbers.parse("+" + phone_digits, None)
    except phonenumbers.NumberParseException:
        return ()
    zones = pn_timezone.time_zones_for_number(number)
    return tuple(z for z in zones if z != pn_timezone.UNKNOWN_TIMEZONE)


# --- the authoritative path ----------------------------------------------------------------------


def _slow(text: str, region: str) -> str:
    """Normalise with phonenumbers.parse and is_valid_number, raising with a readable reason."""
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown default region {region!r}")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        number = None
        reason = _PARSE_REASONS.get(exc.error_type, "not a number")
    if number is not None:
        if phonenumbers.is_valid_number(number):
            return _e164_digits(number)
        if number.country_code == phonenumbers.country_code_for_region(region):
            reason = f"not a valid number for region {region}"
        else:
            reason = f"not a valid number for country code +{number.country_code}"
    # The provider's own format: country code and number, no plus.
    plain = text.translate(_SEPARATORS)
    if plain.isascii() and plain.isdigit():
        try:
            number = phonenumbers.parse("+" + plain, None)
        except phonenumbers.NumberParseException:
            number = None
        if number is not None and phonenumbers.is_valid_number(number):
            return _e164_digits(number)
    raise InvalidPhone(reason)


def _e164_digits(number: phonenumbers.PhoneNumber) -> str:
    return f"{number.country_code}{phonenumbers.national_significant_number(number)}"


# --- the fast path -------------------------------------------------------------------------------


#: Matches nothing: stands in for absent metadata so the hot path needs no None checks.
_NEVER = re.compile(r"(?!)")


@dataclass(frozen=True, slots=True)
class _RegionRules:
    """What parse consults about one default region, pre-compiled."""

    country_code: int
    code_str: str
    general: re.Pattern[str]
    too_long_above: int  # parse's "TOO_LONG" for the general description, unless local-only
    local_lengths: tuple[int, ...]
    national_prefix: re.Pattern[str]
    idd: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class _CodeRules:
    """How is_valid_number decides for one country code: (leading digits, validity) per region."""

    regions: tuple[tuple[re.Pattern[str] | None, re.Pattern[str]], ...]
    main_national_prefix: re.Pattern[str]

    def is_valid(self, nsn: str) -> bool:
        regions = self.regions
        if len(regions) == 1:
            return regions[0][1].fullmatch(nsn) is not None
        # phonenumbers' _region_code_for_number_from_list, then validity for that region.
        for leading, valid in regions:
            if leading is not None:
                if leading.match(nsn):
                    return valid.fullmatch(nsn) is not None
            elif valid.fullmatch(nsn):
                return True
        return False


def _fast(text: str, region: str) -> str | None:
    """E.164 digits for a valid number in a simple shape, or None to use the authoritative path.

    Kept flat on purpose: it runs once per contact row.
    """
    plus = text[0] == "+"
    digits = text[1:] if plus else text
    if not (digits.isascii() and digits.isdigit()):
        digits = digits.translate(_SEPARATORS)
        if not (digits.isascii() and digits.isdigit()):
            return None
    if not 7 <= len(digits) <= 15 or digits[0] == "0":
        return None
    if plus:
        for size in (1, 2, 3):
            code = int(digits[:size])
            if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
                break
        else:
            return None
        nsn = digits[size:]
        rules = _code_rules(code)
        if rules is None or rules.main_national_prefix.match(nsn):
            return None
    else:
        region_rules = _region_rules(region)
        if region_rules is None or region_rules.idd.match(digits):
            return None
        code = region_rules.country_code
        nsn = digits
        if digits.startswith(region_rules.code_str):
            # parse keeps the default country code stripped when that turns an invalid number
            # into a plausible one, or when the whole is too long to be national.
            rest = digits[len(region_rules.code_str) :]
            if region_rules.national_prefix.match(rest):
                return None
            general = region_rules.general
            if (
                len(digits) > region_rules.too_long_above
                and len(digits) not in region_rules.local_lengths
            ) or (not general.fullmatch(digits) and general.fullmatch(rest)):
                nsn = rest
        if nsn is digits and region_rules.national_prefix.match(digits):
            return None
        rules = _code_rules(code)
        if rules is None:
            return None
    if nsn[:1] == "0" or not rules.is_valid(nsn):
        return None
    return f"{code}{nsn}"


def _compile(pattern: str | None) -> re.Pattern[str]:
    return re.compile(pattern) if pattern else _NEVER


@functools.cache
def _region_rules(region: str) -> _RegionRules | None:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region, None)
    if metadata is None or metadata.country_code is None:
        return None
    general = metadata.general_desc
    if general is None or not general.possible_length:
        return None
    lengths = general.possible_length
    return _RegionRules(
        country_code=metadata.country_code,
        code_str=str(metadata.country_code),
        general=_compile(general.national_number_pattern),
        too_long_above=sys.maxsize if lengths[0] == -1 else lengths[-1],
        local_lengths=tuple(general.possible_length_local_only or ()),
        national_prefix=_compile(metadata.national_prefix_for_parsing),
        idd=_compile(metadata.international_prefix),
    )


@functools.cache
def _code_rules(code: int) -> _CodeRules | None:
    regions: Sequence[str] = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code, ())
    if not regions or phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY in regions:
        return None  # non-geographic codes (+800, +882, ...) are rare: phonenumbers decides
    main = phonenumbers.PhoneMetadata.metadata_for_region(regions[0], None)
    if main is None:
        return None
    compiled = []
    for region in regions:
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region, None)
        if metadata is None:
            continue
        leading = re.compile(metadata.leading_digits) if metadata.leading_digits else None
        compiled.append((leading, _validity_pattern(metadata)))
    return _CodeRules(
        regions=tuple(compiled), main_national_prefix=_compile(main.national_prefix_for_parsing)
    )


def _validity_pattern(metadata: phonenumbers.PhoneMetadata) -> re.Pattern[str]:
    """One regex equivalent to `_number_type_helper(nsn, metadata) != UNKNOWN` for digit strings."""
    general = _desc_pattern(metadata.general_desc)
    if general is None:
        return _NEVER
    # Only "matches any" matters, so the commonest types go first: a valid number is usually
    # decided by the first branch instead of after every rarer type has been tried.
    names = ["fixed_line"]
    if not metadata.same_mobile_and_fixed_line_pattern:
        names.append("mobile")
    names += [n for n in _TYPE_DESCS if n != "fixed_line"]
    branches = [p for p in (_desc_pattern(getattr(metadata, n)) for n in names) if p is not None]
    if not branches:
        return _NEVER
    return re.compile(f"(?={general}\\Z)(?:{'|'.join(branches)})")


def _desc_pattern(desc: phonenumbers.PhoneNumberDesc | None) -> str | None:
    """A regex fragment for `_is_number_matching_desc`: possible lengths, then the pattern."""
    if desc is None or not desc.national_number_pattern:
        return None
    lengths = tuple(desc.possible_length or ())
    if lengths and lengths[0] == -1:
        return None
    body = f"(?:{desc.national_number_pattern})"
    if not lengths:
        return body
    sizes = "|".join(f"\\d{{{n}}}" for n in lengths)
    return f"(?=(?:{sizes})\\Z){body}"
