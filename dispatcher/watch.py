"""Following a campaign live with a progress bar until it ends (or a timeout)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dispatcher.lifecycle import FINAL_STATUSES, CampaignStatus
from dispatcher.progress import compute_progress
from dispatcher.store import StateStore, now_ms

__all__ = ["watch_campaign"]


def watch_campaign(
    store: StateStore,
    campaign_id: str,
    *,
    timeout_s: float | None = None,
    interval_s: float = 0.25,
    out: TextIO | None = None,
) -> str:
    """Show progress until the campaign is finished or cancelled; returns its last status."""
    console = Console(file=out or sys.stdout, highlight=False)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    columns = (
        TextColumn("[bold]{task.fields[status]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("campaign", total=None, status="", detail="")
        while True:
            progress = compute_progress(
                store.meta(campaign_id), store.counts(campaign_id), now_ms()
            )
            open_counts = ", ".join(
                f"{s} {progress.counts[s]}"
                for s in ("pending", "sending", "sent")
                if s in progress.counts
            )
            bar.update(
                task,
                total=progress.total,
                completed=progress.done,
                status=progress.status,
                detail=open_counts,
            )
            if CampaignStatus(progress.status) in FINAL_STATUSES:
                return progress.status
            if deadline is not None and time.monotonic() > deadline:
                console.print(f"still {progress.status} after {timeout_s:g}s; stopped watching")
                return progress.status
            time.sleep(interval_s)
