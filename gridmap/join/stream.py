"""Large point files: GeoParquet in and out, and a streaming join in chunks.

:func:`assign_file` joins a point file that may be larger than memory against
a workspace's polygons: it reads one chunk of points at a time (Arrow record
batches: ``pyarrow.parquet.ParquetFile.iter_batches`` for GeoParquet,
``pyogrio.open_arrow`` for GeoPackage and the other GDAL formats), assigns
it with the exact cell index and appends it to the output GeoParquet, so no
more than one chunk of points plus the index is held at a time. A progress
callback (the CLI passes a bar on stderr) is told after each chunk.

Output is GeoParquet 1.0 (WKB geometry, ``geo`` metadata with the CRS): one
file when the output path ends in ``.parquet``, otherwise a directory of
``part-NNNNN.parquet`` files (one per chunk) that ``geopandas.read_parquet``,
DuckDB, Dask and GDAL read as one dataset. Outputs appear atomically: a
failed run leaves no half-written file behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import shapely
from pyproj import CRS

from gridmap.errors import GridmapError, InputFileError, SchemaError

#: Default number of points per chunk (about 100-200 MB of working memory).
DEFAULT_CHUNK = 500_000

#: Result columns appended to every point (same as the workspace join).
RESULT_FIELDS = (
    ("microgrid_id", pa.string()),
    ("grid_id", pa.string()),
    ("zone_id", pa.string()),
    ("community_id", pa.string()),
    ("assigned_level", pa.string()),
    ("nearest_microgrid_id", pa.string()),
    ("nearest_microgrid_m", pa.float64()),
)


# ----------------------------------------------------------------------------
# whole-file GeoParquet helpers
# ----------------------------------------------------------------------------


def read_geoparquet(path: str | os.PathLike, columns: list[str] | None = None) -> gpd.GeoDataFrame:
    """Read a GeoParquet file or a directory of parts into a GeoDataFrame."""
    p = Path(path)
    if not p.exists():
        raise InputFileError("the GeoParquet file does not exist", file=str(p))
    try:
        return gpd.read_parquet(p, columns=columns)
    except (ValueError, OSError, pa.ArrowException) as exc:
        raise InputFileError(f"cannot read GeoParquet: {exc}", file=str(p)) from exc


def write_geoparquet(gdf: gpd.GeoDataFrame, path: str | os.PathLike) -> Path:
    """Write a GeoDataFrame as one GeoParquet file, atomically."""
    from gridmap.workspace.store import atomic_write_file

    return atomic_write_file(Path(path), lambda tmp: gdf.to_parquet(tmp, index=False))


def write_partitioned(
    gdf: gpd.GeoDataFrame, out_dir: str | os.PathLike, rows_per_part: int
) -> Path:
    """Write a GeoDataFrame as a directory of GeoParquet parts (for Dask and streaming).

    Each part holds at most ``rows_per_part`` rows; the directory is replaced
    atomically.
    """
    rows_per_part = max(1, int(rows_per_part))

    def fill(tmp: Path) -> None:
        for k, start in enumerate(range(0, max(len(gdf), 1), rows_per_part)):
            gdf.iloc[start : start + rows_per_part].to_parquet(
                tmp / f"part-{k:05d}.parquet", index=False
            )

    return _atomic_dir(Path(out_dir), fill)


@contextlib.contextmanager
def _tmp_dir_next_to(target: Path) -> Iterator[Path]:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _atomic_dir(target: Path, fill) -> Path:
    """Fill a fresh temporary directory, then swap it in place of ``target``."""
    with _tmp_dir_next_to(target) as tmp:
        fill(tmp)
        old = None
        if target.exists():
            if not target.is_dir():
                raise InputFileError(
                    "the output path exists and is not a directory", file=str(target)
                )
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return target


# ----------------------------------------------------------------------------
# streaming readers: Arrow record batches + geometry column + CRS
# ----------------------------------------------------------------------------


@dataclass
class PointSource:
    """A point file read in chunks.

    Attributes
    ----------
    path
        The file (or directory of GeoParquet parts).
    geometry_column
        Name of the WKB geometry column in the batches.
    crs
        CRS of the geometries (None if the file has none: taken as WGS84).
    total
        Number of features when the format tells it cheaply, else None.
    """

    path: Path
    geometry_column: str
    crs: CRS | None
    total: int | None
    kind: str  # "parquet" or "ogr"
    layer: str | None = None
    files: list[Path] = field(default_factory=list)

    def batches(self, chunk_size: int) -> Iterator[pa.RecordBatch]:
        """Yield record batches of at most ``chunk_size`` rows."""
        if self.kind == "parquet":
            schema = None
            for f in self.files:
                pf = pq.ParquetFile(f)
                for batch in pf.iter_batches(batch_size=chunk_size):
                    if schema is None:
                        schema = batch.schema
                    elif not batch.schema.equals(schema):
                        try:
                            batch = pa.Table.from_batches([batch]).cast(schema).to_batches()[0]
                        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
                            raise InputFileError(
                                f"this part's columns differ from the first part's ({exc})",
                                file=str(f),
                            ) from exc
                    yield batch
        else:
            from pyogrio import open_arrow

            with open_arrow(
                self.path, layer=self.layer, batch_size=chunk_size, use_pyarrow=True
            ) as (
                _meta,
                reader,
            ):
                for batch in reader:
                    yield batch


def _geo_meta(schema: pa.Schema) -> dict | None:
    raw = (schema.metadata or {}).get(b"geo")
    return json.loads(raw) if raw else None


#: Names other tools give a WKB geometry column (DuckDB, Spark/Sedona, PostGIS, GDAL, ArcGIS).
WKB_COLUMN_NAMES = ("geometry", "geom", "wkb_geometry", "wkb", "the_geom", "shape", "geog")


def _guess_wkb_column(pf: pq.ParquetFile, file: Path) -> str:
    """The WKB column of a Parquet file without GeoParquet metadata (taken as WGS84).

    One binary column, or the binary column with a usual geometry name, whose
    first values parse as WKB. Anything else is an error listing the columns.
    """
    schema = pf.schema_arrow
    binary = [
        f.name for f in schema if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type)
    ]
    named = [n for n in binary if n.lower() in WKB_COLUMN_NAMES]
    pick = named[0] if len(named) == 1 else (binary[0] if len(binary) == 1 else None)
    if pick is not None and pf.metadata.num_rows:
        try:
            head = next(pf.iter_batches(batch_size=100, columns=[pick])).column(0)
            vals = [v for v in head.to_pylist() if v is not None]
            shapely.from_wkb(vals, on_invalid="raise")
        except (shapely.errors.GEOSException, ValueError, StopIteration, pa.ArrowException):
            pick = None
    if pick is None:
        cols = ", ".join(schema.names)
        raise InputFileError(
            "this Parquet file has no 'geo' metadata (not GeoParquet) and no WKB geometry "
            f"column (columns: {cols}); write it with geopandas.to_parquet (lon/lat columns: "
            "gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df.lon, df.lat), crs=4326))",
            file=str(file),
        )
    return pick


def is_parquet_path(path: str | os.PathLike) -> bool:
    """A directory of parts or a ``.parquet`` / ``.geoparquet`` / ``.pq`` file."""
    p = Path(path)
    return p.is_dir() or p.suffix.lower() in (".parquet", ".geoparquet", ".pq")


def open_points(path: str | os.PathLike, layer: str | None = None) -> PointSource:
    """Open a point file for chunked reading (GeoParquet file/directory or any GDAL format).

    Raises
    ------
    InputFileError
        When the file is missing, unreadable or has no geometry column.
    """
    p = Path(path)
    if not p.exists():
        raise InputFileError("the point file does not exist", file=str(p))
    if is_parquet_path(p):
        files = sorted(f for f in p.rglob("*.parquet")) if p.is_dir() else [p]
        if not files:
            raise InputFileError("the directory holds no .parquet files", file=str(p))
        try:
            first = pq.ParquetFile(files[0])
            total = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        except (OSError, pa.ArrowException) as exc:
            raise InputFileError(f"cannot read Parquet: {exc}", file=str(files[0])) from exc
        meta = _geo_meta(first.schema_arrow)
        if meta is None:  # plain Parquet from another tool: find the WKB column
            col = _guess_wkb_column(first, files[0])
            return PointSource(p, col, None, total, "parquet", files=files)
        col = meta.get("primary_column", "geometry")
        info = meta.get("columns", {}).get(col, {})
        if info.get("encoding", "WKB").upper() != "WKB":
            raise InputFileError(
                f"geometry encoding {info.get('encoding')} is not supported (use WKB)", file=str(p)
            )
        crs_info = info.get("crs", "OGC:CRS84")  # GeoParquet: absent means OGC:CRS84
        crs = CRS.from_user_input(crs_info) if crs_info is not None else None
        return PointSource(p, col, crs, total, "parquet", files=files)
    import pyogrio

    try:
        if layer is None:
            names = [str(n) for n in pyogrio.list_layers(p)[:, 0]]
            if len(names) > 1:
                raise InputFileError(
                    f"the file has several layers ({', '.join(names)}); choose one with layer=",
                    file=str(p),
                )
        info = pyogrio.read_info(p, layer=layer)
    except InputFileError:
        raise
    except Exception as exc:  # pyogrio raises its own DataSourceError/DataLayerError
        raise InputFileError(
            f"cannot open the point file: {exc}", file=str(p), layer=layer
        ) from exc
    if not info.get("geometry_type"):
        raise InputFileError("the layer has no geometry", file=str(p), layer=layer)
    crs = CRS.from_user_input(info["crs"]) if info.get("crs") else None
    total = int(info["features"]) if info.get("features", -1) >= 0 else None
    with pyogrio.open_arrow(p, layer=layer, batch_size=1, use_pyarrow=True) as (meta, _reader):
        col = meta.get("geometry_name") or "wkb_geometry"
    return PointSource(p, col, crs, total, "ogr", layer=layer)


# ----------------------------------------------------------------------------
# the join of one batch
# ----------------------------------------------------------------------------


def assign_table(
    table: pa.Table | pa.RecordBatch,
    hierarchy,
    locators=None,
    *,
    geometry_column: str = "geometry",
    crs=None,
    nearest: bool = True,
    source: str | None = None,
    row_offset: int = 0,
    shift: str | None = None,
) -> pa.Table:
    """Join one Arrow batch of points and append the result columns.

    Parameters
    ----------
    table
        Points with a WKB geometry column.
    hierarchy
        :class:`gridmap.join.core.Hierarchy` of the workspace.
    locators
        Level -> locator (e.g. from :func:`gridmap.join.index.locators_for`);
        None uses the reference STRtree.
    geometry_column, crs
        Where the geometry is and its CRS (None: WGS84).
    nearest
        Add the nearest micro-grid for points outside every micro-grid.
    source, row_offset
        File name and row number of the batch's first row, for error messages.
    shift
        ``"gcj02"`` or ``"bd09"`` when the lon/lat are in one of China's shifted
        systems (Amap/Tencent, Baidu); they are converted to WGS84 before the join.

    Returns
    -------
    pyarrow.Table
        The input columns (earlier result columns replaced) plus
        ``microgrid_id``, ``grid_id``, ``zone_id``, ``community_id``,
        ``assigned_level``, ``nearest_microgrid_id``, ``nearest_microgrid_m``.
    """
    from gridmap.join.core import assign_xy, point_coordinates

    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    if geometry_column not in table.column_names:
        raise SchemaError(f"the geometry column '{geometry_column}' is missing")
    col = table.column(geometry_column)
    lonlat = _is_lonlat(crs)
    xy = _xy_from_wkb_points(col) if lonlat else None
    if xy is None:  # general case: any geometry type, any CRS
        geoms = shapely.from_wkb(col.to_numpy(zero_copy_only=False), on_invalid="warn")
        if lonlat:
            minx, miny, maxx, maxy = _raw_xy(geoms)
            _check_lonlat(minx, miny, crs, source, row_offset)
            _check_lonlat(maxx, maxy, crs, source, row_offset)
        pts = gpd.GeoDataFrame(geometry=gpd.GeoSeries(geoms, crs=crs or "EPSG:4326"))
        xy = point_coordinates(pts)
    else:
        _check_lonlat(xy[0], xy[1], crs, source, row_offset)
    if shift is not None:
        from gridmap.coords.crs import to_wgs84

        xy = to_wgs84(np.asarray(xy[0]), np.asarray(xy[1]), shift)
    res = assign_xy(xy[0], xy[1], hierarchy, locators=locators, nearest=nearest)
    names = [n for n, _ in RESULT_FIELDS]
    out = table.drop_columns([c for c in names if c in table.column_names])
    for name, typ in RESULT_FIELDS:
        vals = res[name].to_numpy()
        if typ == pa.string():
            arr = pa.array(np.asarray(vals, dtype=object), type=typ, from_pandas=True)
        else:
            arr = pa.array(np.asarray(vals, dtype=float), type=typ, from_pandas=True)
        out = out.append_column(name, arr)
    return out


def _raw_xy(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bounds (minx, miny, maxx, maxy) of each geometry in its own CRS (NaN when empty)."""
    b = shapely.bounds(geoms)
    return b[:, 0], b[:, 1], b[:, 2], b[:, 3]


