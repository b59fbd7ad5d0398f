"""The supervisor: keeps one serving process per deployment in this server process, as the
database says. It reconciles on start, when the bus brings a `deployment.*`,
`model.stage_changed` or `model.exported` event, and every `CHECK_SECONDS`.

A new version is swapped in without a failed request: its process starts and warms up, the
pointer moves (one assignment), the old process answers what it holds, then stops. A
version that fails to load leaves the deployment `failed` with the loader's message while
the old version keeps serving. A process that dies fails what it held with a 503 and is
restarted with a backoff.

The predict path touches no database: the deployment → process mapping, the signature's
validator and the traffic counters live here, in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from plait.db.engine import Database
from plait.db.models import Deployment
from plait.errors import NotFound, PlaitError, Unavailable
from plait.events import outbox
from plait.events.bus import Message
from plait.models.files import local_copy
from plait.monitoring import instruments
from plait.serving.counters import Traffic
from plait.serving.process import LoadFailed, ProcessGone, ServingProcess
from plait.serving.signature import Validator
from plait.serving.targets import Target, target_of
from plait.settings import Settings
from plait.storage import ArtifactStore

log = logging.getLogger("plait.serving")
CHECK_SECONDS = 10.0
DRAIN_SECONDS = 30.0
MAX_BACKOFF_SECONDS = 30.0
STABLE_SECONDS = 60.0  # a process that lived this long starts its backoff over
WAKING = (
    "deployment.created",
    "deployment.updated",
    "deployment.deleted",
    "model.stage_changed",
    "model.exported",
)
SOURCE = "serving"  # events the supervisor writes itself (they need no reconcile)


@dataclass
class Slot:
    id: int
    name: str
    max_batch: int
    status: str
    traffic: Traffic = field(default_factory=Traffic)
    process: ServingProcess | None = None
    serving: Target | None = None
    validator: Validator | None = None
    failed: tuple[Any, ...] | None = None  # (target ident, deployment updated_at) that failed
    task: asyncio.Task[None] | None = None
    error: str | None = None
    restarts: int = 0
    started: float = 0.0


@dataclass
class Answer:
    predictions: list[Any]
    model: str
    version: int
    latency_ms: float


class Supervisor:
    def __init__(self, db: Database, settings: Settings, store: ArtifactStore) -> None:
        self.db = db
        self.settings = settings
        self.store = store
        self.slots: dict[str, Slot] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._background: set[asyncio.Task[Any]] = set()

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="plait-serving")
        self.wake()

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for slot in self.slots.values():
            if slot.task is not None:
                slot.task.cancel()
        for task in [*self._background, *(s.task for s in self.slots.values() if s.task)]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await asyncio.gather(*(s.process.stop(1.0) for s in self.slots.values() if s.process))
        self.slots.clear()

    def wake(self) -> None:
        self._wake.set()

    def on_bus(self, messages: list[Message]) -> None:
        """The bus's listener: deployments or versions changed (here or in another server)."""
        for message in messages:
            data = message.get("data") or {}
            if message.get("type") in WAKING and data.get("source") != SOURCE:
                self.wake()
                return

    async def _loop(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CHECK_SECONDS):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.reconcile()
            except Exception:  # keep supervising; the next wake or check tries again
                log.exception("reconciling deployments failed")
                await asyncio.sleep(1.0)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # --- reconcile ------------------------------------------------------------------------

    async def reconcile(self) -> None:
        """Start, swap or stop serving processes so this server holds what the database says.
        Safe to run any number of times."""
        async with self.db.read() as session:
            deployments = list((await session.execute(select(Deployment))).scalars())
            targets = {d.id: await target_of(session, d) for d in deployments}
        wanted = {d.name: d for d in deployments}
        for name in [
            n for n, s in self.slots.items() if wanted.get(n, s).id != s.id or n not in wanted
        ]:
            self._drop(name)
        for dep in deployments:
            self._reconcile_one(dep, *targets[dep.id])

    def _reconcile_one(self, dep: Deployment, target: Target | None, why: str | None) -> None:
        slot = self.slots.get(dep.name)
        if slot is None:
            slot = self.slots[dep.name] = Slot(dep.id, dep.name, dep.max_batch, dep.status)
        self.limit(dep.name, dep.max_batch)
        if slot.task is not None and not slot.task.done():
            return  # a load under way: it wakes the loop again when it ends
        if target is None:
            if slot.serving is None:
                slot.task = asyncio.create_task(self._set_status(slot, "pending", why))
            return
        current = slot.serving.ident if slot.serving and slot.process else None
        if current == target.ident:
            if slot.status != "serving":  # back to what it serves (after a failed switch)
                slot.failed = None
                slot.task = asyncio.create_task(self._set_status(slot, "serving", None))
            return
        if slot.failed == (target.ident, dep.updated_at):
            return  # failed as it stands: tried again when the deployment changes
        slot.task = asyncio.create_task(self._load(slot, target, dep.updated_at))

    def limit(self, name: str, max_batch: int) -> None:
        """A new max_batch, applied here at once (other servers at their next reconcile)."""
        slot = self.slots.get(name)
        if slot is not None and slot.max_batch != max_batch:
            slot.max_batch = max_batch
            if slot.serving is not None:
                slot.validator = Validator.of(slot.serving.signature, max_batch)

    def forget(self, name: str) -> None:
        """A deployment deleted here: no request reaches it from now on (others' servers
        drop theirs when the event reaches them)."""
        if name in self.slots:
            self._drop(name)

    def _drop(self, name: str) -> None:
        slot = self.slots.pop(name)
        if slot.task is not None:
            slot.task.cancel()
        if slot.process is not None:
            self._spawn(slot.process.stop(DRAIN_SECONDS))

    async def _load(self, slot: Slot, target: Target, stamp: datetime) -> None:
        await self._set_status(slot, "loading", None)
        process = ServingProcess(slot.name, f"{target.model} v{target.version}")
        try:
            files = [{"name": n, "size": s, "sha256": h} for n, s, h in target.files]
            folder = await local_copy(self.store, self.settings.data_dir, target.key, files)
            validator = Validator.of(target.signature, 10**9)
            sample = target.signature.get("sample") or []
            init = {
                "columns": list(validator.names),
                "sample": validator.rows(sample) if sample else [],
                "input": target.input,
            }
            await process.start(
                self.settings,
                folder,
                target.flavor,
                target.file,
                init,
                self.settings.serving_load_seconds,
            )
        except (LoadFailed, PlaitError, OSError) as e:
            message = e.detail if isinstance(e, PlaitError) else str(e)
            log.warning("deployment %s: %s did not load: %s", slot.name, process.label, message)
            slot.failed = (target.ident, stamp)
            await self._set_status(slot, "failed", message)
            self.wake()
            return
        old = slot.process
        if slot.name not in self.slots or self.slots[slot.name] is not slot:
            await process.stop(0)  # deleted while loading
            return
        # The swap: one assignment each, no await between them.
        slot.process, slot.serving = process, target
        slot.validator = Validator.of(target.signature, slot.max_batch)
        slot.failed, slot.started = None, time.monotonic()
        process.on_exit = lambda p: self._exited(slot, p)
        if old is not None:
            self._spawn(old.stop(DRAIN_SECONDS))
        await self._set_status(slot, "serving", None)
        self.wake()

    def _exited(self, slot: Slot, process: ServingProcess) -> None:
        """A serving process died on its own: restart it, later each time it keeps dying."""
        if slot.process is not process or self._stopping:
            return
        slot.process = None
        if time.monotonic() - slot.started > STABLE_SECONDS:
            slot.restarts = 0
        slot.restarts += 1
        delay = min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** (slot.restarts - 1))
        log.warning(
            "deployment %s: serving process stopped; restarting in %.1f s", slot.name, delay
        )
        target = slot.serving
        slot.serving = None

        async def restart() -> None:
            await self._set_status(
                slot, "loading", f"the serving process stopped; restarting in {delay:g} s"
            )
            await asyncio.sleep(delay)
            if target is not None and self.slots.get(slot.name) is slot:
                await self._load(slot, target, datetime.min)

        slot.task = asyncio.create_task(restart())

    async def _set_status(self, slot: Slot, status: str, error: str | None) -> None:
        # A failed load leaves the old version serving: the row says so beside the error.
        serving = slot.serving.version_id if slot.serving and slot.process else None
        if slot.status == status and slot.error == error:
            return
        slot.status, slot.error = status, error
        async with self.db.write() as session:
            done = await session.execute(
                update(Deployment)
                .where(Deployment.id == slot.id)
                .values(
                    status=status,
                    error=error,
                    serving_version_id=serving,
                    updated_at=Deployment.updated_at,
                )
            )
            if getattr(done, "rowcount", 0):
                outbox.record(
                    session,
                    "deployment.updated",
                    name=slot.name,
                    status=status,
                    version=slot.serving.version if slot.serving else None,
                    source=SOURCE,
                )

    # --- predict --------------------------------------------------------------------------

    def slot(self, name: str) -> Slot | None:
        return self.slots.get(name)

    async def predict(self, name: str, rows: Any) -> Answer:
        """Rows checked against the serving version's signature, then answered by its
        process. NotFound for no such deployment here, Unavailable when not serving."""
        slot = self.slots.get(name)
        if slot is None:
            raise NotFound(f"no deployment named {name!r}")
        process, target, validator = slot.process, slot.serving, slot.validator
        if process is None or target is None or validator is None:
            why = f": {slot.error}" if slot.error else ""
            raise Unavailable(
                f"deployment {name!r} is not serving yet (status {slot.status}{why})",
                deployment_status=slot.status,
            )
        started = time.perf_counter()
        try:
            checked = validator.rows(rows)
            predictions = await process.predict(checked)
        except (ProcessGone, PlaitError):
            slot.traffic.failed()
            instruments.serving_failed(name)
            raise
        latency = (time.perf_counter() - started) * 1000
        slot.traffic.answered(len(checked), latency)
        instruments.serving_answered(name, len(checked), latency / 1000)
        return Answer(predictions, target.model, target.version, latency)
