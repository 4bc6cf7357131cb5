"""Request validation as the reference documents it: pure functions from a JSON body to a spec.

Each `parse_*` function takes the decoded body (and what it must check against: the account's
phones, existing records, languages) and returns a normalised value, or raises `InvalidRequest`
with every problem found, keyed by dotted field path (`ivrs.0.smsText`). Where the reference is
vague, the choice is documented in dispatcher/sandbox/README.md.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from dispatcher.sandbox.errors import InvalidRequest
from dispatcher.sandbox.timeline import IvrSpec

__all__ = [
    "MAX_PHONE_LEN",
    "MAX_RECORD_NAME_LEN",
    "MAX_RECORD_TEXT_LEN",
    "MAX_SMS_TEXT_LEN",
    "MAX_WEBHOOK_URL_LEN",
    "Checker",
    "CreateSpec",
    "RecordRules",
    "RecordSpec",
    "build_ivrs",
    "parse_caller",
    "parse_create",
    "parse_ivrs",
    "parse_phones",
    "parse_planned_at",
]

MAX_PHONE_LEN = 11
MAX_RECORD_TEXT_LEN = 1024
MAX_SMS_TEXT_LEN = 70
MAX_WEBHOOK_URL_LEN = 255
MAX_LANG_LEN = 5
#: createRecord's `name`: the reference gives no length; 255 like every other bounded string.
MAX_RECORD_NAME_LEN = 255

_MISSING = object()


@dataclass(slots=True)
class RecordSpec:
    """The audio of a call or an IVR action: an existing record or a text to generate."""

    record_id: int | None = None
    text: str | None = None
    gender: int = 0


@dataclass(slots=True)
class CreateSpec:
    """A validated `apiCalls/create` (or createFromTemplate) request."""

    phones: list[str]
    phones_as_list: bool
    outgoing_phone: str | None
    duty_phone: bool
    planned_at: int | None
    need_recording: bool = False
    webhook_url: str | None = None
    record: RecordSpec = field(default_factory=RecordSpec)
    ivr_specs: list[dict[str, Any]] = field(default_factory=list)
    manager_delivery_phone: bool = False
    lang: str | None = None
    #: False for template calls: a template's audio was generated (and paid for) with it.
    charge_records: bool = True

    @property
    def generated_records(self) -> int:
        """How many audio files this request makes the provider generate from text."""
        if not self.charge_records:
            return 0
        count = 1 if self.record.text is not None else 0
        return count + sum(1 for ivr in self.ivr_specs if ivr["record"] and ivr["record"].text)


class Checker:
    """Collects field errors; typed getters return the value or None after recording an error."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.errors: dict[str, list[str]] = {}

    def fail(self, path: str, message: str) -> None:
        """Record one error for a field."""
        self.errors.setdefault(path, []).append(message)

    def raise_if_failed(self) -> None:
        """Raise `InvalidRequest` when anything was recorded."""
        if self.errors:
            raise InvalidRequest(self.errors)

    def string(self, path: str, value: Any, *, max_len: int | None = None) -> str | None:
        """A non-empty string of at most `max_len` characters."""
        if not isinstance(value, str):
            self.fail(path, f"The {path} must be a string.")
            return None
        if value == "":
            self.fail(path, f"The {path} field is required.")
            return None
        if max_len is not None and len(value) > max_len:
            self.fail(path, f"The {path} may not be greater than {max_len} characters.")
            return None
        return value

    def phone(self, path: str, value: Any) -> str | None:
        """A phone number: a string of 1 to 11 digits."""
        text = self.string(path, value, max_len=MAX_PHONE_LEN)
        if text is None:
            return None
        if not text.isascii() or not text.isdigit():
            self.fail(path, f"The {path} must contain digits only.")
            return None
        return text

    def integer(
        self, path: str, value: Any, *, low: int | None = None, high: int | None = None
    ) -> int | None:
        """An integer (or a string of digits, as PHP-style APIs accept) within [low, high]."""
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
            number = int(value)
        if number is None:
            self.fail(path, f"The {path} must be an integer.")
            return None
        if (low is not None and number < low) or (high is not None and number > high):
            self.fail(path, f"The {path} must be between {low} and {high}.")
            return None
        return number

    def flag(self, path: str, value: Any) -> bool | None:
        """A 0/1 flag (also "0"/"1" and JSON booleans)."""
        if value in (0, 1, "0", "1") and not isinstance(value, float):
            return value in (1, "1")
        self.fail(path, f"The {path} must be 0 or 1.")
        return None

    def url(self, path: str, value: Any) -> str | None:
        """An http(s) URL of at most 255 characters."""
        text = self.string(path, value, max_len=MAX_WEBHOOK_URL_LEN)
        if text is not None and not text.startswith(("http://", "https://")):
            self.fail(path, f"The {path} format is invalid.")
            return None
        return text

    def present(self, key: str) -> bool:
        """Whether the body has a non-null value for `key`."""
        return self.get(key) is not _MISSING

    def get(self, key: str) -> Any:
        """The body's value for `key`, or the missing marker (null counts as missing)."""
        value = self.body.get(key, _MISSING)
        return _MISSING if value is None else value


