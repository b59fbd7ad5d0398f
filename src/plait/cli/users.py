"""`plait users ...`: accounts (admins only, but for `me`): list, create, change role,
deactivate, activate, set a password, delete."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from plait.cli.client import Client
from plait.cli.common import Yes, api_command, connect, delete_confirmed, err, out
from plait.cli.output import Format, Output, emit, print_table
from plait.cli.views import timestamp

users_app = typer.Typer(
    help="Accounts: list, create, set-role, deactivate, activate, set-password, delete.",
    no_args_is_help=True,
)
USERS = "/api/v1/users"


class Role(StrEnum):
    viewer = "viewer"
    editor = "editor"
    admin = "admin"


User = Annotated[str, typer.Argument(help="The user's name (or id).")]
PasswordStdin = Annotated[
    bool, typer.Option(help="Read the password from stdin instead of asking for it.")
]


@users_app.command("list")
@api_command
def users_list(
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
    cursor: Annotated[str | None, typer.Option(help="Continue from a previous page.")] = None,
    output: Output = Format.table,
) -> None:
    """List accounts, a page at a time."""
    params: dict[str, Any] = {"limit": limit, **({"after_id": cursor} if cursor else {})}
    page = connect().request("GET", USERS, params=params)
    emit(page, output, lambda: _users_table(page))


def _users_table(page: dict[str, Any]) -> None:
    table = Table("id", "username", "role", "active", "email", "created (UTC)")
    for u in page["items"]:
        table.add_row(
            str(u["id"]),
            Text(u["username"]),
            u["role"],
            "yes" if u["is_active"] else "no",
            Text(u["email"] or ""),
            timestamp(u["created_at"]),
        )
    print_table(table)
    if page["next_cursor"]:
        err.print(Text(f"more: plait users list --cursor {page['next_cursor']}"))


@users_app.command("me")
@api_command
def users_me(output: Output = Format.table) -> None:
    """Who you are logged in as."""
    me = connect().request("GET", f"{USERS}/me")
    emit(me, output, lambda: out.print(Text(f"{me['username']} ({me['role']}, id {me['id']})")))


@users_app.command("create")
@api_command
def users_create(
    username: Annotated[str, typer.Argument(help="The new account's name.")],
    role: Annotated[Role, typer.Option(help="What the account may do.")] = Role.viewer,
    email: Annotated[str | None, typer.Option(help="Where to reach the person.")] = None,
    password_stdin: PasswordStdin = False,
    output: Output = Format.table,
) -> None:
    """Create an account with a password (asked for, twice, unless --password-stdin)."""
    body = {"username": username, "role": role.value, "password": _password(password_stdin)}
    if email is not None:
        body["email"] = email
    user = connect().request("POST", USERS, json=body)
    said = f"created user {user['username']} (id {user['id']}, {user['role']})"
    emit(user, output, lambda: out.print(Text(said)))


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    text: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return text


@users_app.command("set-role")
@api_command
def users_set_role(user: User, role: Role, output: Output = Format.table) -> None:
    """Change what an account may do (the last active admin cannot be demoted)."""
    _update(user, {"role": role.value}, f"{{username}} is now {role.value}", output)


@users_app.command("deactivate")
@api_command
def users_deactivate(user: User, output: Output = Format.table) -> None:
    """Refuse an account's logins and tokens from now on (its history stays)."""
    _update(user, {"is_active": False}, "deactivated {username}; their logins are ended", output)


@users_app.command("activate")
@api_command
def users_activate(user: User, output: Output = Format.table) -> None:
    """Let a deactivated account log in again."""
    _update(user, {"is_active": True}, "activated {username}", output)


@users_app.command("set-password")
@api_command
def users_set_password(
    user: User, password_stdin: PasswordStdin = False, output: Output = Format.table
) -> None:
    """Give an account a new password; their logins are ended."""
    body = {"password": _password(password_stdin)}
    _update(user, body, "password of {username} set; their logins are ended", output)


def _update(user: str, changes: dict[str, Any], said: str, output: Format) -> None:
    client = connect()
    updated = client.request("PATCH", f"{USERS}/{user_id(client, user)}", json=changes)
    emit(updated, output, lambda: out.print(Text(said.format(username=updated["username"]))))


@users_app.command("delete")
@api_command
def users_delete(user: User, yes: Yes = False) -> None:
    """Delete an account; its workflows stay, without an owner."""
    client = connect()
    delete_confirmed(client, f"{USERS}/{user_id(client, user)}", f"Delete user {user}?",
                     f"deleted user {user}", yes=yes)  # fmt: skip


def user_id(client: Client, user: str) -> int:
    """The id of a user given by id or name (the API takes ids; people know names)."""
    if user.isdigit():
        return int(user)
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 500, **({"after_id": cursor} if cursor else {})}
        page = client.request("GET", USERS, params=params)
        for u in page["items"]:
            if u["username"] == user:
                return int(u["id"])
        cursor = page["next_cursor"]
        if not cursor:
            err.print(Text(f"error: no user {user!r}"))
            raise typer.Exit(1)
