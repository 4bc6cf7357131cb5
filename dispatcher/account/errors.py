"""Why a campaign does not fit the account it would dial from.

DispatcherError
└── InputError                     (dispatcher.errors)
    └── AccountMismatch            the spec asks for what the account lacks; `problems` name
                                   each field, its value and the values allowed
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dispatcher.errors import InputError

__all__ = ["AccountMismatch", "AccountProblem"]


@dataclass(frozen=True, slots=True)
class AccountProblem:
    """One field of a spec the account cannot serve, with what it could serve instead."""

    field: str
    value: str
    allowed: tuple[str, ...]
    message: str


class AccountMismatch(InputError):
    """The campaign needs a caller number, language, record or template the account lacks."""

    def __init__(self, problems: Sequence[AccountProblem]) -> None:
        self.problems = list(problems)
        text = "; ".join(f"{p.field}: {p.message}" for p in self.problems)
        super().__init__(f"the campaign does not fit the provider account: {text}")
