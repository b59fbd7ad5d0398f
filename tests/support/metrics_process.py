"""A Plait server process for the multiprocess metrics test, driven line by line on stdin:
`get N` (N requests to /healthz), `scrape` (prints /metrics as one JSON string), `exit`.
Its environment carries PROMETHEUS_MULTIPROC_DIR; it serves in-process (no socket needed)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import httpx
from sqlalchemy import select

from plait.api.app import create_app
from plait.auth.tokens import issue_access_token
from plait.db.models import User
from plait.settings import Settings

SECRET = "test-signing-key-" + "x" * 32


async def serve(data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir, secret_key=SECRET, admin_password="admin-password-1",
                        load_demo=False, scheduler=False, notify_worker=False)  # fmt: skip
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with app.state.plait.db.read() as session:
            admin = (await session.execute(select(User).where(User.role == "admin"))).scalar_one()
        token, _ = issue_access_token(admin, SECRET, 15)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://plait.test") as client:
            print("ready", flush=True)
            while (line := (await asyncio.to_thread(sys.stdin.readline)).strip()) not in (
                "",
                "exit",
            ):
                word, *rest = line.split()
                if word == "get":
                    for _ in range(int(rest[0])):
                        assert (await client.get("/healthz")).status_code == 200
                    print("done", flush=True)
                elif word == "scrape":
                    headers = {"Authorization": f"Bearer {token}"}
                    response = await client.get("/metrics", headers=headers)
                    print(json.dumps(response.text), flush=True)


if __name__ == "__main__":
    asyncio.run(serve(Path(sys.argv[1])))
