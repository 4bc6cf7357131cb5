"""The provider's side of `dispatcher doctor`: the key, the balance, numbers, languages, templates.

Each check is one request (paced like every other request to the provider). Nothing is created:
the create-from-template path is probed with a request that has no phone and no template, which
the provider refuses without dialling anyone.
"""

from __future__ import annotations

from collections.abc import Callable

from dispatcher.doctor.findings import Finding
from dispatcher.effebot.client import EffebotClient
from dispatcher.effebot.errors import (
    AuthenticationRejected,
    EffebotError,
    EndpointMissing,
    RejectedError,
)
from dispatcher.settings import Settings

__all__ = ["provider_findings"]

PROVIDER_CHECKS = (
    "API key",
    "balance",
    "caller numbers",
    "languages",
    "template list",
    "template create",
)


def provider_findings(
    settings: Settings, client: EffebotClient, pace: Callable[[], object] = lambda: None
) -> list[Finding]:
    """Every provider check, in order; after a refused key or no answer the rest are skipped."""
    pace()
    try:
        info = client.user_info()
    except AuthenticationRejected as exc:
        return _stop(Finding("API key", "fail", f"the provider refused the key: {exc}"))
    except EffebotError as exc:
        where = settings.effebot_base_url
        return _stop(Finding("API key", "fail", f"no usable answer from {where}: {exc}"))
    findings = [
        Finding("API key", "ok", f"accepted (account {info.id})"),
        _balance(settings, info.balance),
    ]
    pace()
    findings.append(_phones(client))
    pace()
    findings.append(_languages(client))
    pace()
    findings.append(_template_list(client))
    pace()
    findings.append(_template_create(client))
    return findings


def _stop(first: Finding) -> list[Finding]:
    return [first] + [
        Finding(check, "skip", "not checked: the API key check failed")
        for check in PROVIDER_CHECKS[1:]
    ]


def _balance(settings: Settings, balance: float | None) -> Finding:
    if balance is None:
        return Finding("balance", "warn", "userInfo did not say")
    if balance <= 0:
        return Finding("balance", "fail", f"{balance:g}: every create will be refused")
    if settings.min_balance is not None and balance < settings.min_balance:
        return Finding(
            "balance",
            "fail",
            f"{balance:g} is below DISPATCHER_MIN_BALANCE {settings.min_balance:g}: "
            "running campaigns will be paused",
        )
    return Finding("balance", "ok", f"{balance:g}")


def _phones(client: EffebotClient) -> Finding:
    try:
        phones = client.get_phones(all=True)
    except EffebotError as exc:
        return Finding("caller numbers", "fail", f"getPhones failed: {exc}")
    personal = sorted(p.phone for p in phones if p.phone and not p.is_system and not p.overall)
    work = sorted(p.phone for p in phones if p.phone and p.is_system)
    if not personal and not work:
        return Finding("caller numbers", "fail", "none: no outgoingPhone and no dutyPhone = 1")
    detail = f"confirmed (outgoingPhone): {', '.join(personal) or 'none'}; "
    detail += f"work (dutyPhone = 1): {', '.join(work) or 'none'}"
    return Finding("caller numbers", "ok", detail)


def _languages(client: EffebotClient) -> Finding:
    try:
        languages = client.get_available_languages()
    except RejectedError as exc:
        return Finding("languages", "warn", f"not readable, `lang` is not checked: {exc}")
    except EffebotError as exc:
        return Finding("languages", "fail", f"getAvailableLanguages failed: {exc}")
    codes = ", ".join(lang.default_lang_code or "?" for lang in languages) or "none"
    return Finding("languages", "ok", f"{codes} (over {client.languages_method})")


def _template_list(client: EffebotClient) -> Finding:
    try:
        templates = client.list_templates()
    except EndpointMissing as exc:
        return Finding("template list", "fail", exc.pause_reason())
    except EffebotError as exc:
        return Finding("template list", "fail", f"listing templates failed: {exc}")
    return Finding("template list", "ok", f"{len(templates)} template(s)")


def _template_create(client: EffebotClient) -> Finding:
    try:
        status = client.check_template_create_path()
    except EndpointMissing as exc:
        return Finding("template create", "fail", exc.pause_reason())
    except EffebotError as exc:
        return Finding("template create", "fail", f"no answer: {exc}")
    return Finding("template create", "ok", f"exists (HTTP {status} to an empty request)")
