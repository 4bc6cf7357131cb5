"""A stateful emulator of the effebot API, served over HTTP (see README.md beside this file)."""

from __future__ import annotations

from dispatcher.sandbox.app import Sandbox, create_app
from dispatcher.sandbox.config import SandboxConfig

__all__ = ["Sandbox", "SandboxConfig", "create_app"]
