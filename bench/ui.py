"""Benchmark the web UI in a real browser: how long its pages take to draw, and how late a
task's state change shows on the page.

Starts the real server (`plait server`, SQLite in a fresh data directory, the scheduler's
default tick and heartbeat) with `--workflows` workflows bulk-inserted by list_workflows.py's
seeding, and drives Debian's Chromium with Playwright, logged in through localStorage:

  list     /workflows: page.goto() -> the table's 50 rows drawn
  run      /runs/<id> of a finished run of `--tasks` (500) tasks: page.goto() -> every node of
           the graph drawn and shown; then the same for runs that are live
  latency  a task waiting on a FIFO (its gate): the gate opened by this script -> the task's
           node has data-status=succeeded in the DOM, split at the server's event and at the
           WebSocket message's arrival in the browser

Each page figure is the median of `--runs` fresh browser contexts (cold HTTP cache) and of a
second navigation in each (warm cache); the latency the median of `--runs` gates.

    .venv/bin/python bench/ui.py [--runs 5] [--only list|run|latency] [--workflows 10000]
        [--history RUNS]  (runs seeded by seed_runs.py: the list page with their history)
        [--tasks 500]

Exits 1 when a run did not succeed, 2 on a setup error (or a page that never drew).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import importlib.metadata
import json
import os
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Request,
    Response,
    ViewportSize,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError

import seed_runs
from _server import BenchError, Server, guarded, login, print_footer, print_header, running_server
from list_workflows import seed, server_settings, sqlite_target
from plait.settings import Settings
from runs import FINISHED, Api

CHROMIUM = "/usr/bin/chromium"  # Debian's: Playwright's own browser download cannot work here
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = ViewportSize(width=1400, height=900)  # as tests/ui
TIMEOUT_MS = 120_000  # a 500-node graph takes seconds to lay out on a loaded 2-CPU machine
SESSION_KEY = "plait.session"  # where the app keeps its login (api.js)
ROWS = 50  # the workflows page's page size (pages/workflows.js)
LAYER_WIDTH = 20  # tasks per layer of the run page's graph
DAG_WORKFLOW = "bench-ui-dag"
GATE_WORKFLOW = "bench-ui-gates"
RUN_TIMEOUT_SECONDS = 300  # a run still going after this is a failure, not a figure
POLL_SECONDS = 0.25
SETTLE_SECONDS = 0.5  # after a gate's task shows running: the page handles that first
TOKEN_MINUTES = 120  # longer than the whole script can take: the page never refreshes it
ONLY = ("list", "run", "latency")

# Installed in every page before the app's own scripts (context.add_init_script). It records,
# in the page and on the page's clocks, what Playwright could only see by polling:
#   drawn      performance.now() at the DOM change that satisfied __DRAWN__ (MutationObserver)
#   settled    epoch ms at which the last of __TASKS__ graph nodes turned succeeded
#   succeeded  task key -> epoch ms its graph node's data-status became succeeded
#   received   task key -> {at: epoch ms, time: the event's own time} of its task.succeeded
#              WebSocket message, taken before the app's handler sees it
#   longTasks  [start, duration] of main-thread tasks over 50 ms (the Long Tasks API)
PAGE_JS = """
(() => {
  const bench = (window.__plaitBench = {
    drawn: null, settled: null, succeeded: {}, received: {}, longTasks: [],
  });
  const epoch = () => performance.timeOrigin + performance.now();
  const isDrawn = () => __DRAWN__;
  const greens = () =>
    document.querySelectorAll("[data-testid=dag] [data-task][data-status=succeeded]").length;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) bench.longTasks.push([e.startTime, e.duration]);
  }).observe({ type: "longtask", buffered: true });
  new MutationObserver((records) => {
    const at = epoch();
    if (bench.drawn === null && isDrawn()) bench.drawn = at - performance.timeOrigin;
    let green = false;
    for (const r of records) {
      if (r.attributeName !== "data-status") continue;
      const node = r.target;
      if (!node.matches("[data-testid=dag] [data-task]")) continue;
      if (node.getAttribute("data-status") !== "succeeded") continue;
      green = true;
      const key = node.getAttribute("data-task");
      if (!(key in bench.succeeded)) bench.succeeded[key] = at;
    }
    if (green && bench.settled === null && greens() === __TASKS__) bench.settled = at;
  }).observe(document, {
    childList: true, subtree: true, attributes: true,
    attributeFilter: ["transform", "data-status"],
  });
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (e) => {
        const at = epoch();
        const m = JSON.parse(e.data);
        if (m.op === "event" && m.type === "task.succeeded") {
          bench.received[m.data.task_key] = { at, time: m.time };
        }
      });
    }
  };
})();
"""

# After a page load: the page's own figures, from Resource and Navigation Timing.
TIMINGS_JS = """
(dataPath) => {
  const bench = window.__plaitBench;
  const nav = performance.getEntriesByType("navigation")[0];
  const resources = performance.getEntriesByType("resource");
  const data = resources.find((r) => new URL(r.name).pathname === dataPath);
  const until = bench.longTasks.filter(([start]) => start < bench.drawn).map(([, d]) => d);
  return {
    drawn: bench.drawn,
    dcl: nav.domContentLoadedEventEnd,
    type: nav.type,
    data: data ? data.responseEnd : null,
    long: until.reduce((a, b) => a + b, 0),
    longest: Math.max(0, ...until),
    cached: resources.filter((r) => r.transferSize === 0 && r.decodedBodySize > 0).length,
    bytes: resources.reduce((sum, r) => sum + r.transferSize, nav.transferSize),
  };
}
"""

LIST_DRAWN = f"document.querySelectorAll('[data-testid=workflows] tbody tr').length === {ROWS}"


def dag_drawn(tasks: int) -> str:
    """Every node in the DOM, and shown: dag.js hides its <g> until it has fitted the graph
    into the box, and then gives it a transform."""
    return (
        f"document.querySelectorAll('[data-testid=dag] [data-task]').length === {tasks} && "
        "!!document.querySelector('[data-testid=dag] svg > g')?.getAttribute('transform')"
    )


@dataclass(frozen=True)
class Options:
    runs: int
    only: tuple[str, ...]
    workflows: int
    tasks: int
    history: int  # runs seeded by seed_runs.py (0: none)


@dataclass(frozen=True)
class PageLoad:
    """One navigation, until the page's content was drawn."""

    driver_ms: float  # page.goto() called -> Playwright saw the content (this process's clock)
    drawn_ms: float  # navigation start -> the DOM change that completed it
    dcl_ms: float  # navigation start -> DOMContentLoaded handled: every module loaded and run
    data_ms: float | None  # navigation start -> the page's main API response received
    long_ms: float  # main-thread tasks over 50 ms until drawn, summed
    longest_ms: float
    requests: int  # responses (page.on("response")): until the network was idle, or drawn
    cached: int  # of them, served from the HTTP cache (nothing transferred)
    kb: float  # transferred: headers and bodies, document included (Resource Timing)


