"""Following a campaign until it ends (finished or cancelled) or a timeout: snapshots, or a bar."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dispatcher.lifecycle import FINAL_STATUSES
from dispatcher.progress import Progress as CampaignProgress
from dispatcher.progress import compute_progress
from dispatcher.store import StateStore, now_ms

__all__ = ["follow_campaign", "is_final", "watch_campaign"]


def is_final(progress: CampaignProgress) -> bool:
    """Whether nothing more will happen to the campaign."""
    return progress.status in {status.value for status in FINAL_STATUSES}


def follow_campaign(
    store: StateStore,
    campaign_id: str,
    *,
    timeout_s: float | None = None,
    interval_s: float = 0.25,
    changes_only: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[CampaignProgress]:
    """The campaign's progress every `interval_s` (or only when its status or counts change).

    Ends after the first snapshot whose status is final, or once `timeout_s` has passed (the
    last snapshot yielded tells which).
    """
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    last: tuple[str, dict[str, int]] | None = None
    while True:
        progress = compute_progress(store.meta(campaign_id), store.counts(campaign_id), now_ms())
        seen = (progress.status, progress.counts)
        if seen != last or not changes_only:
            last = seen
            yield progress
        if is_final(progress) or (deadline is not None and time.monotonic() >= deadline):
            return
        sleep(interval_s)


def watch_campaign(
    store: StateStore,
    campaign_id: str,
    *,
    timeout_s: float | None = None,
    interval_s: float = 0.25,
    out: TextIO | None = None,
) -> str:
    """Show a progress bar until the campaign ends or `timeout_s` passes; its last status."""
    console = Console(file=out or sys.stdout, highlight=False)
    columns = (
        TextColumn("[bold]{task.fields[status]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    last: CampaignProgress | None = None
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("campaign", total=None, status="", detail="")
        for progress in follow_campaign(
            store, campaign_id, timeout_s=timeout_s, interval_s=interval_s, changes_only=False
        ):
            last = progress
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
    assert last is not None  # follow_campaign yields at least once
    if not is_final(last) and timeout_s is not None:
        console.print(f"still {last.status} after {timeout_s:g}s; stopped watching")
    return last.status
