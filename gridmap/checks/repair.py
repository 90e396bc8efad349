"""Geometry repair shared by ``gridmap validate --fix`` and ``gridmap import --make-valid``."""

from __future__ import annotations

import shapely
from shapely.geometry.base import BaseGeometry


def make_polygonal_valid(geom: BaseGeometry) -> BaseGeometry | None:
    """Repair a polygon with :func:`shapely.make_valid`, keeping only its areas.

    Returns a Polygon, or a MultiPolygon when the repair splits it; None when
    no areal part remains (such a feature is left as it is and reported).
    """
    fixed = shapely.make_valid(geom)
    parts = [p for p in shapely.get_parts(fixed) if p.geom_type in ("Polygon", "MultiPolygon")]
    polys = []
    for p in parts:
        polys.extend(shapely.get_parts(p) if p.geom_type == "MultiPolygon" else [p])
    polys = [p for p in polys if not p.is_empty and p.area > 0]
    if not polys:
        return None
    if len(polys) == 1:
        return polys[0]
    merged = shapely.union_all(polys)
    if merged.geom_type == "Polygon":
        return merged
    return shapely.MultiPolygon(list(shapely.get_parts(merged)))