@dataclass(frozen=True)
class LiveRun:
    """The run page opened right after starting a run, then watched until the run ended."""

    load: PageLoad
    run_id: int
    wall_s: float  # the run's started_at -> finished_at, as the server stamped them
    lag_ms: float | None  # finished_at -> the page's last node turned succeeded (None: never
    # seen changing, e.g. the run had ended before the page drew)
    artifact_gets: int  # GET /runs/<id>/artifacts the page sent while the run went on
    long_ms: float  # main-thread tasks over 50 ms from navigation to the run's end, summed
    longest_ms: float


@dataclass(frozen=True)
class Gate:
    """One task's change to succeeded, on the wall clock (epoch seconds) of one machine."""

    key: str
    opened: float  # this script opened the task's gate (time.time())
    event: float  # the task.succeeded event's time: its row's created_at (server)
    received: float  # its WebSocket message reached the page (performance.timeOrigin + now)
    shown: float  # the node's data-status became succeeded (MutationObserver, same clock)
    finished: float  # the attempt's finished_at (server, read from the API afterwards)


@dataclass
class Report:
    lists: list[tuple[PageLoad, PageLoad]] = field(default_factory=list)
    runs: list[tuple[PageLoad, PageLoad]] = field(default_factory=list)
    live: list[tuple[LiveRun, LiveRun]] = field(default_factory=list)
    unwatched_s: float | None = None  # wall time of the run nobody watched (the setup run)
    gates: list[Gate] = field(default_factory=list)
    clock: tuple[float, float] | None = None  # browser clock - this process's, ms; +- ms
    problems: list[str] = field(default_factory=list)  # console errors, uncaught exceptions


