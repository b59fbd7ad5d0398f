"""A task's events file is the task's to write, so it may hold anything: junk, malformed or
oversized records, floods. Each bad record costs its own attempt alone (dropped with a note,
or the attempt fails with a clear error); other tasks' reports and runs go on untouched, and
the server's memory does not grow with the flood."""

from __future__ import annotations

import asyncio
import resource
from typing import Any

import httpx

from tests.conftest import Account
from tests.orchestration.test_engine import py, start, task, wait

# Junk and malformed records, then records past each bound, then one good output.
JUNK = r"""
import json, os
records = [
    b"not json at all",
    b"[1, 2, 3]",
    b'{"type": "metric", "key": "loss", "value": NaN}',
    b'{"type": "metric", "key": "loss", "value": 1.0, "step": 99999999999}',
    b'{"type": "exited", "exit_code": 0}',
    b'{"type": "started", "pid": 1, "worker": "me"}',
    b'{"type": "metric", "key": "a\\u0000b", "value": 1}',
    b'{"type": "artifact", "name": "pw", "path": "/etc/passwd", "size": 1}',
    b'{"type": "output", "key": "deep", "value": ' + b"[" * 40 + b"]" * 40 + b"}",
    json.dumps({"type": "output", "key": "big", "value": "x" * (20 << 20)}).encode(),
    json.dumps({"type": "output", "key": "ok", "value": 1}).encode(),
]
with open(os.environ["PLAIT_EVENTS"], "ab") as f:
    f.write(b"\n".join(records) + b"\n")
print("a NUL, which PostgreSQL cannot store: \0")
"""
# 110 MB of junk lines.
FLOOD = r"""
import os
chunk = (b"j" * 99 + b"\n") * 10486
with open(os.environ["PLAIT_EVENTS"], "ab") as f:
    for _ in range(110):
        f.write(chunk)
"""
# A well-behaved task that reports while its neighbours misbehave.
GOOD = """
import time, plait
for step in range(20):
    plait.log_metric("acc", step / 20, step=step)
    time.sleep(0.02)
plait.set_output("n", 7)
"""


async def test_bad_records_cost_their_own_attempt_alone(
    client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    editor = accounts["editor"]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB; the server is this process
    good, bad = await asyncio.gather(
        start(client, editor, [py("a", GOOD), py("b", GOOD, "a")], name="good"),
        start(client, editor, [py("junk", JUNK), py("flood", FLOOD)], name="bad"),
    )
    good_done = await wait(client, editor, good["id"], within=90)
    bad_done = await wait(client, editor, bad["id"], within=90)

    assert good_done["status"] == "succeeded", good_done
    assert task(good_done, "b")["attempts"][0]["outputs"] == {"n": 7}
    metrics = await client.get(f"/api/v1/runs/{good['id']}/metrics", headers=editor.headers)
    assert len(metrics.json()) == 40

    junk = task(bad_done, "junk")["attempts"][0]
    assert (junk["status"], junk["outputs"]) == ("succeeded", {"ok": 1}), junk
    assert (
        "10 bad records dropped, the first: record 1 of the events file: not a JSON"
        in (junk["error"])
    ), junk
    notes = [line for line in (await _log(client, editor, bad["id"], "junk")) if "[plait]" in line]
    assert len(notes) == 10, notes
    assert any("longer than" in n for n in notes), notes

    flood = task(bad_done, "flood")["attempts"][0]
    assert flood["status"] == "failed", flood
    assert "stopped: the task wrote more than 100 bad records" in flood["error"], flood
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 30, f"the server grew by {grown_mib:.0f} MiB"


async def _log(client: httpx.AsyncClient, who: Account, run_id: int, key: str) -> list[str]:
    response = await client.get(f"/api/v1/runs/{run_id}/tasks/{key}/logs", headers=who.headers)
    body: dict[str, Any] = response.json()
    lines: list[str] = body["content"].splitlines()
    return lines
