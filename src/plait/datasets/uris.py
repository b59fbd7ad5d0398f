"""Which URIs a version may register (they are recorded, never copied): s3:// and https://,
and file paths only under a folder the server allows (PLAIT_DATASET_FILE_ROOTS)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from plait.errors import FieldError, InvalidInput
from plait.settings import Settings

REMOTE_SCHEMES = ("s3", "https", "gs")


def checked_uri(uri: str, settings: Settings, field_name: str = "uri") -> str:
    """`uri` as it will be recorded, or InvalidInput naming `field_name`."""
    parts = urlsplit(uri)
    if parts.scheme in REMOTE_SCHEMES:
        if not parts.netloc:
            raise _bad(field_name, f"a {parts.scheme}:// URI names a host or bucket")
        return uri
    if parts.scheme in ("", "file"):
        return _local(parts.path if parts.scheme else uri, settings, field_name)
    raise _bad(field_name, f"use s3://, gs://, https:// or a file path; not {parts.scheme}://")


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
