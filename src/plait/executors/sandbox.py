"""The task sandbox: what the fork server (and so every task) can see of the server's host.

The fork server starts once, inside bubblewrap (`bwrap`), so each task's handoff pays
nothing for it. Inside:

- the whole file system read-only, with a private /tmp and a minimal /dev;
- the data directory replaced by an empty one, except `runs/` and `artifacts/` (read-write)
  and the dataset cache `cache/datasets/` (read-only: no task may change a file another
  will read): no signing key, no database, no stored datasets, no other server files;
- a SQLite database kept elsewhere: its folder is hidden too, its other entries shown again;
- the CLI's stored tokens (~/.config/plait) and `task_hidden_paths` hidden;
- its own pid namespace (no /proc/<server pid>), no capabilities, no user namespaces of its
  own (so nothing can be unmounted to uncover what is hidden), the network shared;
- an environment built from an allow-list, never the server's.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path

from plait.errors import Unavailable
from plait.settings import Settings

log = logging.getLogger("plait.executor")

# What tasks get from the server's environment (and nothing else): what programs need to
# find things, speak the right language, and use the machine's accelerators and threads.
ENV_NAMES = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM",
    "PYTHONPATH", "VIRTUAL_ENV", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
    "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
})  # fmt: skip
ENV_PREFIXES = ("LC_",)
INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install "
    "bubblewrap), or run tasks without a sandbox with PLAIT_TASK_SANDBOX=off (tasks can then "
    "read everything the server's user can, its secret key and database included)"
)
SQLITE_FILES = ("", "-wal", "-shm", "-journal")
DATASET_CACHE = "cache/datasets"  # plait.datasets.cache.cache_root
PRIVATE_TMP = "/tmp"  # noqa: S108 (an empty tmpfs of the sandbox's own)


class SandboxUnavailable(Unavailable):
    """The task sandbox was asked for and cannot run here."""


def sandboxed(settings: Settings) -> bool:
    if settings.task_sandbox == "off":
        return False
    if shutil.which("bwrap") is None:
        raise SandboxUnavailable(f"the task sandbox needs bubblewrap (bwrap): {INSTALL_HINT}")
    return True


def split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def task_environment(settings: Settings, sandbox: bool) -> dict[str, str]:
    """The part of the server's environment tasks get: an allow-list, never PLAIT_*."""
    extra = split(settings.task_env_passthrough)
    names = ENV_NAMES.union(n for n in extra if not n.endswith("*"))
    prefixes = ENV_PREFIXES + tuple(n[:-1] for n in extra if n.endswith("*"))
    env = {
        k: v
        for k, v in os.environ.items()
        if (k in names or k.startswith(prefixes)) and not k.startswith("PLAIT_")
    }
    if sandbox:
        env["TMPDIR"] = PRIVATE_TMP  # other places are read-only there
    return env


def command(settings: Settings, argv: list[str]) -> list[str]:
    """`argv` inside bubblewrap, seeing what `settings` allows."""
    data = settings.data_dir.resolve()
    for name in ("runs", "artifacts", DATASET_CACHE):
        (data / name).mkdir(parents=True, exist_ok=True)
    args = _hidden(settings, data, writable=split(settings.task_writable_paths))
    for name in ("runs", "artifacts"):
        args += ["--bind", str(data / name), str(data / name)]
    args += ["--ro-bind", str(data / DATASET_CACHE), str(data / DATASET_CACHE)]
    return [*args, "--", *argv]


def task_writes(settings: Settings, attempt: Path, artifacts: Path) -> tuple[list[str], str]:
    """Where one task may write (plait.runner.confine), and its TMPDIR: its attempt folder,
    its artifacts folder (made now: a rule needs it to exist), /dev (/dev/shm), the
    `task_writable_paths`, and the sandbox's private /tmp, unless the data directory lies
    below /tmp (a test's, a CI clone's): allowing /tmp would then allow every run's folders,
    so the task gets a temporary folder inside its attempt folder instead."""
    artifacts.mkdir(parents=True, exist_ok=True)
    paths = [str(attempt), str(artifacts), "/dev"]
    paths += [str(p) for p in _existing(split(settings.task_writable_paths))]
    if not settings.data_dir.resolve().is_relative_to(PRIVATE_TMP):
        return [*paths, PRIVATE_TMP], PRIVATE_TMP
    tmp = attempt / "tmp"
    tmp.mkdir(exist_ok=True)
    return paths, str(tmp)


