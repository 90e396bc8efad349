"""Command ``coverage``: who is within reach of a facility layer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gridmap.cli.options import (
    Fmt,
    FormatOpt,
    WorkspaceArg,
    console,
    print_json,
    progress,
)


def coverage(
    workspace: WorkspaceArg = None,
    facility: Annotated[
        str,
        typer.Option(
            "--facility", help="Facility layer: service_stations, charging_piles or parking."
        ),
    ] = ...,
    radius: Annotated[
        float | None,
        typer.Option(
            "--radius", help="Radius in metres (default from the standards file: 1000/500/300)."
        ),
    ] = None,
    distance: Annotated[
        str,
        typer.Option(
            help="auto | euclidean | network. auto walks along the roads layer when present."
        ),
    ] = "auto",
    level: Annotated[
        str, typer.Option(help="Table to print: community | zone | grid | microgrid.")
    ] = "grid",
    fmt: FormatOpt = Fmt.table,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write .xlsx (all levels), .csv (grids) or .gpkg."),
    ] = None,
    standards: Annotated[
        Path | None,
        typer.Option(help="Standards TOML replacing the packaged one; checks every grid."),
    ] = None,
    propose: Annotated[
        int | None, typer.Option(help="Propose K new sites that cover most uncovered households.")
    ] = None,
    candidates: Annotated[
        str,
        typer.Option(
            help="Candidate sites: grid_centroids, street_nodes or a candidate layer of the workspace."
        ),
    ] = "grid_centroids",
    weight: Annotated[
        str, typer.Option(help="Maximise households, residents or elderly.")
    ] = "households",
) -> None:
    """Who is within reach of a facility layer, per community, zone, grid, micro-grid.

    Distances are straight-line, or walking distance along the 'roads' layer
    when the workspace has one (--distance auto). Outputs carry aggregates
    only (no names, phones or addresses).

    Examples:
      gridmap coverage --facility service_stations --radius 500
      gridmap coverage --facility parking --format json
      gridmap coverage --facility charging_piles --out coverage.xlsx --propose 3
    """
    from gridmap.analysis.report import coverage_report
    from gridmap.errors import SchemaError

    if level not in ("community", "zone", "grid", "microgrid"):
        raise SchemaError(f"unknown level '{level}' (use community, zone, grid or microgrid)")
    with progress() as bar:
        bar.add_task(f"coverage of {facility}", total=None)
        report = coverage_report(
            workspace,
            facility,
            radius,
            distance=distance,
            standards=standards,
            propose=propose,
            candidates=candidates,
            weight=weight,
            out=out,
        )
    if fmt is Fmt.json:
        print_json(report.to_json())
        return
    from gridmap.cli.render import print_coverage

    print_coverage(report.result, level, console, checks=report.checks, sites=report.sites, out=out)
