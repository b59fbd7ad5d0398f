"""The worker's side of the execution API: HTTP with a worker token, retried with backoff
when the server cannot answer (a connection error, a 5xx: it may be restarting), never on
a 4xx (the answer is the answer)."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

log = logging.getLogger("plait.worker")
RETRY_SECONDS = 300.0  # how long a request is retried before its attempt is given up
CHUNK = 1024 * 1024  # bytes per log PUT (the API's limit) and per artifact read

Body = Callable[[], Any]  # makes a request's content afresh for each try


class Unreachable(Exception):
    """The server did not answer within RETRY_SECONDS."""


class ExecApi:
    def __init__(
        self,
        url: str,
        token: str,
        retry_seconds: float = RETRY_SECONDS,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=url.rstrip("/") + "/api/v1/exec",
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(30.0, connect=10.0),
            transport=transport,
        )
        self.retry_seconds = retry_seconds

    async def close(self) -> None:
        await self._http.aclose()

    async def claim(self, attempt_id: int, worker: str) -> dict[str, Any] | None:
        """The attempt's job, or None when the server refuses (it is not queued any more)."""
        body = {"worker": worker, "pid": None}
        answer = await self.request("POST", f"/attempts/{attempt_id}/claim", json=body)
        if answer.status_code == 409:
            log.info("attempt %d not run: %s", attempt_id, _detail(answer))
            return None
        _check(answer)
        claimed: dict[str, Any] = answer.json()
        return claimed

    async def reports(self, attempt_id: int, reports: list[dict[str, Any]]) -> bool:
        """Send reports; True when the server says to stop the attempt."""
        path = f"/attempts/{attempt_id}/reports"
        answer = await self.request("POST", path, json={"reports": reports})
        if answer.status_code == 409:  # an exit sent twice (a retry): the first counted
            return False
        _check(answer)
        return bool(answer.json().get("cancel"))

    async def log(self, attempt_id: int, offset: int, data: bytes) -> int:
        """Append `data` at `offset`; the size the server holds after (on a 409, the size it
        holds: the caller goes on from there)."""
        path = f"/attempts/{attempt_id}/log"
        answer = await self.request("PUT", path, params={"offset": offset}, content=lambda: data)
        if answer.status_code == 409:
            return int(answer.json().get("size", offset))
        _check(answer)
        return int(answer.json()["size"])

    async def artifact(
        self, attempt_id: int, name: str, path: Path, member: str | None = None
    ) -> None:
        """Upload a file artifact, or one file (`member`, a relative path) of a folder."""
        where = f"/attempts/{attempt_id}/artifacts/{quote(name, safe='')}"
        params = {"member": member} if member is not None else None
        answer = await self.request("PUT", where, content=lambda: _chunks(path), params=params)
        if answer.status_code == 409:  # not running any more: its exit will say why
            log.warning("artifact %r of attempt %d not kept: %s", name, attempt_id,
                        _detail(answer))  # fmt: skip
            return
        _check(answer)

    async def heartbeat(self, body: dict[str, Any]) -> list[int]:
        answer = await self.request("POST", "/workers/heartbeat", json=body)
        _check(answer)
        return [int(i) for i in answer.json().get("cancel", [])]

    async def request(
        self, method: str, path: str, content: Body | None = None, **kwargs: Any
    ) -> httpx.Response:
        deadline = time.monotonic() + self.retry_seconds
        delay = 0.2
        while True:
            try:
                body = content() if content is not None else None
                answer = await self._http.request(method, path, content=body, **kwargs)
                if answer.status_code < 500:
                    return answer
                why = f"HTTP {answer.status_code}"
            except httpx.TransportError as exc:
                why = f"{type(exc).__name__}: {exc}"
            if time.monotonic() + delay > deadline:
                raise Unreachable(f"{method} {path}: {why}")
            log.warning("%s %s failed (%s); again in %.1f s", method, path, why, delay)
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, 10.0)

    def stream(self, method: str, path: str, **kwargs: Any) -> Any:
        """A response read as it arrives (`async with`); not retried: a download that
        failed midway is asked for again by its caller."""
        return self._http.stream(method, path, timeout=httpx.Timeout(None, connect=10.0),
                                 **kwargs)  # fmt: skip

    async def send_once(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One try, for a body that can be read only once (a stream of a file)."""
        return await self._http.request(method, path, timeout=httpx.Timeout(None, connect=10.0),
                                        **kwargs)  # fmt: skip


class Refused(Exception):
    """The server answered a 4xx: the request will not succeed by trying again."""


def _check(answer: httpx.Response) -> None:
    if answer.status_code >= 400:
        raise Refused(f"{answer.request.method} {answer.request.url.path}: "
                      f"{answer.status_code} {_detail(answer)}")  # fmt: skip


def _detail(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("detail", ""))
    except ValueError:
        return answer.text[:200]


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    with open(path, "rb") as f:  # noqa: ASYNC230 (reads of CHUNK bytes go to a thread)
        while chunk := await asyncio.to_thread(f.read, CHUNK):
            yield chunk
