"""Following a run to its end: a live table on a terminal, one line per change anywhere else
(a CI log or a file should read top to bottom, not fill with redraws)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from rich.live import Live

from plait.cli.client import Client
from plait.cli.common import err, out, run_path
from plait.cli.views import RUN_FINISHED, change_line, latest, live_view, run_line, summary

# Often enough to feel live, rare enough to cost the server nothing: a GET every 0.3 s.
POLL_SECONDS = 0.3
INTERRUPTED = 130  # what a shell reports for a command stopped by Ctrl-C


def watch(client: Client, run_id: int) -> int:
    """Follow run `run_id` until it ends, print how it ended; return the exit status to use.
    Ctrl-C stops watching only: the run goes on, and we say how to stop it."""
    try:
        run = _live(client, run_id) if out.is_terminal else _lines(client, run_id)
    except KeyboardInterrupt:
        err.print(
            f"stopped watching; run {run_id} goes on. "
            f"Watch again: plait runs watch {run_id}; cancel it: plait runs cancel {run_id}",
            markup=False,
            highlight=False,
        )
        return INTERRUPTED
    for line in summary(run):
        out.print(line)
    return 0 if run["status"] == "succeeded" else 1


def _poll(client: Client, run_id: int) -> Iterator[dict[str, Any]]:
    """The run as the server sees it, until (and including) the state in which it ended."""
    while True:
        run: dict[str, Any] = client.request("GET", run_path(run_id))
        yield run
        if run["status"] in RUN_FINISHED:
            return
        time.sleep(POLL_SECONDS)


def _live(client: Client, run_id: int) -> dict[str, Any]:
    run: dict[str, Any] = {}
    # Redrawn only when a poll answers: there is nothing new to show in between.
    with Live(console=out, auto_refresh=False) as live:
        for run in _poll(client, run_id):
            live.update(live_view(run), refresh=True)
    return run


def _lines(client: Client, run_id: int) -> dict[str, Any]:
    run: dict[str, Any] = {}
    run_status = ""
    seen: dict[str, tuple[str, int]] = {}
    for run in _poll(client, run_id):
        # The final status is the summary's first line; printing it here too would repeat it.
        if run["status"] != run_status and run["status"] not in RUN_FINISHED:
            run_status = run["status"]
            out.print(run_line(run))
        for task in run["tasks"]:
            state = (task["status"], latest(task)["attempt"])
            if seen.get(task["key"]) != state:
                seen[task["key"]] = state
                out.print(change_line(task))
    return run
