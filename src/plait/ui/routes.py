"""Serving the UI: the page shell on every path but the API's, /ws and /static (the app routes
on the client, unknown paths included), and /static.

The shell holds no data (everything comes from the authenticated API), so it is public, like
/docs. Vendored files carry their version in the URL and are cached for good; the app's own
modules are revalidated on each load, so an upgrade is seen without a hard reload.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from starlette.convertors import Convertor, register_url_convertor
from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from plait.ui import assets

router = APIRouter(include_in_schema=False)


class PagePath(Convertor[str]):
    """Any path the app may route on the client: a reload or a shared link on one of its
    pages gets the shell, and so does an unknown path (the app then says "not found", with a
    way home). Paths of the machine interfaces keep their own 404 (problem+json)."""

    regex = r"(?!(?:api|static|ws|metrics)(?:/|$)).*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


# Starlette looks convertors up by name in one registry; "page" is this module's only one.
register_url_convertor("page", PagePath())


@cache
def _shell() -> tuple[str, str]:
    """The page and the CSP hash of its inline import map (browsers take no external one)."""
    imports = json.dumps(assets.import_map(), indent=1)
    digest = base64.b64encode(hashlib.sha256(imports.encode()).digest()).decode()
    page = (assets.STATIC / "index.html").read_text(encoding="utf-8")
    styles = "\n".join(f'<link rel="stylesheet" href="{href}">' for href in assets.stylesheets())
    page = page.replace("{{IMPORT_MAP}}", imports).replace("{{VENDOR_STYLES}}", styles)
    return page, f"'sha256-{digest}'"


def _csp(script_hash: str) -> str:
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' {script_hash}",
            # CodeMirror and uPlot set inline styles on the elements they draw.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "connect-src 'self'",  # CSP 3: 'self' includes ws:// and wss:// to this host
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        )
    )


async def shell() -> HTMLResponse:
    page, script_hash = _shell()
    return HTMLResponse(
        page,
        headers={
            "Content-Security-Policy": _csp(script_hash),
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
        },
    )


# Included after every other router: their routes match first.
SHELL_PATH = "/{path:page}"
router.add_api_route(SHELL_PATH, shell, methods=["GET", "HEAD"], response_class=HTMLResponse)


COMPRESSIBLE = (".js", ".mjs", ".css", ".svg", ".html", ".json")


@cache
def _gzipped(path: str, mtime: float) -> bytes:
    """A static file, compressed once per version of it (the UI's files shrink to a quarter)."""
    return gzip.compress(Path(path).read_bytes(), compresslevel=9, mtime=0)


class Static(StaticFiles):
    """StaticFiles with the cache policy above, gzip-compressed when the browser takes it."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200 and isinstance(response, FileResponse):
            response = _compressed(response, scope)
        immutable = path.startswith("vendor/") and response.status_code == 200
        response.headers["Cache-Control"] = (
            "public, max-age=31536000, immutable" if immutable else "no-cache"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def _compressed(response: FileResponse, scope: Scope) -> Response:
    accepts = Headers(scope=scope).get("accept-encoding", "")
    file = str(response.path)
    if "gzip" not in accepts or not file.endswith(COMPRESSIBLE):
        return response
    body = _gzipped(file, os.stat(file).st_mtime)
    dropped = ("content-length", "accept-ranges")  # ranges of the uncompressed file
    headers = {k: v for k, v in response.headers.items() if k.lower() not in dropped}
    headers.update({"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
    return Response(body, headers=headers, media_type=response.media_type)


def static_files() -> Static:
    return Static(directory=assets.STATIC)
