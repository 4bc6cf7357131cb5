"""The Lua scripts that change campaign state atomically, loaded by name from `lua/*.lua`.

Every change of a contact's state happens inside one of these scripts, together with the matching
change of the campaign's counters, so the counters always equal the per-contact sum whatever
process dies when. Contact records are small JSON objects (`s` state, `b` batch number, `c` api
call id, `r` reason, `a` attempts, and the provider's outcome details), decoded and re-encoded in
Lua. A script whose header has the line `-- uses: prelude` gets `lua/prelude.lua` (shared helpers)
prepended.
"""

from __future__ import annotations

import functools
from importlib import resources

__all__ = ["EVENTS_MAXLEN", "TERMINAL_STATES", "load"]

TERMINAL_STATES = (
    "completed",
    "no_answer",
    "busy",
    "failed",
    "invalid",
    "blocked",
    "cancelled",
    "unknown",
    "expired",
)

_USES_PRELUDE = "-- uses: prelude"


def _read(name: str) -> str:
    return resources.files("dispatcher.store").joinpath(f"lua/{name}.lua").read_text("utf-8")


#: The event stream's default approximate length (entries; each holds one script's outcomes).
EVENTS_MAXLEN = 20_000


@functools.cache
def load(name: str, events_maxlen: int = EVENTS_MAXLEN) -> str:
    """The source of script `name` (`lua/<name>.lua`), with the prelude when it asks for it.

    `events_maxlen` bounds the event stream (`XADD ... MAXLEN ~`) in the scripts that publish.
    """
    body = _read(name)
    if _USES_PRELUDE not in body.splitlines():
        return body
    terminal = ", ".join(f"'{state}'" for state in TERMINAL_STATES)
    prelude = _read("prelude").replace("__TERMINAL__", terminal)
    return prelude.replace("__EVENTS_MAXLEN__", str(int(events_maxlen))) + "\n" + body
