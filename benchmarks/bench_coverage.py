"""Benchmark: nearest-facility distances, gridmap vs geopandas.sjoin_nearest.

Both methods start from the same WGS84 GeoDataFrames (households, facilities),
project to the same metric CRS (UTM zone picked by gridmap) and return the
straight-line distance in metres from every household to its nearest facility:

* ``gridmap``: pyproj transform of the coordinates, then
  :func:`gridmap.analysis.coverage.nearest_euclidean` on the coordinate arrays
  (scipy cKDTree, one thread), the same nearest-point core that
  :func:`gridmap.analysis.coverage.compute_coverage` uses for point facilities;
* ``sjoin_nearest``: ``GeoDataFrame.to_crs`` on both layers, then
  ``geopandas.sjoin_nearest(..., distance_col=...)`` (shapely STRtree), ties
  dropped so there is one row per household.

Each method runs in a fresh subprocess so that peak memory is its own. Peak
memory is ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of that subprocess
(the whole process: interpreter, libraries, input data and the method). A
third subprocess, ``baseline``, only imports the same libraries and builds the
same input data; "extra MB" is a method's peak minus the baseline's peak, i.e.
the memory the method needed on top of its inputs. The results of the two
methods are compared (max absolute difference in metres).

Usage::

    .venv/bin/python benchmarks/bench_coverage.py                 # 1,000,000 x 10,000
    .venv/bin/python benchmarks/bench_coverage.py --households 100000 --facilities 1000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

METHODS = ("gridmap", "sjoin_nearest")
BASELINE = "baseline"  # only builds the input data: the memory both methods start from


def make_data(n_hh: int, n_fac: int, seed: int):
    """Random households and facilities in a ~30 km square near 111.5 E, 35.6 N."""
    import geopandas as gpd
    import shapely

    rng = np.random.default_rng(seed)
    x0, y0, w, h = 111.3, 35.5, 0.33, 0.27
    hh = gpd.GeoDataFrame(
        {"household_id": np.arange(n_hh).astype(str)},
        geometry=shapely.points(x0 + w * rng.random(n_hh), y0 + h * rng.random(n_hh)),
        crs="EPSG:4326",
    )
    fac = gpd.GeoDataFrame(
        {"station_id": np.arange(n_fac).astype(str)},
        geometry=shapely.points(x0 + w * rng.random(n_fac), y0 + h * rng.random(n_fac)),
        crs="EPSG:4326",
    )
    return hh, fac


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def worker(method: str, n_hh: int, n_fac: int, seed: int, out: Path) -> dict:
    import pyproj
    import shapely

    from gridmap.analysis.coverage import nearest_euclidean
    from gridmap.coords.crs import metric_crs_for

    hh, fac = make_data(n_hh, n_fac, seed)
    metric = metric_crs_for(fac)
    before = peak_mb()
    t0 = time.perf_counter()
    if method == "gridmap":
        tr = pyproj.Transformer.from_crs("EPSG:4326", metric, always_xy=True)
        hx, hy = tr.transform(shapely.get_x(hh.geometry.values), shapely.get_y(hh.geometry.values))
        fx, fy = tr.transform(
            shapely.get_x(fac.geometry.values), shapely.get_y(fac.geometry.values)
        )
        dist, _ = nearest_euclidean(np.column_stack([hx, hy]), np.column_stack([fx, fy]))
    elif method == "sjoin_nearest":
        import geopandas as gpd

        hm = hh.to_crs(metric)
        fm = fac.to_crs(metric)
        j = gpd.sjoin_nearest(hm, fm, how="left", distance_col="distance_m")
        j = j[~j.index.duplicated(keep="first")]
        dist = j["distance_m"].reindex(hh.index).to_numpy()
    elif method == BASELINE:
        dist = np.zeros(n_hh)
    else:
        raise SystemExit(f"unknown method {method}")
    seconds = time.perf_counter() - t0
    after = peak_mb()
    np.save(out, np.asarray(dist, dtype=float))
    return {
        "method": method,
        "seconds": seconds,
        "households_per_s": n_hh / seconds,
        "peak_rss_mb": after,
        "growth_during_call_mb": after - before,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--households", type=int, default=1_000_000)
    ap.add_argument("--facilities", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--worker", choices=(*METHODS, BASELINE), help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)
    if args.worker:
        res = worker(args.worker, args.households, args.facilities, args.seed, args.out)
        print(json.dumps(res))
        return 0
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for method in [BASELINE, *args.methods.split(",")]:
            out = Path(tmp) / f"{method}.npy"
            cmd = [
                sys.executable,
                os.path.abspath(__file__),
                "--worker",
                method,
                "--households",
                str(args.households),
                "--facilities",
                str(args.facilities),
                "--seed",
                str(args.seed),
                "--out",
                str(out),
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        arrays = {m: np.load(Path(tmp) / f"{m}.npy") for m in args.methods.split(",")}
    base = next(r for r in results if r["method"] == BASELINE)
    results = [r for r in results if r["method"] != BASELINE]
    for r in results:
        r["extra_mb"] = max(0.0, r["peak_rss_mb"] - base["peak_rss_mb"])
    names = list(arrays)
    diff = float(np.max(np.abs(arrays[names[0]] - arrays[names[1]]))) if len(names) == 2 else None
    by = {r["method"]: r for r in results}
    ratio = (
        by["sjoin_nearest"]["seconds"] / by["gridmap"]["seconds"]
        if {"gridmap", "sjoin_nearest"} <= set(by)
        else None
    )
    summary = {
        "households": args.households,
        "facilities": args.facilities,
        "results": results,
        "speedup_vs_sjoin_nearest": ratio,
        "max_abs_diff_m": diff,
        "baseline_peak_rss_mb": base["peak_rss_mb"],
        "memory": "ru_maxrss of a fresh subprocess per method; extra_mb = peak - baseline peak",
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"nearest facility: {args.households:,} households x {args.facilities:,} facilities")
    print(f"{'method':<15}{'seconds':>10}{'households/s':>15}{'peak RSS MB':>13}{'extra MB':>10}")
    for r in results:
        print(
            f"{r['method']:<15}{r['seconds']:>10.2f}{r['households_per_s']:>15,.0f}"
            f"{r['peak_rss_mb']:>13.0f}{r['extra_mb']:>10.0f}"
        )
    print(f"baseline (inputs only): peak RSS {base['peak_rss_mb']:.0f} MB")
    if ratio is not None:
        print(f"gridmap is {ratio:.1f}x the speed of geopandas.sjoin_nearest")
    if diff is not None:
        print(f"max |difference| between the methods: {diff:.2e} m")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
