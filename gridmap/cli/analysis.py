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
    from gridmap.analysis.coverage import compute_coverage, make_context, write_coverage
    from gridmap.analysis.indicators import check_standards, grid_indicators
    from gridmap.analysis.siting import propose_sites, sites_to_json
    from gridmap.analysis.standards import load_standards
    from gridmap.errors import SchemaError
    from gridmap.policy.jsonsafe import json_records
    from gridmap.workspace import store as gio

    if level not in ("community", "zone", "grid", "microgrid"):
        raise SchemaError(f"unknown level '{level}' (use community, zone, grid or microgrid)")
    std = load_standards(standards)
    with progress() as bar:
        bar.add_task(f"coverage of {facility}", total=None)
        ws = gio.load_workspace(workspace)
        ctx = make_context(ws, distance)
        result = compute_coverage(ws, facility, radius, standards=std, context=ctx)
        want_checks = "grids" in ws and (
            standards is not None or (out is not None and out.suffix.lower() in (".xlsx", ".gpkg"))
        )
        if standards is not None and "grids" not in ws:
            result.notes.append("the workspace has no 'grids' layer; standards not checked")
        indicators = checks = sites = None
        if want_checks:
            indicators = grid_indicators(ws, standards=std, context=ctx)
            checks = check_standards(ws, std, indicators=indicators)
            # e.g. a rule naming a layer the workspace lacks: say why its figures are n/a
            result.notes.extend(
                n for n in indicators.attrs.get("notes", []) if n not in result.notes
            )
        if propose is not None:
            sites = propose_sites(
                ws,
                facility,
                propose,
                result.radius_m,
                candidates,
                weight=weight,
                standards=std,
                context=ctx,
            )
        if out is not None:
            write_coverage(out, result, indicators=indicators, standards=checks, sites=sites)
    if fmt is Fmt.json:
        doc = result.to_json()
        if checks is not None:
            failing = checks[checks["passed"].map(lambda v: v is False)]
            doc["standards"] = {
                "file": std.file,
                "results": json_records(checks.drop(columns=["source"])),
                "failing": {
                    g: list(s) for g, s in failing.groupby("grid_id", sort=True)["rule_id"]
                },
            }
        if sites is not None:
            doc["proposed_sites"] = sites_to_json(sites)
        if out is not None:
            doc["written_to"] = str(out)
        print_json(doc)
        return
    from gridmap.cli.render import print_coverage

    print_coverage(result, level, console, checks=checks, sites=sites, out=out)
