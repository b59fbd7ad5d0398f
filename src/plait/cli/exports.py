"""`plait models export` and `plait models package`: a model version converted to ONNX, and
its standalone package. `register(models_app)` adds them to the `models` command group."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.text import Text

from plait.cli.client import ApiError, Client
from plait.cli.common import api_command, connect, err, out
from plait.cli.output import Format, Output, emit

Name = Annotated[str, typer.Argument(help="The model's name.")]
Version = Annotated[int, typer.Argument(min=1, help="The version's number.")]
CHUNK = 1024 * 1024


def _version_path(name: str, version: int) -> str:
    return f"/api/v1/models/{quote(name, safe='')}/versions/{version}"


@api_command
def export(
    name: Name,
    version: Version,
    format: Annotated[str, typer.Option("--format", "-f", help="The format (onnx).")] = "onnx",
    replace: Annotated[bool, typer.Option(help="Convert again over an existing export.")] = False,
    download: Annotated[
        Path | None,
        typer.Option("--download", "-d", help="Save the exported file here.", dir_okay=False),
    ] = None,
    output: Output = Format.table,
) -> None:
    """Convert version VERSION of model NAME to ONNX (waits for the conversion), and say how
    far its outputs are from the original model's on the version's sample."""
    client = connect()
    body = {"format": format, "replace": replace}
    try:
        done = client.request("POST", f"{_version_path(name, version)}/export", json=body,
                              timeout=None)  # fmt: skip
    except ApiError as exc:  # the reason is the detail: not twice
        if all(e.get("message") == exc.detail for e in exc.errors):
            raise ApiError(exc.status, exc.detail) from None
        raise
    if download is not None:
        _save(client, done["download"], download)
    emit(done, output, lambda: _show(done, download))


def _show(done: dict[str, Any], saved: Path | None) -> None:
    meta = done["meta"]
    out.print(
        Text(f"{done['model']} version {done['version']}: {done['format']}, opset "
             f"{meta.get('opset')}, {done['size']} bytes, sha256 {done['sha256']}")
    )  # fmt: skip
    out.print(Text(done["message"]))
    if saved is not None:
        out.print(Text(f"saved {saved}"))


def _save(client: Client, path: str, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.part")
    with client.stream(path) as response, tmp.open("wb") as f:
        for chunk in response.iter_bytes(CHUNK):
            f.write(chunk)
    tmp.replace(target)


@api_command
def package(
    name: Name,
    version: Version,
    target: Annotated[
        Path | None, typer.Option("--out", "-O", help="Where to save the zip.", dir_okay=False)
    ] = None,
) -> None:
    """Download the standalone package of version VERSION of model NAME (a zip with
    model.onnx, signature.json, predict.py, requirements.txt, README.md). Export it first."""
    client = connect()
    target = target or Path(f"{name}-v{version}.zip")
    _save(client, f"{_version_path(name, version)}/package", target)
    err.print(Text(f"saved {target}"))


def register(models_app: typer.Typer) -> None:
    models_app.command("export")(export)
    models_app.command("package")(package)
