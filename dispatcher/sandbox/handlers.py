"""One function per provider endpoint: validated body in, response payload out.

Handlers are synchronous and do no I/O: the HTTP layer (`app`) parses the body, checks the key,
injects faults and counts; a handler validates the rest, applies it to the state and says what it
applied (the api call id and phones of a create, which the fault log and the stats record).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dispatcher.sandbox.errors import InvalidRequest
from dispatcher.sandbox.state import SandboxState
from dispatcher.sandbox.validation import (
    MAX_RECORD_NAME_LEN,
    MAX_RECORD_TEXT_LEN,
    Checker,
    CreateSpec,
    RecordRules,
    RecordSpec,
    parse_caller,
    parse_create,
    parse_ivrs,
    parse_phones,
    parse_planned_at,
)

__all__ = ["Handler", "Outcome", "Request", "build_routes"]


@dataclass(slots=True)
class Request:
    """What a handler sees of an HTTP request."""

    body: dict[str, Any]
    query: list[tuple[str, str]]
    client: str
    upload_name: str | None = None
    method: str = "POST"


@dataclass(slots=True)
class Outcome:
    """A handler's answer: the JSON payload, and what was applied (for stats and faults)."""

    payload: Any
    api_call_id: int | None = None
    phones: list[str] = field(default_factory=list)


Handler = Callable[[SandboxState, Request], Outcome]


def _id_list(check: Checker, key: str, value: Any) -> list[int]:
    if not isinstance(value, list) or not value:
        check.fail(key, f"The {key} must be a non-empty array.")
        return []
    ids = [check.integer(f"{key}.{i}", v) for i, v in enumerate(value)]
    return [i for i in ids if i is not None]


def create(state: SandboxState, request: Request) -> Outcome:
    """`apiCalls/create`."""
    config = state.config
    spec = parse_create(
        request.body,
        account_phones=state.confirmed_phone_numbers(),
        record_ids=state.record_ids(),
        language_codes={lang.code for lang in config.languages},
        in_moderation=state.records_in_moderation(),
        text_moderated=config.generated_voice_moderation,
        require_gender=config.require_gender,
    )
    return _apply_create(state, spec, request)


def _one_or_list(state: SandboxState, items: list[dict[str, Any]]) -> Any:
    """The reference's bare object when there is exactly one (`reference_shapes`), else a list."""
    if state.config.reference_shapes and len(items) == 1:
        return items[0]
    return items


def _apply_create(state: SandboxState, spec: CreateSpec, request: Request) -> Outcome:
    if spec.duty_phone and spec.outgoing_phone is None and not state.duty_phones():
        raise InvalidRequest({"dutyPhone": ["The account has no work numbers to pick from."]})
    payload = state.create_call(spec, label=request.client)
    return Outcome(payload, payload["id"], list(spec.phones))


def create_from_template(state: SandboxState, request: Request) -> Outcome:
    """Create from an API template (path configurable: the reference does not give it)."""
    check = Checker(request.body)
    phones, as_list = parse_phones(check)
    outgoing, duty = parse_caller(check, state.confirmed_phone_numbers())
    planned_at = parse_planned_at(check)
    template = None
    if not check.present("templateId"):
        check.fail("templateId", "The templateId field is required.")
    else:
        template_id = check.integer("templateId", check.get("templateId"))
        template = next((t for t in state.config.templates if t.id == template_id), None)
        if template_id is not None and template is None:
            check.fail("templateId", "The selected templateId is invalid.")
        elif template is not None and not template.moderated:
            check.fail("templateId", "The template has not passed moderation.")
    check.raise_if_failed()
    assert template is not None  # guaranteed by raise_if_failed above
    ivrs = parse_ivrs(Checker({}), template.ivrs, RecordRules(set()))
    spec = CreateSpec(
        phones,
        as_list,
        outgoing,
        duty,
        planned_at,
        record=RecordSpec(template.record_id, template.record_text),
        ivr_specs=ivrs,
        charge_records=False,
    )
    return _apply_create(state, spec, request)


def get(state: SandboxState, request: Request) -> Outcome:
    """`apiCalls/get`: ids from the query string (`apiCallIdList[]=1&apiCallIdList[]=2`)."""
    check = Checker({})
    raw = [v for k, v in request.query if k == "apiCallIdList" or k.startswith("apiCallIdList[")]
    if not raw:
        check.fail("apiCallIdList", "The apiCallIdList field is required.")
    ids = [check.integer(f"apiCallIdList.{i}", v) for i, v in enumerate(raw)]
    check.raise_if_failed()
    return Outcome(_one_or_list(state, state.get_details(i for i in ids if i is not None)))


