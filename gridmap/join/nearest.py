"""The nearest micro-grid of the points no micro-grid covers, and its distance in metres.

Light on purpose (numpy, shapely, pyproj): the in-place assign keeps a
:class:`NearestPolygons` in its cache and loads it only when some point is
outside every micro-grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

__all__ = ["NearestPolygons"]


@dataclass
class NearestPolygons:
    """Polygons in a metric CRS, ready for nearest-polygon queries from WGS84 points.

    Attributes
    ----------
    epsg
        The metric CRS (a UTM zone picked from the layer's extent).
    geoms
        The layer's non-empty polygons in that CRS.
    ids
        Their ids (object array of str or None).
    """

    epsg: int
    geoms: np.ndarray
    ids: np.ndarray

    @classmethod
    def from_frame(cls, polygons: Any, id_column: str) -> NearestPolygons:
        """Prepare a (WGS84) GeoDataFrame of polygons."""
        from gridmap.coords.crs import metric_crs_for
        from gridmap.policy.ids import normalise_ids

        metric = metric_crs_for(polygons)
        pm = polygons.to_crs(metric)
        keep = ~(pm.geometry.isna() | pm.geometry.is_empty)
        pm = pm[keep]
        epsg = metric.to_epsg()
        if epsg is None:  # pragma: no cover - metric_crs_for always picks a UTM zone
            raise ValueError(f"not an EPSG metric CRS: {metric}")
        return cls(
            int(epsg), np.asarray(pm.geometry.values, dtype=object), normalise_ids(pm[id_column])
        )

    def query(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest polygon id and distance in metres (rounded to 0.1 m) for WGS84 points.

        Ties (equal distance) go to the smallest id; a polygon without an id
        loses ties to any polygon with one.
        """
        from pyproj import Transformer

        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        res_id = np.full(len(x), None, dtype=object)
        res_d = np.full(len(x), np.nan)
        if len(self.geoms) == 0 or len(x) == 0:
            return res_id, res_d
        tr = Transformer.from_crs("EPSG:4326", f"EPSG:{self.epsg}", always_xy=True)
        px, py = tr.transform(x, y)
        tree = shapely.STRtree(self.geoms)
        (pi, ti), dist = tree.query_nearest(
            shapely.points(px, py), return_distance=True, all_matches=True
        )
        ids = self.ids[ti]
        missing = np.array([v is None for v in ids], dtype=bool)
        text = np.where(missing, "", ids).astype(str)
        order = np.lexsort((text, missing, dist, pi))  # by point, distance, id (None last)
        pi, ids, dist = pi[order], ids[order], dist[order]
        first = np.ones(len(pi), dtype=bool)
        first[1:] = pi[1:] != pi[:-1]
        res_id[pi[first]] = ids[first]
        res_d[pi[first]] = np.round(dist[first], 1)
        return res_id, res_d
