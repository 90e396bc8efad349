"""Benchmark the point -> micro-grid join: gridmap's index against geopandas, STRtree, DuckDB, Dask.

Synthetic city: ``--polygons`` Voronoi micro-grids (shapely.voronoi_polygons,
densified to about 16 vertices each; see ``benchmarks/citygen.py``) and
``--points`` uniform points (1 % margin beyond the city, so a few miss).
gridmap.datasets.synth is not used: its generator models one community's streets and
buildings, and does not produce 50,000 micro-grids in benchmark time.

Every method runs in a fresh subprocess that loads the same data from
GeoParquet, so its peak memory (``ru_maxrss``) is its own. Each answers, for
every point, the smallest id among the micro-grids covering it; the answers
are compared with shapely's STRtree reference (``gridmap.join.core.reference_locator``).

Methods
-------
load        only load the data (baseline memory)
reference   shapely STRtree + intersects, smallest id (gridmap.join.core.reference_locator)
geopandas   geopandas.sjoin(predicate="within"); points on a boundary (none with
            random float points) would be missed; ties -> smallest id
duckdb      DuckDB spatial (extension loaded from the duckdb-extension-spatial wheel),
            ST_Intersects join, min(id) per point, 2 threads
index1      gridmap.join.index, 1 thread (build time reported separately)
index2      gridmap.join.index, 2 threads
dask        gridmap.join.distributed.assign_dask, LocalCluster of 2 single-threaded workers,
            workers read the GeoParquet parts and write results (cluster start-up excluded,
            reported separately; includes parquet read/write, unlike the others)

Usage::

    .venv/bin/python benchmarks/bench_assign.py                       # 50k x 2M
    .venv/bin/python benchmarks/bench_assign.py --points 200000 --polygons 5000   # quick
    .venv/bin/python benchmarks/bench_assign.py --stream 10000000     # + 10M streamed run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

METHODS = ("load", "reference", "geopandas", "duckdb", "index1", "index2", "dask")


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ----------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------


def prepare(work: Path, n_poly: int, n_pts: int, parts: int) -> None:
    import geopandas as gpd
    from citygen import city_microgrids, city_points

    from gridmap.join.stream import write_partitioned
    from gridmap.workspace import store as io

    key = work / f"data-{n_poly}-{n_pts}.ok"
    if key.exists():
        return
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    t = time.perf_counter()
    mg = city_microgrids(n_poly)
    mg.to_parquet(work / "microgrids.parquet", index=False)
    io.write_layers(work / "city.gpkg", {"microgrids": mg})
    x, y = city_points(n_pts, mg.total_bounds)
    np.save(work / "x.npy", x)
    np.save(work / "y.npy", y)
    pts = gpd.GeoDataFrame(
        {"pid": np.arange(n_pts)}, geometry=gpd.points_from_xy(x, y), crs="EPSG:4326"
    )
    write_partitioned(pts, work / "points", rows_per_part=-(-n_pts // parts))
    key.write_text("ok")
    nv = np.median([len(g.exterior.coords) - 1 for g in mg.geometry.values[:2000]])
    print(f"data: {len(mg)} micro-grids (median {nv:.0f} vertices), {n_pts} points, "
          f"{time.perf_counter() - t:.1f} s", file=sys.stderr)  # fmt: skip


def _load(work: Path):
    import geopandas as gpd

    mg = gpd.read_parquet(work / "microgrids.parquet")
    x = np.load(work / "x.npy")
    y = np.load(work / "y.npy")
    return mg, x, y


def _codes(ids: np.ndarray, mg) -> np.ndarray:
    """Object ids -> int32 position in the polygon layer (-1 for none)."""
    lookup = {v: i for i, v in enumerate(mg["microgrid_id"].to_numpy())}
    return np.array([lookup.get(v, -1) if v is not None else -1 for v in ids], dtype=np.int32)


def _warm_worker() -> int:
    import geopandas as gpd
    from shapely.geometry import box

    from gridmap.join.index import build_index

    g = gpd.GeoDataFrame({"microgrid_id": ["a"]}, geometry=[box(0, 0, 1, 1)])
    build_index(g, "microgrid_id")(np.array([0.5]), np.array([0.5]))
    return 1


# ----------------------------------------------------------------------------
# one method, in its own process
# ----------------------------------------------------------------------------


def run_method(method: str, work: Path) -> dict:
    mg, x, y = _load(work)
    n = len(x)
    out: dict = {"method": method, "points": n}
    ids = None
    if method == "load":
        pass
    elif method == "reference":
        from gridmap.join.core import reference_locator

        t = time.perf_counter()
        loc = reference_locator(mg, "microgrid_id")
        out["build_s"] = time.perf_counter() - t
        t = time.perf_counter()
        ids = loc(x, y)
        out["query_s"] = time.perf_counter() - t
    elif method == "geopandas":
        import geopandas as gpd

        t = time.perf_counter()
        pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs="EPSG:4326")
        j = gpd.sjoin(pts, mg[["microgrid_id", "geometry"]], how="left", predicate="within")
        j = j.sort_values("microgrid_id", kind="stable")
        j = j[~j.index.duplicated(keep="first")].sort_index()
        ids = j["microgrid_id"].astype(object).where(j["microgrid_id"].notna(), None).to_numpy()
        out["query_s"] = time.perf_counter() - t
        out["build_s"] = 0.0  # sjoin builds its tree inside the query
    elif method == "duckdb":
        import duckdb
        import duckdb_extensions
        import pandas as pd
        import shapely

        con = duckdb.connect()
        duckdb_extensions.import_extension("spatial", con=con)
        con.execute("LOAD spatial")
        con.execute("SET threads = 2")
        polys = pd.DataFrame({"rid": np.arange(len(mg)), "wkb": shapely.to_wkb(mg.geometry.values)})
        ptsdf = pd.DataFrame({"i": np.arange(n), "x": x, "y": y})
        con.register("polys_df", polys)
        con.register("pts_df", ptsdf)
        t = time.perf_counter()
        con.execute("CREATE TABLE polys AS SELECT rid, ST_GeomFromWKB(wkb) AS geom FROM polys_df")
        out["build_s"] = time.perf_counter() - t
        t = time.perf_counter()
        res = con.execute(
            "SELECT p.i, min(g.rid) AS rid FROM pts_df p JOIN polys g "
            "ON ST_Intersects(ST_Point(p.x, p.y), g.geom) GROUP BY p.i"
        ).fetchnumpy()
        out["query_s"] = time.perf_counter() - t
        codes = np.full(n, -1, dtype=np.int32)
        # ids are in string order = row order (M000000, M000001, ...), so min(rid) = min(id)
        codes[res["i"]] = res["rid"]
        np.save(work / f"codes-{method}.npy", codes)
    elif method in ("index1", "index2"):
        from gridmap.join.index import build_index, set_threads

        set_threads(1 if method == "index1" else 2)
        # load the compiled kernels (numba's on-disk cache) once per process, reported apart
        t = time.perf_counter()
        build_index(mg.iloc[:20], "microgrid_id")(x[:100], y[:100])
        out["jit_load_s"] = time.perf_counter() - t
        t = time.perf_counter()
        idx = build_index(mg, "microgrid_id")
        out["build_s"] = time.perf_counter() - t
        t = time.perf_counter()
        ids = idx(x, y)
        out["query_s"] = time.perf_counter() - t
        out["index_mb"] = idx.nbytes / 1e6
        out["index_nodes"] = idx.n_nodes
    elif method == "dask":
        from distributed import Client, LocalCluster

        from gridmap.join.distributed import assign_dask

        del x, y
        t = time.perf_counter()
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
        out["startup_s"] = time.perf_counter() - t
        # warm the workers (imports, compiled kernels) so the timing is the join itself
        client.run(_warm_worker)
        from gridmap.join.stream import workspace_locators

        t = time.perf_counter()
        workspace_locators(work / "city.gpkg")  # builds the index cache next to city.gpkg
        out["build_s"] = time.perf_counter() - t
        t = time.perf_counter()
        res = assign_dask(
            work / "points",
            work / "dask_out",
            work / "city.gpkg",
            client=client,
            nearest=False,
            numba_threads=1,
        )
        out["query_s"] = time.perf_counter() - t
        rss = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
        out["worker_maxrss_mb"] = max(rss.values())
        client.close()
        cluster.close()
        import pyarrow.parquet as pq

        t = pq.read_table(work / "dask_out", columns=["pid", "microgrid_id"]).to_pandas()
        t = t.sort_values("pid")
        ids = t["microgrid_id"].astype(object).where(t["microgrid_id"].notna(), None).to_numpy()
        out["rows"] = res.rows
    if ids is not None:
        np.save(work / f"codes-{method}.npy", _codes(ids, mg))
    out["maxrss_mb"] = _maxrss_mb()
    return out


def run_stream(work: Path, n: int, chunk: int) -> dict:
    """Write ``n`` points as GeoParquet parts chunk by chunk, then stream-join them."""
    import geopandas as gpd
    from citygen import city_points

    from gridmap.join.stream import assign_file

    mg = gpd.read_parquet(work / "microgrids.parquet")
    src = work / f"stream-{n}"
    if not (src / "done").exists():
        shutil.rmtree(src, ignore_errors=True)
        src.mkdir()
        for k, start in enumerate(range(0, n, chunk)):
            m = min(chunk, n - start)
            x, y = city_points(m, mg.total_bounds, seed=100 + k)
            g = gpd.GeoDataFrame(
                {"pid": np.arange(start, start + m)}, geometry=gpd.points_from_xy(x, y), crs=4326
            )
            g.to_parquet(src / f"part-{k:05d}.parquet", index=False)
        (src / "done").write_text("ok")
    del mg
    t = time.perf_counter()
    res = assign_file(
        src,
        work / f"stream-{n}-out",
        work / "city.gpkg",
        chunk_size=chunk,
        nearest=False,
        progress=False,
    )
    dt = time.perf_counter() - t
    return {
        "method": f"stream{n}",
        "points": res.rows,
        "query_s": dt,
        "build_s": 0.0,
        "maxrss_mb": _maxrss_mb(),
    }


# ----------------------------------------------------------------------------
# driver
# ----------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", type=int, default=2_000_000)
    ap.add_argument("--polygons", type=int, default=50_000)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--parts", type=int, default=8, help="GeoParquet parts for the Dask path")
    ap.add_argument(
        "--stream", type=int, default=0, help="also stream-join this many points (e.g. 10000000)"
    )
    ap.add_argument("--chunk", type=int, default=1_000_000, help="chunk size of the streamed run")
    ap.add_argument("--work", type=Path, default=HERE / "out" / "assign")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--run", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    work = args.work.resolve()
    if args.run:
        res = (
            run_stream(work, args.stream, args.chunk)
            if args.run == "stream"
            else run_method(args.run, work)
        )
        print(json.dumps(res))
        return 0
    prepare(work, args.polygons, args.points, args.parts)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if args.stream:
        methods.append("stream")
    results = []
    for m in methods:
        cmd = [sys.executable, __file__, "--run", m, "--work", str(work), "--stream", str(args.stream),
               "--chunk", str(args.chunk)]  # fmt: skip
        print(f"running {m} ...", file=sys.stderr)
        t = time.perf_counter()
        p = subprocess.run(
            cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"}
        )
        if p.returncode != 0:
            print(p.stderr[-3000:], file=sys.stderr)
            results.append(
                {"method": m, "error": p.stderr.strip().splitlines()[-1] if p.stderr else "failed"}
            )
            continue
        r = json.loads(p.stdout.strip().splitlines()[-1])
        r["wall_s"] = time.perf_counter() - t
        results.append(r)
    # agreement with the reference
    ref_path = work / "codes-reference.npy"
    ref = np.load(ref_path) if ref_path.exists() else None
    for r in results:
        f = work / f"codes-{r['method']}.npy"
        if ref is not None and f.exists() and r["method"] != "reference":
            c = np.load(f)
            r["agree"] = int((c == ref).sum())
            r["disagree"] = int((c != ref).sum())
        elif r["method"] == "reference" and ref is not None:
            r["agree"], r["disagree"] = len(ref), 0
    gp = next((r for r in results if r["method"] == "geopandas" and "query_s" in r), None)
    print(f"\n{args.polygons} micro-grids x {args.points} points, {os.cpu_count()} cores\n")
    head = f"{'method':<12}{'build s':>9}{'query s':>9}{'Mpts/s':>8}{'x gpd':>7}{'e2e x':>7}{'peak MB':>9}{'mem x':>7}  agree / disagree"
    print(head)
    print("-" * len(head) + "-" * 10)
    for r in results:
        if "error" in r:
            print(f"{r['method']:<12} ERROR {r['error']}")
            continue
        if r["method"] == "load":
            print(f"{'load':<12}{'':>9}{'':>9}{'':>8}{'':>7}{'':>7}{r['maxrss_mb']:>9.0f}")
            continue
        rate = r["points"] / r["query_s"] / 1e6
        e2e = r["query_s"] + r.get("build_s", 0.0)
        ratio = gp["query_s"] / r["query_s"] if gp else float("nan")
        e2e_ratio = gp["query_s"] / e2e if gp else float("nan")
        mem = r["maxrss_mb"] + r.get("worker_maxrss_mb", 0.0)
        mratio = mem / gp["maxrss_mb"] if gp else float("nan")
        agree = f"{r['agree']} / {r['disagree']}" if "agree" in r else "-"
        print(f"{r['method']:<12}{r.get('build_s', 0):>9.2f}{r['query_s']:>9.2f}{rate:>8.2f}{ratio:>7.1f}"
              f"{e2e_ratio:>7.1f}{mem:>9.0f}{mratio:>7.2f}  {agree}")  # fmt: skip
    for r in results:
        if r["method"] == "dask" and "startup_s" in r:
            print(f"\ndask: cluster start-up {r['startup_s']:.1f} s (excluded); peak = client "
                  f"{r['maxrss_mb']:.0f} MB + largest worker {r['worker_maxrss_mb']:.0f} MB")  # fmt: skip
        if r["method"].startswith("index") and "index_mb" in r:
            print(f"{r['method']}: index {r['index_mb']:.0f} MB, {r['index_nodes']} nodes, "
                  f"kernel load from numba's cache {r['jit_load_s']:.2f} s (once per process)")  # fmt: skip
    print("\nx gpd = query throughput / geopandas.sjoin's; e2e x = including the index build; "
          "mem x = peak RSS / geopandas' peak RSS (same data loaded in every process)")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
