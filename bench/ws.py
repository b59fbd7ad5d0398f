"""Benchmark live events: many WebSocket clients subscribed to `*` while runs execute.

Starts the real server (`plait server`, embedded SQLite, local executor, in-memory bus) in a
fresh data directory, creates one workflow (a chain of 3 no-op Python tasks, as many active
runs at once as `--runs`), opens `--clients` WebSocket connections from `--procs` client
processes, subscribes each to `*`, then starts `--runs` runs as fast as one HTTP client can
and collects every event on every connection until each has seen every run end (bounded by
`--timeout`).

Latency of an event on a connection = the client's receive time - the event's `time` (its
row's created_at, stamped in the transaction just before the commit), on the same clock.
It prints p50/p99 latency, events per second, the server's CPU time and memory, and
`GET /ws/stats`; each figure's median over `--repeat` repetitions, each on a fresh server.

    .venv/bin/python bench/ws.py [--clients 500] [--runs 100] [--repeat 3] [--procs 2]
        [--compression deflate|none] [--max-active-runs N] [--max-parallel 16]

Exits 1 when an event was lost, a client was dropped or a run did not succeed in time,
2 on a setup error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import resource
import secrets
import signal
import statistics
import sys
import tempfile
import time
from array import array
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import httpx
import uvloop
from websockets.asyncio.client import ClientConnection, connect

from _server import BenchError, Server, guarded, login, print_footer, print_header, running_server

WORKFLOW = "bench-ws"
TASKS = 3  # a chain of no-op Python tasks
RUN_ENDS = frozenset({"run.succeeded", "run.failed", "run.cancelled"})
CONNECT_AT_ONCE = 50  # handshakes in flight per client process
READY_SECONDS = 120  # to open and subscribe every connection
TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Options:
    clients: int
    runs: int
    repeat: int
    procs: int
    max_parallel: int
    timeout: float  # seconds for every run to end and every client to see it
    deflate: bool  # clients offer permessage-deflate (as browsers do); the server accepts
    max_active_runs: int  # the workflow's: how many of its runs go at once


# ---------------------------------------------------------------- command line


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add = parser.add_argument
    add("--clients", type=_positive, default=500, help="WebSocket connections (500)")
    add("--runs", type=_positive, default=100, help="runs started (100)")
    add("--repeat", type=_positive, default=3, help="repetitions, each on a fresh server (3)")
    add("--procs", type=_positive, default=2, help="client processes sharing the clients (2)")
    add("--max-parallel", type=_positive, default=16, help="PLAIT_MAX_PARALLEL_TASKS (16)")
    add("--max-active-runs", type=_positive, help="the workflow's (default: --runs, all at once)")
    add("--timeout", type=_positive, default=180, help="seconds for the runs to end (180)")
    add("--compression", choices=("deflate", "none"), default="deflate",
        help="what the clients offer (deflate, as browsers do)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.clients > 5000 or args.runs > 1000 or args.repeat > 10 or args.timeout > 1800:
        parser.error("keep it bounded: --clients <= 5000, --runs <= 1000, --repeat <= 10")
    procs = min(args.procs, args.clients)
    return Options(
        args.clients,
        args.runs,
        args.repeat,
        procs,
        args.max_parallel,
        args.timeout,
        args.compression == "deflate",
        args.max_active_runs or args.runs,
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def raise_open_files(needed: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE towards the hard limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        soft = wanted
    return soft


# ---------------------------------------------------------------- a client process


@dataclass(frozen=True)
class WorkerConf:
    url: str  # ws://127.0.0.1:<port>/ws?token=...
    connections: int
    runs: int
    deflate: bool


@dataclass(frozen=True)
class Ready:
    connections: int
    seconds: float


@dataclass(frozen=True)
class Done:
    pending: int  # connections that had not seen every run end (0 unless timed out)


@dataclass(frozen=True)
class Failed:
    error: str


@dataclass
class Conn:
    ws: ClientConnection
    received: int = 0
    last_id: int = 0
    disorder: int = 0  # events whose id was not above the previous one's
    ended: int = 0  # run ends seen
    close_code: int | None = None


@dataclass
class WorkerResult:
    latencies: array[float]  # seconds, one per delivered event
    event_times: dict[int, float]  # every distinct event id -> its `time`, epoch seconds
    event_types: dict[int, str]  # every distinct event id -> its type
    received: list[int]  # per connection
    disorder: int
    close_codes: Counter[int | None]  # None: still open when the client closed it itself
    first: float  # epoch seconds of the first and last event received
    last: float
    cpu: float  # this process's CPU seconds from the start of the runs to the end


@dataclass
class Collector:
    runs: int
    pending: int
    latencies: array[float] = field(default_factory=lambda: array("d"))
    event_times: dict[int, float] = field(default_factory=dict)
    event_types: dict[int, str] = field(default_factory=dict)
    first: float = float("inf")
    last: float = 0.0
    all_ended: asyncio.Event = field(default_factory=asyncio.Event)

    def on_message(self, conn: Conn, raw: str | bytes, now: float) -> None:
        message = json.loads(raw)
        if message.get("op") != "event":
            return
        event_id: int = message["id"]
        sent = self.event_times.get(event_id)
        if sent is None:
            sent = self.event_times[event_id] = datetime.fromisoformat(message["time"]).timestamp()
            self.event_types[event_id] = message["type"]
        self.latencies.append(now - sent)
        self.first, self.last = min(self.first, now), now
        conn.received += 1
        conn.disorder += event_id <= conn.last_id
        conn.last_id = max(conn.last_id, event_id)
        if message["type"] in RUN_ENDS:
            conn.ended += 1
            if conn.ended == self.runs:
                self.finished()

    def finished(self) -> None:
        self.pending -= 1
        if self.pending == 0:
            self.all_ended.set()


async def open_one(conf: WorkerConf, gate: asyncio.Semaphore) -> Conn:
    async with gate:
        ws = await connect(
            conf.url,
            compression="deflate" if conf.deflate else None,
            ping_interval=None,  # the server pings; a busy client must not close on its own
            open_timeout=30,
            max_size=2**20,
        )
        await ws.send(json.dumps({"op": "subscribe", "topics": ["*"]}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if reply.get("op") != "subscribed":
            raise BenchError(f"subscribe answered {reply}")
        return Conn(ws)


async def listen(conn: Conn, collector: Collector) -> None:
    """Every message until the connection closes: by us at the end, or by the server."""
    try:
        async for raw in conn.ws:
            collector.on_message(conn, raw, time.time())
    except Exception:  # noqa: S110 - closed abnormally: the close code below tells how
        pass
    conn.close_code = conn.ws.close_code
    if conn.ended < collector.runs:  # closed early: it will never see the rest
        collector.finished()


async def recv(pipe: Connection) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, pipe.recv)


async def worker(conf: WorkerConf, pipe: Connection) -> None:
    started = time.perf_counter()
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)
    conns = list(await asyncio.gather(*(open_one(conf, gate) for _ in range(conf.connections))))
    collector = Collector(conf.runs, len(conns))
    listeners = [asyncio.create_task(listen(c, collector)) for c in conns]
    pipe.send(Ready(len(conns), time.perf_counter() - started))
    deadline: float = await recv(pipe)  # the runs start now
    cpu = time.process_time()
    try:
        async with asyncio.timeout(max(0.0, deadline - time.time())):
            await collector.all_ended.wait()
    except TimeoutError:
        pass
    cpu = time.process_time() - cpu
    pipe.send(Done(collector.pending))
    await recv(pipe)  # the main process has read /ws/stats: close
    await asyncio.gather(*(c.ws.close() for c in conns), return_exceptions=True)
    await asyncio.gather(*listeners)
    pipe.send(_result(collector, conns, cpu))


def _result(collector: Collector, conns: list[Conn], cpu: float) -> WorkerResult:
    return WorkerResult(
        latencies=collector.latencies,
        event_times=collector.event_times,
        event_types=collector.event_types,
        received=[c.received for c in conns],
        disorder=sum(c.disorder for c in conns),
        close_codes=Counter(None if c.close_code == 1000 else c.close_code for c in conns),
        first=collector.first,
        last=collector.last,
        cpu=cpu,
    )


def worker_main(conf: WorkerConf, pipe: Connection) -> None:
    """A client process: its connections, on uvloop (the clients compete with the server
    for the CPUs: the less they spend per message, the less they disturb it)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the main process stops us
    try:
        uvloop.run(worker(conf, pipe))
    except Exception as exc:  # EOFError too: the main process gave up and closed the pipe
        with contextlib.suppress(OSError):
            pipe.send(Failed(f"{type(exc).__name__}: {exc}"))