def _check_lonlat(x, y, crs, source: str | None, row_offset: int) -> None:
    """Refuse coordinates that cannot be longitude/latitude in a lon/lat file.

    Projected metres (a file with no CRS, or one declared WGS84 by mistake) and
    swapped lat/lon in China would otherwise join to nothing, silently.
    """
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero((np.abs(x) > 180) | (np.abs(y) > 90))
    if len(bad) == 0:
        return
    i = int(bad[0])
    declared = "declares no CRS" if crs is None else "declares longitude/latitude (WGS84)"
    from gridmap.errors import CoordinateError

    raise CoordinateError(
        f"{len(bad)} point(s) of this chunk are not longitude/latitude, e.g. "
        f"({x[i]:.6g}, {y[i]:.6g}), but the file {declared}: projected coordinates "
        "(metres) or swapped lon/lat. Give the file its real CRS (a .prj next to a "
        "Shapefile; geopandas: gdf.set_crs(...) before writing) and run again",
        file=source,
        row=row_offset + i,
    )


def _is_lonlat(crs) -> bool:
    """True for no CRS (taken as WGS84), EPSG:4326 or OGC:CRS84."""
    if crs is None:
        return True
    c = CRS.from_user_input(crs)
    return c.to_epsg() == 4326 or c.equals(CRS.from_user_input("OGC:CRS84"))


