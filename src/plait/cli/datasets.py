"""`plait datasets ...`: the dataset registry: list, show, upload."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn
from rich.table import Table
from rich.text import Text

from plait.cli.common import api_command, connect, err, out
from plait.cli.output import Format, Output, emit, print_table

datasets_app = typer.Typer(help="The dataset registry: list, show, upload.", no_args_is_help=True)
Name = Annotated[str, typer.Argument(help="The dataset's name.")]
CHUNK = 1024 * 1024
KIND_HELP = "Makes the dataset, of this kind, if it does not exist yet."


@datasets_app.command("list")
@api_command
def datasets_list(output: Output = Format.table) -> None:
    """Every dataset, with its newest version."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = connect().request("GET", "/api/v1/datasets", params={"limit": 500,
                                 **({"cursor": cursor} if cursor else {})})  # fmt: skip
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    emit(items, output, lambda: _datasets_table(items))


def _datasets_table(items: list[dict[str, Any]]) -> None:
    if not items:
        out.print("no datasets")
        return
    table = Table("name", "kind", "versions", "latest", "size", "tags")
    for d in items:
        latest = d["latest"] or {}
        table.add_row(Text(d["name"]), Text(d["kind"]), str(d["versions"]),
                      str(latest.get("version", "")), _size(latest.get("size")),
                      Text(", ".join(d["tags"])))  # fmt: skip
    print_table(table)


@datasets_app.command("show")
@api_command
def datasets_show(name: Name, output: Output = Format.table) -> None:
    """A dataset and its versions, newest first."""
    client = connect()
    dataset = client.request("GET", f"/api/v1/datasets/{name}")
    versions = client.request("GET", f"/api/v1/datasets/{name}/versions", params={"limit": 500})
    data = {**dataset, "version_list": versions["items"]}
    emit(data, output, lambda: _show(dataset, versions["items"]))


def _show(dataset: dict[str, Any], versions: list[dict[str, Any]]) -> None:
    out.print(Text(f"{dataset['name']} ({dataset['kind']}) {dataset['description']}".strip()))
    table = Table("version", "file or uri", "size", "sha256", "created", "by")
    for v in versions:
        where = v["filename"] if v["stored"] else v["uri"]
        table.add_row(str(v["version"]), Text(where or ""), _size(v["size"]),
                      (v["checksum"] or "")[:12], v["created_at"][:19],
                      Text(v["created_by"] or ""))  # fmt: skip
    print_table(table)


@datasets_app.command("upload")
@api_command
def datasets_upload(
    name: Name,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    kind: Annotated[str | None, typer.Option(help=KIND_HELP)] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="A tag of the version.")] = None,
) -> None:
    """Upload FILE as the next version of NAME (made first if missing and --kind is given),
    streamed with a progress bar; the server checks the sha256 computed here first."""
    client = connect()
    if kind is not None and _missing(client, name):
        client.request("POST", "/api/v1/datasets", json={"name": name, "kind": kind})
    checksum = _sha256(file)
    size = file.stat().st_size
    with Progress(*Progress.get_default_columns()[:1], BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), console=err) as bar, file.open("rb") as f:  # fmt: skip
        job = bar.add_task(file.name, total=size)
        reader = _Counting(f, lambda n: bar.update(job, completed=n))
        version = client.request(
            "POST", f"/api/v1/datasets/{name}/versions", timeout=None,
            files={"file": (file.name, reader)},
            data={"checksum": checksum, "tags": ",".join(tag or [])},
        )  # fmt: skip
    out.print(f"{name} version {version['version']}: {_size(version['size'])}, sha256 {checksum}")


def _missing(client: Any, name: str) -> bool:
    from plait.cli.client import ApiError

    try:
        client.request("GET", f"/api/v1/datasets/{name}")
    except ApiError as exc:
        if exc.status == 404:
            return True
        raise
    return False


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class _Counting:
    """A file whose reads report how far they got (httpx reads it in chunks as it sends)."""

    def __init__(self, f: BinaryIO, seen: Any) -> None:
        self.f, self.seen = f, seen

    def read(self, size: int = -1) -> bytes:
        chunk = self.f.read(size)
        self.seen(self.f.tell())
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.f.seek(offset, whence)

    def tell(self) -> int:
        return self.f.tell()

    def fileno(self) -> int:
        return self.f.fileno()


def _size(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(size)
