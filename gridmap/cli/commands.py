"""The ``gridmap`` command line: a thin layer over the library functions.

Each command parses its options, calls one library function and prints the
result (a rich table, or one JSON document with ``--format json``). Errors
derived from :class:`~gridmap.errors.GridmapError` become one red line and exit
code 2; no traceback for user mistakes.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from gridmap.errors import GridmapError

app = typer.Typer(
    name="gridmap",
    help="Community grid management (社区网格化管理): workspaces, joins, coverage, lookup, maps.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=False)
err_console = Console(stderr=True)


class Fmt(StrEnum):
    table = "table"
    json = "json"


WorkspaceArg = Annotated[
    Path | None,
    typer.Argument(
        help="Workspace GeoPackage (default: $GRIDMAP_WORKSPACE or the packaged sample)."
    ),
]
WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace GeoPackage (default: the sample)."),
]
FormatOpt = Annotated[
    Fmt, typer.Option("--format", "-f", help="table for people, json for programs.")
]


@app.callback()
def _root() -> None:
    """Community grid management (社区网格化管理). Run 'gridmap COMMAND --help' for examples."""


def print_json(obj) -> None:
    """Print one JSON document on stdout (UTF-8, Chinese unescaped)."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2, default=_json_default) + "\n")


def _json_default(o):
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return None if np.isnan(o) else float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, Path):
        return str(o)
    return str(o)


def progress():
    """A rich progress bar on stderr (so stdout stays clean for JSON)."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )


@app.command()
def assign(
    workspace: WorkspaceArg = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write to this GeoPackage instead of in place; with --points: X.parquet "
            "(one GeoParquet file) or a directory (one part per chunk).",
        ),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            help="index (fast exact cell index, default), reference (shapely STRtree) or dask "
            "(a Dask cluster; needs --points with GeoParquet)."
        ),
    ] = "index",
    points: Annotated[
        Path | None,
        typer.Option(
            "--points",
            help="Join this point file (GeoParquet file or directory of parts, GeoPackage, "
            "FlatGeobuf, ...) in chunks instead of the workspace's point layers.",
        ),
    ] = None,
    layer: Annotated[str | None, typer.Option(help="Layer of a multi-layer --points file.")] = None,
    crs: Annotated[
        str | None,
        typer.Option(
            help="CRS of the --points file when it carries none (or a wrong one): EPSG code, "
            "wgs84, gcj02 (Amap/Tencent) or bd09 (Baidu)."
        ),
    ] = None,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", min=1, help="Points per chunk with --points.")
    ] = 500_000,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Dask scheduler tcp://HOST:PORT for --engine dask (default: a local cluster)."
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Local Dask workers for --engine dask without --scheduler.")
    ] = 2,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Write microgrid_id, grid_id, zone_id, community_id onto every point layer.

    Each point gets the finest polygon that covers it (boundary included; the
    smallest id wins on shared edges and overlaps). Points outside every
    micro-grid are listed with the nearest micro-grid and the distance.

    Example: gridmap assign community.gpkg --out /tmp/assigned.gpkg

    Large files (streamed in chunks, GeoParquet out):
    gridmap assign community.gpkg --points city_points/ --out assigned.parquet

    On Dask: gridmap assign WS --engine dask --points parts/ --out out_dir [--scheduler tcp://HOST:8786]
    """
    from gridmap.errors import SchemaError

    if engine not in ("index", "reference", "dask"):
        raise SchemaError(f"unknown engine '{engine}' (use index, reference or dask)")
    if engine == "dask" or points is not None:
        if points is None or out is None:
            raise SchemaError("this needs --points FILE and --out X.parquet or DIR")
        if engine == "dask":
            from gridmap.join.distributed import assign_dask

            if crs is not None:
                raise SchemaError(
                    "--crs is not supported with --engine dask: write the parts in WGS84 "
                    "(GeoParquet with its CRS) or use --engine index"
                )

            with progress() as bar:
                bar.add_task("assigning on Dask", total=None)
                res = assign_dask(
                    points,
                    out,
                    workspace,
                    scheduler=scheduler,
                    n_workers=workers,
                    chunk_size=chunk_size,
                )
        else:
            from gridmap.join.stream import assign_file

            res = assign_file(
                points,
                out,
                workspace,
                chunk_size=chunk_size,
                engine=engine,
                layer=layer,
                crs=crs,
            )
        if fmt is Fmt.json:
            print_json(res.to_dict())
        else:
            console.print(f"{res.rows} points -> {res.written_to}")
            for lvl, n in sorted(res.by_level.items()):
                console.print(f"  {lvl}: {n}")
        return
    from gridmap.join.core import assign_workspace
    from gridmap.cli.render import print_assign_summary

    with progress() as bar:
        bar.add_task("assigning points to grids", total=None)
        result = assign_workspace(workspace, out=out, engine=engine)
    if fmt is Fmt.json:
        print_json(result.to_dict())
    else:
        print_assign_summary(result, console)