def _xy_from_wkb_points(col: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """x, y straight from little-endian 2D WKB points (None if the column holds anything else).

    Skips building shapely objects: for point files this is most of the
    decoding time. ``POINT EMPTY`` (NaN coordinates) stays NaN, like a
    missing geometry in :func:`gridmap.join.core.point_coordinates`.
    """
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if arr.null_count or len(arr) == 0:
        return None
    otype: type[np.signedinteger]
    if pa.types.is_binary(arr.type):
        otype = np.int32
    elif pa.types.is_large_binary(arr.type):
        otype = np.int64
    else:
        return None
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=otype)[arr.offset : arr.offset + len(arr) + 1]
    if not (np.diff(offsets) == 21).all():
        return None
    data = np.frombuffer(bufs[2], dtype=np.uint8)[offsets[0] : offsets[-1]].reshape(-1, 21)
    if not (data[:, 0] == 1).all():
        return None
    if not (np.ascontiguousarray(data[:, 1:5]).view("<u4").ravel() == 1).all():
        return None
    x = np.ascontiguousarray(data[:, 5:13]).view("<f8").ravel()
    y = np.ascontiguousarray(data[:, 13:21]).view("<f8").ravel()
    return x.astype(float), y.astype(float)


def _geo_metadata(geometry_column: str, crs: CRS | None) -> bytes:
    col: dict = {"encoding": "WKB", "geometry_types": []}
    col["crs"] = crs.to_json_dict() if crs is not None else None
    if crs is None:
        col.pop("crs")  # absent = OGC:CRS84 (lon/lat WGS84)
    return json.dumps(
        {"version": "1.0.0", "primary_column": geometry_column, "columns": {geometry_column: col}}
    ).encode()