def _missing(value: Any) -> bool:
    return value is _MISSING or value is None


def parse_phones(check: Checker) -> tuple[list[str], bool]:
    """The `phone` | `phones` pair: exactly one of them, each a 1-11 digit string."""
    phone, phones = check.get("phone"), check.get("phones")
    if _missing(phone) and _missing(phones):
        check.fail("phone", "The phone field is required when phones is not present.")
        check.fail("phones", "The phones field is required when phone is not present.")
        return [], False
    if not _missing(phone) and not _missing(phones):
        check.fail("phones", "Send either phone or phones, not both.")
        return [], False
    if not _missing(phone):
        one = check.phone("phone", phone)
        return ([one] if one is not None else []), False
    if not isinstance(phones, list) or not phones:
        check.fail("phones", "The phones must be a non-empty array.")
        return [], True
    valid = [check.phone(f"phones.{i}", value) for i, value in enumerate(phones)]
    return [p for p in valid if p is not None], True


@dataclass(frozen=True, slots=True)
class RecordRules:
    """What a `record` is checked against: the account's records and its moderation state."""

    record_ids: Collection[int]
    #: Records that exist but have not passed moderation yet: a call cannot use them.
    in_moderation: Collection[int] = ()
    #: The account's generated voice still needs moderation: `record.text` is refused.
    text_moderated: bool = False


def _record(
    check: Checker,
    path: str,
    value: Any,
    rules: RecordRules,
    *,
    required: bool,
    require_gender: bool = False,
) -> RecordSpec | None:
    if _missing(value):
        if required:
            check.fail(path, f"The {path} field is required.")
        return None
    if not isinstance(value, dict):
        check.fail(path, f"The {path} must be an object.")
        return None
    spec = RecordSpec()
    record_id, text = value.get("id"), value.get("text")
    if _missing(record_id) and _missing(text):
        check.fail(
            f"{path}.id", f"The {path}.id field is required when {path}.text is not present."
        )
        check.fail(
            f"{path}.text", f"The {path}.text field is required when {path}.id is not present."
        )
    elif not _missing(record_id) and not _missing(text):
        check.fail(f"{path}.id", f"Send either {path}.id or {path}.text, not both.")
    elif not _missing(record_id):
        spec.record_id = check.integer(f"{path}.id", record_id)
        if spec.record_id is not None and spec.record_id not in rules.record_ids:
            check.fail(f"{path}.id", f"The selected {path}.id is invalid.")
        elif spec.record_id is not None and spec.record_id in rules.in_moderation:
            check.fail(f"{path}.id", f"The {path}.id record has not passed moderation yet.")
    else:
        spec.text = check.string(f"{path}.text", text, max_len=MAX_RECORD_TEXT_LEN)
        if spec.text is not None and rules.text_moderated:
            check.fail(
                f"{path}.text",
                "Calls with generated voice need moderation cancelled for the account.",
            )
    gender = value.get("gender")
    if not _missing(gender):
        flag = check.flag(f"{path}.gender", gender)
        spec.gender = int(flag) if flag is not None else 0
    elif require_gender:
        check.fail(f"{path}.gender", f"The {path}.gender field is required.")
    return spec


def _ivr(check: Checker, i: int, value: Any, rules: RecordRules) -> dict[str, Any]:
    path = f"ivrs.{i}"
    ivr: dict[str, Any] = {
        "digit": None,
        "keywords": (),
        "need_block": False,
        "record": None,
        "manager_phone": None,
        "sms_text": None,
        "webhook_url": None,
        "webhook_parameters": {},
    }
    if not isinstance(value, dict):
        check.fail(path, f"The {path} must be an object.")
        return ivr
    if not _missing(value.get("digit")):
        ivr["digit"] = check.integer(f"{path}.digit", value["digit"], low=0, high=9)
    if not _missing(value.get("keyWords")):
        words = check.string(f"{path}.keyWords", value["keyWords"])
        if words is not None:
            ivr["keywords"] = tuple(w.strip() for w in words.split("|") if w.strip())
    if not _missing(value.get("needBlock")):
        ivr["need_block"] = bool(check.flag(f"{path}.needBlock", value["needBlock"]))
    ivr["record"] = _record(check, f"{path}.record", value.get("record"), rules, required=False)
    if not _missing(value.get("managerPhone")):
        ivr["manager_phone"] = check.phone(f"{path}.managerPhone", value["managerPhone"])
    if not _missing(value.get("smsText")):
        ivr["sms_text"] = check.string(
            f"{path}.smsText", value["smsText"], max_len=MAX_SMS_TEXT_LEN
        )
    if not _missing(value.get("webhookUrl")):
        ivr["webhook_url"] = check.url(f"{path}.webhookUrl", value["webhookUrl"])
    if not _missing(value.get("webhookParameters")):
        raw = check.string(f"{path}.webhookParameters", value["webhookParameters"])
        if raw is not None:
            try:
                params = json.loads(raw)
            except ValueError:
                params = None
            if isinstance(params, dict):
                ivr["webhook_parameters"] = params
            else:
                check.fail(
                    f"{path}.webhookParameters",
                    "The webhookParameters must be a JSON object string.",
                )
    return ivr


