"""The OpenAPI document, as served at `/openapi.json` and committed as `openapi.json` beside this.

Regenerate the committed copy after changing a route or a model (a test fails until you do):

    .venv/bin/python -m dispatcher.api.openapi > dispatcher/api/openapi.json
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import redis

from dispatcher.api.app import create_app
from dispatcher.settings import Settings
from dispatcher.store import StateStore

__all__ = ["COMMITTED", "document", "render"]

COMMITTED = Path(__file__).with_name("openapi.json")


def document() -> dict[str, Any]:
    """The OpenAPI document of the app (built without touching Redis)."""
    settings = Settings(
        redis_url="redis://127.0.0.1:1",
        api_tokens=["documentation"],
        webhook_secret="documentation",  # noqa: S106 # a placeholder: only the schema is read
        _env_file=None,
    )
    store = StateStore(redis.Redis(host="127.0.0.1", port=1), settings.key_prefix)
    schema: dict[str, Any] = create_app(settings, store=store, check_redis=False).openapi()
    return schema


def render() -> str:
    """The document as committed: indented, keys in their order, a final newline."""
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    # Whatever building the app logs goes to stderr: stdout is the document.
    with contextlib.redirect_stdout(sys.stderr):
        text = render()
    print(text, end="")
