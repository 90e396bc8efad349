"""``gridmap requests``: resident requests (诉求) - import, list, move, stats.

Thin over :mod:`gridmap.requests`; writes are one transaction per request or
transition in the workspace GeoPackage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gridmap.cli.options import Fmt, FormatOpt, WorkspaceArg, WorkspaceOpt, console, print_json
from gridmap.errors import GridmapError

app = typer.Typer(
    name="requests",
    help="Resident requests (诉求): import a ledger, list, move along, statistics.",
    no_args_is_help=True,
    add_completion=False,
)

RulesOpt = Annotated[
    Path | None,
    typer.Option("--rules", help="Rules file (categories, time limits); default: packaged."),
]


@app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(help="Ledger: CSV (UTF-8, BOM, GBK) or XLSX.")],
    workspace: WorkspaceOpt = None,
    encoding: Annotated[
        str | None, typer.Option(help="Text encoding of a CSV (default: detected).")
    ] = None,
    sheet: Annotated[str | None, typer.Option(help="Sheet name or number of an XLSX.")] = None,
    crs: Annotated[
        str, typer.Option("--crs", help="CRS of 经度/纬度: wgs84, gcj02, bd09 or an EPSG code.")
    ] = "wgs84",
    skip_bad_rows: Annotated[
        bool,
        typer.Option("--skip-bad-rows", help="Store the good rows and report the bad ones."),
    ] = False,
    rules: RulesOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Import a ledger of requests; every row is stored or reported by its row number.

    Headers such as 编号, 受理时间, 类别, 诉求内容, 地址, 经度, 纬度, 状态, 办结时间,
    姓名, 电话 are recognised. Requests are routed to their grid by coordinate
    (the core join) or address (the lookup); unclear addresses go to the review
    queue ('gridmap requests list --review').

    Example: gridmap requests import 诉求台账.xlsx --workspace community.gpkg
    """
    from gridmap.requests.intake import import_ledger

    report = import_ledger(
        workspace,
        file,
        encoding=encoding,
        sheet=sheet,
        crs=crs,
        skip_bad_rows=skip_bad_rows,
        rules=rules,
    )
    if fmt is Fmt.json:
        print_json(report.to_dict())
        return
    from gridmap.cli.render import print_ledger_report

    print_ledger_report(report, console)