def parse_caller(check: Checker, account_phones: Collection[str]) -> tuple[str | None, bool]:
    """The `outgoingPhone` | `dutyPhone` pair: a confirmed number of the account, or dutyPhone=1.

    `account_phones` are the numbers added and confirmed in the account (the personal ones);
    the system numbers are the work numbers dutyPhone=1 picks from, not an `outgoingPhone`.
    Both at once are refused: the reference requires one when the other is absent and does not
    say which would win, and the client refuses them together too.
    """
    duty_raw = check.get("dutyPhone")
    duty = bool(check.flag("dutyPhone", duty_raw)) if not _missing(duty_raw) else False
    outgoing_raw = check.get("outgoingPhone")
    outgoing: str | None = None
    if _missing(outgoing_raw):
        if not duty:
            check.fail(
                "outgoingPhone",
                "The outgoingPhone field is required when dutyPhone is not present or 0.",
            )
    elif duty:
        check.fail("outgoingPhone", "Send either outgoingPhone or dutyPhone=1, not both.")
    else:
        outgoing = check.phone("outgoingPhone", outgoing_raw)
        if outgoing is not None and outgoing not in account_phones:
            check.fail(
                "outgoingPhone", "The outgoingPhone is not a confirmed number of the account."
            )
            outgoing = None
    return outgoing, duty


def parse_ivrs(check: Checker, value: Any, rules: RecordRules) -> list[dict[str, Any]]:
    """The optional `ivrs` array, each action validated (duplicate digits are accepted)."""
    if _missing(value):
        return []
    if not isinstance(value, list):
        check.fail("ivrs", "The ivrs must be an array.")
        return []
    return [_ivr(check, i, v, rules) for i, v in enumerate(value)]


def parse_planned_at(check: Checker) -> int | None:
    """`plannedAt` in UNIX seconds (date_format:U), optional."""
    raw = check.get("plannedAt")
    return None if _missing(raw) else check.integer("plannedAt", raw, low=0)


def parse_create(
    body: dict[str, Any],
    *,
    account_phones: Collection[str],
    record_ids: Collection[int],
    language_codes: Collection[str],
    in_moderation: Collection[int] = (),
    text_moderated: bool = False,
    require_gender: bool = True,
) -> CreateSpec:
    """Validate an `apiCalls/create` body.

    `account_phones` are the confirmed numbers `outgoingPhone` may use; `record_ids` the records
    that exist, `in_moderation` those of them not approved yet. `require_gender` makes
    `record.gender` mandatory, as the reference's table says (its own samples omit it).
    """
    check = Checker(body)
    phones, as_list = parse_phones(check)
    outgoing, duty = parse_caller(check, account_phones)
    spec = CreateSpec(phones, as_list, outgoing, duty, parse_planned_at(check))
    if not _missing(raw := check.get("needRecording")):
        spec.need_recording = bool(check.flag("needRecording", raw))
    if not _missing(raw := check.get("webhookUrl")):
        spec.webhook_url = check.url("webhookUrl", raw)
    rules = RecordRules(record_ids, in_moderation, text_moderated)
    record = _record(
        check, "record", check.get("record"), rules, required=True, require_gender=require_gender
    )
    spec.record = record or RecordSpec()
    spec.ivr_specs = parse_ivrs(check, check.get("ivrs"), rules)
    if not _missing(raw := check.get("isManagerDeliveryPhone")):
        spec.manager_delivery_phone = bool(check.flag("isManagerDeliveryPhone", raw))
    if not _missing(raw := check.get("lang")):
        lang = check.string("lang", raw, max_len=MAX_LANG_LEN)
        if lang is not None and lang not in language_codes:
            check.fail("lang", "The selected lang is invalid.")
        spec.lang = lang
    check.raise_if_failed()
    return spec


def build_ivrs(ivr_specs: list[dict[str, Any]], first_id: int) -> list[IvrSpec]:
    """Turn validated IVR dicts into `IvrSpec`s with ids from `first_id` on."""
    return [
        IvrSpec(
            id=first_id + i,
            digit=ivr["digit"],
            keywords=ivr["keywords"],
            need_block=ivr["need_block"],
            manager_phone=ivr["manager_phone"],
            sms_text=ivr["sms_text"],
            webhook_url=ivr["webhook_url"],
            webhook_parameters=ivr["webhook_parameters"],
        )
        for i, ivr in enumerate(ivr_specs)
    ]
