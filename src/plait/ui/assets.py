"""The UI's files: the vendored ES modules (recorded in vendor.json) and the import map that
lets the browser resolve their bare imports without a bundler. Standard library only, so
`scripts/vendor-ui` can use it before anything is installed."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
STATIC = HERE / "static"
VENDOR = STATIC / "vendor"
MANIFEST = HERE / "vendor.json"
# `import x from "spec"`, `export * from "spec"`, `import "spec"`, `import("spec")`: each
# starting a statement, so prose in comments ("... from "module"") is not taken for one.
_IMPORT = re.compile(
    r"""(?:^|[;}\n])\s*(?:import|export)\b[^"'`;]*?\bfrom\s*["']([^"'\s]+)["']"""
    r"""|(?:^|[;}\n])\s*import\s*["']([^"'\s]+)["']|\bimport\(\s*["']([^"'\s]+)["']\s*\)"""
)


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(MANIFEST.read_text(encoding="utf-8"))
    return data


def package_dir(package: dict[str, Any]) -> str:
    """Where a package's files live under static/vendor: the version is in the path, so a
    new version is a new URL and browsers may cache each file forever."""
    return f"{package['name']}@{package['version']}"


def import_map(prefix: str = "/static/vendor") -> dict[str, dict[str, str]]:
    imports = {
        spec: f"{prefix}/{package_dir(p)}/{path}"
        for p in manifest()["packages"]
        for spec, path in p["imports"].items()
    }
    return {"imports": imports}


def bare_imports(source: str) -> set[str]:
    """The specifiers a module imports that are neither relative nor absolute URLs."""
    found = {spec for match in _IMPORT.findall(source) for spec in match if spec}
    return {s for s in found if not s.startswith((".", "/", "http:", "https:", "data:"))}


def modules() -> list[dict[str, Any]]:
    """The packages the app imports (ES modules through the import map). The others (Swagger
    UI and ReDoc for /docs and /redoc) are classic scripts that pages load by their path."""
    return [p for p in manifest()["packages"] if p["imports"]]


def stylesheets(prefix: str = "/static/vendor") -> list[str]:
    """The vendored CSS files of the app's packages (listed under a package's `files`)."""
    return [
        f"{prefix}/{package_dir(p)}/{path}"
        for p in modules()
        for path in p.get("files", [])
        if path.endswith(".css")
    ]


def vendored(name: str, path: str, prefix: str = "/static/vendor") -> str:
    """The URL of one vendored file, e.g. vendored("redoc", "bundles/redoc.standalone.js")."""
    (package,) = [p for p in manifest()["packages"] if p["name"] == name]
    if path not in package.get("files", []):
        raise KeyError(f"{name} vendors no {path}")
    return f"{prefix}/{package_dir(package)}/{path}"
