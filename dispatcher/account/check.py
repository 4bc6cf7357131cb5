"""`AccountCheck`: the preflight a submission goes through, with the account's facts cached.

The facts (caller numbers, languages, templates) are read from the provider at most once per
`DISPATCHER_PREFLIGHT_CACHE_S` for the whole deployment: they are cached in Redis, and while one
process reads them the others wait for its answer (a short lock), so a burst of submissions costs
one round of requests. A provider that cannot be reached does not block submissions: the campaign
is accepted unchecked (its batches wait for the provider anyway) and the report says so. A key the
provider refuses is a configuration error: nothing could be dialled.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from dispatcher.account.errors import AccountMismatch
from dispatcher.account.facts import AccountFacts, read_account_facts
from dispatcher.account.preflight import account_problems
from dispatcher.effebot.client import EffebotClient
from dispatcher.effebot.errors import AuthenticationRejected, EffebotError, RetrySafeError
from dispatcher.effebot.transport import make_http_client
from dispatcher.errors import ConfigurationError
from dispatcher.logs import get_logger
from dispatcher.settings import Settings
from dispatcher.spec import CampaignSpec
from dispatcher.store import StateStore

__all__ = ["AccountCheck", "ClientFactory", "known_record_ids"]

log = get_logger(__name__)

#: Opens a provider client for one round of requests.
ClientFactory = Callable[[], AbstractContextManager[EffebotClient]]

CACHE = "account-facts"
#: How long "the provider could not be asked" is remembered, so waiters do not wait it out.
UNREACHABLE_TTL_MS = 5_000
#: The registry `dispatcher records upload` writes (record id -> JSON).
RECORDS = "records"
_POLL_S = 0.05


def known_record_ids(settings: Settings, store: StateStore) -> set[int]:
    """Records known to exist: uploaded through the dispatcher, or listed in the settings."""
    uploaded = {int(key) for key in store.get_global(RECORDS) if key.isdigit()}
    return uploaded | set(settings.account_record_ids)


class AccountCheck:
    """Checks campaign specs against the provider account (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        store: StateStore,
        *,
        pace: Callable[[], object] = lambda: None,
        clients: ClientFactory | None = None,
    ) -> None:
        if settings.effebot_api_key is None:
            raise ConfigurationError("the account check needs DISPATCHER_EFFEBOT_API_KEY")
        self._settings = settings
        self._store = store
        self._pace = pace
        self._clients = clients or self._default_clients

    @contextmanager
    def _default_clients(self) -> Iterator[EffebotClient]:
        with make_http_client(self._settings) as http:
            yield EffebotClient.from_settings(self._settings, http)

    def check(self, spec: CampaignSpec) -> str:
        """Raise `AccountMismatch` if the spec does not fit; else a one-line summary."""
        try:
            facts = self.facts()
        except AuthenticationRejected as exc:
            raise ConfigurationError(
                f"the provider refused DISPATCHER_EFFEBOT_API_KEY: {exc}"
            ) from None
        except EffebotError as exc:
            log.warning("preflight.unverified", error=str(exc))
            return f"not checked: the provider could not be asked ({exc})"
        problems = account_problems(spec, facts, known_record_ids(self._settings, self._store))
        if problems:
            log.info("preflight.refused", fields=[p.field for p in problems], campaign=spec.name)
            raise AccountMismatch(problems)
        return "checked against the account: caller, language, records and template fit"

    def facts(self) -> AccountFacts:
        """The account's facts, from the cache when fresh, else from the provider (once).

        Raises the client's error when the provider could not be asked (by this process, or by
        the one that held the lock a moment ago).
        """
        cached = self._cached()
        if cached is not None:
            return cached
        settings = self._settings
        lock_ms = int((settings.connect_timeout_s + settings.read_timeout_s) * 1000)
        if not self._store.try_global_lock(CACHE, lock_ms):
            # Another process is asking right now: its answer lands in the cache.
            deadline = time.monotonic() + lock_ms / 1000
            while time.monotonic() < deadline:
                time.sleep(_POLL_S)
                cached = self._cached()
                if cached is not None:
                    return cached
        return self.refresh()

    def refresh(self) -> AccountFacts:
        """Read the facts from the provider now and cache them."""
        try:
            with self._clients() as client:
                facts = read_account_facts(client, self._pace)
        except AuthenticationRejected:
            raise
        except EffebotError as exc:
            self._store.set_global(CACHE, {"unreachable": str(exc)}, ttl_ms=UNREACHABLE_TTL_MS)
            raise
        ttl_ms = int(self._settings.preflight_cache_s * 1000)
        if ttl_ms > 0:
            self._store.set_global(CACHE, {"facts": facts.to_json()}, ttl_ms=ttl_ms)
        log.info(
            "preflight.account_read",
            personal_phones=len(facts.personal_phones),
            system_phones=len(facts.system_phones),
            languages=None if facts.languages is None else len(facts.languages),
            templates=None if facts.templates is None else len(facts.templates),
        )
        return facts

    def _cached(self) -> AccountFacts | None:
        """Fresh cached facts; raises `Unverifiable` if the provider could not be asked just now."""
        cached = self._store.get_global(CACHE)
        raw = cached.get("facts")
        if raw and self._settings.preflight_cache_s > 0:
            return AccountFacts.from_json(raw)
        if "unreachable" in cached:
            raise Unverifiable(cached["unreachable"], endpoint="account")
        return None


class Unverifiable(RetrySafeError):
    """The provider could not be asked about the account a moment ago (remembered briefly)."""