@dataclass(frozen=True)
class Bench:
    """What every measurement uses."""

    browser: Browser
    server: Server
    api: Api  # the admin's, for the workflows and runs
    session: dict[str, Any]  # the admin's, for the pages
    opts: Options
    report: Report


class RunFailed(BenchError):
    """A run did not succeed in time (exit 1), unlike a setup error (2)."""


# ---------------------------------------------------------------- command line


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=_positive, default=5, help="samples per figure (5)")
    parser.add_argument("--only", choices=ONLY, help="one figure instead of all")
    parser.add_argument(
        "--workflows", type=_positive, default=10_000, help="workflows in the database (10000)"
    )
    parser.add_argument("--tasks", type=_positive, default=500, help="tasks of the run (500)")
    parser.add_argument(
        "--history", type=int, default=0, help="runs seeded by seed_runs.py (0); the list "
        "page then opens sorted by last change, so it shows the seeded workflows' last runs"
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.runs > 20 or args.workflows > 1_000_000 or args.tasks > 2000:
        parser.error("keep it bounded: --runs <= 20, --workflows <= 1000000, --tasks <= 2000")
    if args.workflows < ROWS and args.only in (None, "list"):
        parser.error(f"--workflows must fill the workflows page: at least {ROWS}")
    only = (args.only,) if args.only else ONLY
    return Options(args.runs, only, args.workflows, args.tasks, max(args.history, 0))


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


# ---------------------------------------------------------------- workflows and runs


def layered_tasks(count: int) -> list[dict[str, Any]]:
    """`count` no-op Python tasks in layers of LAYER_WIDTH, each depending on two tasks of
    the layer before (one straight behind it, one further off, so edges cross as in a real
    pipeline): 500 tasks are 25 layers and 960 edges."""
    tasks = []
    for i in range(count):
        layer, j = divmod(i, LAYER_WIDTH)
        before = [] if layer == 0 else [j, (j * 7 + 3) % LAYER_WIDTH]
        depends = sorted({f"l{layer - 1:02d}t{k:02d}" for k in before})
        tasks.append(
            {
                "key": f"l{layer:02d}t{j:02d}",
                "kind": "python",
                "code": "pass",
                "depends_on": depends,
            }
        )
    return tasks


def gated_tasks(fifos: Sequence[Path], total: int) -> list[dict[str, Any]]:
    """A chain of shell tasks, each blocked reading its FIFO until this script writes to it,
    then `total` - gates no-op tasks (layered_tasks) waiting for the last gate: the page has
    as big a graph as the run page's, so a change costs what it costs on a large run's page.

    A FIFO rather than a file the task polls for: a poll loop would add up to its interval
    to every figure (and fork a `sleep` each time), time that is the task's, not Plait's.
    """
    keys = [f"gate{i:02d}" for i in range(1, len(fifos) + 1)]
    gates = [
        {
            "key": key,
            "kind": "shell",
            "command": f"cat {shlex.quote(str(fifo))} > /dev/null",
            "depends_on": keys[i - 1 : i],
        }
        for i, (key, fifo) in enumerate(zip(keys, fifos, strict=True))
    ]
    rest = layered_tasks(max(0, total - len(gates)))
    for task in rest:
        task["depends_on"] = task["depends_on"] or keys[-1:]
    return gates + rest


def start_run(api: Api, workflow: str) -> int:
    return int(api.call("POST", f"/api/v1/workflows/{workflow}/runs", {})["id"])


def wait_run(api: Api, workflow: str, run_id: int) -> dict[str, Any]:
    """Poll until the run has ended; returns its detail.

    The polls ask for the workflow's newest run, not for the run's detail: with 500 tasks the
    detail costs the server ~40 ms of CPU, which it would take from the run and the page.
    """
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while True:
        newest = api.call("GET", f"/api/v1/runs?workflow={workflow}&limit=1")["items"]
        if not newest or newest[0]["id"] != run_id:
            raise BenchError(f"run {run_id} is not the newest run of {workflow}")
        if newest[0]["status"] in FINISHED:
            break
        if time.monotonic() > deadline:
            raise RunFailed(
                f"run {run_id} still {newest[0]['status']} after {RUN_TIMEOUT_SECONDS} s"
            )
        time.sleep(POLL_SECONDS)
    detail = api.call("GET", f"/api/v1/runs/{run_id}")
    if detail["status"] != "succeeded":
        raise RunFailed(f"run {run_id} ended {detail['status']}")
    return detail


def wall_s(detail: dict[str, Any]) -> float:
    return _epoch(detail["finished_at"]) - _epoch(detail["started_at"])


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


# ---------------------------------------------------------------- the browser


def session_for(base: str, password: str) -> dict[str, Any]:
    """What the app stores in localStorage after a login (api.js `pair`), from a real one."""
    response = httpx.post(
        f"{base}/api/v1/auth/login", json={"username": "admin", "password": password}, timeout=30
    )
    if response.status_code != 200:
        raise BenchError(f"login failed: {response.status_code} {response.text[:300]}")
    data = response.json()
    return {
        "access": data["access_token"],
        "refresh": data["refresh_token"],
        "user": data["user"],
        "expires": int((time.time() + data["expires_in"]) * 1000),
    }


@contextmanager
def browser_context(b: Bench, drawn: str, tasks: int) -> Iterator[BrowserContext]:
    """A fresh context (its own empty HTTP cache), logged in before the app loads; `drawn`
    and `tasks` go into PAGE_JS."""
    base = b.server.base
    context = b.browser.new_context(viewport=VIEWPORT, base_url=base)
    try:
        context.set_default_timeout(TIMEOUT_MS)
        stored = json.dumps(json.dumps(b.session))
        # Only on the app's origin: a new page's first document, about:blank, has none.
        context.add_init_script(
            f"if (location.origin === {json.dumps(base)}) "
            f"localStorage.setItem({json.dumps(SESSION_KEY)}, {stored});"
        )
        context.add_init_script(
            PAGE_JS.replace("__DRAWN__", drawn).replace("__TASKS__", str(tasks))
        )
        context.on("page", lambda page: watch_problems(page, b.report))
        yield context
    finally:
        context.close()


def watch_problems(page: Page, report: Report) -> None:
    """Console errors and uncaught exceptions: printed with the figures, which they may void."""
    page.on("pageerror", lambda exc: report.problems.append(f"uncaught: {exc}"))
    page.on(
        "console",
        lambda m: report.problems.append(f"console: {m.text}") if m.type == "error" else None,
    )


def load(
    page: Page, path: str, wait: Callable[[Page], None], data_path: str, idle: bool = True
) -> PageLoad:
    """Navigate to `path` and time it until `wait` returns.

    goto() returns at the response's commit, so the figure does not wait for the load event
    the content may be drawn before. `idle`: count the requests until the network is idle
    (the page's late requests included) rather than until drawn.
    """
    responses: list[Response] = []

    def on_response(response: Response) -> None:  # a function: Playwright tags its handlers
        responses.append(response)

    page.on("response", on_response)
    started = time.perf_counter()
    page.goto(path, wait_until="commit")
    wait(page)
    driver_ms = (time.perf_counter() - started) * 1000
    if idle:
        page.wait_for_load_state("networkidle")
    page.remove_listener("response", on_response)
    t = page.evaluate(TIMINGS_JS, data_path)
    if t["drawn"] is None:
        raise BenchError(f"{path}: Playwright saw the page drawn, its MutationObserver did not")
    if t["type"] != "navigate":  # a reload would revalidate what a second visit takes as is
        raise BenchError(f"{path}: the navigation was a {t['type']}, not a visit")
    return PageLoad(
        driver_ms=driver_ms,
        drawn_ms=t["drawn"],
        dcl_ms=t["dcl"],
        data_ms=t["data"],
        long_ms=t["long"],
        longest_ms=t["longest"],
        requests=len(responses),
        cached=t["cached"],
        kb=t["bytes"] / 1024,
    )


def wait_rows(page: Page) -> None:
    page.wait_for_selector("[data-testid=workflows] tbody tr")
    rows = page.locator("[data-testid=workflows] tbody tr").count()
    if rows != ROWS:
        raise BenchError(f"the workflows page drew {rows} rows, not {ROWS}")


def wait_dag(tasks: int) -> Callable[[Page], None]:
    def wait(page: Page) -> None:
        # A function, not an expression: the page's CSP has no 'unsafe-eval', and Playwright
        # evaluates a bare expression with eval().
        page.wait_for_function(f"() => {dag_drawn(tasks)}")

    return wait


def cold_and_warm(
    context: BrowserContext, path: str, wait: Callable[[Page], None], data_path: str
) -> tuple[PageLoad, PageLoad]:
    """The page in a fresh context, then again in it with the cache the first visit filled."""
    page = context.new_page()
    cold = load(page, path, wait, data_path)
    warm = load(page, path, wait, data_path)
    return cold, warm


def clock_offset(page: Page) -> tuple[float, float]:
    """The page's clock (timeOrigin + now) minus time.time(), in ms, and its uncertainty:
    the best of 20 reads, the page's taken somewhere between two of this process's."""
    best: tuple[float, float] | None = None
    for _ in range(20):
        before = time.time()
        theirs = page.evaluate("() => performance.timeOrigin + performance.now()") / 1000
        after = time.time()
        sample = ((theirs - (before + after) / 2) * 1000, (after - before) / 2 * 1000)
        if best is None or sample[1] < best[1]:
            best = sample
    assert best is not None
    return best


# ---------------------------------------------------------------- 1. the workflows page


def bench_list(b: Bench) -> None:
    for i in range(b.opts.runs + 1):  # the first is the warm-up: Chromium itself starting up
        with browser_context(b, LIST_DRAWN, -1) as context:
            path = "/workflows?sort=-updated" if b.opts.history else "/workflows"
            cold, warm = cold_and_warm(context, path, wait_rows, "/api/v1/workflows")
        _print_pair("list", i, cold, warm)
        if i:
            b.report.lists.append((cold, warm))


def _print_pair(name: str, i: int, cold: PageLoad, warm: PageLoad) -> None:
    label = "warm-up" if i == 0 else f"run {i}"
    print(f"[{name}] {label}: cold {_brief(cold)}; warm {_brief(warm)}", flush=True)


def _brief(p: PageLoad) -> str:
    data = f"{p.data_ms:.0f}" if p.data_ms is not None else "-"
    return (
        f"{p.driver_ms:.0f} ms (page: drawn {p.drawn_ms:.0f}, DCL {p.dcl_ms:.0f}, data {data}, "
        f"long tasks {p.long_ms:.0f}; {p.requests} requests, {p.cached} cached, {p.kb:.0f} KB)"
    )


# ---------------------------------------------------------------- 2. the run page


def bench_run(b: Bench) -> None:
    """The page of a finished run, then of live ones: all of DAG_WORKFLOW."""
    tasks = b.opts.tasks
    b.api.call("POST", "/api/v1/workflows", {"name": DAG_WORKFLOW, "tasks": layered_tasks(tasks)})
    run_id = start_run(b.api, DAG_WORKFLOW)
    b.report.unwatched_s = wall_s(wait_run(b.api, DAG_WORKFLOW, run_id))
    print(
        f"[run] run {run_id} of {tasks} tasks succeeded in {b.report.unwatched_s:.1f} s "
        "(no page open)",
        flush=True,
    )
    path = f"/runs/{run_id}"
    for i in range(b.opts.runs + 1):
        with browser_context(b, dag_drawn(tasks), tasks) as context:
            cold, warm = cold_and_warm(context, path, wait_dag(tasks), f"/api/v1{path}")
        _print_pair("run", i, cold, warm)
        if i:
            b.report.runs.append((cold, warm))
    bench_live(b)


def bench_live(b: Bench) -> None:
    """No warm-up of its own: the finished run's pages have just warmed Chromium up."""
    tasks = b.opts.tasks
    for i in range(1, b.opts.runs + 1):
        with browser_context(b, dag_drawn(tasks), tasks) as context:
            page = context.new_page()
            cold = live(page, b.api, tasks)
            warm = live(page, b.api, tasks)  # from the page of the run that just ended
        _print_live(i, cold, warm)
        b.report.live.append((cold, warm))


def live(page: Page, api: Api, tasks: int) -> LiveRun:
    """Start a run, open its page at once, and watch it until the run has ended."""
    artifact_gets: list[str] = []

    def on_request(request: Request) -> None:
        if request.url.split("?")[0].endswith("/artifacts"):
            artifact_gets.append(request.url)

    run_id = start_run(api, DAG_WORKFLOW)
    page.on("request", on_request)
    path = f"/runs/{run_id}"
    # Counted until drawn: a live page is never idle.
    loaded = load(page, path, wait_dag(tasks), f"/api/v1{path}", idle=False)
    detail = wait_run(api, DAG_WORKFLOW, run_id)
    green = "[data-testid=dag] [data-task][data-status=succeeded]"
    page.wait_for_function(f"() => document.querySelectorAll('{green}').length === {tasks}")
    page.remove_listener("request", on_request)
    seen = page.evaluate(
        "() => { const b = window.__plaitBench; const d = b.longTasks.map(([, d]) => d);"
        " return { settled: b.settled, long: d.reduce((a, x) => a + x, 0),"
        " longest: Math.max(0, ...d) }; }"
    )
    settled = seen["settled"]
    return LiveRun(
        load=loaded,
        run_id=run_id,
        wall_s=wall_s(detail),
        lag_ms=settled - _epoch(detail["finished_at"]) * 1000 if settled is not None else None,
        artifact_gets=len(artifact_gets),
        long_ms=seen["long"],
        longest_ms=seen["longest"],
    )


def _print_live(i: int, cold: LiveRun, warm: LiveRun) -> None:
    for label, r in (("cold", cold), ("warm", warm)):
        lag = f"{r.lag_ms:.0f} ms" if r.lag_ms is not None else "-"
        print(
            f"[live] run {i} {label}: {_brief(r.load)}; run {r.run_id} took {r.wall_s:.1f} s, "
            f"page caught up {lag} after it ended, {r.artifact_gets} GET artifacts, "
            f"long tasks {r.long_ms:.0f} ms (longest {r.longest_ms:.0f})",
            flush=True,
        )


# ---------------------------------------------------------------- 3. state-change latency


def bench_latency(b: Bench) -> None:
    folder = b.server.log_path.parent / "gates"  # in the data directory: removed with it
    folder.mkdir()
    # One gate more than measured: it holds the no-op tasks back until the last measurement
    # is over, so the burst of starting them does not fall into it.
    fifos = [folder / f"gate{i:02d}" for i in range(1, b.opts.runs + 2)]
    for fifo in fifos:
        os.mkfifo(fifo)
    tasks = gated_tasks(fifos, b.opts.tasks)
    b.api.call("POST", "/api/v1/workflows", {"name": GATE_WORKFLOW, "tasks": tasks})
    run_id = start_run(b.api, GATE_WORKFLOW)
    try:
        with browser_context(b, dag_drawn(len(tasks)), len(tasks)) as context:
            page = context.new_page()
            page.goto(f"/runs/{run_id}", wait_until="commit")
            wait_dag(len(tasks))(page)
            seen = [open_gate(page, f"gate{i:02d}", fifo) for i, fifo in enumerate(fifos[:-1], 1)]
            b.report.clock = clock_offset(page)  # now: a page still drawing answers slowly
    finally:
        # The last gate; and any other a task still waits on (this failed), which would hold
        # up the server's stop.
        release(fifos)
    detail = wait_run(b.api, GATE_WORKFLOW, run_id)
    finished = {t["key"]: _epoch(t["attempts"][-1]["finished_at"]) for t in detail["tasks"]}
    for key, opened, got in seen:
        gate = Gate(
            key=key,
            opened=opened,
            event=_epoch(got["ws"]["time"]),
            received=got["ws"]["at"] / 1000,
            shown=got["shown"] / 1000,
            finished=finished[key],
        )
        print(f"[latency] {key}: {_gate_brief(gate)}", flush=True)
        b.report.gates.append(gate)


def open_gate(page: Page, key: str, fifo: Path) -> tuple[str, float, dict[str, Any]]:
    """Wait for the task to run, open its gate, wait for the page to show it succeeded."""
    page.wait_for_selector(f"[data-testid=dag] [data-task={key}][data-status=running]")
    time.sleep(SETTLE_SECONDS)
    fd = _writer(fifo)
    opened = time.time()
    try:
        os.write(fd, b"go\n")
    finally:
        os.close(fd)  # cat reads to the end of the data: it exits here
    page.wait_for_function("(key) => key in window.__plaitBench.succeeded", arg=key)
    got = page.evaluate(
        "(key) => ({ shown: window.__plaitBench.succeeded[key],"
        " ws: window.__plaitBench.received[key] })",
        key,
    )
    if got["ws"] is None:
        raise BenchError(f"{key}: the page showed it succeeded without its WebSocket message")
    return key, opened, got


def _writer(fifo: Path) -> int:
    """The FIFO opened for writing, once its task has opened it for reading."""
    deadline = time.monotonic() + 10
    while True:
        try:
            # Non-blocking: with no reader yet this fails (ENXIO) instead of waiting for one.
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO or time.monotonic() > deadline:
                raise BenchError(f"{fifo}: its task never opened it: {exc}") from exc
            time.sleep(0.005)


def release(fifos: Sequence[Path]) -> None:
    """Open and close every gate a task is still waiting on: it reads nothing and exits."""
    for fifo in fifos:
        with contextlib.suppress(OSError):  # no reader: its task is done, or never started
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def _gate_brief(g: Gate) -> str:
    return (
        f"opened -> shown {_ms(g.shown - g.opened)} ms (server event +{_ms(g.event - g.opened)}, "
        f"WebSocket message +{_ms(g.received - g.event)}, DOM +{_ms(g.shown - g.received)}); "
        f"finished_at +{_ms(g.finished - g.opened)}"
    )


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


# ---------------------------------------------------------------- the report


def _spread(values: Sequence[float], digits: int = 0) -> str:
    """median (min..max)"""
    if not values:
        return "-"
    med, low, high = statistics.median(values), min(values), max(values)
    return f"{med:.{digits}f} ({low:.{digits}f}..{high:.{digits}f})"


LOAD_ROWS: list[tuple[str, Callable[[PageLoad], float | None]]] = [
    ("goto -> drawn, Playwright (ms)", lambda p: p.driver_ms),
    ("navigation -> drawn, in page (ms)", lambda p: p.drawn_ms),
    ("  DOMContentLoaded (ms)", lambda p: p.dcl_ms),
    ("  API data received (ms)", lambda p: p.data_ms),
    ("  data -> drawn (ms)", lambda p: None if p.data_ms is None else p.drawn_ms - p.data_ms),
    ("long tasks until drawn (ms)", lambda p: p.long_ms),
    ("  longest (ms)", lambda p: p.longest_ms),
    ("requests", lambda p: p.requests),
    ("  from the HTTP cache", lambda p: p.cached),
    ("transferred (KB)", lambda p: p.kb),
]


def print_loads(title: str, pairs: Sequence[tuple[PageLoad, PageLoad]]) -> None:
    print(f"\n{title}\nmedian (min..max) of {len(pairs)} fresh browser contexts")
    print(f"{'':<36}{'cold (new context)':>24}{'warm (2nd visit)':>24}")
    for label, get in LOAD_ROWS:
        cells = []
        for side in (0, 1):
            values = [v for pair in pairs if (v := get(pair[side])) is not None]
            cells.append(_spread(values))
        print(f"{label:<36}{cells[0]:>24}{cells[1]:>24}")


def print_live(report: Report) -> None:
    pairs = [(c.load, w.load) for c, w in report.live]
    print_loads(
        "run page of a live run (opened right after starting it; requests counted until drawn)",
        pairs,
    )
    runs = [r for pair in report.live for r in pair]
    lags = [r.lag_ms for r in runs if r.lag_ms is not None]
    unwatched = f"{report.unwatched_s:.1f} s" if report.unwatched_s is not None else "-"
    print(f"while each run went on, over all {len(runs)} live runs (cold and warm together):")
    print(f"  run wall time (server) (s)          {_spread([r.wall_s for r in runs], 1)}")
    print(f"    the same run unwatched            {unwatched}")
    print(f"  page caught up after the run (ms)   {_spread(lags)}   (last node succeeded in")
    print("    the DOM - the run's finished_at)")
    print(f"  GET /runs/<id>/artifacts per run    {_spread([r.artifact_gets for r in runs])}")
    print(f"  long tasks, navigation to end (ms)  {_spread([r.long_ms for r in runs])}")
    print(f"    longest (ms)                      {_spread([r.longest_ms for r in runs])}")


def _defaults() -> str:
    """The scheduler's timing settings, which this script leaves unset: what users get."""
    fields = Settings.model_fields
    return (
        f"PLAIT_TICK_SECONDS={fields['tick_seconds'].default} and "
        f"PLAIT_HEARTBEAT_SECONDS={fields['heartbeat_seconds'].default} (the defaults)"
    )


def print_latency(report: Report, opts: Options) -> None:
    print(
        f"\nstate-change latency: a gate opened -> its task's node shows succeeded, "
        f"{len(report.gates)} gates, on the page of a run of "
        f"{max(opts.tasks, opts.runs + 1)} tasks\n{_defaults()}; median (min..max) ms"
    )
    g = report.gates
    rows = [
        ("gate opened -> node succeeded in the DOM", [x.shown - x.opened for x in g]),
        ("  gate opened -> server event (exit recorded)", [x.event - x.opened for x in g]),
        ("  server event -> WebSocket message in page", [x.received - x.event for x in g]),
        ("  WebSocket message -> DOM", [x.shown - x.received for x in g]),
        ("gate opened -> the attempt's finished_at", [x.finished - x.opened for x in g]),
    ]
    for label, seconds in rows:
        print(f"{label:<48}{_spread([v * 1000 for v in seconds], 1):>24}")
    if report.clock:
        offset, error = report.clock
        print(
            f"clock check: the page's clock - this process's = {offset:+.1f} ms (+-{error:.1f}); "
            "the page's figures are not corrected for it"
        )


def print_report(report: Report, opts: Options) -> None:
    if report.lists:
        print_loads(f"/workflows with {opts.workflows} workflows, {ROWS} rows", report.lists)
    if report.runs:
        print_loads(f"/runs/<id> of a finished run of {opts.tasks} tasks", report.runs)
    if report.live:
        print_live(report)
    if report.gates:
        print_latency(report, opts)
    if report.problems:
        print(f"\nthe pages reported {len(report.problems)} problem(s), first ones:")
        for problem in report.problems[:10]:
            print(f"  {problem}")


# ---------------------------------------------------------------- main


def run_all(opts: Options) -> Report:
    report = Report()
    with sqlite_target() as target:
        count = opts.workflows if "list" in opts.only else 0
        started = time.monotonic()
        password = asyncio.run(seed(target.url, count))
        print(f"seeded {count} workflows in {time.monotonic() - started:.1f} s", flush=True)
        if opts.history:
            started = time.monotonic()
            asyncio.run(seed_runs.seed(target.url, opts.history))
            print(f"seeded {opts.history} runs in {time.monotonic() - started:.1f} s", flush=True)
        settings = server_settings(target, TOKEN_MINUTES)
        with running_server(target.data_dir, settings) as server, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                print(
                    f"server: pid {server.pid} on {server.base}, {_defaults()}; "
                    f"Chromium {browser.version}, "
                    f"Playwright {importlib.metadata.version('playwright')}",
                    flush=True,
                )
                _scenarios(browser, server, password, opts, report)
            finally:
                browser.close()
    return report


def _scenarios(
    browser: Browser, server: Server, password: str, opts: Options, report: Report
) -> None:
    api = Api(server.base, login(server.base, password))
    b = Bench(browser, server, api, session_for(server.base, password), opts, report)
    try:
        if "list" in opts.only:
            bench_list(b)
        if "run" in opts.only:
            bench_run(b)
        if "latency" in opts.only:
            bench_latency(b)
    finally:
        api.close()


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    except OSError:
        return "unknown CPU"
    return names[0] if names else "unknown CPU"


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    started = print_header(
        f"({cpu_model()}), shared by the server, its tasks, Chromium and this script"
    )
    report = guarded(lambda: run_all(opts), failed=(RunFailed,), broken=(PlaywrightError,))
    if isinstance(report, int):
        return report
    print_report(report, opts)
    print_footer(started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
