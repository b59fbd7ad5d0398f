"""Faults a server must take in its stride: floods of output, and very large runs."""

from __future__ import annotations

import resource

import httpx
import pytest

from tests.conftest import Account
from tests.orchestration.test_engine import py, start, task, wait


async def test_a_task_printing_100_mb_does_not_grow_the_server(
    client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    code = (
        "import sys\n"
        "chunk = 'x' * (1 << 20) + '\\n'\n"
        "for _ in range(100):\n"
        "    sys.stdout.write(chunk)\n"
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB; the server is this process
    run = await start(client, accounts["editor"], [py("flood", code)])
    done = await wait(client, accounts["editor"], run["id"], within=60)
    assert done["status"] == "succeeded"
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 30, f"the server grew by {grown_mib:.0f} MiB"
    url = f"/api/v1/runs/{run['id']}/tasks/flood/logs?offset={99 * ((1 << 20) + 1)}"
    tail = (await client.get(url, headers=accounts["viewer"].headers)).json()
    assert len(tail["content"]) == 256 * 1024
    assert tail["complete"] is False  # pages of 256 KiB, never the whole file at once


@pytest.mark.timeout(240)  # its own wait allows 180 s; the suite's 60 s default is for others
async def test_a_run_of_1000_tasks_is_accepted_and_finishes(
    client: httpx.AsyncClient, accounts: dict[str, Account]
) -> None:
    # 40 layers of 25: each layer waits for one task of the layer before.
    tasks = [
        py(f"t{layer}_{i}", "pass", *([f"t{layer - 1}_{i}"] if layer else []))
        for layer in range(40)
        for i in range(25)
    ]
    run = await start(client, accounts["editor"], tasks)
    assert len(run["tasks"]) == 1000
    done = await wait(client, accounts["editor"], run["id"], within=180, every=0.5)
    assert done["status"] == "succeeded"
    assert all(task(done, t["key"])["status"] == "succeeded" for t in tasks[::97])
