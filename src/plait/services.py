"""The background machinery of a Plait process, built in one place: the database, the event
bus, the outbox dispatcher, the notification worker, the tracking forwarder and the
scheduler with its executor.

`plait server` runs it under the API (`PLAIT_SCHEDULER=false` leaves the scheduler out, for
API-only replicas); `plait scheduler` runs it alone, with no API.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import text

from plait.datasets.server import task_datasets
from plait.db import migrate
from plait.db.engine import Database
from plait.events import outbox
from plait.events.bus import Bus, RedisBus, make_bus
from plait.events.dispatcher import Dispatcher
from plait.events.hub import Hub
from plait.executors import load_executor
from plait.monitoring import exposition
from plait.notifications import rules as notify_rules
from plait.notifications.worker import DeliveryWorker
from plait.orchestration import chains
from plait.orchestration.retention import Retention
from plait.orchestration.scheduler import Scheduler
from plait.serving import supervisor as serving
from plait.serving import targets as serving_targets
from plait.settings import Settings
from plait.storage import artifact_store
from plait.tracking import store as tracking
from plait.tracking.forwarder import Forwarder

log = logging.getLogger("plait.services")


@dataclass
class Services:
    settings: Settings
    db: Database
    hub: Hub
    bus: Bus
    dispatcher: Dispatcher
    scheduler: Scheduler | None
    supervisor: serving.Supervisor | None = None


@asynccontextmanager
async def running(
    settings: Settings,
    *,
    scheduler: bool,
    before_scheduler: Callable[[Database], Awaitable[None]] | None = None,
    serve: bool = False,
) -> AsyncIterator[Services]:
    """Migrate, then start the bus, the dispatcher, the delivery worker (when enabled), when
    `serve` the deployments' supervisor and, when `scheduler`, the scheduler; stop them in
    reverse order on the way out.
    `before_scheduler` runs once the database is migrated (the server's first start)."""
    if (shared := exposition.multiprocess_dir()) is not None:
        exposition.prepare(shared)  # before this process's pool gauges are counted
    db = Database(settings.resolved_database_url())
    hub = Hub(settings.ws_queue_size)
    bus = make_bus(settings.redis_url, settings.resolved_database_url())
    bus.listen(hub.deliver)
    if isinstance(bus, RedisBus):
        bus.catch_up = lambda after: outbox.published_after(db, after)
    dispatcher = Dispatcher(
        db,
        bus,
        # Tracking's handler only where adapters are set: each handler costs every event a
        # savepoint.
        handlers=[chains.on_event, notify_rules.on_event, serving_targets.on_event]
        + ([tracking.handler(settings)] if settings.tracking_adapters else []),
        retention=timedelta(days=settings.events_retention_days),
    )
    async with AsyncExitStack() as stack:
        stack.callback(exposition.process_ended)
        stack.push_async_callback(db.dispose)
        await _migrate(db)
        await bus.start()
        stack.push_async_callback(bus.stop)
        await dispatcher.start()
        stack.push_async_callback(dispatcher.stop)
        if settings.notify_worker:
            worker = DeliveryWorker(db, settings)
            await worker.start()
            stack.push_async_callback(worker.stop)
        if settings.tracking_worker and settings.tracking_adapters:
            forwarder = Forwarder(db, settings)
            await forwarder.start()
            stack.push_async_callback(forwarder.stop)
        if before_scheduler is not None:
            await before_scheduler(db)
        supervisor = None
        if serve:  # deployments' serving processes, under an API
            supervisor = serving.Supervisor(db, settings, artifact_store(settings))
            bus.listen(supervisor.on_bus)
            await supervisor.start()
            stack.push_async_callback(supervisor.stop)
        engine = None
        if scheduler:
            executor = load_executor(settings.executor, settings)
            if hasattr(executor, "datasets"):  # it runs tasks here: it answers their requests
                executor.datasets = task_datasets(db, settings)
            engine = Scheduler(db, settings, executor)
            bus.listen(engine.on_bus)  # changes other processes make wake it at once
            await engine.start()
            stack.push_async_callback(engine.stop)
            retention = Retention(db, settings)  # old runs go, in the scheduler's process
            await retention.start()
            stack.push_async_callback(retention.stop)
        yield Services(settings, db, hub, bus, dispatcher, engine, supervisor)


MIGRATE_LOCK = 0x706C6D67  # "plmg": one process at a time migrates a PostgreSQL database


async def _migrate(db: Database) -> None:
    """Migrate; on PostgreSQL under an advisory lock, so a server and a scheduler started at
    once on an empty database do not both create its tables (the second waits, then finds
    nothing to do)."""
    if db.dialect == "sqlite":
        await migrate.upgrade(db)  # SQLite: one machine, and no advisory locks to take
        return
    async with db.writer.connect() as conn:
        await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATE_LOCK})
        try:
            await migrate.upgrade(db)
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATE_LOCK})
