"""Error classes.

Every error gridmap raises on purpose derives from :class:`GridmapError`, so the
CLI and the HTTP API can turn it into a one-line message (or a JSON body) that a
community worker can act on, instead of a traceback.
"""

from __future__ import annotations

import shutil
from pathlib import Path


class GridmapError(Exception):
    """Base class of all gridmap errors.

    Parameters
    ----------
    message
        What went wrong and, where possible, what to do about it.
    file, layer, row, ids
        Where the problem is. Included in ``str(error)`` when given.
    """

    #: HTTP status the API answers with for this kind of error.
    http_status: int = 400

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        layer: str | None = None,
        row: int | None = None,
        ids: list[str] | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.layer = layer
        self.row = row
        self.ids = ids
        super().__init__(self.__str__())

    def where(self) -> str:
        parts = []
        if self.file:
            parts.append(f"file {self.file}")
        if self.layer:
            parts.append(f"layer '{self.layer}'")
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.ids:
            shown = ", ".join(map(str, self.ids[:10]))
            more = f" (+{len(self.ids) - 10} more)" if len(self.ids) > 10 else ""
            parts.append(f"id {shown}{more}")
        return ", ".join(parts)

    def __str__(self) -> str:
        where = self.where()
        return f"{where}: {self.message}" if where else self.message

    def to_dict(self) -> dict:
        return {
            "error": type(self).__name__,
            "message": self.message,
            "file": self.file,
            "layer": self.layer,
            "row": self.row,
            "ids": self.ids,
        }


class WorkspaceError(GridmapError):
    """The workspace file is missing, unreadable or not a GeoPackage."""

    http_status = 500


class WorkspaceBusyError(WorkspaceError):
    """Another process is writing the workspace right now."""

    http_status = 503


class LayerNotFoundError(GridmapError):
    """A layer the command needs is not in the workspace."""

    http_status = 404


class SchemaError(GridmapError):
    """A required column is missing, or ids are duplicated or empty."""

    http_status = 422


class InputFileError(GridmapError):
    """An input file cannot be read: wrong format, encoding or columns."""

    http_status = 422


class CoordinateError(GridmapError):
    """Coordinates are missing, out of range, swapped or in an unknown CRS."""

    http_status = 422


class CRSError(CoordinateError):
    """A coordinate reference system is missing or not understood."""


class ValidationFailed(GridmapError):
    """Validation found errors that must be fixed before continuing."""

    http_status = 422


class AddressError(GridmapError):
    """An address could not be parsed or matched."""

    http_status = 422


class NotFoundError(GridmapError):
    """A requested feature or object does not exist."""

    http_status = 404


class WriteError(GridmapError):
    """A file cannot be written: the disk is full, or the folder is read-only.

    Raised instead of a bare :class:`OSError` (or GDAL's misleading "CreateLayer
    failed") by every writer of workspaces and output files; the file that was
    there before is left as it was.
    """

    http_status = 507


#: errno values that mean "no space left" (ENOSPC, EDQUOT, EFBIG).
_NO_SPACE = {28, 122, 27}
#: errno values that mean "not allowed to write here" (EACCES, EPERM, EROFS).
_NO_PERMISSION = {13, 1, 30}


def _megabytes(n: float) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"


def free_bytes(folder) -> int | None:
    """Free space in ``folder`` (or its nearest existing parent) in bytes; None if unknown."""
    p = Path(folder)
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return shutil.disk_usage(p if p.is_dir() else p.parent).free
    except OSError:
        return None


def disk_full_error(file, *, needed: int | None = None, kept: str | None = None) -> WriteError:
    """The one-line message for "the disk is full while writing ``file``"."""
    folder = Path(file).absolute().parent
    free = free_bytes(folder)
    room = f" ({_megabytes(free)} free in {folder}" if free is not None else f" (in {folder}"
    room += f"; writing it needs about {_megabytes(needed)} free)" if needed else ")"
    return WriteError(
        f"the disk is full: it cannot be written{room}. Free some disk space, or work on a "
        f"copy in a folder on another disk, and run the command again; "
        f"{kept or 'nothing was written'}.",
        file=str(file),
    )


#: What to do about a read-only folder, for a workspace and for an output file.
WORKSPACE_COPY_HINT = (
    "Copy the workspace to a folder you can write to and run the command on the copy, "
    "or ask the folder's owner for write access"
)
OUTPUT_HINT = (
    "Choose an output path in a folder you can write to, or ask the folder's owner for write access"
)


def os_write_error(
    exc: OSError, file, *, kept: str | None = None, hint: str | None = None
) -> GridmapError:
    """Turn an :class:`OSError` raised while writing ``file`` into a one-line error.

    Disk full (ENOSPC) and read-only or foreign folders (EACCES, EPERM, EROFS)
    get a message saying what to do; any other OSError keeps the system's
    words. ``kept`` says what happened to the old file (default "nothing was
    written"); ``hint`` what to do about a folder one may not write in
    (default :data:`OUTPUT_HINT`).
    """
    kept = kept or "nothing was written"
    if exc.errno in _NO_SPACE:
        return disk_full_error(file, kept=kept)
    target = Path(exc.filename) if getattr(exc, "filename", None) else Path(file)
    if exc.errno in _NO_PERMISSION:
        folder = (target if target.is_dir() else target.parent).absolute()
        return WriteError(
            f"no permission to write in the folder {folder} (it is read-only, or belongs to "
            f"another user). {hint or OUTPUT_HINT}, and run the command again; {kept}.",
            file=str(file),
        )
    reason = exc.strerror or str(exc) or type(exc).__name__
    return WriteError(
        f"the system refused the file operation ({reason}: {target}); {kept}.",
        file=str(file),
    )


def write_failure(
    exc: BaseException, file, *, scratch=None, kept: str | None = None, hint: str | None = None
):
    """The one-line error for a failed write of ``file``, or None to let ``exc`` through.

    Call it *before* removing the writer's temporary file ``scratch``: GDAL reports a
    full disk as "Layer ... already exists, CreateLayer failed" (it could not drop
    the old layer), so a GDAL/SQLite failure while less space is free than the
    temporary copy takes counts as a full disk.
    """
    if isinstance(exc, GridmapError) or not isinstance(exc, Exception):
        return None
    if isinstance(exc, OSError) and exc.errno is not None:
        return os_write_error(exc, file, kept=kept, hint=hint)
    text = str(exc).lower()
    if "disk is full" in text or "no space left" in text:
        return disk_full_error(file, kept=kept)
    if scratch is not None and Path(scratch).exists():
        free = free_bytes(Path(scratch).parent)
        size = Path(scratch).stat().st_size
        if free is not None and free < max(size, 1 << 20):
            return disk_full_error(file, needed=2 * size, kept=kept)
    return None
