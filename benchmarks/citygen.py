"""Synthetic "city" for the assign benchmark: Voronoi-like micro-grids and uniform points.

Cells are shapely Voronoi polygons of random seeds clipped to a square around
111.47 E, 35.64 N, densified so that each has about 16 vertices (like real
micro-grid outlines). Deterministic for a given seed.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely


def city_microgrids(n: int, seed: int = 7, vertices: int = 16) -> gpd.GeoDataFrame:
    """``n`` Voronoi micro-grids (about ``vertices`` vertices each), EPSG:4326."""
    rng = np.random.default_rng(seed)
    side = 0.0025 * np.sqrt(n)  # ~250 m cells
    x0, y0 = 111.47 - side / 2, 35.64 - side / 2
    seeds = shapely.multipoints(
        np.column_stack([rng.uniform(x0, x0 + side, n), rng.uniform(y0, y0 + side, n)])
    )
    frame = shapely.box(x0, y0, x0 + side, y0 + side)
    cells = shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=frame))
    cells = shapely.intersection(cells, frame)
    cells = cells[~shapely.is_empty(cells)]
    # ~6 vertices per Voronoi cell; densify to about `vertices`
    perim = shapely.length(cells)
    seg = np.median(perim) / max(vertices, 4)
    cells = shapely.segmentize(cells, seg)
    ids = [f"M{i:06d}" for i in range(len(cells))]
    return gpd.GeoDataFrame({"microgrid_id": ids}, geometry=cells, crs="EPSG:4326")


def city_points(n: int, bounds, seed: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uniform points over ``bounds`` (a little beyond, so some miss)."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = bounds
    dx, dy = (maxx - minx) * 0.01, (maxy - miny) * 0.01
    x = rng.uniform(minx - dx, maxx + dx, n)
    y = rng.uniform(miny - dy, maxy + dy, n)
    return x, y
