"""Benchmark the run engine: how long runs of no-op tasks take, end to end, through the API.

Starts the real server (`plait server`, embedded SQLite, local executor) in a fresh data
directory, creates three workflows, and runs each once to warm up and then `--runs` times:

  chain   50 no-op Python tasks (`pass`), each depending on the previous one
  fanout  100 parallel no-op tasks and one join task depending on all of them
  sleep   one task that sleeps 1 s

It prints, per workflow, the median wall time and the overhead per task, beside the floor
measured in the same process: a bare fork()+_exit()+waitpid(), and a `python -c pass`.
With `--sandbox off,bwrap` it does all that once per task sandbox setting, each on a fresh
server, and compares the sequential handoff (the chain's overhead per task) between them.

    .venv/bin/python bench/runs.py [--runs 5] [--only chain|fanout|sleep] [--max-parallel N]
                                   [--sandbox bwrap|off|off,bwrap]

Exits 1 when any run did not succeed, 2 on a setup error.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from _server import BenchError, Server, guarded, login, print_footer, print_header, running_server

RUN_TIMEOUT_SECONDS = 30  # a run still going after this is a failure, not a figure
FINISHED = frozenset({"succeeded", "failed", "cancelled"})
FORKS = 200  # bare forks timed for the floor
SPAWNS = 20  # `python -c pass` processes timed for the floor
GOAL_CHAIN_SECONDS = 1.0
PREFECT_CHAIN_SECONDS = 1.27  # Prefect 3, the same chain in-process, on the reference machine
GOAL_TASK_MS = 20.0


@dataclass(frozen=True)
class Options:
    runs: int
    only: tuple[str, ...]
    max_parallel: int
    poll_seconds: float  # between the answer to one status poll and the next request
    sandboxes: tuple[str, ...]  # PLAIT_TASK_SANDBOX values, one server each


@dataclass(frozen=True)
class Scenario:
    name: str  # also the --only choice
    workflow: str
    tasks: list[dict[str, Any]]
    sleep_seconds: float  # the tasks' own work on the critical path, left out of overhead

    def overhead_ms(self, wall: float) -> float:
        """Per task for no-op tasks (wall / tasks); wall minus the sleep for the sleep."""
        if self.sleep_seconds:
            return (wall - self.sleep_seconds) * 1000
        return wall / len(self.tasks) * 1000


@dataclass(frozen=True)
class RunResult:
    run_id: int
    status: str
    server_s: float  # the run's started_at -> finished_at, as the server stamped them
    client_s: float  # POST sent -> terminal status seen by a poll
    queued_s: float  # created_at -> started_at: the scheduler taking up the new run
    polls: list[float]  # latency of each status poll, seconds
    phases: dict[str, list[float]]  # per-attempt phase -> durations, seconds
    error: str | None  # the first failed task's error
    cpu: Cpu  # CPU time spent during the run


@dataclass(frozen=True)
class Cpu:
    """CPU seconds (user + system) of the processes that run a workflow."""

    server: float  # the uvicorn process: API requests (the polls too) and the scheduler
    forkserver: float  # the fork server: forking, reaping, its JSON lines
    tasks: float  # the forked task processes, counted when the fork server reaps them

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(
            self.server - other.server,
            self.forkserver - other.forkserver,
            self.tasks - other.tasks,
        )


class RunTimeout(BenchError):
    """A run did not end in time: it did not succeed (exit 1), unlike a setup error (2)."""


# ---------------------------------------------------------------- command line


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=_positive, default=5, help="measured runs per workflow")
    parser.add_argument("--only", choices=SCENARIO_NAMES, help="one workflow instead of all")
    parser.add_argument(
        "--max-parallel", type=_positive, default=16, help="PLAIT_MAX_PARALLEL_TASKS (16)"
    )
    parser.add_argument(
        "--poll-ms", type=_positive, default=20, help="pause between status polls (20)"
    )
    parser.add_argument(
        "--sandbox",
        default="bwrap",
        help="PLAIT_TASK_SANDBOX values to compare, comma-separated (bwrap; off,bwrap)",
    )
    args = parser.parse_args(argv)
    if args.runs > 20 or args.poll_ms > 5000:
        parser.error("keep it bounded: --runs <= 20, --poll-ms <= 5000")
    sandboxes = tuple(dict.fromkeys(m.strip() for m in args.sandbox.split(",") if m.strip()))
    if not sandboxes or not set(sandboxes) <= {"bwrap", "off"}:
        parser.error("--sandbox takes bwrap, off, or both comma-separated")
    only = (args.only,) if args.only else SCENARIO_NAMES
    return Options(args.runs, only, args.max_parallel, args.poll_ms / 1000, sandboxes)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


# ---------------------------------------------------------------- workflows


def _task(key: str, code: str = "pass", depends_on: Sequence[str] = ()) -> dict[str, Any]:
    return {"key": key, "kind": "python", "code": code, "depends_on": list(depends_on)}


def chain() -> Scenario:
    keys = [f"t{i:02d}" for i in range(50)]
    tasks = [_task(k, depends_on=keys[i - 1 : i]) for i, k in enumerate(keys)]
    return Scenario("chain", "bench-chain", tasks, 0.0)


def fanout() -> Scenario:
    keys = [f"p{i:03d}" for i in range(100)]
    tasks = [_task(k) for k in keys] + [_task("join", depends_on=keys)]
    return Scenario("fanout", "bench-fanout", tasks, 0.0)


def sleep() -> Scenario:
    return Scenario("sleep", "bench-sleep", [_task("nap", "import time; time.sleep(1)")], 1.0)


SCENARIOS = {s.name: s for s in (chain(), fanout(), sleep())}
SCENARIO_NAMES = tuple(SCENARIOS)


# ---------------------------------------------------------------- the floor


def fork_floor(n: int = FORKS) -> float:
    """Milliseconds per bare os.fork() + os._exit(0) in the child + waitpid in the parent."""
    started = time.perf_counter()
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
    return (time.perf_counter() - started) / n * 1000


def spawn_floor(n: int = SPAWNS) -> float:
    """Milliseconds per `python -c pass` (this venv's interpreter, site included)."""
    started = time.perf_counter()
    for _ in range(n):
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    return (time.perf_counter() - started) / n * 1000


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# ---------------------------------------------------------------- CPU time, from /proc

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    """Fields 3 on of /proc/<pid>/stat (after the command name, which may hold spaces)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rpartition(")")[2].split()


def forkserver_pid(server_pid: int) -> int:
    """The server's descendant running plait.runner.forkserver: its child, or in the task
    sandbox the grandchild of bubblewrap (whose command line names it too)."""
    parents = {}
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit():
                parents[int(entry)] = int(_stat(int(entry))[1])
        except OSError:
            continue  # gone meanwhile
    todo = [pid for pid, parent in parents.items() if parent == server_pid]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"plait.runner.forkserver" in argv and not argv[0].endswith(b"bwrap"):
            return pid
        todo.extend(child for child, parent in parents.items() if parent == pid)
    raise BenchError(f"no fork server among the descendants of the server (pid {server_pid})")


@dataclass(frozen=True)
class Probe:
    server_pid: int
    forkserver_pid: int

    def sample(self) -> Cpu:
        try:
            server, forkserver = _stat(self.server_pid), _stat(self.forkserver_pid)
        except OSError as exc:
            raise BenchError(f"the server or its fork server exited: {exc}") from exc
        # utime, stime, cutime, cstime are fields 14-17: 11-14 here
        return Cpu(
            (int(server[11]) + int(server[12])) / TICK,
            (int(forkserver[11]) + int(forkserver[12])) / TICK,
            (int(forkserver[13]) + int(forkserver[14])) / TICK,
        )


# ---------------------------------------------------------------- the API


class Api:
    """One keep-alive connection to the server, as the admin."""

    def __init__(self, base: str, token: str) -> None:
        self.client = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def close(self) -> None:
        self.client.close()

    def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        response = self.client.request(method, path, json=body)
        if response.status_code not in (200, 201):
            raise BenchError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        data: dict[str, Any] = response.json()
        return data

    def create_workflow(self, scenario: Scenario) -> None:
        self.call("POST", "/api/v1/workflows", {"name": scenario.workflow, "tasks": scenario.tasks})


# ---------------------------------------------------------------- one run


def measure_run(api: Api, probe: Probe, scenario: Scenario, poll_seconds: float) -> RunResult:
    """Start a run, poll its status until it ends, then read its detail once.

    The polls ask for the workflow's newest run (`GET /runs?workflow=..&limit=1`, 5-7 ms of
    server CPU), not for the run's detail (`GET /runs/{id}`, 10-20 ms with 50-100 tasks):
    the server is one process on 2 CPUs, and every poll delays the scheduler that it measures.
    Runs of one workflow follow one another here, so its newest run is the one just started.
    """
    cpu = probe.sample()
    started = time.perf_counter()
    run_id = int(api.call("POST", f"/api/v1/workflows/{scenario.workflow}/runs", {})["id"])
    polls: list[float] = []
    while True:
        sent = time.perf_counter()
        newest = api.call("GET", f"/api/v1/runs?workflow={scenario.workflow}&limit=1")["items"]
        seen = time.perf_counter()
        polls.append(seen - sent)
        if not newest or newest[0]["id"] != run_id:
            raise BenchError(f"run {run_id} is not the newest run of {scenario.workflow}")
        if newest[0]["status"] in FINISHED:
            break
        if seen - started > RUN_TIMEOUT_SECONDS:
            status = newest[0]["status"]
            raise RunTimeout(f"run {run_id} still {status} after {RUN_TIMEOUT_SECONDS} s")
        time.sleep(poll_seconds)
    cpu = probe.sample() - cpu
    return _result(api.call("GET", f"/api/v1/runs/{run_id}"), seen - started, polls, cpu)


def _result(detail: dict[str, Any], client_s: float, polls: list[float], cpu: Cpu) -> RunResult:
    created, start, end = (_time(detail[k]) for k in ("created_at", "started_at", "finished_at"))
    if start is None or end is None or created is None:
        raise BenchError(f"run {detail['id']} ended {detail['status']} without timestamps")
    errors = [a["error"] for t in detail["tasks"] for a in t["attempts"] if a["error"]]
    return RunResult(
        run_id=detail["id"],
        status=detail["status"],
        server_s=(end - start).total_seconds(),
        client_s=client_s,
        queued_s=(start - created).total_seconds(),
        polls=polls,
        phases=phases(detail, start),
        error=errors[0] if errors else None,
        cpu=cpu,
    )


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def phases(detail: dict[str, Any], run_started: datetime) -> dict[str, list[float]]:
    """Each attempt's life in three phases, from the server's own timestamps:

    ready->queued    its last dependency finished (or the run started) -> the scheduler claimed it
    queued->running  claimed -> the scheduler recorded the fork server's `started`
    running->done    recorded started -> the scheduler recorded the exit
    """
    finished = {t["key"]: _time(t["attempts"][-1]["finished_at"]) for t in detail["tasks"]}
    out: dict[str, list[float]] = {"ready->queued": [], "queued->running": [], "running->done": []}
    for task in detail["tasks"]:
        attempt = task["attempts"][-1]
        queued, running, done = (
            _time(attempt[k]) for k in ("queued_at", "started_at", "finished_at")
        )
        if queued is None or running is None or done is None:
            continue  # did not run (a failed run): its phases mean nothing
        ready = max([run_started, *(finished[d] or run_started for d in task["depends_on"])])
        out["ready->queued"].append((queued - ready).total_seconds())
        out["queued->running"].append((running - queued).total_seconds())
        out["running->done"].append((done - running).total_seconds())
    return out


# ---------------------------------------------------------------- one workflow


def bench_scenario(api: Api, probe: Probe, scenario: Scenario, opts: Options) -> list[RunResult]:
    api.create_workflow(scenario)
    results = []
    for i in range(opts.runs + 1):  # the first is the warm-up: checked, not counted
        result = measure_run(api, probe, scenario, opts.poll_seconds)
        label = "warm-up" if i == 0 else f"run {i}"
        _print_run(scenario, label, result)
        results.append(result)
    return results


def _print_run(scenario: Scenario, label: str, r: RunResult) -> None:
    failed = f"  FAILED: {r.error}" if r.status != "succeeded" else ""
    print(
        f"[{scenario.name}] {label}: run {r.run_id} {r.status}, server {r.server_s:.3f} s, "
        f"client {r.client_s:.3f} s, queued {r.queued_s * 1000:.1f} ms, {len(r.polls)} polls "
        f"(median {statistics.median(r.polls) * 1000:.1f} ms), CPU ms: server "
        f"{r.cpu.server * 1000:.0f}, fork server {r.cpu.forkserver * 1000:.0f}, "
        f"tasks {r.cpu.tasks * 1000:.0f}{failed}",
        flush=True,
    )


# ---------------------------------------------------------------- the report


def _goal(scenario: Scenario, server_s: float, runs: list[RunResult]) -> str:
    if any(r.status != "succeeded" for r in runs):
        return "n/a: runs failed"
    per_task = scenario.overhead_ms(server_s)
    verdicts = [f"<{GOAL_TASK_MS:g} ms/task {'met' if per_task < GOAL_TASK_MS else 'MISSED'}"]
    if scenario.name == "chain":
        met = "met" if server_s < GOAL_CHAIN_SECONDS else "MISSED"
        verdicts.insert(0, f"wall <{GOAL_CHAIN_SECONDS:g} s {met}")
    return ", ".join(verdicts)


def print_table(results: dict[str, list[RunResult]], opts: Options) -> None:
    print(
        f"\nmedian of {opts.runs} runs (after 1 warm-up), SQLite, local executor, "
        f"PLAIT_MAX_PARALLEL_TASKS={opts.max_parallel}"
    )
    print("server = the run's started_at -> finished_at (its own timestamps)")
    print(
        f"client = POST -> terminal status seen; includes the POST and up to one poll "
        f"interval ({opts.poll_seconds * 1000:g} ms + one GET) of detection delay"
    )
    print("overhead = wall / tasks for the no-op workflows; wall - 1 s for sleep")
    print(
        f"goals: chain under {GOAL_CHAIN_SECONDS:g} s (Prefect 3 runs the same chain in-process "
        f"in {PREFECT_CHAIN_SECONDS:g} s on the reference machine), overhead under "
        f"{GOAL_TASK_MS:g} ms per task"
    )
    head = f"{'workflow':<8}{'tasks':>6}{'server s':>10}{'ovh ms':>9}{'client s':>10}{'ovh ms':>9}"
    print(f"\n{head}  goal (on the server figure)")
    for name, runs in results.items():
        scenario = SCENARIOS[name]
        server = statistics.median(r.server_s for r in runs)
        client = statistics.median(r.client_s for r in runs)
        print(
            f"{name:<8}{len(scenario.tasks):>6}{server:>10.3f}{scenario.overhead_ms(server):>9.1f}"
            f"{client:>10.3f}{scenario.overhead_ms(client):>9.1f}  {_goal(scenario, server, runs)}"
        )


def print_cpu(results: dict[str, list[RunResult]]) -> None:
    print(
        "\nCPU time per task, ms (median over runs; /proc utime+stime, 10 ms ticks): "
        "server = the uvicorn process (API, polls included, and scheduler), fork server = "
        "forking and reaping, tasks = the forked children"
    )
    print(
        f"{'workflow':<8}{'tasks':>6}{'server':>9}{'fork srv':>10}{'tasks':>9}"
        f"{'server/run':>12}{'polls/run':>11}"
    )
    for name, runs in results.items():
        n = len(SCENARIOS[name].tasks)
        server, forkserver, tasks = (
            statistics.median(getattr(r.cpu, part) for r in runs) * 1000
            for part in ("server", "forkserver", "tasks")
        )
        polls = statistics.median(len(r.polls) for r in runs)
        print(
            f"{name:<8}{n:>6}{server / n:>9.1f}{forkserver / n:>10.1f}{tasks / n:>9.1f}"
            f"{server:>12.0f}{polls:>11.0f}"
        )


def print_floor(fork_ms: float, spawn_ms: float) -> None:
    print("\nfloor, measured by this script before the server started:")
    print(f"  os.fork() + os._exit(0) + waitpid   {fork_ms:7.2f} ms per fork (N={FORKS})")
    print(f"  python -c pass (subprocess.run)     {spawn_ms:7.2f} ms per process (N={SPAWNS})")


def print_sandbox_cost(by_sandbox: dict[str, Results]) -> None:
    """The sequential handoff (the chain: one task at a time) per sandbox setting."""
    chains = {s: r["chain"][1:] for s, r in by_sandbox.items() if "chain" in r}
    if len(chains) < 2:
        return
    n = len(SCENARIOS["chain"].tasks)
    print(f"\nsequential handoff (chain of {n}), median per task over the measured runs:")
    print(f"{'sandbox':<9}{'server ms':>11}{'q->run ms':>11}{'fork srv CPU':>14}")
    for sandbox, runs in chains.items():
        wall = statistics.median(r.server_s for r in runs) / n * 1000
        handoff = statistics.median(v for r in runs for v in r.phases["queued->running"]) * 1000
        cpu = statistics.median(r.cpu.forkserver for r in runs) / n * 1000
        print(f"{sandbox:<9}{wall:>11.2f}{handoff:>11.2f}{cpu:>14.2f}")
    print("(server ms: run wall / tasks; q->run: claimed -> the fork server's `started`)")


def print_phases(results: dict[str, list[RunResult]]) -> None:
    print(
        "\nwhere an attempt's time goes (median / p90 ms over all attempts of the measured runs):"
    )
    print(f"{'workflow':<8}{'ready->queued':>18}{'queued->running':>18}{'running->done':>18}")
    for name, runs in results.items():
        cells = []
        for phase in ("ready->queued", "queued->running", "running->done"):
            values = sorted(v for r in runs for v in r.phases[phase])
            cells.append(
                f"{_ms(statistics.median(values))} / {_ms(_p90(values))}" if values else "-"
            )
        print(f"{name:<8}" + "".join(f"{c:>18}" for c in cells))
    print("(ready: the last dependency finished, or the run started)")


def _p90(values: list[float]) -> float:
    return values[min(len(values) - 1, int(len(values) * 0.9))]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


# ---------------------------------------------------------------- main


def server_settings(data_dir: Path, password: str, opts: Options, sandbox: str) -> dict[str, str]:
    return {
        "PLAIT_TASK_SANDBOX": sandbox,
        "PLAIT_DATA_DIR": str(data_dir),
        "PLAIT_LOAD_DEMO": "false",
        "PLAIT_LOG_LEVEL": "WARNING",
        "PLAIT_ADMIN_PASSWORD": password,
        "PLAIT_MAX_PARALLEL_TASKS": str(opts.max_parallel),
        "PLAIT_ACCESS_TOKEN_MINUTES": "60",  # longer than the whole script can take
    }


Results = dict[str, list[RunResult]]  # by scenario


def run_all(opts: Options) -> dict[str, Results]:
    """Every scenario, on a fresh server per sandbox setting."""
    return {sandbox: run_sandbox(opts, sandbox) for sandbox in opts.sandboxes}


def run_sandbox(opts: Options, sandbox: str) -> Results:
    password = secrets.token_urlsafe(16)
    print(f"\n== PLAIT_TASK_SANDBOX={sandbox}", flush=True)
    with tempfile.TemporaryDirectory(prefix="plait-bench-") as tmp:
        data_dir = Path(tmp)
        settings = server_settings(data_dir, password, opts, sandbox)
        with running_server(data_dir, settings) as server:
            return _run_scenarios(server, password, opts)


def _run_scenarios(server: Server, password: str, opts: Options) -> dict[str, list[RunResult]]:
    api = Api(server.base, login(server.base, password))
    probe = Probe(server.pid, forkserver_pid(server.pid))
    print(
        f"server: pid {server.pid} on {server.base} (fork server: pid {probe.forkserver_pid}), "
        f"PLAIT_MAX_PARALLEL_TASKS={opts.max_parallel}, "
        f"polls every {opts.poll_seconds * 1000:g} ms",
        flush=True,
    )
    try:
        return {name: bench_scenario(api, probe, SCENARIOS[name], opts) for name in opts.only}
    finally:
        api.close()


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    started = print_header("shared by the server, its tasks and this client")
    fork_ms, spawn_ms = fork_floor(), spawn_floor()
    print(f"floor measured (this process: {rss_mb():.0f} MB resident)", flush=True)
    by_sandbox = guarded(lambda: run_all(opts), failed=(RunTimeout,))
    if isinstance(by_sandbox, int):
        return by_sandbox
    for sandbox, all_results in by_sandbox.items():
        print(f"\n======== PLAIT_TASK_SANDBOX={sandbox}")
        measured = {name: runs[1:] for name, runs in all_results.items()}
        print_table(measured, opts)
        print_cpu(measured)
        print_phases(measured)
    print_floor(fork_ms, spawn_ms)
    print_sandbox_cost(by_sandbox)
    print_footer(started)
    failed = [
        r
        for results in by_sandbox.values()
        for runs in results.values()
        for r in runs
        if r.status != "succeeded"
    ]
    if failed:
        print(f"FAILED: {len(failed)} run(s) did not succeed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
