"""``assign_workspace``: the whole-workspace join, in place in SQLite where it can be.

Two ways, same answers: :func:`gridmap.join.inplace.assign_in_place` (point
blobs straight from SQLite, the polygon side from its cache) for the usual
in-place run, and :func:`gridmap.join.core.assign_general` (GeoDataFrames)
for everything else (another CRS, ``out=``, ``layers=``, the reference engine).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from gridmap.errors import SchemaError
from gridmap.join.inplace import assign_in_place
from gridmap.join.result import AssignResult
from gridmap.workspace.files import resolve_workspace, workspace_lock

__all__ = ["assign_workspace"]


def assign_workspace(
    workspace: str | os.PathLike | None = None,
    *,
    out: str | os.PathLike | None = None,
    layers: list[str] | None = None,
    write: bool = True,
    engine: str = "index",
) -> AssignResult:
    """Run the core join on every point layer of a workspace and write the ids.

    The columns ``microgrid_id``, ``grid_id``, ``zone_id``, ``community_id``,
    ``assigned_level``, ``nearest_microgrid_id`` and ``nearest_microgrid_m``
    replace any earlier ones on each point layer. Only these columns are
    written, inside the GeoPackage, in one SQLite transaction for all layers
    (:func:`gridmap.workspace.store.write_columns`): atomic, and rows whose
    ids did not change are not rewritten. With ``out``, a copy is written and
    the original left.

    Parameters
    ----------
    workspace
        Workspace path (default: the sample workspace).
    out
        Write the result to this GeoPackage instead of in place.
    layers
        Point layers to assign (default: every point layer present).
    write
        False to compute without writing.
    engine
        ``"index"`` (default: the exact cell index of :mod:`gridmap.join.index`,
        cached in ``<workspace>.gridmap-index/``; same answers as the
        reference on every point) or ``"reference"`` (shapely STRtree).
    """
    path = resolve_workspace(workspace)
    if write and out is not None and Path(out).suffix.lower() != ".gpkg":
        raise SchemaError(
            f"out={out}: the result is a copy of the whole workspace, so it must be a GeoPackage "
            "file ending in .gpkg (open it in QGIS, or export one layer to CSV/Excel from there)"
        )
    in_place = write and (out is None or Path(out).resolve() == path.resolve())
    # hold the writer lock from the read to the write, so that a write by another
    # process in between (an import) is not silently overwritten with old data
    with workspace_lock(path) if in_place else contextlib.nullcontext():
        if in_place and engine == "index" and layers is None:
            fast = assign_in_place(path)  # straight in SQLite; None: not for this workspace
            if fast is not None:
                return fast
        from gridmap.join.core import assign_general  # (the GeoDataFrame stack: loaded here only)

        return assign_general(path, out=out, layers=layers, write=write, engine=engine)
