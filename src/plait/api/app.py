"""The app factory: settings in, a FastAPI app out. Nothing is built at import time."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from plait import __version__, audit, services
from plait.api import audit as audit_api
from plait.api import (
    auth,
    backfills,
    compare,
    exec_datasets,
    health,
    history,
    hooks,
    lineage,
    model_exports,
    notifications,
    openapi,
    problems,
    results,
    runs,
    stats,
    sweeps,
    tasks,
    templates,
    tokens,
    users,
    versions,
    workers,
    workflows,
    ws,
    yaml_export,
)
from plait.api import chat as chat_api
from plait.api import datasets as datasets_api
from plait.api import deployments as deployments_api
from plait.api import exec as exec_api
from plait.api import models as models_api
from plait.api import monitoring as monitoring_api
from plait.api.deps import Context
from plait.api.middleware import BodyLimit, RequestContext, upload_limits
from plait.auth.bootstrap import ensure_admin
from plait.auth.identity import principal
from plait.auth.throttle import LoginThrottle
from plait.db.engine import Database
from plait.db.models import User
from plait.demo import demo_spec
from plait.monitoring.exposition import Exposition
from plait.monitoring.http import HttpMetrics
from plait.settings import Settings
from plait.ui import routes as ui
from plait.ui.apidocs import docs_router
from plait.workflows import store

log = logging.getLogger("plait.server")

ROUTERS = (
    health,
    auth,
    users,
    tokens,
    audit_api,
    workflows,
    yaml_export,
    versions,
    tasks,
    history,  # before runs: /runs/final-metrics is not /runs/{run_id}
    compare,  # before runs: /runs/compare is not /runs/{run_id}
    runs,
    stats,
    backfills,
    sweeps,
    lineage,
    results,
    hooks,
    notifications,
    workers,
    templates,
    exec_api,
    ws,
    datasets_api,
    exec_datasets,
    chat_api,
    models_api,
    model_exports,
    deployments_api,
)


async def first_start(db: Database, settings: Settings) -> None:
    """An empty database gets an admin (password shown once) and, if wanted, the demo."""
    created = await ensure_admin(db, settings)
    if created is None:
        return
    admin, password = created
    if password is not None:
        # Printed, never logged: the one place this password is ever shown.
        print(
            f"\n  Plait created the first admin.\n  username: {admin.username}\n"
            f"  password: {password}\n  (shown once; change it with `plait passwd`)\n",
            file=sys.stderr,
            flush=True,
        )
    if settings.load_demo:
        await load_demo(db, admin)


async def load_demo(db: Database, admin: User) -> None:
    async with db.write() as session:
        # Paused: its schedule starts nothing until someone resumes it on purpose.
        wf = await store.create(session, principal(admin), demo_spec(), paused=True)
        audit.record(session, None, "workflow.demo_loaded", "workflow", wf.id)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with services.running(
            settings,
            scheduler=settings.scheduler,
            serve=settings.serving,
            before_scheduler=lambda db: first_start(db, settings),
        ) as running:
            db = running.db
            app.state.services = running  # its bus, dispatcher and scheduler
            app.state.plait = Context(
                settings, db, settings.signing_key(), running.hub, running.scheduler
            )
            log.info("plait %s ready on %s", __version__, db.dialect)
            yield

    app = FastAPI(
        title="Plait",
        version=__version__,
        description="MLOps workflow platform. Authenticate with `Authorization: Bearer <token>`.",
        lifespan=lifespan,
        # Served from the package below, not from a CDN (blank pages without internet).
        docs_url=None,
        redoc_url=None,
    )
    app.state.login_throttle = LoginThrottle(
        settings.login_failures_per_user,
        settings.login_failures_per_address,
        settings.login_failure_window_seconds,
    )
    problems.install(app)
    openapi.install(app)
    for module in ROUTERS:
        app.include_router(module.router)
    if settings.metrics_enabled:  # else no /metrics: 404
        app.state.monitoring = Exposition()
        app.include_router(monitoring_api.router)
    app.include_router(docs_router(app.title, app.openapi_url or "/openapi.json"))
    app.include_router(ui.router)
    app.mount("/static", ui.static_files(), name="static")
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes,
                       uploads=upload_limits(settings))  # fmt: skip
    if settings.metrics_enabled:  # else nothing measured per request
        app.add_middleware(HttpMetrics)
    app.add_middleware(RequestContext)
    return app
