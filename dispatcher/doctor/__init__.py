"""`dispatcher doctor`: is this deployment able to dial? Every check, as a list of findings.

`diagnose(settings)` reads the provider (key, balance, caller numbers, languages, template
endpoints) and Redis (version, persistence, memory policy, replication, queue depths, dead
letters, live workers); it never creates anything. `healthy(findings)` is False when a check
failed: the command exits non-zero then.
"""

from __future__ import annotations

from dispatcher.doctor.findings import Finding, Status, healthy
from dispatcher.doctor.run import diagnose

__all__ = ["Finding", "Status", "diagnose", "healthy"]
