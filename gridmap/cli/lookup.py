"""Command ``locate``: who owns an address or a coordinate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gridmap.cli.options import (
    Fmt,
    FormatOpt,
    WorkspaceOpt,
    console,
    print_json,
    progress,
)
from gridmap.errors import GridmapError


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
    lang: Annotated[
        str, typer.Option("--lang", help="Headers and words of the --out file: zh or en.")
    ] = "zh",
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
        target, table = locate_file(batch, out, column=column, registry=reg, lang=lang)
        summary = {"out": str(target), **batch_summary(table)}
        if fmt is Fmt.json:
            print_json(summary)
        else:
            from gridmap.cli.render import print_batch_summary

            print_batch_summary(summary, console)
        return
    result = _locate(address, lon=lon, lat=lat, crs=crs, workspace=workspace)
    if fmt is Fmt.json:
        print_json(result.to_dict())
    else:
        from gridmap.cli.render import print_locate

        print_locate(result, console)