def _with_geo(table: pa.Table, geometry_column: str, crs: CRS | None) -> pa.Table:
    meta = dict(table.schema.metadata or {})
    meta[b"geo"] = _geo_metadata(geometry_column, crs)
    meta.pop(b"pandas", None)
    return table.replace_schema_metadata(meta)


# ----------------------------------------------------------------------------
# streaming join
# ----------------------------------------------------------------------------


@dataclass
class AssignFileResult:
    """What :func:`assign_file` wrote."""

    points: str
    written_to: str
    rows: int
    chunks: int
    by_level: dict[str, int]
    engine: str

    def to_dict(self) -> dict:
        return {
            "points": self.points,
            "written_to": self.written_to,
            "rows": self.rows,
            "chunks": self.chunks,
            "by_level": self.by_level,
            "engine": self.engine,
        }


def workspace_locators(workspace, engine: str = "index"):
    """Hierarchy and locators of a workspace (index cached next to it)."""
    from gridmap.join.core import build_hierarchy
    from gridmap.workspace import store as io

    if isinstance(workspace, io.Workspace):
        ws = workspace
    else:
        ws = io.load_workspace(
            io.resolve_workspace(workspace), layers=["microgrids", "grids", "zones", "communities"]
        )
    hierarchy = build_hierarchy(ws.layers)
    if engine == "index":
        from gridmap.join.index import cache_dir_for, locators_for

        cache = cache_dir_for(ws.path) if ws.path else None
        return hierarchy, locators_for(hierarchy, cache_dir=cache, signature=ws.signature)
    if engine == "reference":
        return hierarchy, None
    raise SchemaError(f"unknown engine '{engine}' (use 'index' or 'reference')")


