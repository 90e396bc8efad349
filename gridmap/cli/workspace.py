"""Commands that write or check a workspace: import, validate, assign, synth."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from gridmap.cli.options import (
    Fmt,
    FormatOpt,
    WorkspaceArg,
    WorkspaceOpt,
    console,
    print_json,
    progress,
)


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
            from gridmap.cli.render import chunk_progress
            from gridmap.join.stream import assign_file

            res = assign_file(
                points,
                out,
                workspace,
                chunk_size=chunk_size,
                engine=engine,
                layer=layer,
                crs=crs,
                progress=chunk_progress,
            )
        if fmt is Fmt.json:
            print_json(res.to_dict())
        else:
            from gridmap.cli.render import print_stream_result

            print_stream_result(res, console)
        return
    from gridmap.cli.render import print_assign_summary
    from gridmap.join.assign import assign_workspace

    with progress() as bar:
        bar.add_task("assigning points to grids", total=None)
        result = assign_workspace(workspace, out=out, engine=engine)
    if fmt is Fmt.json:
        print_json(result.to_dict())
    else:
        print_assign_summary(result, console)


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

    The defaults make the sample community of docs/design.md: 1 community, 3 zones,
    26 grids, 287 micro-grids, 3,500 households, 12 service stations, about 40
    charging piles, 15 parking sites and a street network (layer roads). All
    names, addresses and phone numbers are invented.

    Examples:

      gridmap synth community.gpkg

      gridmap synth /tmp/city.gpkg --households 2000000 --microgrids 50000
    """
    from gridmap.requests.synth import synth_sample_workspace

    with progress() as bar:
        task = bar.add_task("generating", total=None)
        path = synth_sample_workspace(
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
    from gridmap.cli.render import print_layer_counts

    print_layer_counts(f"{path} (synthetic, seed {seed})", counts, console)


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
    from gridmap.cli.render import print_import_report

    print_import_report(rep, console)


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
    from gridmap.checks.validation import validate as run_validation
    from gridmap.cli.render import print_report

    with progress() as bar:
        bar.add_task("validating", total=None)
        rep = run_validation(workspace, fix=fix)
    if fmt is Fmt.json:
        print_json(rep.to_dict())
    else:
        print_report(rep, console)
    if rep.errors:
        sys.exit(1)  # SystemExit passes through click's standalone_mode=False
