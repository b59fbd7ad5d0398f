"""An HTTP client for the REST API that keeps the login and refreshes it when it expires."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
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


def _read_config() -> dict[str, Any]:
    """`{"current": url, "servers": {url: {"access_token", "refresh_token"}}}`; the file of
    older versions (one `url` and its tokens) reads as that server, current."""
    path = config_path()
    data = json.loads(path.read_text()) if path.exists() else {}
    if "servers" in data:
        return dict(data)
    if "url" in data:
        tokens = {k: data.get(k) for k in ("access_token", "refresh_token")}
        return {"current": data["url"], "servers": {data["url"]: tokens}}
    return {"current": None, "servers": {}}


def _same(url: str) -> str:
    return url.rstrip("/")


@dataclass
class Login:
    url: str = DEFAULT_URL
    access_token: str | None = None
    refresh_token: str | None = None

    @classmethod
    def load(cls, url: str | None = None) -> Login:
        """The login for `url` (from --url), else for PLAIT_URL, else for the server logged
        into last, else for the default URL. Each server keeps its own tokens, so a command
        aimed at another server never sends it this one's."""
        config = _read_config()
        chosen = _same(url or os.environ.get("PLAIT_URL") or config["current"] or DEFAULT_URL)
        tokens = config["servers"].get(chosen, {})
        login = cls(chosen, tokens.get("access_token"), tokens.get("refresh_token"))
        if token := os.environ.get("PLAIT_TOKEN"):
            login.access_token, login.refresh_token = token, None
        return login

    def save(self, current: bool = False) -> None:
        """Keep this server's tokens; `current` (a login) makes it the one later commands
        use when no URL is given."""
        config = _read_config()
        tokens = {k: v for k, v in asdict(self).items() if k != "url"}
        config["servers"][_same(self.url)] = tokens
        if current or not config["current"]:
            config["current"] = _same(self.url)
        path = config_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # a file that existed keeps its mode through O_CREAT: tighten it
        with os.fdopen(fd, "w") as f:
            json.dump(config, f)


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
        self._keep(data, current=True)
        return dict(data)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            return self._send(method, path, auth=True, **kwargs)
        except ApiError as exc:
            if exc.status != 401 or not self.login.refresh_token:
                raise
        self._refresh()
        return self._send(method, path, auth=True, **kwargs)

    @contextmanager
    def stream(self, path: str) -> Iterator[httpx.Response]:
        """GET `path` with its body read as it arrives (a download, never held in memory)."""
        response = self._open(path)
        if response.status_code == 401 and self.login.refresh_token:
            response.close()
            self._refresh()
            response = self._open(path)
        try:
            if response.status_code >= 400:
                response.read()
                raise _problem(response)
            yield response
        finally:
            response.close()

    def _open(self, path: str) -> httpx.Response:
        request = self.http.build_request("GET", path, headers=self._headers(True, {}))
        try:
            return self.http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc

    def _refresh(self) -> None:
        self._keep(
            self._send(
                "POST", "/api/v1/auth/refresh", json={"refresh_token": self.login.refresh_token}
            )
        )

    def _keep(self, pair: dict[str, Any], current: bool = False) -> None:
        self.login.access_token = pair["access_token"]
        self.login.refresh_token = pair["refresh_token"]
        if not os.environ.get("PLAIT_TOKEN"):
            self.login.save(current)

    def _headers(self, auth: bool, given: dict[str, str]) -> dict[str, str]:
        headers = dict(given)
        if auth and self.login.access_token:
            headers["Authorization"] = f"Bearer {self.login.access_token}"
        return headers

    def _unreachable(self, exc: Exception) -> ApiError:
        return ApiError(0, f"cannot reach the Plait server at {self.login.url}: {exc}")

    def _send(self, method: str, path: str, auth: bool = False, **kwargs: Any) -> Any:
        headers = self._headers(auth, kwargs.pop("headers", {}))
        try:
            response = self.http.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
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
