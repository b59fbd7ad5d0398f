"""Following a run to its end: a live table on a terminal, one line per change anywhere else
(a CI log or a file should read top to bottom, not fill with redraws). Either way each failed
attempt is told, with its error, before it is retried, and running tasks show their progress."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from rich.live import Live
from rich.text import Text

from plait.cli.client import Client
from plait.cli.common import err, out, run_path, workflow_path
from plait.cli.views import (
    RUN_FINISHED,
    change_line,
    latest,
    live_view,
    progress,
    retry_line,
    run_line,
    summary,
)

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


def wait(client: Client, run_id: int) -> dict[str, Any]:
    """The run as it ended, printing nothing (for --output json)."""
    *_, ended = _poll(client, run_id)
    return ended


def _poll(client: Client, run_id: int) -> Iterator[dict[str, Any]]:
    """The run as the server sees it, until (and including) the state in which it ended."""
    while True:
        run: dict[str, Any] = client.request("GET", run_path(run_id))
        yield run
        if run["status"] in RUN_FINISHED:
            return
        time.sleep(POLL_SECONDS)


class Retries:
    """Each attempt that failed and is tried again, told once: `train attempt 1 failed: ...
    — retrying (attempt 2 of 3)`."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.told: set[tuple[str, int]] = set()
        self.attempts: dict[str, int] | None = None

    def new(self, run: dict[str, Any]) -> Iterator[Text]:
        for task in run["tasks"]:
            for attempt in task["attempts"]:
                seen = (task["key"], attempt["attempt"])
                if attempt["status"] == "up_for_retry" and seen not in self.told:
                    self.told.add(seen)
                    yield retry_line(task["key"], attempt, self._allowed(run, task["key"]))

    def _allowed(self, run: dict[str, Any], key: str) -> int | None:
        """How many attempts the task may have: its `retries` + 1, in the run's version."""
        if self.attempts is None:
            path = f"{workflow_path(run['workflow_id'])}/versions/{run['workflow_version']}"
            tasks = self.client.request("GET", path)["spec"]["tasks"]
            self.attempts = {t["key"]: int(t.get("retries", 0)) + 1 for t in tasks}
        return self.attempts.get(key)


def _live(client: Client, run_id: int) -> dict[str, Any]:
    run: dict[str, Any] = {}
    retried = Retries(client)
    # Redrawn only when a poll answers: there is nothing new to show in between.
    with Live(console=out, auto_refresh=False) as live:
        for run in _poll(client, run_id):
            for line in retried.new(run):
                live.console.print(line)  # above the table, where it stays
            live.update(live_view(run), refresh=True)
    return run


def _lines(client: Client, run_id: int) -> dict[str, Any]:
    run: dict[str, Any] = {}
    run_status = ""
    retried = Retries(client)
    seen: dict[str, tuple[str, int]] = {}
    shown: dict[tuple[str, int], tuple[int, str]] = {}
    for run in _poll(client, run_id):
        # The final status is the summary's first line; printing it here too would repeat it.
        if run["status"] != run_status and run["status"] not in RUN_FINISHED:
            run_status = run["status"]
            out.print(run_line(run))
        for line in retried.new(run):
            out.print(line)
        for task in run["tasks"]:
            state = (task["status"], latest(task)["attempt"])
            if seen.get(task["key"]) != state:
                seen[task["key"]] = state
                out.print(change_line(task))
            _progress_line(task, shown)
    return run


def _progress_line(task: dict[str, Any], shown: dict[tuple[str, int], tuple[int, str]]) -> None:
    """A line when a running attempt's progress passes a tenth or says something new: a log
    reads top to bottom, so not one line per report."""
    attempt = latest(task)
    text = progress(attempt)
    if not text:
        return
    step = (int(attempt["progress"] * 10), attempt.get("progress_message") or "")
    key = (task["key"], attempt["attempt"])
    if shown.get(key) != step:
        shown[key] = step
        stamp = datetime.now().strftime("%H:%M:%S")
        out.print(Text(f"{stamp} task {task['key']} {text}"))
