"""What a notification says: the facts of a run worth telling, and how they read.

Facts are gathered once, when an event becomes deliveries, and kept as each delivery's
payload: a retry minutes later still tells what happened then. The link to the run is added
when the message is rendered, so it follows the server's public URL (`PLAIT_PUBLIC_URL`, or
where it listens) as it is at sending time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from plait.db.models import Run, TaskAttempt, Workflow
from plait.orchestration.runs import latest_attempts
from plait.orchestration.states import AttemptStatus

ERROR_CHARS = 300  # one line, enough to recognise the error; the run page has the rest
OTHERS_SHOWN = 10


def last_line(text: str | None) -> str | None:
    """The last non-blank line of an error (a traceback ends with the line that matters)."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return None
    line = lines[-1]
    return line if len(line) <= ERROR_CHARS else line[: ERROR_CHARS - 1] + "…"


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


def run_facts(run: Run, workflow: Workflow, event: str, now: datetime) -> dict[str, Any]:
    """What every message about a run carries."""
    ended = event in ("run.succeeded", "run.failed", "run.cancelled")
    end = run.finished_at if ended and run.finished_at else now
    return {
        "event": event,
        "workflow": workflow.name,
        "workflow_id": workflow.id,
        "run_id": run.id,
        "status": event.removeprefix("run.") if ended else run.status,
        "trigger": run.trigger,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if ended and run.finished_at else None,
        "duration_seconds": _seconds(run.started_at or run.created_at, end),
    }


async def failure_facts(session: AsyncSession, run_id: int) -> dict[str, Any]:
    """The task that failed first (the cause: the others often failed because of it), its
    attempt and last error line, and the names of the other failed tasks."""
    latest = await latest_attempts(session, run_id)
    failed = sorted(
        (a for a in latest.values() if a.status == AttemptStatus.failed),
        key=lambda a: (a.finished_at is None, a.finished_at or a.created_at, a.id),
    )
    if not failed:
        return {}
    first = failed[0]
    return {
        "task": first.task_key,
        "attempt": first.attempt,
        "error": last_line(first.error),
        "other_failed_tasks": [a.task_key for a in failed[1:]][:OTHERS_SHOWN],
    }


async def retry_facts(session: AsyncSession, run_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """The task that failed and will be tried again: from the event, else its attempt row."""
    key, attempt, error = data.get("task_key"), data.get("attempt"), data.get("error")
    if error is None and isinstance(key, str) and isinstance(attempt, int):
        error = await session.scalar(
            select(TaskAttempt.error).where(
                TaskAttempt.run_id == run_id,
                TaskAttempt.task_key == key,
                TaskAttempt.attempt == attempt,
            )
        )
    return {"task": key, "attempt": attempt, "error": last_line(error)}


# --- reading them --------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One notification, ready for any channel: a headline, detail lines, a link."""

    event: str
    title: str
    lines: list[str]
    link: str | None
    facts: dict[str, Any]

    def text(self) -> str:
        return "\n".join([self.title, *self.lines, *([self.link] if self.link else [])])


def duration(seconds: float | None) -> str:
    """12 s, 3 min 4 s, 2 h 5 min: what a person reads at a glance."""
    if seconds is None:
        return "an unknown time"
    whole = round(seconds)
    if whole < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{whole} s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min {secs} s" if secs else f"{minutes} min"


def _title(event: str, f: dict[str, Any]) -> str:
    run = f"{f.get('workflow', '?')} run #{f.get('run_id', '?')}"
    took = duration(f.get("duration_seconds"))
    titles = {
        "run.succeeded": f"{run} succeeded in {took}",
        "run.failed": f"{run} failed after {took}",
        "run.cancelled": f"{run} was cancelled after {took}",
        "task.retrying": f"{run}: task {f.get('task')} failed on attempt {f.get('attempt')} "
        "and will be retried",
        "run.duration_exceeded": f"{run} has been running for {took}, over its limit of "
        f"{duration(f.get('sla_seconds'))}",
        "test": f"Test message from Plait to channel {f.get('channel', '?')}",
    }
    return titles.get(event, f"{run}: {event}")


def _lines(event: str, f: dict[str, Any]) -> list[str]:
    lines = []
    if event == "run.failed" and f.get("task"):
        lines.append(f"Failed task: {f['task']} (attempt {f.get('attempt')})")
    if f.get("error") and event in ("run.failed", "task.retrying"):
        lines.append(f"Error: {f['error']}")
    if f.get("other_failed_tasks"):
        lines.append("Also failed: " + ", ".join(f["other_failed_tasks"]))
    if event == "test":
        lines.append("If you can read this, the channel works.")
    return lines


def render(event: str, facts: dict[str, Any], base_url: str) -> Message:
    """`base_url` is `Settings.base_url`: links are absolute, a chat message has no origin."""
    run_id = facts.get("run_id")
    link = f"{base_url.rstrip('/')}/runs/{run_id}" if isinstance(run_id, int) else None
    return Message(event, _title(event, facts), _lines(event, facts), link, facts)
