"""`plait worker`: run task attempts that a server sends through a Celery broker."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.markup import escape

from plait.cli.common import err


def worker(
    queues: Annotated[
        str, typer.Option(help="Comma-separated queues to take attempts from.")
    ] = "default",
    concurrency: Annotated[
        int, typer.Option(min=1, max=1024, help="Attempts this worker runs at once.")
    ] = 4,
    server: Annotated[
        str,
        typer.Option(envvar="PLAIT_URL", help="The Plait server's address (its execution API)."),
    ] = "http://127.0.0.1:8000",
    token: Annotated[
        str,
        typer.Option(
            envvar="PLAIT_WORKER_TOKEN",
            help="A worker token (`plait tokens create --worker NAME`). Prefer the variable: "
            "an option shows in the process list.",
            show_default=False,
        ),
    ] = "",
    data_dir: Annotated[
        Path | None,
        typer.Option(envvar="PLAIT_DATA_DIR", help="Where attempts' files live while they run."),
    ] = None,
) -> None:
    """Run task attempts sent through the broker at PLAIT_BROKER_URL (needs the `worker` extra)."""
    import os

    if data_dir is not None:
        os.environ["PLAIT_DATA_DIR"] = str(data_dir)
    names = [q.strip() for q in queues.split(",") if q.strip()]
    if not token:
        _fail("a worker token is needed: set PLAIT_WORKER_TOKEN (or --token)")
    if not names:
        _fail("--queues names no queue")
    try:
        from plait.worker.app import WorkerConfig, serve
    except ImportError as exc:
        _fail(f"{exc}; install the worker's dependencies: pip install 'plait[worker]'")
    from plait.settings import Settings

    settings = Settings()
    if not settings.broker_url:
        _fail("set PLAIT_BROKER_URL to the broker the server sends to (redis:// or amqp://)")
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
    serve(settings, WorkerConfig(server, token, names, concurrency, settings.log_level))


def _fail(message: str) -> NoReturn:
    err.print(f"[red]error[/red]: {escape(message)}")
    raise typer.Exit(2)