# ---------------------------------------------------------------- the client processes


class Clients:
    """The client processes, talked to over one pipe each."""

    def __init__(self, url: str, opts: Options) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.procs: list[BaseProcess] = []
        for i in range(opts.procs):
            share = opts.clients // opts.procs + (i < opts.clients % opts.procs)
            ours, theirs = context.Pipe()
            conf = WorkerConf(url, share, opts.runs, opts.deflate)
            proc = context.Process(target=worker_main, args=(conf, theirs), daemon=True)
            proc.start()
            theirs.close()
            self.pipes.append(ours)
            self.procs.append(proc)

    def gather(self, timeout: float) -> list[Any]:
        """One message from each process, in order; a Failed one or silence is an error."""
        deadline = time.monotonic() + timeout
        answers = []
        for i, pipe in enumerate(self.pipes):
            if not pipe.poll(max(0.0, deadline - time.monotonic())):
                raise BenchError(f"client process {i} silent for {timeout:.0f} s")
            answer = pipe.recv()
            if isinstance(answer, Failed):
                raise BenchError(f"client process {i}: {answer.error}")
            answers.append(answer)
        return answers

    def tell(self, message: Any) -> None:
        for pipe in self.pipes:
            pipe.send(message)

    def stop(self) -> None:
        """Done (they have sent their results) or not (closing the pipes ends them)."""
        for pipe in self.pipes:
            pipe.close()
        for proc in self.procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
                proc.join()


