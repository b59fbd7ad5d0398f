"""FastAPI dependencies: the app context and the caller, with the role each route needs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer

from plait.auth import identity
from plait.auth.roles import Principal, Role, fence, require_role
from plait.db.engine import Database
from plait.errors import NotAuthenticated
from plait.events.hub import Hub
from plait.orchestration.apply import Plans
from plait.orchestration.scheduler import Scheduler
from plait.settings import Settings


@dataclass
class Context:
    settings: Settings
    db: Database
    signing_key: str
    hub: Hub
    scheduler: Scheduler | None = None
    _plans: Plans = field(default_factory=Plans)

    def wake(self, run_id: int) -> None:
        """Tell this process's scheduler a run changed (others find out on their tick)."""
        if self.scheduler is not None:
            self.scheduler.wake(run_id)

    def settled(self, run_ids: Iterable[int]) -> None:
        """Attempts of these runs ended (a worker reported it): this process's scheduler
        advances them at once (others hear of it on the event bus)."""
        if self.scheduler is not None:
            self.scheduler.settled(run_ids)

    @property
    def plans(self) -> Plans:
        """The scheduler's plan cache, or one of the API's own when no scheduler runs here."""
        return self.scheduler.plans if self.scheduler is not None else self._plans


async def get_context(request: Request) -> Context:
    # async: a plain def would be run in the thread pool on every request
    ctx: Context = request.app.state.plait
    return ctx


Ctx = Annotated[Context, Depends(get_context)]


# Declared for the OpenAPI document, so /docs can log in (password) or take a token (bearer);
# both read the same Authorization header, which `authenticate` checks itself.
_password_flow = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/login", auto_error=False)
_bearer = HTTPBearer(auto_error=False, description="An access token or an API token.")


async def authenticate(
    request: Request,
    ctx: Ctx,
    _flow: Annotated[str | None, Depends(_password_flow)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, from `Authorization: Bearer <access token | API token>`, fenced: worker
    tokens reach the execution API only, and nothing else reaches it."""
    token = credentials.credentials.strip() if credentials else ""
    if not token:
        raise NotAuthenticated("send Authorization: Bearer <token>; get one from POST /auth/login")
    async with ctx.db.read() as session:
        who, touch = await identity.from_bearer(session, token, ctx.signing_key)
    # The route's own path, not the URL's: what matched is what is fenced.
    fence(who, getattr(request.scope.get("route"), "path", request.url.path))
    if touch and who.api_token_id is not None:
        async with ctx.db.write() as session:
            await identity.touch_api_token(session, who.api_token_id)
    return who


def require(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    async def dependency(who: Annotated[Principal, Depends(authenticate)]) -> Principal:
        require_role(who, role)
        return who

    dependency.__name__ = f"require_{role}"
    return dependency


async def require_worker(who: Annotated[Principal, Depends(authenticate)]) -> Principal:
    """A worker token (the fence in `authenticate` has refused anything else here)."""
    return who


Viewer = Annotated[Principal, Depends(require(Role.viewer))]
Editor = Annotated[Principal, Depends(require(Role.editor))]
Admin = Annotated[Principal, Depends(require(Role.admin))]
WorkerToken = Annotated[Principal, Depends(require_worker)]
