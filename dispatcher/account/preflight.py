"""Does a campaign fit the account? Pure checks of a spec against `AccountFacts`.

What is checked, each against what the provider said (or, for records, what is known here):

- `outgoingPhone` must be a number added and confirmed in the account (a personal number, what
  `getPhones` lists without `all`); the work (system) numbers are `dutyPhone = 1`'s to pick, and
  `dutyPhone = 1` needs at least one of them. The sandbox enforces the same rule.
- `lang` must be one of the codes `getAvailableLanguages` offers.
- `record.id` and `ivrs.*.record.id` must be records known to exist. The provider's API cannot list
  records, so "known" means uploaded with `dispatcher records upload` (kept in Redis) or listed in
  `DISPATCHER_ACCOUNT_RECORD_IDS` (records made in the personal account).
- `templateId` must be a template of the account, and not one it says is unmoderated (when the
  template list could be read).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from dispatcher.account.errors import AccountProblem
from dispatcher.account.facts import AccountFacts
from dispatcher.effebot.requests import CallOptions, TemplateCallOptions
from dispatcher.spec import CampaignSpec

__all__ = ["account_problems"]

#: Allowed values listed in a message at most (an account may hold hundreds of records).
_LISTED = 20


def _listing(values: Iterable[str]) -> str:
    shown = list(values)
    if not shown:
        return "none"
    more = len(shown) - _LISTED
    text = ", ".join(shown[:_LISTED])
    return f"{text} and {more} more" if more > 0 else text


def account_problems(
    spec: CampaignSpec, facts: AccountFacts, known_record_ids: Collection[int]
) -> list[AccountProblem]:
    """Every field of `spec` the account cannot serve (empty: the campaign fits)."""
    problems: list[AccountProblem] = []
    if spec.call is not None:
        problems += _caller("call", spec.call, facts)
        problems += _language(spec.call, facts)
        problems += _records(spec.call, known_record_ids)
    if spec.template is not None:
        problems += _caller("template", spec.template, facts)
        problems += _template(spec.template, facts)
    return problems


def _caller(
    where: str, options: CallOptions | TemplateCallOptions, facts: AccountFacts
) -> list[AccountProblem]:
    personal = tuple(sorted(facts.personal_phones))
    if options.outgoing_phone is not None and options.outgoing_phone not in personal:
        hint = " (or dutyPhone = 1 for a work number)" if facts.system_phones else ""
        system = options.outgoing_phone in facts.system_phones
        why = "is a work number: use dutyPhone = 1" if system else "is not confirmed in the account"
        return [
            AccountProblem(
                f"{where}.outgoingPhone",
                options.outgoing_phone,
                personal,
                f"{options.outgoing_phone} {why}; allowed: {_listing(personal)}{hint}",
            )
        ]
    if options.duty_phone == 1 and not facts.system_phones:
        return [
            AccountProblem(
                f"{where}.dutyPhone",
                "1",
                personal,
                "the account has no work numbers for dutyPhone = 1; use outgoingPhone, "
                f"allowed: {_listing(personal)}",
            )
        ]
    return []


def _language(options: CallOptions, facts: AccountFacts) -> list[AccountProblem]:
    codes = facts.language_codes
    if options.lang is None or codes is None or options.lang in codes:
        return []
    close = [code for code in codes if code.lower() == options.lang.lower()]
    hint = f" (did you mean {close[0]}?)" if close else ""
    return [
        AccountProblem(
            "call.lang",
            options.lang,
            tuple(codes),
            f"{options.lang} is not offered by the account{hint}; allowed: {_listing(codes)}",
        )
    ]


def _records(options: CallOptions, known: Collection[int]) -> list[AccountProblem]:
    wanted: list[tuple[str, int]] = []
    if options.record.id is not None:
        wanted.append(("call.record.id", options.record.id))
    for i, ivr in enumerate(options.ivrs or []):
        if ivr.record is not None and ivr.record.id is not None:
            wanted.append((f"call.ivrs.{i}.record.id", ivr.record.id))
    allowed = tuple(str(record_id) for record_id in sorted(known))
    return [
        AccountProblem(
            field,
            str(record_id),
            allowed,
            f"record {record_id} is not known to exist in the account; known: "
            f"{_listing(allowed)} (upload with `dispatcher records upload`, or list records made "
            "in the personal account in DISPATCHER_ACCOUNT_RECORD_IDS)",
        )
        for field, record_id in wanted
        if record_id not in known
    ]


def _template(options: TemplateCallOptions, facts: AccountFacts) -> list[AccountProblem]:
    if facts.templates is None:
        return []
    moderated = dict(facts.templates)
    usable = tuple(str(t) for t, flag in sorted(moderated.items()) if flag is not False)
    if options.template_id not in moderated:
        message = f"template {options.template_id} is not in the account"
    elif moderated[options.template_id] is False:
        message = f"template {options.template_id} has not passed moderation"
    else:
        return []
    return [
        AccountProblem(
            "template.templateId",
            str(options.template_id),
            usable,
            f"{message}; usable: {_listing(usable)}",
        )
    ]
