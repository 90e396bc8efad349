"""Error classes.

Every error gridmap raises on purpose derives from :class:`GridmapError`, so the
CLI and the HTTP API can turn it into a one-line message (or a JSON body) that a
community worker can act on, instead of a traceback.
"""

from __future__ import annotations


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
