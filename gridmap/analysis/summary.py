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

import numpy as np
import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gridmap.workspace import store as io
from gridmap.join.core import (
    LEVEL_COLUMN,
    NEAREST_COLUMN,
    NEAREST_DIST_COLUMN,
    assign_points,
    build_hierarchy,
)
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
        un = self.unassigned.astype(object).where(self.unassigned.notna(), None)
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
            "unassigned": un.to_dict(orient="records"),
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


def _grid_label(grid_id, name) -> str:
    """The grid's name when short (it is what people know), else its id."""
    if isinstance(name, str) and name and len(name) <= 6:
        return name
    return str(grid_id)


_LEVEL_TEXT = {"grids": "grid only", "zones": "zone only", "communities": "community only"}


def print_summary(
    summary: WorkspaceSummary, console: Console, *, show: int = SHOW_UNASSIGNED
) -> None:
    """Print the summary as three compact rich tables."""
    t = Table(title="layers", title_justify="left", show_edge=False, pad_edge=False)
    t.add_column("layer")
    t.add_column("features", justify="right")
    for name, n in summary.layer_counts.items():
        t.add_row(name, f"{n:,}")
    console.print(t)

    pg = summary.per_grid
    if len(pg):
        rows = pg
        caption = None
        if len(pg) > COMPACT_GRIDS:
            srt = pg.sort_values(["households", "grid_id"], ascending=[False, True])
            rows = pd.concat([srt.head(10), srt.tail(10)])
            h = pg["households"]
            caption = (
                f"{len(pg):,} grids; the 10 largest and 10 smallest shown. "
                f"min {h.min():,}, median {int(h.median()):,}, max {h.max():,}"
            )
        cols = 3 if len(rows) > 12 else 1
        t = Table(
            title=f"households per grid ({summary.households:,} households)",
            title_justify="left",
            caption=caption,
            show_edge=False,
            pad_edge=False,
        )
        for _ in range(cols):
            t.add_column("grid")
            t.add_column("households", justify="right")
        recs = [
            (escape(_grid_label(r.grid_id, r.name)), f"{r.households:,}")
            for r in rows.itertuples(index=False)
        ]
        height = -(-len(recs) // cols)
        for i in range(height):
            cells: list[str] = []
            for c in range(cols):
                k = c * height + i
                cells.extend(recs[k] if k < len(recs) else ("", ""))
            t.add_row(*cells)
        console.print(t)
        if summary.no_grid:
            console.print(f"[yellow]{summary.no_grid:,} households are in no grid at all.[/]")

    un = summary.unassigned
    if len(un) == 0:
        if summary.households == 0:
            console.print("The workspace has no households.")
        elif not summary.layer_counts.get(MICROGRIDS):
            console.print("The workspace has no micro-grids: households are counted per grid only.")
        else:
            console.print("Every household is inside a micro-grid.")
        return
    t = Table(
        title=f"{len(un):,} households not in any micro-grid (farthest first)",
        title_justify="left",
        show_edge=False,
        pad_edge=False,
    )
    for col in ("household", "owned by", "nearest micro-grid", "distance m"):
        t.add_column(col, justify="right" if col == "distance m" else "left")
    for r in un.head(show).itertuples(index=False):
        level = getattr(r, LEVEL_COLUMN)
        dist = getattr(r, NEAREST_DIST_COLUMN)
        t.add_row(
            escape(str(r.household_id)),
            _LEVEL_TEXT.get(level, "outside all") if not pd.isna(level) else "outside all",
            "" if pd.isna(getattr(r, NEAREST_COLUMN)) else escape(str(getattr(r, NEAREST_COLUMN))),
            "" if dist is None or (isinstance(dist, float) and np.isnan(dist)) else f"{dist:,.0f}",
        )
    if len(un) > show:
        t.caption = f"+{len(un) - show:,} more: gridmap assign --format json"
    console.print(t)
