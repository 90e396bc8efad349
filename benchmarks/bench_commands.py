"""Whole-process timing: every gridmap command against its plain geopandas alternative.

Each side runs as its own process (``python -m gridmap ...`` or ``python -c
<plain script>``), on its own fresh copy of the workspace where it writes, so
start-up, reading, the work and writing are all counted, as a user meets them.
Wall time, CPU time (user + system) and peak memory (``ru_maxrss`` of that very
process, from ``os.wait4``) are recorded. The two sides of a row run
alternately in the same run (``--repeat`` rounds, median taken), so a busy
machine slows both; the ratio ``plain / gridmap`` is what to read.

Rows (``--only`` picks some):

assign          ``gridmap assign WS``  vs  read households + micro-grids with
                geopandas, ``sjoin(predicate="covered_by")``, smallest id per
                household, write the households layer back with pyogrio.
                The ids are compared: they must be identical.
coverage-euclid ``gridmap coverage WS --facility service_stations --distance
                euclidean``  vs  read, project to UTM, ``sjoin_nearest`` to the
                stations, within-radius flag, ``groupby`` grid.
coverage-net    ``gridmap coverage ... --distance network``  vs  networkx
                multi-source Dijkstra over the same streets (nodes = segment
                ends, households and stations snapped to the nearest node).
import          ``gridmap import households FILE.csv``  vs
                ``pandas.read_csv`` + ``points_from_xy`` + ``to_file``.
validate        ``gridmap validate WS``  vs  ``is_valid`` on every polygon layer
                + ``overlay(intersection)`` of the micro-grids for overlaps.
map             ``gridmap map WS --basemap none``  vs  ``GeoDataFrame.explore``
                of micro-grids and households, saved to HTML.

Cold first run: ``--cold`` runs ``gridmap assign`` once with an empty numba
cache folder (``NUMBA_CACHE_DIR``) before the warm rounds and reports it.

Usage::

    .venv/bin/python -m gridmap synth /tmp/city.gpkg --households 1000000 --microgrids 20000
    .venv/bin/python benchmarks/bench_commands.py /tmp/city.gpkg --only assign --cold
    .venv/bin/python benchmarks/bench_commands.py            # the packaged sample, every row
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable

PLAIN_ASSIGN = r"""
import sys, geopandas as gpd, pyogrio, numpy as np
ws = sys.argv[1]
hh = gpd.read_file(ws, layer="households", engine="pyogrio", use_arrow=True)
mg = gpd.read_file(ws, layer="microgrids", engine="pyogrio", use_arrow=True)[["microgrid_id", "geometry"]]
j = gpd.sjoin(hh[["geometry"]], mg, how="left", predicate="covered_by")
best = j.sort_values("microgrid_id").groupby(level=0)["microgrid_id"].first()
hh["microgrid_id"] = best.reindex(hh.index).to_numpy()
pyogrio.write_dataframe(hh, ws, layer="households", driver="GPKG")
"""

PLAIN_COVERAGE_EUCLID = r"""
import sys, geopandas as gpd
ws, radius = sys.argv[1], float(sys.argv[2])
hh = gpd.read_file(ws, layer="households", engine="pyogrio", use_arrow=True)
st = gpd.read_file(ws, layer="service_stations", engine="pyogrio", use_arrow=True)
utm = hh.estimate_utm_crs()
hh, st = hh.to_crs(utm), st.to_crs(utm)
j = gpd.sjoin_nearest(hh[["grid_id", "geometry"]], st[["station_id", "geometry"]], distance_col="d")
j = j[~j.index.duplicated()]
j["covered"] = j["d"] <= radius
print(j.groupby("grid_id")["covered"].mean().describe())
"""

PLAIN_COVERAGE_NET = r"""
import sys, geopandas as gpd, networkx as nx, numpy as np, shapely
from scipy.spatial import cKDTree
ws, radius = sys.argv[1], float(sys.argv[2])
hh = gpd.read_file(ws, layer="households", engine="pyogrio", use_arrow=True)
st = gpd.read_file(ws, layer="service_stations", engine="pyogrio", use_arrow=True)
roads = gpd.read_file(ws, layer="roads", engine="pyogrio", use_arrow=True)
utm = hh.estimate_utm_crs()
hh, st, roads = hh.to_crs(utm), st.to_crs(utm), roads.to_crs(utm)
G = nx.Graph()
for line in shapely.get_parts(roads.geometry.values):
    xy = np.round(shapely.get_coordinates(line), 1)
    for a, b in zip(map(tuple, xy[:-1]), map(tuple, xy[1:])):
        G.add_edge(a, b, weight=float(np.hypot(a[0] - b[0], a[1] - b[1])))
nodes = list(G.nodes)
tree = cKDTree(np.array(nodes))
def snap(gdf):
    d, i = tree.query(shapely.get_coordinates(gdf.geometry.values))
    return d, [nodes[k] for k in i]