@contextmanager
def client_processes(url: str, opts: Options) -> Iterator[Clients]:
    clients = Clients(url, opts)
    try:
        yield clients
    finally:
        clients.stop()


# ---------------------------------------------------------------- the server process


@dataclass(frozen=True)
class Usage:
    cpu: float  # utime + stime, seconds: every thread
    loop_cpu: float  # the main thread's: the event loop (the other threads run SQLite calls)
    loop_wait: float  # seconds the main thread was runnable but waited for a CPU
    rss_mb: float  # VmRSS
    peak_mb: float  # VmHWM


def _cpu(stat_path: str) -> float:
    """utime + stime of a /proc stat file, in seconds."""
    with open(stat_path) as f:
        stat = f.read().rpartition(")")[2].split()
    return (int(stat[11]) + int(stat[12])) / TICK  # fields 14 and 15: 11 and 12 after the name


def usage(pid: int) -> Usage:
    try:
        cpu, loop_cpu = _cpu(f"/proc/{pid}/stat"), _cpu(f"/proc/{pid}/task/{pid}/stat")
        with open(f"/proc/{pid}/task/{pid}/schedstat") as f:
            loop_wait = int(f.read().split()[1]) / 1e9  # on the CPU, waiting for it, slices
        with open(f"/proc/{pid}/status") as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
    except OSError as exc:
        raise BenchError(f"the server (pid {pid}) is gone: {exc}") from exc
    return Usage(
        cpu,
        loop_cpu,
        loop_wait,
        int(status["VmRSS"].split()[0]) / 1024,
        int(status["VmHWM"].split()[0]) / 1024,
    )


