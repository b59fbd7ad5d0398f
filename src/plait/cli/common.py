"""What every API command shares: the consoles, the client for the chosen server, problem
printing, KEY=VALUE options, and safe API paths."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from functools import wraps
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from plait.cli.client import ApiError, Client, Login

# soft_wrap: long messages and paths stay on one line, whole, for grep and copy-paste.
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")]
Params = Annotated[
    list[str] | None,
    typer.Option(
        "-p",
        "--param",
        metavar="KEY=VALUE",
        help="A run parameter (repeatable). VALUE is read as JSON when it is JSON "
        "(5, true, [1, 2]), else as text.",
    ),
]


def api_command(fn: F) -> F:
    """Show API problems as a person would want them, and exit non-zero."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ApiError as exc:
            err.print(f"[red]error[/red]: {escape(exc.detail)}")
            for e in exc.errors:
                err.print(escape(f"  {e.get('field') or '(document)'}: {e.get('message')}"))
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def connect() -> Client:
    """A client for the server named by `plait --url`, else PLAIT_URL, else the one logged
    into last, else the default URL."""
    return Client(Login.load(global_url()))


# `plait --url` for this command line, set by the root callback: the commands build their
# clients deep down, where typer's context cannot be reached.
_chosen: dict[str, str] = {}


def choose_server(url: str | None) -> None:
    _chosen.pop("url", None)
    if url:
        _chosen["url"] = url


def global_url() -> str | None:
    """`plait --url` (or PLAIT_URL, which the option reads too), if given."""
    return _chosen.get("url")


def parse_pairs(pairs: list[str], option: str = "'-p' / '--param'") -> dict[str, Any]:
    """KEY=VALUE options as a mapping; a key given twice is an error, not a silent pick."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint=option)
        if key in params:
            raise typer.BadParameter(f"{key!r} is given twice", param_hint=option)
        params[key] = param_value(raw)
    return params


def param_value(raw: str) -> Any:
    """JSON when it is JSON, so that the server's schema check sees `5` as a number and `true`
    as a boolean; otherwise the text as written (`-p dataset=iris`)."""
    try:
        return json.loads(raw, parse_constant=_not_json, parse_float=_finite)
    except ValueError:
        return raw


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")  # NaN and Infinity: Python reads them, JSON not


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999: no JSON number can carry it to the server
        raise ValueError(f"{text} is too large")
    return value


def workflow_path(ref: str | int) -> str:
    """The API path of a workflow; the name is quoted so that `../x` cannot leave it."""
    return f"/api/v1/workflows/{quote(str(ref), safe='')}"


def run_path(run_id: int) -> str:
    return f"/api/v1/runs/{run_id}"


def delete_confirmed(client: Client, path: str, question: str, done: str, *, yes: bool) -> None:
    """DELETE `path` once the user says so (or gave --yes), then say `done`."""
    if not yes:
        typer.confirm(question, abort=True)
    client.request("DELETE", path)
    out.print(Text(done))