sd, sn = snap(st)
hd, hn = snap(hh)
dist = nx.multi_source_dijkstra_path_length(G, set(sn), cutoff=radius, weight="weight")
total = np.array([dist.get(n, np.inf) for n in hn]) + hd
hh["covered"] = total <= radius
print(hh.groupby("grid_id")["covered"].mean().describe())
"""

PLAIN_IMPORT = r"""
import sys, pandas as pd, geopandas as gpd
csv, ws = sys.argv[1], sys.argv[2]
df = pd.read_csv(csv, dtype={"household_id": str})
gdf = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df.lon, df.lat), crs=4326)
gdf.to_file(ws, layer="households", driver="GPKG", engine="pyogrio")
"""

PLAIN_VALIDATE = r"""
import sys, geopandas as gpd
ws = sys.argv[1]
bad = 0
for layer in ("communities", "zones", "grids", "microgrids"):
    g = gpd.read_file(ws, layer=layer, engine="pyogrio", use_arrow=True)
    bad += int((~g.is_valid).sum())
mg = gpd.read_file(ws, layer="microgrids", engine="pyogrio", use_arrow=True)[["microgrid_id", "geometry"]]
ov = gpd.overlay(mg, mg.rename(columns={"microgrid_id": "other"}), how="intersection", keep_geom_type=True)
ov = ov[(ov.microgrid_id < ov.other) & (ov.area > 0)]
print(bad, len(ov))
"""

PLAIN_MAP = r"""
import sys, geopandas as gpd
ws, out = sys.argv[1], sys.argv[2]
mg = gpd.read_file(ws, layer="microgrids", engine="pyogrio", use_arrow=True)
hh = gpd.read_file(ws, layer="households", engine="pyogrio", use_arrow=True)
m = mg[["microgrid_id", "geometry"]].explore()
hh[["household_id", "geometry"]].explore(m=m)
m.save(out)
"""


def run(cmd: list[str], env: dict | None = None) -> dict:
    """Run ``cmd``; return wall seconds, CPU seconds and peak RSS (MB) of that process."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **(env or {})}
    )
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):  # validate exits 1 when it finds errors
        raise RuntimeError(f"{cmd[:4]} failed ({code}): {err[-2000:]}")
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss_mb": ru.ru_maxrss / 1024}


def gridmap(*args: str) -> list[str]:
    return [PY, "-m", "gridmap", *args]


def plain(script: str, *args: str) -> list[str]:
    return [PY, "-c", script, *args]


def _ids_identical(a: Path, b: Path) -> dict:
    import pyogrio

    x = pyogrio.read_dataframe(a, layer="households", columns=["household_id", "microgrid_id"])
    y = pyogrio.read_dataframe(b, layer="households", columns=["household_id", "microgrid_id"])
    x = x.set_index("household_id")["microgrid_id"].astype(object)
    y = y.set_index("household_id")["microgrid_id"].astype(object).reindex(x.index)
    diff = int(((x.fillna("<none>")) != (y.fillna("<none>"))).sum())
    return {"households": len(x), "differ": diff}


def _csv_of(ws: Path, out: Path) -> Path:
    import pyogrio

    hh = pyogrio.read_dataframe(ws, layer="households", use_arrow=True)
    hh["lon"], hh["lat"] = hh.geometry.x, hh.geometry.y
    cols = [
        c
        for c in ("household_id", "address", "residents", "elderly", "lives_alone", "has_ev")
        if c in hh.columns
    ]
    hh[[*cols, "lon", "lat"]].to_csv(out, index=False)
    return out


