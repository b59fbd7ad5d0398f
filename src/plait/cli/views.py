"""How runs look on a terminal: coloured statuses, short durations, task tables, summaries.

Every value that came from the server is put in a `Text`, never in a markup string, so a task
output or an error message holding `[red]` is shown as written.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

RUN_FINISHED = frozenset({"succeeded", "failed", "cancelled"})
# Tasks that will not succeed in this run: the summary names them.
TASK_FAILED = frozenset({"failed", "upstream_failed", "cancelled", "skipped"})
STYLES = {
    "pending": "dim",
    "queued": "blue",
    "running": "cyan",
    "up_for_retry": "yellow",
    "succeeded": "green",
    "failed": "red",
    "upstream_failed": "red",
    "cancelled": "magenta",
    "skipped": "dim",
}


def status_text(status: str) -> Text:
    return Text(status, style=STYLES.get(status, ""))


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def timestamp(value: str | None) -> str:
    """An API time as `YYYY-MM-DD HH:MM:SS` in UTC (the server's times are all UTC)."""
    if not value:
        return ""
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def error_line(error: str | None) -> str:
    """One line of an error, for a table cell or a summary: the last, which names the
    exception in a traceback."""
    lines = [line for line in (error or "").splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def latest(task: dict[str, Any]) -> dict[str, Any]:
    attempt: dict[str, Any] = task["attempts"][-1]
    return attempt


def run_line(run: dict[str, Any]) -> Text:
    """`run 7  train  running  12.3s`: the one line that says where a run is."""
    return Text.assemble(
        (f"run {run['id']}", "bold"),
        "  ",
        str(run["workflow"]),
        "  ",
        status_text(run["status"]),
        "  " if run["duration"] is not None else "",
        duration(run["duration"]),
        "  (cancel requested)" if run["cancel_requested"] and run["status"] == "running" else "",
    )


def live_view(run: dict[str, Any]) -> Group:
    """The watch screen: the run's line over one row per task."""
    table = Table("task", "status", "attempt", "duration", "progress", box=None, pad_edge=False)
    for task in run["tasks"]:
        attempt = latest(task)
        table.add_row(
            Text(task["key"]),
            status_text(task["status"]),
            str(attempt["attempt"]),
            duration(attempt["duration"]),
            Text(progress(attempt)),
        )
    return Group(run_line(run), table)


def progress(attempt: dict[str, Any]) -> str:
    """`40% epoch 4/10, about 1m20s left` for a running attempt that reports progress."""
    fraction = attempt.get("progress")
    if attempt["status"] != "running" or fraction is None:
        return ""
    words = [f"{fraction:.0%}"]
    if attempt.get("progress_message"):
        words.append(str(attempt["progress_message"]))
    text = " ".join(words)
    eta = attempt.get("eta_seconds")
    return f"{text}, about {duration(eta)} left" if eta is not None else text


def exit_text(attempt: dict[str, Any]) -> str:
    """How the process ended: the signal's name when a signal ended it (`SIGTERM`, not -15)."""
    if attempt.get("exit_signal"):
        return str(attempt["exit_signal"])
    return "" if attempt["exit_code"] is None else str(attempt["exit_code"])


def retries(run: dict[str, Any]) -> int:
    """Attempts that failed and were tried again."""
    return sum(a["status"] == "up_for_retry" for t in run["tasks"] for a in t["attempts"])


def retry_line(key: str, attempt: dict[str, Any], total: int | None) -> Text:
    """`train attempt 1 failed: ValueError: bad — retrying (attempt 2 of 3)`."""
    how = error_line(attempt["error"]) or f"exit {exit_text(attempt)}"
    of = f" of {total}" if total else ""
    return Text.assemble(
        key,
        f" attempt {attempt['attempt']} ",
        status_text("failed"),
        f": {how} — retrying (attempt {attempt['attempt'] + 1}{of})",
    )


def attempts_table(run: dict[str, Any]) -> Table:
    """Every attempt of every task, with what it returned or how it failed."""
    table = Table("task", "attempt", "status", "duration", "exit", "error", "outputs")
    for task in run["tasks"]:
        for i, attempt in enumerate(task["attempts"]):
            table.add_row(
                Text(task["key"] if i == 0 else ""),
                str(attempt["attempt"]),
                status_text(attempt["status"]),
                duration(attempt["duration"]),
                exit_text(attempt),
                Text(error_line(attempt["error"])),
                Text(compact(attempt["outputs"]) if attempt["outputs"] else ""),
            )
    return table


def run_details(run: dict[str, Any]) -> list[Text]:
    """The lines under `run_line` in `plait runs show`: who, when, with what."""
    by = f" by {run['triggered_by']}" if run["triggered_by"] else ""
    lines = [
        Text(f"  workflow {run['workflow']} version {run['workflow_version']}"),
        Text(f"  trigger {run['trigger']}{by}, created {timestamp(run['created_at'])} UTC"),
        Text(
            f"  started {timestamp(run['started_at']) or '-'}, "
            f"finished {timestamp(run['finished_at']) or '-'}"
        ),
        Text(f"  params {compact(run['params'])}"),
    ]
    if run["description"]:
        lines.append(Text(f"  description {run['description']}"))
    if run["rerun_of"]:
        lines.append(Text(f"  rerun of run {run['rerun_of']}"))
    return lines


def summary(run: dict[str, Any]) -> list[Text]:
    """How a run ended: its status and time, each task that did not succeed, what to do next."""
    took = f" in {duration(run['duration'])}" if run["duration"] is not None else ""
    again = retries(run)
    after = f", after {again} {'retry' if again == 1 else 'retries'}" if again else ""
    lines = [Text.assemble(f"run {run['id']} ", status_text(run["status"]), took, after)]
    for task in run["tasks"]:
        if task["status"] in TASK_FAILED:
            lines.append(_failed_task(task))
    if run["status"] != "succeeded":
        failed = [t["key"] for t in run["tasks"] if t["status"] == "failed"]
        if failed:
            lines.append(Text(f"logs: plait runs logs {run['id']} {failed[0]}"))
        lines.append(Text(f"retry the tasks that did not succeed: plait runs retry {run['id']}"))
    return lines


def _failed_task(task: dict[str, Any]) -> Text:
    attempt = latest(task)
    line = Text.assemble("  ", task["key"], " ", status_text(task["status"]))
    if task["status"] == "failed":
        line.append(f" (attempt {attempt['attempt']})")
    error = error_line(attempt["error"])
    if error and error != task["status"]:  # a cancelled attempt's error is just "cancelled"
        line.append(f": {error}")
    signal = attempt.get("exit_signal")
    if signal and signal not in (error or ""):  # "killed by SIGTERM" says it already
        line.append(f" ({signal})")
    return line


def change_line(task: dict[str, Any]) -> Text:
    """One task's new state, for output that is not a terminal (CI logs, files)."""
    attempt = latest(task)
    stamp = datetime.now().strftime("%H:%M:%S")
    line = Text.assemble(stamp, " task ", task["key"], " ", status_text(task["status"]))
    detail = [f"attempt {attempt['attempt']}"]
    if task["status"] not in ("pending", "queued", "running"):
        detail.append(duration(attempt["duration"]))
    if attempt.get("exit_signal"):
        detail.append(str(attempt["exit_signal"]))
    line.append(f" ({', '.join(d for d in detail if d)})")
    error = error_line(attempt["error"])
    if task["status"] in TASK_FAILED and error and error != task["status"]:
        line.append(f": {error}")
    return line
