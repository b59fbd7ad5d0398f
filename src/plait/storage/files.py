"""Walking an artifact folder safely: what a task left may hold links to anything."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path


def members(folder: Path, inside: Path) -> Iterator[tuple[Path, str]]:
    """The regular files under `folder` with their names in the zip, in a stable order.

    Links are not followed into folders; a link to a file is kept only when the file lies
    inside `inside` (the attempt's artifacts folder): a task may have left a link to anything.
    """
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = Path(root, name)
            real = real_path(path)
            if real is not None and real.is_relative_to(inside) and real.is_file():
                yield real, path.relative_to(folder).as_posix()


def real_path(path: Path) -> Path | None:
    """Where `path` leads, links followed; None for a loop of links (a task can make one)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: "Symlink loop" (before Python 3.13)
        return None
