"""One serving process, seen from the server: started, asked (requests multiplexed by id
over its pipes), drained and stopped. A process that dies fails what is in flight on it
with a 503 at once, never a hang."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import sys
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from plait.errors import FieldError, InvalidInput, Unavailable
from plait.executors import sandbox
from plait.serving.protocol import HEADER, MAX_FRAME, encode
from plait.settings import Settings

log = logging.getLogger("plait.serving")
STDERR_LINES = 20
STOP_GRACE_SECONDS = 5.0


class LoadFailed(Exception):
    """The model did not load (or its warm-up failed); the message is the loader's."""


class ProcessGone(Unavailable):
    """The serving process stopped while a request was in flight."""


class ServingProcess:
    def __init__(self, name: str, label: str) -> None:
        self.name = name  # the deployment's
        self.label = label  # "iris v3": what answers say was serving
        self._proc: asyncio.subprocess.Process | None = None
        self._pending: dict[int, asyncio.Future[list[Any]]] = {}
        self._ids = itertools.count(1)
        self._reader: asyncio.Task[None] | None = None
        self._stderr: deque[str] = deque(maxlen=STDERR_LINES)
        self._stderr_task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self.on_exit: Callable[[ServingProcess], None] | None = None
        self.stopping = False
        self.alive = False

    async def start(
        self,
        settings: Settings,
        folder: Path,
        flavor: str,
        file: str,
        init: dict[str, Any],
        load_seconds: float,
    ) -> None:
        """Start, load and warm up; LoadFailed with the loader's message otherwise."""
        argv = [sys.executable, "-m", "plait.serving.worker", str(folder), flavor, file]
        isolated = sandbox.sandboxed(settings)
        if isolated:
            argv = sandbox.isolated_command(settings, argv, read_only=[folder])
        self._proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=sandbox.task_environment(settings, isolated),
            cwd=str(folder) if not isolated else "/",
            limit=MAX_FRAME,
        )
        self._stderr_task = asyncio.create_task(self._drain_stderr())
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(encode({"init": init}))
        try:
            async with asyncio.timeout(load_seconds):
                first = await self._read()
        except TimeoutError:
            await self.kill()
            raise LoadFailed(f"the model did not load within {load_seconds:g} s") from None
        if first is None or "ready" not in first:
            await self._reap()
            reason = first.get("error") if first else None
            raise LoadFailed(str(reason or self._exit_reason()))
        self.alive = True
        self._reader = asyncio.create_task(self._read_loop(), name=f"serving-{self.name}")

    async def _read(self) -> dict[str, Any] | None:
        assert self._proc is not None and self._proc.stdout is not None
        try:
            head = await self._proc.stdout.readexactly(HEADER.size)
            (size,) = HEADER.unpack(head)
            if size > MAX_FRAME:  # the process runs a task's code: it is not trusted either
                self._stderr.append(f"it sent a frame of {size} bytes, over the limit")
                with contextlib.suppress(ProcessLookupError):
                    self._proc.kill()  # restarted like any process that dies
                return None
            body = await self._proc.stdout.readexactly(size)
            message = json.loads(body)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            return None
        return message if isinstance(message, dict) else None

    async def _read_loop(self) -> None:
        try:
            while (message := await self._read()) is not None:
                future = self._pending.pop(message.get("id", 0), None)
                if future is None or future.done():
                    continue
                if "error" in message:
                    future.set_exception(
                        InvalidInput(
                            [
                                FieldError(
                                    ("rows",),
                                    f"the model failed on these rows: {message['error']}",
                                    "model",
                                )
                            ]
                        )
                    )
                else:
                    future.set_result(message.get("predictions") or [])
                if not self._pending:
                    self._idle.set()
        finally:
            self.alive = False
            await self._reap()
            reason = self._exit_reason()
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(
                        ProcessGone(
                            f"deployment {self.name!r}: its serving process stopped ({reason}) "
                            "while answering; it is being restarted, try again"
                        )
                    )
            self._pending.clear()
            self._idle.set()
            if not self.stopping and self.on_exit is not None:
                self.on_exit(self)

    async def predict(self, rows: list[list[Any]]) -> list[Any]:
        if not self.alive or self._proc is None or self._proc.stdin is None:
            raise ProcessGone(f"deployment {self.name!r}: its serving process is not running")
        request = next(self._ids)
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._pending[request] = future
        self._idle.clear()
        try:
            self._proc.stdin.write(encode({"id": request, "rows": rows}))
        except (ConnectionError, RuntimeError):
            self._pending.pop(request, None)
            raise ProcessGone(f"deployment {self.name!r}: its serving process stopped") from None
        return await future

    async def drain(self, seconds: float) -> None:
        """Wait for the requests in flight to be answered (at most `seconds`)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._idle.wait()

    async def stop(self, drain_seconds: float = 30.0) -> None:
        self.stopping = True
        await self.drain(drain_seconds)
        if self._proc is not None and self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            async with asyncio.timeout(STOP_GRACE_SECONDS):
                await self._reap()
        except TimeoutError:
            await self.kill()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def kill(self) -> None:
        self.stopping = True
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
        await self._reap()

    async def _reap(self) -> None:
        if self._proc is not None:
            await self._proc.wait()
        if self._stderr_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._stderr_task

    async def _drain_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        async for line in self._proc.stderr:
            text = line.decode(errors="replace").rstrip()
            if text:
                self._stderr.append(text[:500])

    def _exit_reason(self) -> str:
        code = self._proc.returncode if self._proc is not None else None
        last = self._stderr[-1] if self._stderr else ""
        reason = f"exit code {code}" if code is not None else "stopped"
        return f"{reason}: {last}" if last else reason

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def in_flight(self) -> int:
        return len(self._pending)
