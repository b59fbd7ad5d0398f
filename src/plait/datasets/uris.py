"""Which URIs a version may register (they are recorded, never copied): https://, and, only
under what the server allows, object-store URIs (PLAIT_DATASET_URI_PREFIXES) and file paths
(PLAIT_DATASET_FILE_ROOTS).

The server fetches a registered URI with its own access (its files, its cloud credentials)
and hands the bytes to tasks: without the allow-lists, an editor could register
s3://<any bucket the server can read>/... and read it from a task."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from plait.errors import FieldError, InvalidInput
from plait.settings import Settings

STORE_SCHEMES = ("s3", "gs")


def checked_uri(uri: str, settings: Settings, field_name: str = "uri") -> str:
    """`uri` as it will be recorded, or InvalidInput naming `field_name`."""
    parts = urlsplit(uri)
    if parts.scheme in (*STORE_SCHEMES, "https") and not parts.netloc:
        raise _bad(field_name, f"a {parts.scheme}:// URI names a host or bucket")
    if parts.scheme == "https":
        return uri
    if parts.scheme in STORE_SCHEMES:
        return _in_store(uri, settings, field_name)
    if parts.scheme in ("", "file"):
        return _local(parts.path if parts.scheme else uri, settings, field_name)
    raise _bad(field_name, f"use s3://, gs://, https:// or a file path; not {parts.scheme}://")


def _in_store(uri: str, settings: Settings, field_name: str) -> str:
    prefixes = [p.strip() for p in settings.dataset_uri_prefixes.split(",") if p.strip()]
    if not any(uri == p.rstrip("/") or uri.startswith(p.rstrip("/") + "/") for p in prefixes):
        raise _bad(field_name, "s3:// and gs:// URIs are allowed only under "
                   "PLAIT_DATASET_URI_PREFIXES (e.g. s3://datasets/)")  # fmt: skip
    return uri


def _local(path: str, settings: Settings, field_name: str) -> str:
    roots = [Path(r.strip()).resolve() for r in settings.dataset_file_roots.split(",") if r.strip()]
    if not os.path.isabs(path):
        raise _bad(field_name, "a file path must be absolute")
    real = Path(os.path.realpath(path))
    if not any(real.is_relative_to(root) for root in roots):
        raise _bad(field_name, "file paths are allowed only under PLAIT_DATASET_FILE_ROOTS")
    return f"file://{real}"


def _bad(field_name: str, message: str) -> InvalidInput:
    return InvalidInput([FieldError(("body", field_name), message)])
