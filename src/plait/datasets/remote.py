"""A remote worker's `Source`: the execution API, with the worker token that claimed the
attempt (a worker holds no database and no store credentials). The bytes go into the
worker's own host cache, checked against the registry's checksum like the server's."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from plait.datasets.broker import Resolved, TaskDatasets
from plait.datasets.cache import HostCache, cache_root
from plait.errors import NotFound, PlaitError
from plait.executors.base import Dispatch
from plait.executors.reports import DatasetLog
from plait.worker.client import CHUNK, ExecApi

META_MAX = 8000  # characters of the `about` query parameter (api/exec_datasets.py)


class ApiSource:
    def __init__(self, api: ExecApi) -> None:
        self.api = api

    async def resolve(self, job: Dispatch, name: str, version: int | None) -> Resolved:
        answer = await self.api.request("POST", f"/attempts/{job.attempt_id}/resolve-dataset",
                                        json={"name": name, "version": version})  # fmt: skip
        _refused(answer)
        data: dict[str, Any] = answer.json()
        # Not a key of this host's store: the bytes come from the server (stored or not).
        return Resolved(data["version_id"], data["name"], data["version"], data["filename"],
                        data["checksum"], None, f"plait:{job.attempt_id}")  # fmt: skip

    async def fetch(self, resolved: Resolved) -> AsyncIterator[bytes]:
        attempt = resolved.uri.removeprefix("plait:") if resolved.uri else ""
        path = (f"/attempts/{attempt}/datasets/{quote(resolved.name)}/versions/"
                f"{resolved.version}/download")  # fmt: skip
        async with self.api.stream("GET", path) as answer:
            if answer.status_code >= 400:
                await answer.aread()
                _refused(answer)
            async for chunk in answer.aiter_bytes(CHUNK):
                yield chunk

    async def learnt(self, resolved: Resolved, checksum: str) -> None:
        """The server keeps what it learns itself; a worker only caches."""

    async def log(self, job: Dispatch, ask: DatasetLog, filename: str,
                  chunks: AsyncIterator[bytes]) -> int:  # fmt: skip
        about = json.dumps({"description": ask.description, "tags": ask.tags,
                            "metadata": ask.metadata}, separators=(",", ":")).encode()  # fmt: skip
        encoded = base64.urlsafe_b64encode(about).decode()
        if len(encoded) > META_MAX:
            most = META_MAX * 3 // 4
            raise RemoteRefused(f"the description, tags and metadata take {len(about)} bytes "
                                f"as JSON; from a remote worker at most {most}")  # fmt: skip
        params = {"filename": filename, "kind": ask.kind, "about": encoded}
        # One try: the body is a stream of the task's file, read once.
        answer = await self.api.send_once(
            "PUT", f"/attempts/{job.attempt_id}/datasets/{quote(ask.name)}", params=params,
            content=chunks, headers={"Content-Type": "application/octet-stream"},
        )  # fmt: skip
        _refused(answer)
        return int(answer.json()["version"])


class RemoteRefused(PlaitError):
    status = 400
    slug = "refused"
    title = "Refused by the server"


def _refused(answer: Any) -> None:
    if answer.status_code < 400:
        return
    try:
        detail = str(answer.json().get("detail", ""))
    except ValueError:
        detail = answer.text[:200]
    if answer.status_code == 404:
        raise NotFound(detail)
    raise RemoteRefused(detail or f"HTTP {answer.status_code}")


def worker_datasets(api: ExecApi, data_dir: Path) -> TaskDatasets:
    return TaskDatasets(ApiSource(api), data_dir, HostCache(cache_root(data_dir)))
