"""`dispatcher doctor`: check the provider account and Redis, print a table, exit 1 if broken."""

from __future__ import annotations

import click

from dispatcher.commands.context import settings_of
from dispatcher.commands.output import echo_json, json_option

__all__ = ["doctor"]

_MARKS = {"ok": "ok", "warn": "WARN", "fail": "FAIL", "skip": "-"}


@click.command()
@json_option("Print the findings as one JSON object")
@click.pass_context
def doctor(ctx: click.Context, as_json: bool) -> None:
    """Check the API key, balance, caller numbers, languages, template endpoints, Redis
    (version, persistence, memory policy), queue depths and dead letters.

    Nothing is created or changed. Exits 1 when a check fails (warnings do not count).
    """
    from dispatcher.doctor import diagnose, healthy
    from workers.limits import provider_limit

    settings = settings_of(ctx)
    findings = diagnose(settings, provider_limit(settings))
    ok = healthy(findings)
    if as_json:
        echo_json({"healthy": ok, "checks": [finding.as_dict() for finding in findings]})
    else:
        width = max(len(finding.check) for finding in findings)
        for finding in findings:
            mark = _MARKS[finding.status]
            click.echo(f"{finding.check:<{width}}  {mark:<4}  {finding.detail}")
        click.echo("healthy" if ok else "NOT healthy: fix the FAIL lines above", err=True)
    if not ok:
        ctx.exit(1)
