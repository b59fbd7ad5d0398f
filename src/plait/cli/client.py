"""An HTTP client for the REST API that keeps the login and refreshes it when it expires."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8000"


class ApiError(Exception):
    """A problem+json answer (or an unreachable server), ready to show to a person."""

    def __init__(self, status: int, detail: str, errors: list[dict[str, Any]] | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or []


def config_path() -> Path:
    given = os.environ.get("PLAIT_CLI_CONFIG")
    return Path(given) if given else Path.home() / ".config" / "plait" / "cli.json"


@dataclass
class Login:
    url: str = DEFAULT_URL
    access_token: str | None = None
    refresh_token: str | None = None

    @classmethod
    def load(cls) -> Login:
        path = config_path()
        data = json.loads(path.read_text()) if path.exists() else {}
        login = cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        login.url = os.environ.get("PLAIT_URL", login.url)
        if token := os.environ.get("PLAIT_TOKEN"):
            login.access_token, login.refresh_token = token, None
        return login

    def save(self) -> None:
        path = config_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # a file that existed keeps its mode through O_CREAT: tighten it
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(self), f)


class Client:
    def __init__(self, login: Login | None = None, transport: httpx.BaseTransport | None = None):
        self.login = login or Login.load()
        self.http = httpx.Client(base_url=self.login.url, timeout=30, transport=transport)
        # The last answer's HTTP status, for the few callers to whom 200 and 201 differ (an
        # idempotent POST that found the run it had started).
        self.last_status = 0

    def authenticate(self, username: str, password: str) -> dict[str, Any]:
        data = self._send(
            "POST", "/api/v1/auth/login", json={"username": username, "password": password}
        )
        self._keep(data)
        return dict(data)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            return self._send(method, path, auth=True, **kwargs)
        except ApiError as exc:
            if exc.status != 401 or not self.login.refresh_token:
                raise
        self._keep(
            self._send(
                "POST", "/api/v1/auth/refresh", json={"refresh_token": self.login.refresh_token}
            )
        )
        return self._send(method, path, auth=True, **kwargs)

    def _keep(self, pair: dict[str, Any]) -> None:
        self.login.access_token = pair["access_token"]
        self.login.refresh_token = pair["refresh_token"]
        if not os.environ.get("PLAIT_TOKEN"):
            self.login.save()

    def _send(self, method: str, path: str, auth: bool = False, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", {}))
        if auth and self.login.access_token:
            headers["Authorization"] = f"Bearer {self.login.access_token}"
        try:
            response = self.http.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise ApiError(0, f"cannot reach the Plait server at {self.login.url}: {exc}") from exc
        self.last_status = response.status_code
        if response.status_code >= 400:
            raise _problem(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()


def _problem(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        return ApiError(response.status_code, response.text[:500] or response.reason_phrase)
    if response.status_code == 401:
        body["detail"] = f"{body.get('detail')} (run `plait login`)"
    return ApiError(response.status_code, str(body.get("detail")), body.get("errors"))
