"""`dispatcher serve`: the HTTP API under uvicorn (registered on the group in dispatcher.cli)."""

from __future__ import annotations

import click

from dispatcher.settings import Settings

__all__ = ["serve_command"]


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.pass_obj
def serve_command(settings: Settings, host: str, port: int) -> None:
    """Serve the HTTP API: intake, controls, results, DNC, webhooks, health and metrics."""
    from dispatcher.api.server import serve

    serve(settings, host, port)