@app.command()
def synth(
    out: Annotated[Path, typer.Argument(help="GeoPackage to write (replaced if it exists).")],
    seed: Annotated[
        int, typer.Option(help="Random seed: the same seed and sizes give identical data.")
    ] = 20240601,
    households: Annotated[int, typer.Option(help="Number of households (exact).")] = 3500,
    microgrids: Annotated[int, typer.Option(help="Number of micro-grids (exact).")] = 287,
    grids: Annotated[
        int | None, typer.Option(help="Number of grids (default: about 11 micro-grids per grid).")
    ] = None,
    zones: Annotated[
        int | None, typer.Option(help="Number of zones (default: about 9 grids per zone).")
    ] = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Generate a synthetic community (sample data) or a synthetic city (benchmarks).

    The defaults make the sample community of DESIGN.md: 1 community, 3 zones,
    26 grids, 287 micro-grids, 3,500 households, 12 service stations, about 40
    charging piles, 15 parking sites and a street network (layer roads). All
    names, addresses and phone numbers are invented.

    Examples:

      gridmap synth community.gpkg

      gridmap synth /tmp/city.gpkg --households 2000000 --microgrids 50000
    """
    from gridmap.datasets.synth import synth_workspace

    with progress() as bar:
        task = bar.add_task("generating", total=None)
        path = synth_workspace(
            out,
            seed=seed,
            households=households,
            microgrids=microgrids,
            grids=grids,
            zones=zones,
            progress=lambda msg: bar.update(task, description=msg),
        )
    import pyogrio

    from gridmap.workspace.store import list_layers

    counts = {
        name: int(pyogrio.read_info(path, layer=name)["features"]) for name in list_layers(path)
    }
    if fmt is Fmt.json:
        print_json({"workspace": str(path), "seed": seed, "layers": counts})
        return
    from rich.table import Table

    table = Table(title=f"{path} (synthetic, seed {seed})")
    table.add_column("layer")
    table.add_column("features", justify="right")
    for name, n in counts.items():
        table.add_row(name, f"{n:,}")
    console.print(table)


@app.command("import")
def import_cmd(
    layer: Annotated[str, typer.Argument(help="Target layer: households, grids, microgrids, ...")],
    file: Annotated[Path, typer.Argument(help="GeoPackage, GeoJSON, Shapefile, KML, CSV or XLSX.")],
    workspace: WorkspaceOpt = None,
    crs: Annotated[
        str | None,
        typer.Option(help="Input CRS: EPSG code, wgs84, gcj02 (Amap/Tencent) or bd09 (Baidu)."),
    ] = None,
    lon_col: Annotated[str | None, typer.Option(help="Longitude column of a CSV/XLSX.")] = None,
    lat_col: Annotated[str | None, typer.Option(help="Latitude column of a CSV/XLSX.")] = None,
    id_col: Annotated[str | None, typer.Option(help="Column holding the layer's id.")] = None,
    encoding: Annotated[
        str | None,
        typer.Option(help="Text encoding of a CSV or a Shapefile .dbf (default: detected)."),
    ] = None,
    sheet: Annotated[str | None, typer.Option(help="XLSX sheet name or number.")] = None,
    source_layer: Annotated[
        str | None, typer.Option(help="Layer inside a multi-layer input file.")
    ] = None,
    skip_bad_rows: Annotated[
        bool, typer.Option("--skip-bad-rows", help="Import the good rows, list the bad ones.")
    ] = False,
    report: Annotated[
        Path | None, typer.Option(help="CSV for the skipped rows (default: next to the input).")
    ] = None,
    max_distance_km: Annotated[
        float, typer.Option(help="Rows farther than this from the workspace are bad (0 = off).")
    ] = 50.0,
    make_valid: Annotated[
        bool, typer.Option("--make-valid", help="Repair invalid polygons instead of refusing them.")
    ] = False,
    no_shift_check: Annotated[
        bool,
        typer.Option(
            "--no-shift-check", help="Do not check for GCJ-02/BD-09 points labelled WGS84."
        ),
    ] = False,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Import a file as a workspace layer (replacing it), converting coordinates to WGS84.

    Bad rows (empty, non-numeric, out-of-range or swapped coordinates, far
    from the workspace, empty or duplicate ids) stop the import and are listed
    by row number (spreadsheet rows as Excel numbers them; vector files by
    feature number); nothing is written.
    With --skip-bad-rows the good rows are imported and the bad ones written
    to a CSV report. Personal columns are kept but never printed.

    Example: gridmap import households ledger.csv --crs gcj02 -w community.gpkg
    """
    from rich.markup import escape

    from gridmap.ingest.importer import import_layer

    with progress() as bar:
        bar.add_task(f"importing {file.name}", total=None)
        rep = import_layer(
            workspace,
            layer,
            file,
            crs=crs,
            lon_col=lon_col,
            lat_col=lat_col,
            id_col=id_col,
            encoding=encoding,
            sheet=sheet,
            source_layer=source_layer,
            skip_bad_rows=skip_bad_rows,
            report=report,
            max_distance_m=max_distance_km * 1000.0 if max_distance_km > 0 else None,
            make_valid=make_valid,
            shift_check=not no_shift_check,
        )
    if fmt is Fmt.json:
        print_json(rep.to_dict())
        return
    converted = rep.source_crs not in ("wgs84", "EPSG:4326")
    crs_text = f"{rep.source_crs} -> EPSG:4326" if converted else "WGS84 (no conversion)"
    if rep.crs_assumed:
        crs_text += (
            " [assumed: the table names no CRS; use --crs gcj02 for Amap/Tencent, bd09 for Baidu]"
        )
    console.print(
        f"imported {rep.imported} of {rep.rows_read} rows into layer '{rep.layer}' "
        f"of {rep.workspace}",
        markup=False,
    )
    if rep.encoding:
        console.print(f"encoding: {rep.encoding}", markup=False)
    console.print(f"coordinates: {crs_text}", markup=False)  # '[assumed: ...]' is not markup
    for old, new in rep.renamed.items():
        console.print(f"column '{old}' stored as '{new}'", markup=False)
    for note in rep.notes:
        console.print(f"note: {note}", markup=False)
    if rep.skipped:
        console.print(
            f"[yellow]skipped {rep.skipped_rows} rows[/] (numbered by {rep.row_numbering}); "
            f"list written to {escape(str(rep.report_path))}:"
        )
        for p in rep.skipped[:20]:
            console.print(f"  {p}", highlight=False, markup=False)
        if len(rep.skipped) > 20:
            console.print(f"  ... and {len(rep.skipped) - 20} more (see the report)")


@app.command()
def validate(
    workspace: WorkspaceArg = None,
    fmt: FormatOpt = Fmt.table,
    fix: Annotated[
        bool,
        typer.Option(
            "--fix", help="Repair invalid polygons (make_valid), write atomically, list changes."
        ),
    ] = False,
) -> None:
    """Check a workspace: geometries, overlaps, gaps, parents, ids, columns, CRS.

    Every finding names the layer and the id(s), with a location and an area
    (m²) or distance (m) where it applies. Exit code 1 when errors are found,
    0 when there are only warnings or nothing.

    Example: gridmap validate community.gpkg --format json
    """
    from gridmap.checks.validation import print_report
    from gridmap.checks.validation import validate as run_validation

    with progress() as bar:
        bar.add_task("validating", total=None)
        rep = run_validation(workspace, fix=fix)
    if fmt is Fmt.json:
        print_json(rep.to_dict())
    else:
        print_report(rep, console)
    if rep.errors:
        sys.exit(1)  # SystemExit passes through click's standalone_mode=False


@app.command()
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
    from gridmap.workspace import store as gio
    from gridmap.analysis.coverage import (
        compute_coverage,
        grid_indicators,
        make_context,
        records,
        write_coverage,
    )
    from gridmap.errors import SchemaError
    from gridmap.analysis.siting import propose_sites, sites_to_json
    from gridmap.analysis.standards import check_standards, load_standards

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
                "results": records(checks.drop(columns=["source"])),
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
    from gridmap.analysis.coverage import print_coverage

    print_coverage(result, level, console, checks=checks, sites=sites, out=out)


@app.command()
def locate(
    address: Annotated[
        str | None,
        typer.Argument(help="Address as written, e.g. 西南街3号楼2单元501 or 西南街3-2-501."),
    ] = None,
    lon: Annotated[float | None, typer.Option("--lon", help="Longitude (or easting).")] = None,
    lat: Annotated[float | None, typer.Option("--lat", help="Latitude (or northing).")] = None,
    crs: Annotated[
        str,
        typer.Option("--crs", help="wgs84, gcj02 (Amap/Tencent), bd09 (Baidu) or an EPSG code."),
    ] = "wgs84",
    batch: Annotated[
        Path | None, typer.Option("--batch", help="CSV/XLSX file with a column of addresses.")
    ] = None,
    column: Annotated[
        str | None,
        typer.Option("--column", help="Address column of --batch (default: 地址/address)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Batch result file (.xlsx or .csv).")
    ] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Which micro-grid and grid (and whom to call) own an address or a coordinate.

    Answers carry a match level (exact, building, fuzzy) and a score; when the
    answer is not clear the status is 'ambiguous' and the candidates are
    listed. Staff contacts are shown (staff use only).

    Examples:
      gridmap locate "西南街3号楼2单元501"
      gridmap locate --lon 111.47497 --lat 35.64103 --crs gcj02
      gridmap locate --batch 工单.xlsx --column 地址 --out 工单-网格.xlsx
    """
    from gridmap.lookup.matching import batch_summary, locate_file, registry_for
    from gridmap.lookup.matching import locate as _locate

    if batch is not None:
        if address is not None or lon is not None or lat is not None:
            raise GridmapError(
                "--batch takes addresses from the file; do not give an address or --lon/--lat"
            )
        if out is None:
            raise GridmapError("--batch needs --out FILE.xlsx (or .csv) for the results")
        with progress() as bar:
            bar.add_task("building the address registry", total=None)
            reg = registry_for(workspace)
        target, table = locate_file(batch, out, column=column, registry=reg)
        summary = {"out": str(target), **batch_summary(table)}
        if fmt is Fmt.json:
            print_json(summary)
        else:
            console.print(
                f"wrote {summary['out']}: {summary['rows']} rows, {summary['ok']} ok, "
                f"{summary['ambiguous']} ambiguous, {summary['not_found']} not found"
                + (f", {summary['blank']} blank" if summary["blank"] else "")
                + f" ({summary['review']} marked for review)"
            )
        return
    result = _locate(address, lon=lon, lat=lat, crs=crs, workspace=workspace)
    data = result.to_dict()
    if fmt is Fmt.json:
        print_json(data)
    else:
        from rich.table import Table

        style = {"ok": "green", "ambiguous": "yellow", "not_found": "red"}[result.status]
        console.print(
            f"[bold {style}]{result.status}[/] · match {result.match_level} · score {result.score:.0f}",
            highlight=False,
        )
        t = Table(show_header=False, box=None)
        for key, label in (
            ("matched_address", "matched address"),
            ("microgrid_id", "micro-grid"),
            ("grid_id", "grid"),
            ("zone_id", "zone"),
            ("community_id", "community"),
        ):
            t.add_row(label, str(data.get(key)) if data.get(key) is not None else "-")
        if result.grid_worker:
            gw = result.grid_worker
            t.add_row("grid worker", f"{gw.get('name') or '-'} {gw.get('phone') or ''}")
        if result.microgrid_leader:
            ml = result.microgrid_leader
            t.add_row("micro-grid leader", f"{ml.get('name') or '-'} {ml.get('phone') or ''}")
        if result.kind == "coordinate":
            t.add_row("WGS84", f"{result.lon}, {result.lat}")
            for lvl, d in result.boundary_m.items():
                t.add_row(f"to {lvl} boundary", f"{d} m")
            if result.nearest_station:
                ns = result.nearest_station
                t.add_row(
                    "nearest station", f"{ns['name']} ({ns['station_id']}), {ns['distance_m']} m"
                )
        console.print(t)
        if result.candidates and result.status != "ok":
            ct = Table("candidate", "grid", "micro-grid", "level", "score", title="candidates")
            for c in result.candidates:
                ct.add_row(
                    str(c.get("address") or c.get("street") or "-"),
                    str(c.get("grid_id") or "-"),
                    str(c.get("microgrid_id") or "-"),
                    str(c.get("match_level") or "-"),
                    str(c.get("score")),
                )
            console.print(ct)
        for w in result.warnings:
            console.print(f"[yellow]warning:[/] {w}", highlight=False)
        if result.message:
            console.print(result.message, highlight=False)


# --- command: map (owner adds it here) ---


@app.command("map")
def map_(
    workspace: WorkspaceArg = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="HTML file to write (default: maps/<workspace name>.html)."
        ),
    ] = None,
    title: Annotated[str | None, typer.Option(help="Map title (default: community name).")] = None,
    basemap: Annotated[
        str,
        typer.Option(
            help="amap (GCJ-02, works in China; layers are shifted to match), osm, "
            "tianditu (key in $GRIDMAP_TIANDITU_KEY) or none."
        ),
    ] = "amap",
    lang: Annotated[str, typer.Option(help="zh (Simplified Chinese) or en.")] = "zh",
    indicator: Annotated[
        str | None,
        typer.Option(
            help="Per-grid indicator for the choropleth (default: service-station coverage)."
        ),
    ] = None,
    include_personal: Annotated[
        bool,
        typer.Option(
            "--include-personal",
            help="Put grid-worker / leader names and phones in popups (internal use only).",
        ),
    ] = False,
    png: Annotated[
        Path | None,
        typer.Option(help="Also write a static picture for slides (matplotlib, CJK font)."),
    ] = None,
    distance: Annotated[
        str,
        typer.Option(
            help="Coverage distance: auto (network when roads exist), euclidean, network."
        ),
    ] = "auto",
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Write the self-contained meeting map (one HTML file) and print a short summary.

    The HTML inlines Leaflet and all data: it opens without internet (only the
    basemap tiles need a network; use --basemap none for none at all). Households
    appear only as counts; names and phones only with --include-personal.

    Example: gridmap map community.gpkg --out maps/community.html --png maps/community.png
    """
    from gridmap.workspace import store as io
    from gridmap.maps.builder import (
        check_basemap,
        prepare_map,
        render_html,
        warn_personal,
        write_html,
    )
    from gridmap.maps.i18n import check_lang
    from gridmap.analysis.summary import print_summary, summarise_workspace

    check_lang(lang)
    check_basemap(basemap, lang)  # fail before the work on a bad basemap / missing key
    path = io.resolve_workspace(workspace)
    target = out if out is not None else Path("maps") / f"{path.stem}.html"
    with progress() as bar:
        bar.add_task("building the map", total=None)
        ctx = prepare_map(path, lang=lang, distance=distance)
        html_text = render_html(
            ctx,
            title=title,
            basemap=basemap,
            indicator=indicator,
            include_personal=include_personal,
        )
        written = write_html(target, html_text)
        picture = None
        if png is not None:
            from gridmap.maps.static import write_png

            picture = write_png(png, ctx, title=title, indicator=indicator)
    if include_personal:
        warn_personal()
    summary = summarise_workspace(ctx.workspace, ctx.households_assignment)
    if fmt is Fmt.json:
        doc = summary.to_dict()
        doc.update(map=str(written), png=str(picture) if picture else None, notes=ctx.notes)
        print_json(doc)
        return
    from rich.markup import escape

    size = written.stat().st_size
    console.print(
        f"[bold green]map written:[/] {escape(str(written))} ({size / 1e6:.2f} MB, basemap {basemap})"
    )
    if picture:
        console.print(f"[bold green]picture written:[/] {escape(str(picture))}")
    for note in ctx.notes:
        err_console.print(f"[yellow]note:[/] {escape(str(note))}", highlight=False)
    print_summary(summary, console)


@app.command()
def serve(
    workspace: WorkspaceArg = None,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 for the LAN).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    keys: Annotated[
        Path | None,
        typer.Option(
            "--keys", help="TOML/JSON file of hashed API keys (default: $GRIDMAP_KEYS_FILE)."
        ),
    ] = None,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Run the HTTP service: OGC API - Features, /locate, /coverage, /maps.

    Without keys everyone is anonymous and sees boundaries, facilities and
    per-grid aggregates only. Make a key with 'python -m gridmap.api.auth'.

    Example: gridmap serve community.gpkg --port 8000 --keys keys.toml
    """
    import os

    import uvicorn

    from gridmap.api.auth import KeyStore
    from gridmap.api.settings import check_port_free
    from gridmap.workspace.store import list_layers, resolve_workspace

    path = resolve_workspace(workspace)
    list_layers(path)  # not a GeoPackage: one clear line now, not a server traceback
    check_port_free(host, port)
    os.environ["GRIDMAP_WORKSPACE"] = str(path.resolve())
    if keys is not None:
        KeyStore.from_file(keys)  # fail now with a clear message, not in a worker
        os.environ["GRIDMAP_KEYS_FILE"] = str(keys.resolve())
    err_console.print(f"serving {path} on http://{host}:{port}/ (docs: /docs)", highlight=False)
    uvicorn.run(
        "gridmap.api:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
    )


def main() -> None:
    """Entry point: run the app, turning GridmapError into a one-line message."""
    try:
        code = app(standalone_mode=False)
        # with standalone_mode=False click returns typer.Exit's code instead of exiting
        if isinstance(code, int) and code != 0:
            sys.exit(code)
    except GridmapError as exc:
        from rich.markup import escape

        # escape: file names and headers such as 'lon[deg]' are not rich markup
        err_console.print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise

