"""The provider account a deployment dials from, and whether a campaign fits it.

`AccountCheck.check(spec)` is the preflight the CLI, the HTTP API and the producer run before a
submission writes anything: the caller number, language, records and template of the spec are
compared with what the account has (`account_problems`, pure), and a mismatch is refused with an
`AccountMismatch` naming each field and the values allowed. `AccountFacts` is what the provider
said about the account, cached in Redis for `DISPATCHER_PREFLIGHT_CACHE_S`.
"""

from __future__ import annotations

from dispatcher.account.check import AccountCheck, known_record_ids
from dispatcher.account.errors import AccountMismatch, AccountProblem
from dispatcher.account.facts import AccountFacts, read_account_facts
from dispatcher.account.preflight import account_problems

__all__ = [
    "AccountCheck",
    "AccountFacts",
    "AccountMismatch",
    "AccountProblem",
    "account_problems",
    "known_record_ids",
    "read_account_facts",
]