def assign_file(
    points_path: str | os.PathLike,
    out_path: str | os.PathLike,
    workspace=None,
    *,
    chunk_size: int = DEFAULT_CHUNK,
    engine: str = "index",
    layer: str | None = None,
    nearest: bool = True,
    progress: Callable[[int | None, str], AbstractContextManager[Callable[[int], None]]]
    | bool
    | None = None,
    crs: str | int | None = None,
) -> AssignFileResult:
    """Join a (possibly huge) point file in chunks and write GeoParquet.

    Parameters
    ----------
    points_path
        GeoParquet file or directory of parts, or any GDAL vector file
        (GeoPackage, FlatGeobuf, GeoJSON, ...).
    out_path
        ``*.parquet``: one GeoParquet file; anything else: a directory of
        ``part-NNNNN.parquet`` files, one per chunk.
    workspace
        Workspace path or :class:`gridmap.workspace.store.Workspace` with the polygons.
    chunk_size
        Points per chunk (memory is about one chunk plus the index).
    engine
        ``"index"`` (fast exact cell index) or ``"reference"`` (STRtree).
    layer
        Layer of a multi-layer input (GeoPackage).
    nearest
        Compute the nearest micro-grid for points outside every micro-grid.
    progress
        A callable ``progress(total_rows, label)`` returning a context manager
        that yields ``tick(n_rows)``, called after each chunk (the CLI passes a
        rich bar); ``None`` or a bool: silent. The library prints nothing.
    crs
        The points' coordinate system when the file does not say it (or says
        it wrongly): an EPSG code, ``wgs84``, ``gcj02`` or ``bd09``. GCJ-02 and
        BD-09 coordinates are converted to WGS84 with the exact inverse. The
        output keeps the input coordinates.

    Returns
    -------
    AssignFileResult
    """
    if chunk_size < 1:
        raise SchemaError("chunk size must be at least 1")
    src = open_points(points_path, layer=layer)
    shift = None
    if crs is not None:
        from gridmap.coords.crs import WGS84, parse_crs

        cs = parse_crs(crs)
        shift = cs.kind if cs.is_shifted else None
        src = dataclasses.replace(src, crs=CRS.from_user_input(WGS84) if cs.is_shifted else cs.crs)
    hierarchy, locators = workspace_locators(workspace, engine)
    out = Path(out_path)
    single = out.suffix.lower() in (".parquet", ".geoparquet")
    counts: dict[str, int] = {}
    rows = 0
    chunks = 0

    def run(target: Path) -> None:
        nonlocal rows, chunks
        writer = None
        try:
            with _progress(progress, src.total, f"assigning {src.path.name}") as tick:
                for batch in src.batches(chunk_size):
                    table = assign_table(
                        batch,
                        hierarchy,
                        locators,
                        geometry_column=src.geometry_column,
                        crs=src.crs,
                        nearest=nearest,
                        source=str(src.path),
                        row_offset=rows,
                        shift=shift,
                    )
                    table = _with_geo(table, src.geometry_column, src.crs)
                    if single:
                        if writer is None:
                            writer = pq.ParquetWriter(target, table.schema)
                        writer.write_table(table.cast(writer.schema))
                    else:
                        pq.write_table(table, target / f"part-{chunks:05d}.parquet")
                    lv = table.column("assigned_level").to_pandas().fillna("none").value_counts()
                    for k, v in lv.items():
                        counts[str(k)] = counts.get(str(k), 0) + int(v)
                    rows += table.num_rows
                    chunks += 1
                    tick(table.num_rows)
            if single and writer is None:  # no rows at all: still write a valid empty file
                empty = pa.table({src.geometry_column: pa.array([], pa.binary())})
                for name, typ in RESULT_FIELDS:
                    empty = empty.append_column(name, pa.array([], typ))
                pq.write_table(_with_geo(empty, src.geometry_column, src.crs), target)
        finally:
            if writer is not None:
                writer.close()

    try:
        if single:
            from gridmap.workspace.store import atomic_write_file

            atomic_write_file(out, run)
        else:
            _atomic_dir(out, run)
    except GridmapError:
        raise
    except (OSError, pa.ArrowException) as exc:
        raise InputFileError(f"the streaming join failed: {exc}", file=str(points_path)) from exc
    return AssignFileResult(str(points_path), str(out), rows, chunks, counts, engine)


@contextlib.contextmanager
def _silent(total: int | None, label: str) -> Iterator[Callable[[int], None]]:
    yield lambda n: None


def _progress(progress, total: int | None, label: str):
    """The caller's progress context (see :func:`assign_file`), or a silent one."""
    if progress is None or progress is False or progress is True:
        return _silent(total, label)
    return progress(total, label)
