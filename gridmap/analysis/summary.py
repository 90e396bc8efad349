"""The short summary printed by the main job (``gridmap map``).

Three parts: the layers and their feature counts, households per grid (a
compact table), and the households that no micro-grid covers, with the nearest
micro-grid and the distance from :mod:`gridmap.join.core`. Only ids and counts are
printed: no names, phones or addresses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gridmap.join.core import (
    LEVEL_COLUMN,
    NEAREST_COLUMN,
    NEAREST_DIST_COLUMN,
    assign_points,
    build_hierarchy,
)
from gridmap.policy.jsonsafe import json_records
from gridmap.workspace import store as io
from gridmap.workspace.schema import GRIDS, HOUSEHOLDS, LAYERS, MICROGRIDS, POLYGON_LEVELS

#: How many unassigned households are listed by id.
SHOW_UNASSIGNED = 5
#: Above this many grids the per-grid table shows only the largest and smallest.
COMPACT_GRIDS = 40


@dataclass
class WorkspaceSummary:
    """What the main job prints after writing the map."""

    workspace: Path
    layer_counts: dict[str, int]
    households: int
    per_grid: pd.DataFrame  # grid_id, name, households (every grid, also those with none)
    no_grid: int  # households in no grid at all
    unassigned: (
        pd.DataFrame
    )  # household_id, assigned_level, nearest_microgrid_id, nearest_microgrid_m

    def to_dict(self) -> dict:
        """JSON-ready form (ids and counts only)."""
        return {
            "workspace": str(self.workspace),
            "layers": self.layer_counts,
            "households": self.households,
            "households_per_grid": [
                {"grid_id": r.grid_id, "name": r.name, "households": int(r.households)}
                for r in self.per_grid.itertuples(index=False)
            ],
            "households_in_no_grid": self.no_grid,
            # null when the workspace has no micro-grids (nothing to be inside of)
            "households_not_in_microgrid": (
                len(self.unassigned) if self.layer_counts.get(MICROGRIDS) else None
            ),
            "unassigned": json_records(self.unassigned),
        }


def summarise_workspace(
    workspace: str | os.PathLike | io.Workspace | None,
    assignment: pd.DataFrame | None = None,
) -> WorkspaceSummary:
    """Count layers, households per grid and households outside every micro-grid.

    Parameters
    ----------
    workspace
        A workspace path or a loaded :class:`~gridmap.workspace.store.Workspace`.
    assignment
        The households' :func:`gridmap.join.core.assign_points` result, if already
        computed (the map builder passes its own); computed here otherwise.
    """
    ws = workspace if isinstance(workspace, io.Workspace) else io.load_workspace(workspace)
    counts = {name: len(gdf) for name, gdf in ws.layers.items()}
    hh = ws.get(HOUSEHOLDS)
    grids = ws.get(GRIDS)
    if hh is not None and assignment is None and any(lv in ws.layers for lv in POLYGON_LEVELS):
        assignment = assign_points(hh, build_hierarchy(ws.layers))
    per_grid = pd.DataFrame(columns=["grid_id", "name", "households"])
    no_grid = 0
    unassigned = pd.DataFrame(
        columns=["household_id", LEVEL_COLUMN, NEAREST_COLUMN, NEAREST_DIST_COLUMN]
    )
    if hh is not None and assignment is not None:
        gid = assignment["grid_id"]
        no_grid = int(gid.isna().sum())
        n = gid.dropna().astype(str).value_counts()
        if grids is not None:
            ids = grids["grid_id"].astype(object)
            names = grids["name"] if "name" in grids else ids
            per_grid = pd.DataFrame({"grid_id": ids.to_numpy(), "name": names.to_numpy()})
            per_grid = per_grid.dropna(subset=["grid_id"]).drop_duplicates("grid_id")
            per_grid["households"] = per_grid["grid_id"].astype(str).map(n).fillna(0).astype(int)
        if MICROGRIDS in ws.layers:
            mask = assignment["microgrid_id"].isna()
            idcol = LAYERS[HOUSEHOLDS].id_column
            ids = hh[idcol] if idcol in hh else pd.Series(hh.index.astype(str), index=hh.index)
            unassigned = pd.DataFrame(
                {
                    "household_id": ids[mask].astype(str).to_numpy(),
                    LEVEL_COLUMN: assignment.loc[mask, LEVEL_COLUMN].to_numpy(),
                    NEAREST_COLUMN: assignment.loc[mask, NEAREST_COLUMN].to_numpy(),
                    NEAREST_DIST_COLUMN: assignment.loc[mask, NEAREST_DIST_COLUMN].to_numpy(),
                }
            ).sort_values(NEAREST_DIST_COLUMN, ascending=False, na_position="first", kind="stable")
    return WorkspaceSummary(
        workspace=ws.path,
        layer_counts=counts,
        households=0 if hh is None else len(hh),
        per_grid=per_grid.reset_index(drop=True),
        no_grid=no_grid,
        unassigned=unassigned.reset_index(drop=True),
    )
