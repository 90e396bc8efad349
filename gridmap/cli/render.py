"""Human-readable summaries (rich tables) shared by the CLI commands."""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gridmap.join.core import NEAREST_COLUMN, NEAREST_DIST_COLUMN, AssignResult
from gridmap.workspace.schema import POINT_LAYERS

LEVEL_LABELS = {
    "microgrids": "micro-grid",
    "grids": "grid only",
    "zones": "zone only",
    "communities": "community only",
    "none": "outside all",
}


def _cell(v) -> str:
    """Text of a table cell: missing values (None, NaN) are blank."""
    return "" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)


def print_assign_summary(result: AssignResult, console: Console, max_rows: int = 20) -> None:
    """Print per-layer counts by level and the points outside every micro-grid."""
    if not result.layers:
        console.print(
            escape(
                f"{result.workspace} has no point layer ({', '.join(POINT_LAYERS)}): "
                "nothing was assigned. Import one with 'gridmap import households FILE'."
            ),
            style="yellow",
        )
        return
    table = Table(title=escape(f"assign: {result.written_to or result.workspace}"))
    table.add_column("layer", no_wrap=True, min_width=16)
    table.add_column("points", justify="right")
    for label in LEVEL_LABELS.values():
        table.add_column(label, justify="right")
    for name, la in result.layers.items():
        table.add_row(
            escape(name), str(la.total), *[str(la.by_level.get(k, 0)) for k in LEVEL_LABELS]
        )
    console.print(table)
    for name, la in result.layers.items():
        if la.no_geometry:
            console.print(
                f"[yellow]{name}: {len(la.no_geometry)} features without geometry:[/] "
                + ", ".join(la.no_geometry[:10])
            )
        if len(la.unassigned):
            title = f"{name}: {len(la.unassigned)} not inside any micro-grid"
            if la.unassigned[NEAREST_COLUMN].isna().all() and la.in_microgrid == 0:
                title += " (the workspace has no micro-grids)"
            t = Table(title=escape(title))
            for col in ("id", "assigned_level", NEAREST_COLUMN, NEAREST_DIST_COLUMN):
                t.add_column(col)
            for rec in la.unassigned.head(max_rows).itertuples(index=False):
                t.add_row(*[escape(_cell(v)) for v in rec])
            if len(la.unassigned) > max_rows:
                t.caption = f"... and {len(la.unassigned) - max_rows} more (use --format json)"
            console.print(t)