def tasks_cpu(server_pid: int) -> float:
    """CPU seconds of the server's children (the fork server) and of theirs (the tasks)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read().rpartition(")")[2].split()
        except OSError:
            continue  # not a process, or gone meanwhile
        if entry.isdigit() and int(stat[1]) == server_pid:
            total += sum(int(v) for v in stat[11:15]) / TICK  # utime stime cutime cstime
    return total


class Api:
    """One keep-alive HTTP connection, as the admin."""

    def __init__(self, base: str, token: str) -> None:
        self.client = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )

    def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        response = self.client.request(method, path, json=body)
        if response.status_code not in (200, 201):
            raise BenchError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        data: dict[str, Any] = response.json()
        return data

    def create_workflow(self, max_active_runs: int) -> None:
        keys = [f"t{i}" for i in range(TASKS)]
        tasks = [
            {"key": k, "kind": "python", "code": "pass", "depends_on": keys[i - 1 : i]}
            for i, k in enumerate(keys)
        ]
        body = {"name": WORKFLOW, "tasks": tasks, "max_active_runs": max_active_runs}
        self.call("POST", "/api/v1/workflows", body)

    def start_runs(self, n: int) -> None:
        for _ in range(n):
            self.call("POST", f"/api/v1/workflows/{WORKFLOW}/runs", {})

    def run_statuses(self) -> Counter[str]:
        found: Counter[str] = Counter()
        cursor = ""
        while True:
            page = self.call("GET", f"/api/v1/runs?workflow={WORKFLOW}&limit=500{cursor}")
            found.update(r["status"] for r in page["items"])
            if not page["next_cursor"]:
                return found
            cursor = f"&cursor={page['next_cursor']}"


# ---------------------------------------------------------------- one repetition


@dataclass(frozen=True)
class Raw:
    """What one repetition collected, before any arithmetic."""

    ready: list[Ready]
    dones: list[Done]
    results: list[WorkerResult]
    idle: Usage  # the server before any client connected
    before: Usage  # every client connected, no run started
    after: Usage  # every client saw every run end (or the timeout)
    tasks_cpu: float  # fork server and tasks, between before and after
    ws_stats: dict[str, Any]  # with every client still connected
    statuses: Counter[str]
    started: float  # epoch seconds: the first POST
    post_s: float  # POSTing every run


def server_settings(data_dir: Path, password: str, opts: Options) -> dict[str, str]:
    return {
        "PLAIT_DATA_DIR": str(data_dir),
        "PLAIT_LOAD_DEMO": "false",
        "PLAIT_LOG_LEVEL": "WARNING",
        "PLAIT_ADMIN_PASSWORD": password,
        "PLAIT_MAX_PARALLEL_TASKS": str(opts.max_parallel),
        "PLAIT_ACCESS_TOKEN_MINUTES": "60",  # longer than a repetition can take
    }


def repetition(opts: Options) -> Raw:
    """One fresh server, measured."""
    password = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory(prefix="plait-bench-ws-") as tmp:
        data_dir = Path(tmp)
        with running_server(data_dir, server_settings(data_dir, password, opts)) as server:
            print(f"  server: pid {server.pid} on {server.base}", flush=True)
            return _measure(server, login(server.base, password), opts)


def _measure(server: Server, token: str, opts: Options) -> Raw:
    api = Api(server.base, token)
    try:
        api.create_workflow(opts.max_active_runs)
        idle = usage(server.pid)
        url = server.base.replace("http://", "ws://", 1) + f"/ws?token={token}"
        with client_processes(url, opts) as clients:
            ready: list[Ready] = clients.gather(READY_SECONDS)
            before, tasks_before = usage(server.pid), tasks_cpu(server.pid)
            started = time.time()
            clients.tell(started + opts.timeout)  # the clients' deadline
            api.start_runs(opts.runs)
            post_s = time.time() - started
            dones: list[Done] = clients.gather(opts.timeout + 30)
            after, tasks_after = usage(server.pid), tasks_cpu(server.pid)
            ws_stats = api.call("GET", "/ws/stats")
            clients.tell("close")
            results: list[WorkerResult] = clients.gather(60)
        statuses = api.run_statuses()
    finally:
        api.client.close()
    return Raw(ready, dones, results, idle, before, after, tasks_after - tasks_before,
               ws_stats, statuses, started, post_s)  # fmt: skip


# ---------------------------------------------------------------- the figures


@dataclass(frozen=True)
class Rep:
    figures: dict[str, float]  # name (with its unit) -> value, in print order
    per_run: dict[str, float]  # distinct events per run, by type
    ws_stats: dict[str, Any]
    problems: list[str]


def summarize(raw: Raw, opts: Options) -> Rep:
    results = raw.results
    event_times: dict[int, float] = {}
    event_types: dict[int, str] = {}
    for r in results:
        event_times.update(r.event_times)
        event_types.update(r.event_types)
    types = Counter(event_types.values())
    per_run = {t: n / opts.runs for t, n in sorted(types.items())}
    delivered = sum(sum(r.received) for r in results)
    distinct = len(event_times)
    window = max(r.last for r in results) - raw.started if delivered else float("nan")
    latencies = sorted(x for r in results for x in r.latencies)
    figures = {
        "connect s": max(r.seconds for r in raw.ready),
        "POST runs s": raw.post_s,
        "window s": window,
        "first event s": min(r.first for r in results) - raw.started,
        "distinct events": distinct,
        "delivered": delivered,
        "delivered/s": delivered / window,
        "distinct/s": distinct / window,
        **_latency_figures(latencies),
        **_usage_figures(raw, window, delivered),
    }
    problems = _problems(raw, opts, delivered, distinct, event_times)
    return Rep(figures, per_run, raw.ws_stats, problems)


def _latency_figures(latencies: list[float]) -> dict[str, float]:
    def at(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * q))] * 1000

    if not latencies:
        return {}
    return {"latency p50 ms": at(0.5), "latency p90 ms": at(0.9), "latency p99 ms": at(0.99),
            "latency max ms": latencies[-1] * 1000}  # fmt: skip


def _usage_figures(raw: Raw, window: float, delivered: int) -> dict[str, float]:
    server_cpu = raw.after.cpu - raw.before.cpu
    return {
        "server CPU s": server_cpu,
        "server CPU % of 1 CPU": server_cpu / window * 100,
        "event loop CPU %": (raw.after.loop_cpu - raw.before.loop_cpu) / window * 100,
        "event loop waited %": (raw.after.loop_wait - raw.before.loop_wait) / window * 100,
        "server CPU us/delivered": server_cpu / max(delivered, 1) * 1e6,
        "tasks CPU s": raw.tasks_cpu,
        "clients CPU s": sum(r.cpu for r in raw.results),
        "RSS idle MB": raw.idle.rss_mb,
        "RSS connected MB": raw.before.rss_mb,
        "RSS end MB": raw.after.rss_mb,
        "RSS peak MB": raw.after.peak_mb,
    }


def _problems(
    raw: Raw, opts: Options, delivered: int, distinct: int, event_times: dict[int, float]
) -> list[str]:
    found = []
    missing = distinct * opts.clients - delivered
    gaps = max(event_times) - min(event_times) + 1 - distinct if event_times else 0
    if missing or gaps:
        found.append(f"{missing} deliveries missing; {gaps} event ids never delivered")
    if pending := sum(d.pending for d in raw.dones):
        found.append(f"{pending} clients did not see every run end within {opts.timeout:g} s")
    codes = sum((r.close_codes for r in raw.results), Counter[int | None]())
    if closed := {code: n for code, n in codes.items() if code is not None}:
        found.append(f"clients closed by the server, code: count {closed} (4008: too slow)")
    if raw.statuses.get("succeeded", 0) != opts.runs:
        found.append(f"run statuses: {dict(raw.statuses)}")
    if disorder := sum(r.disorder for r in raw.results):
        found.append(f"{disorder} events out of id order on their connection")
    return found


# ---------------------------------------------------------------- the report


def print_rep(i: int, rep: Rep, opts: Options) -> None:
    f = rep.figures
    print(
        f"[rep {i}] {opts.clients} clients subscribed in {f['connect s']:.1f} s; {opts.runs} runs "
        f"POSTed in {f['POST runs s']:.1f} s; the last event arrived {f['window s']:.1f} s "
        f"after the first POST",
        flush=True,
    )
    per_run = ", ".join(f"{t} {n:g}" for t, n in rep.per_run.items())
    print(f"  distinct events per run: {per_run}")
    print(
        f"  delivered {f['delivered']:.0f} = {f['distinct events']:.0f} distinct x "
        f"{f['delivered'] / max(f['distinct events'], 1):.1f}; latency ms p50 "
        f"{f.get('latency p50 ms', 0):.1f} p99 {f.get('latency p99 ms', 0):.1f} "
        f"max {f.get('latency max ms', 0):.1f}; server CPU {f['server CPU s']:.1f} s, "
        f"peak RSS {f['RSS peak MB']:.0f} MB"
    )
    print(f"  /ws/stats before closing: {json.dumps(rep.ws_stats)}")
    for problem in rep.problems:
        print(f"  PROBLEM: {problem}")
    if not rep.problems:
        print("  every client got every event, in order; no client closed by the server (4008)")


FORMATS = {"distinct events": ".0f", "delivered": ".0f", "delivered/s": ".0f", "distinct/s": ".0f"}


def print_table(reps: list[Rep], opts: Options) -> None:
    print(
        f"\n{opts.clients} clients on `*` ({opts.procs} client processes), {opts.runs} runs of "
        f"a chain of {TASKS} no-op tasks (max_active_runs {opts.max_active_runs}), SQLite, "
        f"PLAIT_MAX_PARALLEL_TASKS={opts.max_parallel}, "
        f"permessage-deflate {'on' if opts.deflate else 'off'}"
    )
    if len(reps) == 1:
        print("one repetition: its figures, not a median")
    print("window = first POST -> last event received by any client; latency = receive - `time`")
    head = "".join(f"{f'rep {i}':>11}" for i in range(1, len(reps) + 1))
    print(f"\n{'figure':<26}{head}{'median':>11}")
    for name in reps[0].figures:
        values = [r.figures.get(name, float("nan")) for r in reps]
        spec = FORMATS.get(name, ".1f")
        cells = "".join(f"{v:>11{spec}}" for v in [*values, statistics.median(values)])
        print(f"{name:<26}{cells}")


NOTES = """
server CPU: the uvicorn process (API, scheduler, dispatcher, WebSocket fan-out, and its
  SQLite threads), from the first POST to the last client done.
