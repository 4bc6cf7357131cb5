"""The dispatcher's exception tree; every error it raises on purpose derives from `DispatcherError`.

    DispatcherError
    ├── ConfigurationError          settings that cannot work together
    ├── InputError                  a submission, spec file or contact row that is not valid
    │   ├── SpecError               the campaign spec (names the field)
    │   ├── ContactsError           the contact file as a whole (unreadable, no phone column)
    │   └── AccountMismatch         the spec needs what the provider account lacks (in
    │                               `dispatcher.account.errors`)
    ├── StateError                  Redis is unreachable or holds something unexpected
    │   ├── CampaignNotFound
    │   ├── TransitionRefused       a lifecycle change that the campaign's status does not allow
    │   └── RedisUntrusted          Redis would lose promises (no persistence, evicting keys) or
    │                               lost its data under running processes (the epoch marker)
    ├── SubmissionConflict          a submission that an earlier one with the same key forbids
    │   ├── IdempotencyKeyReused    the key was used for other content
    │   ├── SubmissionInProgress    the key's first submission is still being read (retry later)
    │   └── SubmissionPurged        the key's campaign ended and was removed (retention)
    └── EffebotError                the provider; its subtree lives in `dispatcher.effebot.errors`

Caller misuse of a Python API (wrong types, impossible arguments) stays `ValueError`/`TypeError`.
"""

from __future__ import annotations

__all__ = [
    "CampaignNotFound",
    "ConfigurationError",
    "ContactsError",
    "DispatcherError",
    "IdempotencyKeyReused",
    "InputError",
    "RedisUntrusted",
    "SpecError",
    "StateError",
    "SubmissionConflict",
    "SubmissionInProgress",
    "SubmissionPurged",
    "TransitionRefused",
]


class DispatcherError(Exception):
    """Root of every error the dispatcher raises on purpose."""


class ConfigurationError(DispatcherError):
    """Settings that cannot work together (e.g. a real provider URL without an API key)."""


class InputError(DispatcherError):
    """Input from outside (a spec, a contact file, a flag) that is not valid."""


class SpecError(InputError):
    """The campaign spec is not valid; the message names the field."""


class ContactsError(InputError):
    """The contact source as a whole cannot be read (rows are rejected one by one instead)."""


class StateError(DispatcherError):
    """Redis could not be reached or holds something the dispatcher did not write."""


class CampaignNotFound(StateError):
    """No campaign with that id."""


class TransitionRefused(StateError):
    """The campaign's current status does not allow the requested change."""


class RedisUntrusted(StateError):
    """Redis cannot be trusted with promises: no persistence, evicting keys, or lost data."""


class SubmissionConflict(DispatcherError):
    """A submission that an earlier submission with the same idempotency key forbids."""


class IdempotencyKeyReused(SubmissionConflict):
    """The idempotency key was used before for a submission with other content."""


class SubmissionInProgress(SubmissionConflict):
    """The idempotency key's first submission is still being read or written: retry later."""


class SubmissionPurged(SubmissionConflict):
    """The idempotency key's campaign ended and was removed after its retention period."""
