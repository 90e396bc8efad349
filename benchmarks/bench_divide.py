"""Re-division methods side by side: gridmap's repair method vs spopt's max-p regions.

    python benchmarks/bench_divide.py                       # the sample (both methods)
    python benchmarks/bench_divide.py --microgrids 20000    # a synthetic city (repair; max-p
                                                            # only with --maxp, it is slow)

For each method: grids, share in the band, households per grid (min/median/max),
mean compactness (Polsby-Popper 4πA/P²), micro-grids moved relative to today's
grids, and run time. The city: Voronoi micro-grids (benchmarks/citygen.py),
today's grids and zones are coarser Voronoi cells grouping them, ~50
households per micro-grid.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent))

from citygen import city_microgrids

from gridmap.datasets import get_path
from gridmap.division.divide import propose_division
from gridmap.workspace.store import load_workspace


def _group(cells: gpd.GeoDataFrame, n: int, seed: int) -> np.ndarray:
    """Index of the nearest of ``n`` random seeds for each cell's centroid."""
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    c = shapely.centroid(np.asarray(cells.geometry.values))
    xy = np.column_stack([shapely.get_x(c), shapely.get_y(c)])
    seeds = xy[rng.choice(len(xy), n, replace=False)]
    return cKDTree(seeds).query(xy)[1]


def city_layers(n: int, per: int = 50) -> dict[str, gpd.GeoDataFrame]:
    """Micro-grids, grids (~12 micro-grids each), zones (~40 grids each), households."""
    mg = city_microgrids(n)
    g = _group(mg, max(1, n // 12), 3)
    grid_ids = np.array([f"G{k:05d}" for k in g])
    mg["name"] = mg["microgrid_id"]
    mg["grid_id"] = grid_ids
    grids = mg.dissolve("grid_id").reset_index()[["grid_id", "geometry"]]
    z = _group(grids, max(1, len(grids) // 40), 5)
    grids["zone_id"] = [f"Z{k:03d}" for k in z]
    grids["name"] = grids["grid_id"]
    zones = grids.dissolve("zone_id").reset_index()[["zone_id", "geometry"]]
    zones["name"] = zones["zone_id"]
    rng = np.random.default_rng(9)
    pts = shapely.get_parts(
        shapely.points(
            np.column_stack(
                [
                    rng.uniform(*mg.total_bounds[[0, 2]], n * per),
                    rng.uniform(*mg.total_bounds[[1, 3]], n * per),
                ]
            )
        )
    )
    hh = gpd.GeoDataFrame(
        {"household_id": [f"H{k:08d}" for k in range(len(pts))]}, geometry=pts, crs="EPSG:4326"
    )
    return {
        "zones": zones.set_crs("EPSG:4326"),
        "grids": grids.set_crs("EPSG:4326"),
        "microgrids": mg,
        "households": hh,
    }


def row(name: str, res) -> str:
    s = res.summary()["after"]
    h = res.grids["households"]
    return (
        f"| {name} | {s['grids']} | {s['in_band']} ({s['in_band'] / max(s['grids'], 1):.0%}) | "
        f"{int(h.min())} / {float(h.median()):.0f} / {int(h.max())} | {s['compactness_mean']} | "
        f"{res.moved} of {len(res.microgrids)} | {res.seconds:.1f} s |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--microgrids", type=int, default=0, help="synthetic city size (0: the sample)")
    ap.add_argument("--households", default="300-500")
    ap.add_argument("--maxp", action="store_true", help="also run spopt max-p on the city")
    a = ap.parse_args()
    if a.microgrids:
        t0 = time.perf_counter()
        layers = city_layers(a.microgrids)
        print(
            f"city: {len(layers['microgrids'])} micro-grids, {len(layers['grids'])} grids, "
            f"{len(layers['zones'])} zones, {len(layers['households'])} households "
            f"(built in {time.perf_counter() - t0:.1f} s)"
        )
    else:
        layers = load_workspace(get_path("community")).layers
        print("sample community (gridmap/datasets/data/community.gpkg)")
    before = propose_division(layers, a.households)  # 'before' figures come with any run
    b = before.summary()["before"]
    print(
        f"today: {b['grids']} grids, {b['in_band']} in {a.households}, households "
        f"{b['households_min']}-{b['households_max']}, compactness {b['compactness_mean']}"
    )
    print(
        "| method | grids | in band | households min / median / max | compactness | micro-grids moved | time |"
    )
    print("|---|---|---|---|---|---|---|")
    print(row("repair (gridmap)", before))
    if not a.microgrids or a.maxp:
        print(row("max-p (spopt)", propose_division(layers, a.households, method="maxp")))


if __name__ == "__main__":
    main()