@app.command("list")
def list_cmd(
    workspace: WorkspaceArg = None,
    grid: Annotated[str | None, typer.Option("--grid", help="Only this grid.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="Only this status.")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only overdue open requests.")] = False,
    review: Annotated[
        bool, typer.Option("--review", help="Only the review queue (no owner found).")
    ] = False,
    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 50,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """List requests, overdue open ones first.

    Example: gridmap requests list community.gpkg --grid G01 --overdue
    """
    from gridmap.requests.stats import list_requests
    from gridmap.requests.store import read_requests

    df = list_requests(
        read_requests(workspace),
        grid=grid,
        status=status,
        overdue=overdue,
        review=True if review else None,
        limit=limit,
    )
    cols = [
        "request_id",
        "received_at",
        "category",
        "status",
        "grid_id",
        "microgrid_id",
        "due_at",
        "overdue",
        "hours_overdue",
        "located_by",
        "summary",
    ]
    if review:
        cols += ["address", "candidates"]
    if fmt is Fmt.json:
        from gridmap.requests.api_shapes import records

        print_json({"rows": records(df, cols)})
        return
    from gridmap.cli.render import print_request_list
    from gridmap.requests.model import load_rules

    print_request_list(df, cols, console, tz=load_rules().timezone)


@app.command("move")
def move_cmd(
    request_id: Annotated[str, typer.Argument(help="Request id, e.g. R2026-03-01-001.")],
    to: Annotated[str, typer.Option("--to", help="New status (dispatched, in_progress, ...).")],
    note: Annotated[str | None, typer.Option("--note", help="What was done / why.")] = None,
    due: Annotated[
        str | None, typer.Option("--due", help="New due time when deferring (2026-03-10 18:00).")
    ] = None,
    workspace: WorkspaceOpt = None,
    rules: RulesOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Move a request to its next status (the workflow is enforced).

    Example: gridmap requests move R2026-03-01-001 --to deferred --note "等待配件" --due 2026-03-10
    """
    from gridmap.requests.model import load_rules, parse_time
    from gridmap.requests.store import move_request

    r = load_rules(rules)
    due_at = None
    if due is not None:
        try:
            due_at = parse_time(due, r.tz)
        except ValueError:
            raise GridmapError(
                f"--due '{due}' is not a date/time (e.g. 2026-03-10 18:00)"
            ) from None
    row = move_request(
        workspace, request_id, to, note=note, due_at=due_at, actor_role="cli", rules=r
    )
    if fmt is Fmt.json:
        from gridmap.requests.api_shapes import plain

        print_json(
            {k: plain(v) for k, v in row.items() if k not in ("resident_name", "resident_phone")}
        )
        return
    console.print(f"{row['request_id']}: now [bold]{row['status']}[/]", highlight=False)


@app.command("route")
def route_cmd(
    request_id: Annotated[str, typer.Argument(help="Request id (e.g. from 'list --review').")],
    grid: Annotated[str | None, typer.Option("--grid", help="Give it to this grid.")] = None,
    address: Annotated[str | None, typer.Option("--address", help="Route by this address.")] = None,
    lon: Annotated[float | None, typer.Option("--lon")] = None,
    lat: Annotated[float | None, typer.Option("--lat")] = None,
    crs: Annotated[str, typer.Option("--crs", help="wgs84, gcj02, bd09 or EPSG.")] = "wgs84",
    note: Annotated[str | None, typer.Option("--note")] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Route a request of the review queue: to a grid, or by a better address or coordinate.

    Example: gridmap requests route R2026-02-01-002 --grid G05 -w community.gpkg
    """
    from gridmap.requests.routing import RequestRouter, route_to_grid
    from gridmap.requests.store import set_owner

    given = [grid is not None, address is not None, lon is not None or lat is not None]
    if sum(given) != 1:
        raise GridmapError("give exactly one of --grid, --address or --lon/--lat")
    router = RequestRouter(workspace)
    if grid is not None:
        route = route_to_grid(router, grid)
    else:
        route = router.route(address=address, lon=lon, lat=lat, crs=crs)
    if route.review:
        raise GridmapError(
            f"request {request_id}: this place is still not clear "
            f"({route.located_by}{': ' + route.message if route.message else ''}); nothing changed"
        )
    row = set_owner(
        workspace,
        request_id,
        {**route.owner, "assigned_level": route.assigned_level},
        located_by=route.located_by,
        lon=route.lon,
        lat=route.lat,
        note=note,
        actor_role="cli",
    )
    if fmt is Fmt.json:
        from gridmap.requests.api_shapes import plain

        keep = ("request_id", "status", "microgrid_id", "grid_id", "zone_id", "community_id")
        print_json({k: plain(row.get(k)) for k in keep})
        return
    console.print(f"{row['request_id']}: now in grid {row['grid_id'] or '-'}", highlight=False)


@app.command("stats")
def stats_cmd(
    workspace: WorkspaceArg = None,
    by: Annotated[
        str, typer.Option("--by", help="grid, zone, community, microgrid, worker or category.")
    ] = "grid",
    date_from: Annotated[
        str | None, typer.Option("--from", help="First day received (YYYY-MM-DD).")
    ] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="Last day received (YYYY-MM-DD).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Also write the rows to .xlsx or .csv.")
    ] = None,
    rules: RulesOpt = None,
    lang: Annotated[str, typer.Option(help="zh or en category names.")] = "zh",
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Closure rate (办结率), on-time rate (按期办结率), overdue, response times, per level.

    Example: gridmap requests stats --by grid --from 2026-01-01 --to 2026-06-30 --format json
    """
    from gridmap.requests.stats import workspace_stats

    result = workspace_stats(
        workspace, by=by, date_from=date_from, date_to=date_to, rules=rules, lang=lang
    )
    if out is not None:
        _write_rows(out, result["rows"])
    if fmt is Fmt.json:
        print_json(result)
        return
    from gridmap.cli.render import print_request_stats

    print_request_stats(result, console)
    if out is not None:
        console.print(f"wrote {out}", highlight=False)


def _write_rows(out: Path, rows: list[dict]) -> None:
    import pandas as pd

    from gridmap.workspace.store import atomic_write_file

    frame = pd.DataFrame(rows)
    suffix = out.suffix.lower()
    if suffix == ".xlsx":
        atomic_write_file(out, lambda p: frame.to_excel(p, index=False, engine="openpyxl"))
    elif suffix == ".csv":
        atomic_write_file(out, lambda p: frame.to_csv(p, index=False, encoding="utf-8-sig"))
    else:
        raise GridmapError(f"--out must end in .xlsx or .csv, got '{out.name}'")
