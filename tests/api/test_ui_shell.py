"""The UI's files as the server gives them: the shell on every page path, the import map
under its CSP hash, vendored modules intact and complete, and the cache policy."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
import pytest

from plait.ui import assets


@pytest.mark.parametrize("path", ["/", "/login", "/workflows", "/workflows/x?tab=edit", "/runs/7"])
async def test_every_page_path_gets_the_shell(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/static/app/main.js">' in response.text
    assert response.headers["cache-control"] == "no-cache"


async def test_the_inline_import_map_is_the_only_inline_script_the_csp_allows(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/workflows")
    inline = re.search(r'<script type="importmap">(.*?)</script>', response.text, re.S)
    assert inline is not None
    digest = base64.b64encode(hashlib.sha256(inline.group(1).encode()).digest()).decode()
    csp = response.headers["content-security-policy"]
    assert f"script-src 'self' 'sha256-{digest}'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp


async def test_api_paths_are_not_swallowed_by_the_shell(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert (await client.get("/static/app/missing.js")).status_code == 404


async def test_vendored_files_are_cached_for_good_and_app_files_revalidated(
    client: httpx.AsyncClient,
) -> None:
    vendored = next(iter(assets.import_map()["imports"].values()))
    response = await client.get(vendored)
    assert response.status_code == 200
    assert "immutable" in response.headers["cache-control"]
    assert response.headers["content-type"].startswith("text/javascript")
    app = await client.get("/static/app/main.js")
    assert app.headers["cache-control"] == "no-cache"
    assert "etag" in app.headers


def test_vendored_files_match_what_scripts_vendor_ui_recorded() -> None:
    recorded = set()
    for package in assets.manifest()["packages"]:
        root = assets.VENDOR / assets.package_dir(package)
        for path, sha in package["sha256"].items():
            data = (root / path).read_bytes()
            assert hashlib.sha256(data).hexdigest() == sha, f"{package['name']}/{path} changed"
            recorded.add(root / path)
        assert package["license"] and package["integrity"].startswith("sha512-")
    on_disk = {p for p in assets.VENDOR.rglob("*") if p.is_file()}
    assert on_disk == recorded, f"files not from scripts/vendor-ui: {on_disk - recorded}"


def test_every_bare_import_resolves_through_the_import_map() -> None:
    known = set(assets.import_map()["imports"])
    modules = [*assets.VENDOR.rglob("*.js"), *assets.VENDOR.rglob("*.mjs"),
               *(assets.STATIC / "app").rglob("*.js")]  # fmt: skip
    assert len(modules) > 30
    for module in modules:
        missing = assets.bare_imports(module.read_text(encoding="utf-8")) - known
        assert not missing, f"{module.relative_to(assets.STATIC)} imports {missing}"


async def test_static_files_are_compressed_for_browsers_that_take_gzip(
    client: httpx.AsyncClient,
) -> None:
    main = (assets.STATIC / "app" / "main.js").read_text(encoding="utf-8")
    response = await client.get("/static/app/main.js", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert int(response.headers["content-length"]) < len(main.encode()) / 2
    assert response.text == main  # httpx undoes the gzip
    plain = await client.get("/static/app/main.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.text == main


@pytest.mark.parametrize("path", ["/nope", "/workflows/x/y/z", "/a/b/c?d=e", "/docs/x"])
async def test_an_unknown_page_path_gets_the_shell_which_says_not_found(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert '<script type="module" src="/static/app/main.js">' in response.text


@pytest.mark.parametrize("path", ["/api", "/api/v1/workflows/x/nope", "/ws/nope"])
async def test_machine_paths_keep_their_404(client: httpx.AsyncClient, path: str) -> None:
    for method in ("GET", "POST"):
        response = await client.request(method, path)
        assert response.status_code == 404, (method, path)
