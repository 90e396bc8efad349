"""Commands ``divide`` (re-division proposals) and ``codes`` (standard grid codes)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gridmap.cli.options import Fmt, FormatOpt, WorkspaceArg, console, print_json


def divide(
    workspace: WorkspaceArg = None,
    households: Annotated[
        str, typer.Option("--households", help="Band of households per grid, e.g. 300-500.")
    ] = ...,
    within: Annotated[
        str, typer.Option(help="zone | community: the unit no proposed grid may cross.")
    ] = "zone",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Proposal workspace (.gpkg; default: <workspace>-proposal.gpkg here). "
            "The .xlsx diff and the before/after .html map are written next to it.",
        ),
    ] = None,
    method: Annotated[
        str, typer.Option(help="repair (fewest changes from today's grids) | maxp (spopt max-p).")
    ] = "repair",
    lang: Annotated[
        str, typer.Option(help="zh | en: language of the Excel file and the map.")
    ] = "zh",
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Propose grids of whole micro-grids holding a household count in a band.

    Every proposed grid is contiguous and stays inside its zone (or community);
    grids that cannot reach the band are listed with the reason. Your grids
    are never overwritten: the proposal is a separate workspace.

    Example: gridmap divide community.gpkg --households 300-500 --out proposal.gpkg
    """
    from gridmap.cli.render import print_division
    from gridmap.division.divide import propose_division
    from gridmap.division.output import write_proposal_workspace, write_proposal_xlsx
    from gridmap.maps.division import write_division_map
    from gridmap.workspace.schema import GRIDS
    from gridmap.workspace.store import load_workspace, resolve_workspace

    path = resolve_workspace(workspace)
    ws = load_workspace(path)
    result = propose_division(ws.layers, households, within=within, method=method)
    gpkg = out or Path(f"{path.stem}-proposal.gpkg")
    written = {
        "workspace": write_proposal_workspace(result, path, gpkg),
        "xlsx": write_proposal_xlsx(result, gpkg.with_suffix(".xlsx"), lang=lang),
        "map": write_division_map(result, ws.layers[GRIDS], gpkg.with_suffix(".html"), lang=lang),
    }
    if fmt == Fmt.json:
        doc = result.summary()
        doc["written"] = {k: str(v) for k, v in written.items()}
        print_json(doc)
        return
    print_division(result, written, console)


def codes(
    workspace: WorkspaceArg = None,
    scheme: Annotated[
        str | None, typer.Option(help="cjt349 | db11 | stat12 (default from the settings file).")
    ] = None,
    county: Annotated[str | None, typer.Option(help="6-digit county code (GB/T 2260).")] = None,
    street: Annotated[str | None, typer.Option(help="3-digit street/town code.")] = None,
    community: Annotated[
        str | None,
        typer.Option(
            help="3-digit community code (one-community workspaces; else communities.community_code)."
        ),
    ] = None,
    service_object: Annotated[
        str | None,
        typer.Option("--service-object", help="6-digit CJ/T 348 service-object code (cjt349)."),
    ] = None,
    column: Annotated[
        str | None, typer.Option(help="Column the codes go into (default grid_code).")
    ] = None,
    schemes: Annotated[
        Path | None, typer.Option(help="Grid-code settings TOML replacing the packaged codes.toml.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the codes, write nothing.")
    ] = False,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Give every grid a standard code, numbered west → east, north → south in its community.

    The codes go into a new column of the grids layer (grid_code); grid ids stay
    as they are. 'gridmap validate' checks the codes afterwards.

    Example: gridmap codes community.gpkg --scheme cjt349 --county 141021 --street 100
    """
    from gridmap.cli.render import print_codes
    from gridmap.division.codes import generate_codes, load_code_settings, write_codes
    from gridmap.workspace.store import load_workspace, resolve_workspace

    settings = load_code_settings(schemes)
    sch = settings.scheme(scheme)
    path = resolve_workspace(workspace)
    ws = load_workspace(path)
    values = {
        "county": county,
        "street": street,
        "community": community,
        "service_object": service_object,
    }
    result = generate_codes(ws.layers, sch, values, column=column or settings.column)
    if not dry_run:
        write_codes(path, result)
    if fmt == Fmt.json:
        print_json(
            {
                "scheme": sch.name,
                "column": result.column,
                "written": not dry_run,
                "notes": result.notes,
                "codes": result.table.to_dict(orient="records"),
            }
        )
        return
    print_codes(result, console, written=not dry_run, workspace=path)
