"""Human-readable summaries (rich tables) shared by the CLI commands."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from gridmap.join import NEAREST_COLUMN, NEAREST_DIST_COLUMN, AssignResult

LEVEL_LABELS = {
    "microgrids": "micro-grid",
    "grids": "grid only",
    "zones": "zone only",
    "communities": "community only",
    "none": "outside all",
}


def print_assign_summary(result: AssignResult, console: Console, max_rows: int = 20) -> None:
    """Print per-layer counts by level and the points outside every micro-grid."""
    table = Table(title=f"assign: {result.written_to or result.workspace}")
    table.add_column("layer")
    table.add_column("points", justify="right")
    for label in LEVEL_LABELS.values():
        table.add_column(label, justify="right")
    for name, la in result.layers.items():
        table.add_row(name, str(la.total), *[str(la.by_level.get(k, 0)) for k in LEVEL_LABELS])
    console.print(table)
    for name, la in result.layers.items():
        if la.no_geometry:
            console.print(
                f"[yellow]{name}: {len(la.no_geometry)} features without geometry:[/] "
                + ", ".join(la.no_geometry[:10])
            )
        if len(la.unassigned):
            t = Table(title=f"{name}: {len(la.unassigned)} not inside any micro-grid")
            for col in ("id", "assigned_level", NEAREST_COLUMN, NEAREST_DIST_COLUMN):
                t.add_column(col)
            for rec in la.unassigned.head(max_rows).itertuples(index=False):
                t.add_row(*["" if v is None else str(v) for v in rec])
            if len(la.unassigned) > max_rows:
                t.caption = f"... and {len(la.unassigned) - max_rows} more (use --format json)"
            console.print(t)
