"""Who may do what: the one place where roles and ownership are decided."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from plait.errors import PermissionDenied


class Role(StrEnum):
    viewer = "viewer"
    editor = "editor"
    admin = "admin"


_RANK = {Role.viewer: 0, Role.editor: 1, Role.admin: 2}


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request."""

    id: int
    username: str
    role: Role
    api_token_id: int | None = None
    # Authenticated by a worker token: it acts only on the execution API, never as its user.
    worker: bool = False

    def at_least(self, role: Role) -> bool:
        return _RANK[self.role] >= _RANK[role]


EXEC_PREFIX = "/api/v1/exec/"


def fence(who: Principal, path: str) -> None:
    """Worker tokens call the execution API and nothing else; people never call it. Every
    authenticated request passes here (REST and WebSocket alike)."""
    on_exec = path.startswith(EXEC_PREFIX)
    if who.worker and not on_exec:
        raise PermissionDenied("a worker token may only call the execution API (/api/v1/exec)")
    if on_exec and not who.worker:
        raise PermissionDenied(
            "the execution API takes worker tokens only (plait tokens create --worker NAME)"
        )
    if who.worker and who.role != Role.admin:
        raise PermissionDenied("the admin who made this worker token is no longer an admin")


def require_role(who: Principal, role: Role) -> None:
    if not who.at_least(role):
        raise PermissionDenied(f"this action needs the {role} role; you are {who.role}")


def require_owner_or_admin(who: Principal, owner_id: int | None, what: str) -> None:
    """Editors change what they own; admins change everything; viewers change nothing."""
    require_role(who, Role.editor)
    if who.role != Role.admin and owner_id != who.id:
        raise PermissionDenied(f"only the owner of this {what} or an admin may change it")