event loop CPU: its main thread alone (100%: the loop had no time to spare); waited: the
  share of the window that thread was ready to run but waited for a CPU (/proc schedstat).
tasks CPU: the fork server and the tasks; clients CPU: the client processes.
RSS: the server's VmRSS before any client connected (idle), with every client connected
  before the first run (connected), and at the end; peak = VmHWM over the server's whole
  life, its start included."""


def print_notes(opts: Options) -> None:
    print(NOTES)
    print(
        f"This machine has {os.cpu_count()} CPUs for the server, its tasks, the {opts.procs} "
        "client processes and anything else running: they compete, so a latency includes time "
        "an event waited for its client process to be scheduled."
    )


# ---------------------------------------------------------------- main


def run_all(opts: Options) -> list[Rep]:
    reps = []
    for i in range(1, opts.repeat + 1):
        print(f"repetition {i} of {opts.repeat}", flush=True)
        started = time.monotonic()
        rep = summarize(repetition(opts), opts)
        print_rep(i, rep, opts)
        print(f"  repetition took {time.monotonic() - started:.0f} s", flush=True)
        reps.append(rep)
    return reps


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    nofile = raise_open_files(opts.clients + 1024)  # the server inherits it
    started = print_header(
        f"shared by the server, its tasks and {opts.procs} client processes; "
        f"open files limit {nofile}"
    )
    reps = guarded(lambda: run_all(opts))
    if isinstance(reps, int):
        return reps
    print_table(reps, opts)
    print_notes(opts)
    print_footer(started)
    if failed := [i for i, r in enumerate(reps, 1) if r.problems]:
        print(f"FAILED: problems in repetition(s) {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
