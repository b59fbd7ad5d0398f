"""`plait tokens ...`: API tokens for automation, and worker tokens for `plait worker`."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from plait.cli.common import api_command, connect, err, out
from plait.cli.output import Format, Output, emit, print_table

tokens_app = typer.Typer(help="API tokens and worker tokens.", no_args_is_help=True)


@tokens_app.command("create")
@api_command
def create(
    name: Annotated[str, typer.Argument(help="What the token is for (shown in listings).")],
    worker: Annotated[
        bool,
        typer.Option(
            "--worker",
            help="A worker token (admins only): it may call the execution API and nothing "
            "else; give it to `plait worker` as PLAIT_WORKER_TOKEN.",
        ),
    ] = False,
    expires_in_days: Annotated[
        int | None, typer.Option(min=1, max=3650, help="Expire after this many days.")
    ] = None,
    output: Output = Format.table,
) -> None:
    """Create a token and print its secret (shown this once: store it now)."""
    body: dict[str, object] = {"name": name, "worker": worker}
    if expires_in_days is not None:
        body["expires_in_days"] = expires_in_days
    token = connect().request("POST", "/api/v1/tokens", json=body)
    emit(token, output, lambda: _secret(token))


def _secret(token: dict[str, Any]) -> None:
    kind = "worker token" if token["worker"] else "token"
    err.print(Text(f"created {kind} {token['id']} ({token['name']}); the secret, shown once:"))
    # Alone on stdout, so that `TOKEN=$(plait tokens create ...)` takes it and nothing else.
    out.print(token["token"], markup=False, highlight=False)


@tokens_app.command("list")
@api_command
def list_tokens(
    all_users: Annotated[bool, typer.Option("--all", help="Admins: every user's.")] = False,
    output: Output = Format.table,
) -> None:
    """List tokens (never their secrets)."""
    tokens = connect().request("GET", "/api/v1/tokens", params={"all": all_users})
    emit(tokens, output, lambda: _tokens_table(tokens))


def _tokens_table(tokens: list[dict[str, Any]]) -> None:
    table = Table("id", "name", "kind", "prefix", "user", "created", "last used", "state")
    for t in tokens:
        state = (
            "revoked"
            if t["revoked_at"]
            else ("expires " + t["expires_at"][:10] if t["expires_at"] else "")
        )
        table.add_row(
            str(t["id"]),
            Text(t["name"]),
            "worker" if t["worker"] else "api",
            t["prefix"],
            str(t["user_id"]),
            t["created_at"][:16],
            (t["last_used_at"] or "")[:16],
            state,
        )
    print_table(table)


@tokens_app.command("revoke")
@api_command
def revoke(token_id: Annotated[int, typer.Argument(min=1, help="The token's id.")]) -> None:
    """Revoke a token: it is refused from now on."""
    connect().request("DELETE", f"/api/v1/tokens/{token_id}")
    out.print(f"revoked token {token_id}")