def isolated_command(
    settings: Settings,
    argv: list[str],
    read_only: Iterable[Path] = (),
    writable: Iterable[Path] = (),
) -> list[str]:
    """`argv` inside bubblewrap for code that handles what tasks made (loading a model a task
    pickled, to export or serve it): it sees the host as a task does, but of the data
    directory only `read_only` and `writable` (each inside it or not), never other runs' files.
    """
    args = _hidden(settings, settings.data_dir.resolve(), writable=())
    for path in read_only:
        args += ["--ro-bind", str(Path(path).resolve()), str(Path(path).resolve())]
    for path in writable:
        args += ["--bind", str(Path(path).resolve()), str(Path(path).resolve())]
    return [*args, "--", *argv]


def _hidden(settings: Settings, data: Path, writable: Iterable[str]) -> list[str]:
    """The common part: the host read-only, the data directory, the database and the CLI's
    tokens hidden; what goes after it may open parts of the data directory again."""
    args = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--tmpfs", PRIVATE_TMP, "--unshare-user", "--unshare-pid", "--unshare-ipc",
            "--unshare-uts", "--unshare-cgroup-try", "--disable-userns", "--cap-drop", "ALL",
            "--die-with-parent", "--new-session"]  # fmt: skip
    # Order matters: a later mount covers an earlier one, so what is hidden comes after what
    # is opened, and the data directory, hidden last, can never be uncovered by the others.
    for path in _under_private_tmp(runtime_paths()):
        args += ["--ro-bind", str(path), str(path)]  # the private /tmp would hide Python
    for path in _existing(writable):
        args += ["--bind", str(path), str(path)]
    args += _hide_database(settings, data)
    args += _hide(_existing([*split(settings.task_hidden_paths), *_cli_config()]))
    return [*args, "--tmpfs", str(data)]


def runtime_paths() -> list[str]:
    """Where this Python and its packages live: the fork server imports from them."""
    paths = [sys.prefix, sys.exec_prefix, sys.base_prefix, os.path.dirname(sys.executable)]
    return paths + [p for p in sys.path if p and os.path.isdir(p)]


def _under_private_tmp(paths: Iterable[str]) -> list[Path]:
    """The paths below /tmp (a server installed there, as a clone in CI may be): the private
    /tmp covers them, so they are shown again, read-only. /tmp itself never is."""
    tmp = Path(PRIVATE_TMP)
    found = {p for p in _existing(paths) if p != tmp and p.is_relative_to(tmp)}
    # A folder inside another one shown already needs no mount of its own.
    return sorted(p for p in found if not any(p != q and p.is_relative_to(q) for q in found))


def _existing(paths: Iterable[str | Path]) -> list[Path]:
    found = []
    for path in paths:
        resolved = Path(path).expanduser().resolve()
        if resolved.exists():
            found.append(resolved)
    return found


def _hide(paths: Iterable[Path]) -> list[str]:
    args = []
    for path in paths:
        if path.is_dir():
            args += ["--tmpfs", str(path)]
        else:
            args += ["--ro-bind", os.devnull, str(path)]
    return args


def _cli_config() -> list[Path]:
    given = os.environ.get("PLAIT_CLI_CONFIG")
    return [Path.home() / ".config" / "plait", *([Path(given)] if given else [])]


def _hide_database(settings: Settings, data: Path) -> list[str]:
    """A SQLite file outside the data directory: its folder is hidden (so a -wal or -shm
    created later is hidden too), then its other entries are shown again, read-only."""
    if settings.database_url is None:
        return []  # the default one is inside the data directory, hidden with it
    try:
        from sqlalchemy.engine import make_url  # only a server has it (not a worker host)
    except ImportError:
        return []
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return []
    db = Path(url.database).resolve()
    folder = db.parent
    if db.is_relative_to(data):
        return []
    if folder == Path("/"):
        raise SandboxUnavailable(
            f"the task sandbox cannot hide a database at {db}: move it into a folder of its own"
        )
    secret = {db.name + suffix for suffix in SQLITE_FILES}
    args = ["--tmpfs", str(folder)]
    for entry in sorted(folder.iterdir()):
        if entry.name in secret:
            continue
        if entry.is_symlink():
            args += ["--symlink", os.readlink(entry), str(entry)]
        else:
            args += ["--ro-bind", str(entry), str(entry)]
    return args


def forkserver_argv() -> list[str]:
    return [sys.executable, "-m", "plait.runner.forkserver"]
