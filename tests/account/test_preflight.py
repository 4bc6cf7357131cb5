"""Pure checks of a spec against the account's facts: each mismatch names its field and options."""

from __future__ import annotations

from typing import Any

import pytest

from dispatcher.account import AccountFacts, AccountMismatch, AccountProblem, account_problems
from dispatcher.spec import parse_spec

FACTS = AccountFacts(
    personal_phones=("99999999999", "99999999997"),
    system_phones=("18005550100",),
    languages=(("en-US", "English"), ("de-DE", "German")),
    templates=((1, True), (2, False)),
)
RECORDS = {1, 1342}


def problems(call: dict[str, Any] | None = None, **spec: Any) -> list[AccountProblem]:
    body: dict[str, Any] = {"name": "preflight", **spec}
    if call is not None:
        body["call"] = {"record": {"text": "Hi", "gender": 0}, **call}
    return account_problems(parse_spec(body), FACTS, RECORDS)


def test_a_campaign_that_fits_the_account_has_no_problem() -> None:
    assert problems({"outgoingPhone": "99999999997", "lang": "de-DE"}) == []
    assert problems({"dutyPhone": 1, "record": {"id": 1342, "gender": 1}}) == []
    assert problems(template={"templateId": 1, "dutyPhone": 1}) == []


def test_an_unconfirmed_caller_number_lists_the_confirmed_ones() -> None:
    [problem] = problems({"outgoingPhone": "15550001111"})
    assert problem.field == "call.outgoingPhone"
    assert problem.value == "15550001111"
    assert problem.allowed == ("99999999997", "99999999999")
    assert "99999999997, 99999999999" in problem.message
    assert "dutyPhone = 1" in problem.message


def test_a_work_number_as_caller_is_refused_pointing_at_duty_phone() -> None:
    [problem] = problems({"outgoingPhone": "18005550100"})
    assert "work number: use dutyPhone = 1" in problem.message


def test_duty_phone_needs_a_work_number() -> None:
    facts = AccountFacts(("99999999999",), (), None, None)
    spec = parse_spec({"name": "x", "call": {"dutyPhone": 1, "record": {"text": "a"}}})
    [problem] = account_problems(spec, facts, RECORDS)
    assert problem.field == "call.dutyPhone"
    assert "99999999999" in problem.message


def test_a_language_not_offered_lists_the_offered_ones() -> None:
    [problem] = problems({"dutyPhone": 1, "lang": "fr-FR"})
    assert (problem.field, problem.allowed) == ("call.lang", ("en-US", "de-DE"))
    assert "allowed: en-US, de-DE" in problem.message
    [cased] = problems({"dutyPhone": 1, "lang": "de-de"})
    assert "did you mean de-DE?" in cased.message


def test_unknown_languages_are_not_held_against_a_campaign() -> None:
    facts = AccountFacts(FACTS.personal_phones, FACTS.system_phones, None, None)
    spec = parse_spec(
        {"name": "x", "call": {"dutyPhone": 1, "lang": "fr-FR", "record": {"text": "a"}}}
    )
    assert account_problems(spec, facts, RECORDS) == []


def test_unknown_records_are_named_with_the_known_ones() -> None:
    call = {
        "dutyPhone": 1,
        "record": {"id": 77, "gender": 0},
        "ivrs": [{"digit": 1, "record": {"id": 1342}}, {"digit": 2, "record": {"id": 78}}],
    }
    found = problems(call)
    assert [(p.field, p.value) for p in found] == [
        ("call.record.id", "77"),
        ("call.ivrs.1.record.id", "78"),
    ]
    assert all(p.allowed == ("1", "1342") for p in found)
    assert "known: 1, 1342" in found[0].message
    assert "DISPATCHER_ACCOUNT_RECORD_IDS" in found[0].message


@pytest.mark.parametrize(
    ("template_id", "words"), [(2, "has not passed moderation"), (9, "is not in the account")]
)
def test_an_unusable_template_lists_the_usable_ones(template_id: int, words: str) -> None:
    [problem] = problems(template={"templateId": template_id, "dutyPhone": 1})
    assert problem.field == "template.templateId"
    assert words in problem.message
    assert problem.allowed == ("1",)


def test_every_problem_of_a_spec_is_reported_at_once() -> None:
    call = {"outgoingPhone": "1", "lang": "xx", "record": {"id": 5, "gender": 0}}
    error = AccountMismatch(problems(call))
    assert [p.field for p in error.problems] == [
        "call.outgoingPhone",
        "call.lang",
        "call.record.id",
    ]
    assert str(error).count(";") >= 2


def test_the_facts_survive_the_cache_round_trip() -> None:
    assert AccountFacts.from_json(FACTS.to_json()) == FACTS
    bare = AccountFacts((), (), None, None)
    assert AccountFacts.from_json(bare.to_json()) == bare
