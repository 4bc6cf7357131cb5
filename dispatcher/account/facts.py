"""What the provider says about the account: caller numbers, languages, templates.

One round of requests (`getPhones` with `all`, `getAvailableLanguages`, the template list) read
into a small value that survives a trip through JSON, so it can be cached in Redis and shared by
every process that submits campaigns. The record ids the dispatcher knows of are not here: the
provider's API cannot list records (see `preflight`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from dispatcher.effebot.client import EffebotClient
from dispatcher.effebot.coerce import flag_or_false
from dispatcher.effebot.errors import EffebotError, RejectedError

__all__ = ["AccountFacts", "read_account_facts"]


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """The account as the provider described it; None where it could not be read."""

    #: Numbers added and confirmed in the account: what `outgoingPhone` may be.
    personal_phones: tuple[str, ...]
    #: Work (system) numbers: what `dutyPhone = 1` picks from.
    system_phones: tuple[str, ...]
    #: (code, name) of each language `lang` may use; None if the endpoint did not answer.
    languages: tuple[tuple[str, str], ...] | None
    #: (template id, moderated or None when not said); None if the templates could not be listed.
    templates: tuple[tuple[int, bool | None], ...] | None

    def to_json(self) -> str:
        """The facts as JSON (for the cache)."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> AccountFacts:
        """Facts written by `to_json`."""
        data = json.loads(text)
        languages = data["languages"]
        templates = data["templates"]
        return cls(
            personal_phones=tuple(data["personal_phones"]),
            system_phones=tuple(data["system_phones"]),
            languages=None if languages is None else tuple((c, n) for c, n in languages),
            templates=None if templates is None else tuple((i, m) for i, m in templates),
        )

    @property
    def language_codes(self) -> tuple[str, ...] | None:
        """The `lang` codes offered, or None when unknown."""
        return None if self.languages is None else tuple(code for code, _ in self.languages)


def read_account_facts(
    client: EffebotClient, pace: Callable[[], object] = lambda: None
) -> AccountFacts:
    """Ask the provider (one paced request per endpoint); raises if the phones cannot be read.

    The caller numbers are what every campaign needs, so a failure there is the caller's to
    handle. Languages and templates are optional knowledge: when their endpoint is missing or
    refuses, the corresponding checks are skipped rather than the whole preflight.
    """
    pace()
    phones = client.get_phones(all=True)
    personal = tuple(p.phone for p in phones if p.phone and not p.is_system and not p.overall)
    system = tuple(p.phone for p in phones if p.phone and p.is_system)
    languages: tuple[tuple[str, str], ...] | None
    try:
        pace()
        languages = tuple(
            (lang.default_lang_code, lang.name or lang.default_lang_code)
            for lang in client.get_available_languages()
            if lang.default_lang_code
        )
    except RejectedError:
        languages = None
    templates: tuple[tuple[int, bool | None], ...] | None
    try:
        pace()
        templates = tuple(
            (t.id, _moderated(t.raw)) for t in client.list_templates() if t.id is not None
        )
    except EffebotError:
        templates = None
    return AccountFacts(personal, system, languages, templates)


def _moderated(raw: dict[str, Any]) -> bool | None:
    for key in ("isModerated", "moderated", "is_moderated"):
        if key in raw:
            return flag_or_false(raw[key])
    return None
