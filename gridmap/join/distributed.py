"""The join on Dask: many machines (or all local cores) over partitioned GeoParquet.

:func:`assign_dask` runs the same join as :func:`gridmap.join.stream.assign_file`
on a dask.distributed cluster:

* a LocalCluster by default, or an existing scheduler (``tcp://HOST:PORT``);
* the polygons and the exact cell index are built once on the client and
  broadcast to every worker (``client.scatter(..., broadcast=True)``);
* the points are never shipped through the client: each task names one
  GeoParquet part, and the worker reads it, joins it chunk by chunk and writes
  the matching output part itself (``part-NNNNN.parquet`` in ``out_dir``).

On a real cluster ``points_parquet_dir`` and ``out_dir`` must be on storage
every worker sees under the same path (NFS, a shared volume), and every worker
needs gridmap installed (same version as the client). Pinned versions:
dask==2026.8.0, distributed==2026.8.0, dask-geopandas==0.5.0.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.parquet as pq

from gridmap.errors import GridmapError, InputFileError, SchemaError
from gridmap.join.stream import (
    DEFAULT_CHUNK,
    _tmp_dir_next_to,
    _with_geo,
    assign_table,
    is_parquet_path,
    open_points,
)

if TYPE_CHECKING:
    from pyproj import CRS


@dataclass
class _Payload:
    """What every worker needs once: the hierarchy and its locators."""

    hierarchy: object
    locators: dict | None
    geometry_column: str
    crs: CRS | None
    chunk_size: int
    nearest: bool
    numba_threads: int | None


@dataclass
class DaskAssignResult:
    """What :func:`assign_dask` wrote."""

    points: str
    written_to: str
    rows: int
    parts: int
    by_level: dict[str, int]
    scheduler: str
    workers: int
    seconds: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _assign_part(src: str, dst: str, payload: _Payload) -> dict:
    """Worker task: read one GeoParquet part, join it, write the output part."""
    if payload.numba_threads:
        from gridmap.join.index import set_threads

        set_threads(payload.numba_threads)
    counts: dict[str, int] = {}
    rows = 0
    writer = None
    try:
        pf = pq.ParquetFile(src)
        for batch in pf.iter_batches(batch_size=payload.chunk_size):
            table = assign_table(
                batch,
                payload.hierarchy,
                payload.locators,
                geometry_column=payload.geometry_column,
                crs=payload.crs,
                nearest=payload.nearest,
                source=src,
                row_offset=rows,
            )
            table = _with_geo(table, payload.geometry_column, payload.crs)
            if writer is None:
                writer = pq.ParquetWriter(dst, table.schema)
            writer.write_table(table.cast(writer.schema))
            for k, v in (
                table.column("assigned_level").to_pandas().fillna("none").value_counts().items()
            ):
                counts[str(k)] = counts.get(str(k), 0) + int(v)
            rows += table.num_rows
    finally:
        if writer is not None:
            writer.close()
    if writer is None:  # an empty part still gets an (empty) output part
        import pyarrow as pa

        from gridmap.join.stream import RESULT_FIELDS

        schema = pq.read_schema(src)
        empty = schema.empty_table()
        for name, typ in RESULT_FIELDS:
            if name not in empty.column_names:
                empty = empty.append_column(name, pa.array([], typ))
        pq.write_table(_with_geo(empty, payload.geometry_column, payload.crs), dst)
    return {"rows": rows, "by_level": counts}


def _drop_cached_trees(locators: dict | None) -> None:
    for loc in (locators or {}).values():
        if hasattr(loc, "_fallback"):
            loc._fallback = None  # rebuilt lazily on the worker if needed


def assign_dask(
    points_parquet_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    workspace=None,
    scheduler: str | None = None,
    n_workers: int = 2,
    *,
    threads_per_worker: int = 1,
    processes: bool = True,
    chunk_size: int = DEFAULT_CHUNK,
    engine: str = "index",
    nearest: bool = True,
    connect_timeout: float = 20.0,
    client=None,
    numba_threads: int | None = None,
) -> DaskAssignResult:
    """Join partitioned GeoParquet points on a Dask cluster and write partitioned GeoParquet.

    Parameters
    ----------
    points_parquet_dir
        Directory of GeoParquet parts (or one GeoParquet file). Each part is
        one task; the workers read the parts themselves.
    out_dir
        Output directory, one ``part-NNNNN.parquet`` per input part (same
        order). Replaced atomically when the run succeeds.
    workspace
        Workspace path or :class:`gridmap.workspace.store.Workspace` with the polygons.
    scheduler
        ``tcp://HOST:PORT`` of a running ``dask scheduler``; None starts a
        LocalCluster with ``n_workers`` workers.
    n_workers, threads_per_worker, processes
        LocalCluster shape (ignored with ``scheduler``).
    chunk_size
        Points per batch inside a task.
    engine
        ``"index"`` or ``"reference"``.
    nearest
        Nearest micro-grid for points outside every micro-grid.
    connect_timeout
        Seconds to wait for ``scheduler``.
    client
        An existing ``distributed.Client`` to use (left open); overrides
        ``scheduler`` and the LocalCluster options.
    numba_threads
        Threads each task's index query uses (default: all cores of the
        worker's machine, or cores / workers on a LocalCluster).

    Returns
    -------
    DaskAssignResult
    """
    from distributed import Client, LocalCluster

    from gridmap.join.stream import workspace_locators

    t0 = time.perf_counter()
    if not Path(points_parquet_dir).exists():
        raise InputFileError("the point directory does not exist", file=str(points_parquet_dir))
    if not is_parquet_path(points_parquet_dir):
        raise InputFileError(
            "the Dask path reads partitioned GeoParquet; convert the file first "
            "(gridmap.join.stream.assign_file with out=DIR.parquet, or geopandas.to_parquet)",
            file=str(points_parquet_dir),
        )
    src = open_points(points_parquet_dir)
    if chunk_size < 1:
        raise SchemaError("chunk size must be at least 1")
    hierarchy, locators = workspace_locators(workspace, engine)
    _drop_cached_trees(locators)
    cluster = None
    own_client = client is None
    if client is not None:
        pass
    elif scheduler:
        try:
            client = Client(scheduler, timeout=f"{connect_timeout}s")
        except (OSError, TimeoutError) as exc:
            raise GridmapError(
                f"cannot reach the Dask scheduler at {scheduler} ({exc}); start one with "
                "'dask scheduler' and workers with 'dask worker tcp://HOST:8786'"
            ) from exc
    else:
        cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            processes=processes,
            dashboard_address=None,
            silence_logs=40,
        )
        client = Client(cluster)
        if numba_threads is None and processes:
            numba_threads = max(1, (os.cpu_count() or 1) // max(1, n_workers))
    out = Path(out_dir).absolute()
    try:
        workers = len(client.scheduler_info().get("workers", {}))
        payload = _Payload(
            hierarchy, locators, src.geometry_column, src.crs, chunk_size, nearest, numba_threads
        )
        [shared] = client.scatter([payload], broadcast=True)
        with _tmp_dir_next_to(out) as tmp:
            dsts = [str(tmp / f"part-{k:05d}.parquet") for k in range(len(src.files))]
            futures = client.map(
                _assign_part,
                [str(Path(f).absolute()) for f in src.files],
                dsts,
                payload=shared,
                pure=False,
            )
            results = client.gather(futures)
            old = None
            if out.exists():
                old = out.with_name(f".{out.name}.old-{os.getpid()}")
                os.replace(out, old)
            os.replace(tmp, out)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        address = client.scheduler.address if scheduler is None else scheduler
    finally:
        if own_client:
            client.close()
        if cluster is not None:
            cluster.close()
    counts: dict[str, int] = {}
    for r in results:
        for k, v in r["by_level"].items():
            counts[k] = counts.get(k, 0) + v
    return DaskAssignResult(
        points=str(points_parquet_dir),
        written_to=str(out),
        rows=sum(r["rows"] for r in results),
        parts=len(results),
        by_level=counts,
        scheduler=str(address),
        workers=workers,
        seconds=time.perf_counter() - t0,
    )
