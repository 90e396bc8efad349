"""Which file is the workspace, and the writers' lock on it (light: no geopandas).

Every command names its workspace through :func:`resolve_workspace`; every
writer holds :func:`workspace_lock` from its read to its write.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from gridmap.datasets import get_path
from gridmap.errors import (
    WORKSPACE_COPY_HINT,
    WorkspaceBusyError,
    WorkspaceError,
    os_write_error,
    write_failure,
)

__all__ = [
    "LOCK_TIMEOUT_S",
    "TMP_SUFFIX",
    "WORKSPACE_ENV",
    "column_update_error",
    "default_workspace",
    "remove_stale_temp_files",
    "resolve_workspace",
    "stale_temp_files",
    "workspace_lock",
]

#: Environment variable naming the default workspace.
WORKSPACE_ENV = "GRIDMAP_WORKSPACE"
#: Seconds a writer waits for another writer before WorkspaceBusyError
#: (``$GRIDMAP_LOCK_TIMEOUT`` overrides the default of 10).
LOCK_TIMEOUT_S = float(os.environ.get("GRIDMAP_LOCK_TIMEOUT") or 10.0)
#: How a writer names its temporary copy: ``.<workspace name>.<random>.tmp.gpkg``.
TMP_SUFFIX = ".tmp.gpkg"


def default_workspace() -> Path:
    """Return the workspace used when none is named.

    ``$GRIDMAP_WORKSPACE`` if set, else the sample workspace shipped in the
    package (:func:`gridmap.datasets.get_path`).
    """
    env = os.environ.get(WORKSPACE_ENV)
    if env:
        return Path(env)
    return get_path("community")


def resolve_workspace(path: str | os.PathLike | None, *, must_exist: bool = True) -> Path:
    """Turn a user's workspace argument into a path, checking it exists.

    A directory is accepted when it holds exactly one ``.gpkg`` file.
    """
    p = Path(path) if path else default_workspace()
    if p.is_dir():
        # hidden files are not workspaces (e.g. a writer's temporary copy left by a crash)
        found = sorted(f for f in p.glob("*.gpkg") if not f.name.startswith("."))
        if len(found) != 1:
            raise WorkspaceError(
                f"the folder holds {len(found)} GeoPackage files; name one of them",
                file=str(p),
            )
        p = found[0]
    if must_exist and not p.exists():
        raise WorkspaceError(
            "workspace not found. Give the path of a .gpkg file, or run "
            "'gridmap synth community.gpkg' to make a sample workspace.",
            file=str(p),
        )
    if must_exist and p.stat().st_size == 0:
        raise WorkspaceError("the workspace file is empty (0 bytes)", file=str(p))
    if p.is_file() and p.stat().st_size > 0 and p.suffix.lower() != ".gpkg":
        with open(p, "rb") as fh:
            is_sqlite = fh.read(16) == b"SQLite format 3\x00"
        if not is_sqlite:
            raise WorkspaceError(
                f"this {p.suffix or 'file'} is not a workspace: a workspace is one GeoPackage "
                "(.gpkg) file. Import the data into one first (gridmap.ingest.importer.import_layer, "
                "or 'gridmap import' on the command line).",
                file=str(p),
            )
    return p


@contextlib.contextmanager
def workspace_lock(path: str | os.PathLike, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the workspace's writer lock (``<file>.lock``) for the ``with`` block.

    Not re-entrant: a read-modify-write that holds it from its read to its
    write passes ``locked=True`` to :func:`write_layers`.
    """
    lock = FileLock(str(path) + ".lock", timeout=timeout)
    try:
        lock.acquire()
    except Timeout as exc:  # (a TimeoutError, so an OSError: caught first)
        raise WorkspaceBusyError(
            "the workspace is busy: another gridmap command is writing it. Try again in a moment.",
            file=str(path),
        ) from exc
    except OSError as exc:  # a read-only folder: the lock file cannot be made
        raise os_write_error(
            exc, path, kept="the workspace was not changed", hint=WORKSPACE_COPY_HINT
        ) from exc
    try:
        yield
    finally:
        lock.release()


def column_update_error(exc: BaseException, path: Path) -> BaseException:
    """The error to raise when an in-place column update failed (nothing was changed).

    A full disk, a read-only file or a damaged database become one line naming
    the file; anything else is returned as it was.
    """
    mapped = write_failure(
        exc, path, kept="the workspace was not changed", hint=WORKSPACE_COPY_HINT
    )
    if mapped is not None:
        return mapped
    if not isinstance(exc, sqlite3.DatabaseError):
        return exc
    text = str(exc).lower()
    if "readonly" in text or "read-only" in text:
        return WorkspaceError(
            "the workspace cannot be written (read-only file or folder). "
            f"{WORKSPACE_COPY_HINT}; the workspace was not changed.",
            file=str(path),
        )
    short = (str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)[:200]
    return WorkspaceError(
        f"could not update the workspace ({short}); it was not changed", file=str(path)
    )


def stale_temp_files(path: str | os.PathLike) -> list[Path]:
    """Temporary copies of workspace ``path`` (and their SQLite journals) in its folder.

    Only a writer holding the workspace lock creates them, so while the lock is
    held, any that exist were left behind by a writer that was killed.
    """
    import glob

    p = Path(path)
    prefix = f".{p.name}."
    found = []
    for f in p.parent.glob(glob.escape(prefix) + "*"):
        rest = f.name[len(prefix) :]
        if any(rest.endswith(TMP_SUFFIX + end) for end in ("", "-journal", "-wal", "-shm")):
            found.append(f)
    return sorted(found)


def remove_stale_temp_files(path: str | os.PathLike) -> list[Path]:
    """Delete temporary copies left by killed writers; call only while holding the lock."""
    removed = []
    for f in stale_temp_files(path):
        with contextlib.suppress(FileNotFoundError):
            f.unlink()
            removed.append(f)
    return removed