def rows_for(ws: Path, work: Path, only: set[str] | None, fresh: Path | None = None) -> dict:
    """name -> (gridmap cmd factory, plain cmd factory); factories take a fresh copy path.

    ``fresh``: the writers (assign, import) start from this file (a workspace whose
    points carry no ids yet), with ``ws``'s warm index cache.
    """
    radius = "500"

    def copy(tag: str) -> Path:
        d = work / f"{tag}-{time.monotonic_ns()}"
        d.mkdir()
        dst = d / ws.name
        shutil.copyfile(fresh or ws, dst)
        idx = ws.with_name(ws.name + ".gridmap-index")
        if idx.exists():  # the warm index cache travels with its workspace
            shutil.copytree(idx, dst.with_name(dst.name + ".gridmap-index"))
        return dst

    rows = {
        "assign": (
            lambda: gridmap("assign", str(copy("g")), "--format", "json"),
            lambda: plain(PLAIN_ASSIGN, str(copy("p"))),
        ),
        "coverage-euclid": (
            lambda: gridmap(
                "coverage",
                str(ws),
                "--facility",
                "service_stations",
                "--distance",
                "euclidean",
                "--radius",
                radius,
                "--format",
                "json",
            ),
            lambda: plain(PLAIN_COVERAGE_EUCLID, str(ws), radius),
        ),
        "coverage-net": (
            lambda: gridmap(
                "coverage",
                str(ws),
                "--facility",
                "service_stations",
                "--distance",
                "network",
                "--radius",
                radius,
                "--format",
                "json",
            ),
            lambda: plain(PLAIN_COVERAGE_NET, str(ws), radius),
        ),
        "import": (
            lambda: gridmap(
                "import",
                "households",
                str(work / "households.csv"),
                "--workspace",
                str(copy("g")),
                "--lon-col",
                "lon",
                "--lat-col",
                "lat",
            ),
            lambda: plain(PLAIN_IMPORT, str(work / "households.csv"), str(copy("p"))),
        ),
        "validate": (
            lambda: gridmap("validate", str(ws), "--format", "json"),
            lambda: plain(PLAIN_VALIDATE, str(ws)),
        ),
        "map": (
            lambda: gridmap("map", str(ws), "--out", str(work / "g.html"), "--basemap", "none"),
            lambda: plain(PLAIN_MAP, str(ws), str(work / "p.html")),
        ),
    }
    return {k: v for k, v in rows.items() if not only or k in only}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("workspace", nargs="?", help="workspace (default: the packaged sample)")
    ap.add_argument("--only", help="comma-separated rows (default: all)")
    ap.add_argument("--repeat", type=int, default=2, help="alternating rounds per row")
    ap.add_argument("--cold", action="store_true", help="also time a cold first assign")
    ap.add_argument(
        "--fresh",
        action="store_true",
        help="assign/import start from the workspace as given (points without ids: every row "
        "is written), not from an assigned copy (a re-assign: rows that do not change are "
        "not written); the index cache is warm either way",
    )
    ap.add_argument("--json", help="write the results here as JSON")
    ap.add_argument("--work", help="scratch folder (default: a temporary one)")
    args = ap.parse_args(argv)
    if args.workspace:
        ws = Path(args.workspace).resolve()
    else:
        from gridmap.datasets import get_path

        ws = Path(get_path("community"))
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-commands-"))
    work.mkdir(parents=True, exist_ok=True)
    only = set(args.only.split(",")) if args.only else None
    base = work / ws.name
    if not base.exists():
        shutil.copyfile(ws, base)
    # assigned once up front: coverage reads the ids, and the index cache gets warm
    run(gridmap("assign", str(base), "--format", "json"))
    if not only or "import" in only:
        _csv_of(base, work / "households.csv")
    import pyogrio

    sizes = {
        n: int(pyogrio.read_info(base, layer=n)["features"]) for n in ("households", "microgrids")
    }
    results: dict = {"workspace": str(ws), "sizes": sizes, "rows": {}}
    if args.cold:
        cold_dir = work / "numba-cold"
        shutil.rmtree(cold_dir, ignore_errors=True)
        scratch = work / "cold" / ws.name
        scratch.parent.mkdir(exist_ok=True)
        shutil.copyfile(base, scratch)  # no index cache either: a first run on new data
        cold = run(
            gridmap("assign", str(scratch), "--format", "json"),
            env={"NUMBA_CACHE_DIR": str(cold_dir)},
        )
        shutil.copyfile(base, scratch)
        shutil.rmtree(scratch.with_name(scratch.name + ".gridmap-index"), ignore_errors=True)
        warm_kernels = run(
            gridmap("assign", str(scratch), "--format", "json"),
            env={"NUMBA_CACHE_DIR": str(cold_dir)},
        )
        results["cold"] = {"first_run": cold, "kernels_cached_index_not": warm_kernels}
        print(
            f"cold first assign: {cold['wall']:.1f} s wall, {cold['cpu']:.1f} s CPU; "
            f"kernels cached, index rebuilt: {warm_kernels['wall']:.1f} s",
            flush=True,
        )
    results["fresh"] = bool(args.fresh)
    for name, (g, p) in rows_for(base, work, only, fresh=ws if args.fresh else None).items():
        gs, ps = [], []
        for _ in range(args.repeat):
            gs.append(run(g()))
            ps.append(run(p()))
        med = {
            side: {k: statistics.median(r[k] for r in runs) for k in ("wall", "cpu", "rss_mb")}
            for side, runs in (("gridmap", gs), ("plain", ps))
        }
        med["ratio_wall"] = med["plain"]["wall"] / med["gridmap"]["wall"]
        med["ratio_cpu"] = med["plain"]["cpu"] / med["gridmap"]["cpu"]
        med["runs"] = {"gridmap": gs, "plain": ps}
        if name == "assign":
            last = sorted(work.glob("g-*"))[-1] / base.name
            other = sorted(work.glob("p-*"))[-1] / base.name
            med["ids"] = _ids_identical(last, other)
        results["rows"][name] = med
        print(
            f"{name:16s} gridmap {med['gridmap']['wall']:7.1f} s ({med['gridmap']['cpu']:6.1f} CPU, "
            f"{med['gridmap']['rss_mb']:6.0f} MB)  plain {med['plain']['wall']:7.1f} s "
            f"({med['plain']['cpu']:6.1f} CPU, {med['plain']['rss_mb']:6.0f} MB)  "
            f"ratio {med['ratio_wall']:.1f}x wall, {med['ratio_cpu']:.1f}x CPU"
            + (f"  ids: {med['ids']}" if "ids" in med else ""),
            flush=True,
        )
        for d in list(work.glob("g-*")) + list(work.glob("p-*")):
            shutil.rmtree(d, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