def update(state: SandboxState, request: Request) -> Outcome:
    """`apiCalls/update`: replan not-yet-started calls."""
    check = Checker(request.body)
    raw = check.get("callList")
    changes: list[tuple[int, int]] = []
    if not isinstance(raw, list) or not raw:
        check.fail("callList", "The callList must be a non-empty array.")
    else:
        for i, item in enumerate(raw):
            if not isinstance(item, dict):
                check.fail(f"callList.{i}", f"The callList.{i} must be an object.")
                continue
            call_id = check.integer(f"callList.{i}.id", item.get("id"))
            replanned_at = check.integer(
                f"callList.{i}.replannedAt", item.get("replannedAt"), low=0
            )
            if call_id is not None and replanned_at is not None:
                changes.append((call_id, replanned_at))
    check.raise_if_failed()
    return Outcome({"status": "success", "data": {"callIdList": state.replan(changes)}})


def remove(state: SandboxState, request: Request) -> Outcome:
    """`apiCalls/remove`: `id` (single) or `idList` (bulk); only not-yet-started calls."""
    check = Checker(request.body)
    if check.present("idList"):
        ids = _id_list(check, "idList", check.get("idList"))
        check.raise_if_failed()
        return Outcome({"status": "success", "data": {"callIdList": state.remove(ids)}})
    if not check.present("id"):
        check.fail("id", "The id field is required when idList is not present.")
    call_id = check.integer("id", check.get("id")) if not check.errors else None
    check.raise_if_failed()
    assert call_id is not None  # guaranteed by raise_if_failed above
    state.remove([call_id])
    return Outcome({"status": "success", "data": []})


def create_record(state: SandboxState, request: Request) -> Outcome:
    """`apiCalls/createRecord`: source=text (JSON or form) or source=file (multipart)."""
    check = Checker(request.body)
    name = check.string("name", request.body.get("name"), max_len=MAX_RECORD_NAME_LEN)
    source = request.body.get("source")
    text = None
    if source not in ("text", "file"):
        check.fail("source", "The selected source is invalid (text or file).")
    elif source == "text":
        text = check.string("text", request.body.get("text"), max_len=MAX_RECORD_TEXT_LEN)
    elif request.upload_name is None:
        check.fail("file", "The file field is required when source is file.")
    check.raise_if_failed()
    assert name is not None  # guaranteed by raise_if_failed above
    return Outcome(state.create_record(name, text))


def remove_record(state: SandboxState, request: Request) -> Outcome:
    """`apiCalls/removeRecord`: one removal object per record that existed (bare if only one)."""
    check = Checker(request.body)
    ids = _id_list(check, "idList", request.body.get("idList"))
    check.raise_if_failed()
    return Outcome(_one_or_list(state, state.remove_records(ids)))


def user_info(state: SandboxState, request: Request) -> Outcome:
    """`apiCalls/userInfo`."""
    return Outcome(state.user_info())


def get_phones(state: SandboxState, request: Request) -> Outcome:
    """`apiCalls/getPhones`: personal numbers; with all=true also the shared/system ones."""
    raw = request.body.get("all", False)
    if raw not in (True, False, 0, 1, "true", "false", "0", "1"):
        raise InvalidRequest({"all": ["The all field must be true or false."]})
    include_shared = raw in (True, 1, "true", "1")
    return Outcome({"status": "success", "data": state.phone_list(include_shared)})


def get_languages(state: SandboxState, request: Request) -> Outcome:
    """`apiCalls/getAvailableLanguages` (GET with the key in the query string, or POST)."""
    return Outcome({"status": "success", "data": state.language_list()})


def get_templates(state: SandboxState, request: Request) -> Outcome:
    """List API templates (path configurable: the reference does not give it)."""
    check = Checker(request.body)
    only = check.present("onlyModerated") and bool(
        check.flag("onlyModerated", check.get("onlyModerated"))
    )
    check.raise_if_failed()
    return Outcome({"status": "success", "data": state.template_list(only)})


def confirm_phone(state: SandboxState, request: Request) -> Outcome:
    """`apiVerificationPhones/confirmPhone`: any 4-digit pin confirms the number."""
    check = Checker(request.body)
    phone = check.phone("phone", request.body.get("phone"))
    pin = request.body.get("pin")
    pin_text = str(pin) if isinstance(pin, int | str) and not isinstance(pin, bool) else ""
    if len(pin_text) != 4 or not pin_text.isdigit():
        check.fail("pin", "The pin must be 4 digits.")
    check.raise_if_failed()
    assert phone is not None  # guaranteed by raise_if_failed above
    state.confirm_phone(phone)
    return Outcome({"status": "success", "data": "done"})


def build_routes(template_list_path: str, template_create_path: str) -> Mapping[str, Handler]:
    """Every API path the sandbox serves, with its handler."""
    return {
        "/apiCalls/create": create,
        "/apiCalls/get": get,
        "/apiCalls/update": update,
        "/apiCalls/remove": remove,
        "/apiCalls/createRecord": create_record,
        "/apiCalls/removeRecord": remove_record,
        "/apiCalls/userInfo": user_info,
        "/apiCalls/getPhones": get_phones,
        "/apiCalls/getAvailableLanguages": get_languages,
        "/apiVerificationPhones/confirmPhone": confirm_phone,
        template_list_path: get_templates,
        template_create_path: create_from_template,
    }
