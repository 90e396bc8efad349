"""The core join: which micro-grid, grid, zone and community owns each point.

Semantics (docs/design.md):

* a point belongs to the micro-grid whose polygon *covers* it (boundary
  included);
* on a shared boundary or where polygons overlap, the polygon with the
  smallest id wins (ids are strings and compare as strings), so the answer is
  deterministic;
* parents follow the micro-grid's chain (its grid, that grid's zone, that
  zone's community). A parent id column (``grid_id`` on micro-grids, ...) is
  used when present; where it is absent or empty the parent is derived from
  geometry (the parent polygon with the largest overlap, smallest id on ties).
  If the chain is broken at some level (a micro-grid with no grid), the point
  itself is joined at that level;
* where no micro-grid covers a point, the next coarser layer is asked (grids,
  zones, communities): the point keeps the ids of the finest level that owns
  it, finer ids are null, and it is reported as unassigned at that level with
  the nearest micro-grid and the distance in metres. Nothing is dropped.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from gridmap.errors import LayerNotFoundError, SchemaError
from gridmap.join.result import AssignResult, LayerAssignment

if TYPE_CHECKING:  # geopandas and pandas load where used: the in-place assign needs neither
    import geopandas as gpd
    import pandas as pd
from gridmap.policy.ids import normalise_id, normalise_ids
from gridmap.workspace.schema import (
    ASSIGN_COLUMNS,
    LAYERS,
    LEVEL_COLUMN,
    NEAREST_COLUMN,
    NEAREST_DIST_COLUMN,
    POINT_LAYERS,
    POLYGON_LEVELS,
    RESULT_COLUMNS,
)

# A function answering "which polygon of this level covers each point": takes
# x and y arrays, returns an object array of ids (None where none covers).
Locator = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class Hierarchy:
    """The polygon layers of a workspace and the parent chain between them.

    Attributes
    ----------
    polygons
        Level name -> GeoDataFrame of that layer (EPSG:4326), ids as strings.
    parents
        Level name -> {child id: parent id or None}.
    """

    polygons: dict[str, gpd.GeoDataFrame]
    parents: dict[str, dict[str, str | None]] = field(default_factory=dict)
    _locators: dict[str, Locator] = field(default_factory=dict, repr=False)

    @property
    def levels(self) -> list[str]:
        """Levels present, finest first."""
        return [lvl for lvl in POLYGON_LEVELS if lvl in self.polygons]

    def locator(self, level: str) -> Locator:
        """Reference locator for a level (STRtree + exact covers test)."""
        if level not in self._locators:
            self._locators[level] = reference_locator(self.polygons[level], LAYERS[level].id_column)
        return self._locators[level]

    def parent_of(self, level: str, child_id: str | None) -> str | None:
        if child_id is None:
            return None
        return self.parents.get(level, {}).get(child_id)


def reference_locator(polygons: gpd.GeoDataFrame, id_column: str) -> Locator:
    """Build a locator with shapely's STRtree: exact, boundary included.

    For a point, ``intersects`` a polygon is the same as ``covered_by`` it; the
    smallest id among all polygons that cover the point wins.
    """
    geoms = polygons.geometry.values
    ids = normalise_ids(polygons[id_column])
    valid = np.array([g is not None and not g.is_empty for g in geoms], dtype=bool) & np.array(
        [i is not None for i in ids]
    )
    geoms = np.asarray(geoms)[valid]
    ids = ids[valid]
    tree = shapely.STRtree(geoms)
    # rank of each polygon's id in string order, to take the smallest quickly
    order = np.argsort(ids.astype(str), kind="stable")
    rank = np.empty(len(ids), dtype=np.int64)
    rank[order] = np.arange(len(ids))

    def locate(x: np.ndarray, y: np.ndarray, points: np.ndarray | None = None) -> np.ndarray:
        # ``points``: the shapely points of x/y, when the caller has them already
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        out = np.full(len(x), None, dtype=object)
        ok = np.isfinite(x) & np.isfinite(y)
        if not ok.any() or len(ids) == 0:
            return out
        pts = shapely.points(x[ok], y[ok]) if points is None else np.asarray(points)[ok]
        pi, ti = tree.query(pts, predicate="intersects")
        if len(pi) == 0:
            return out
        best = np.full(len(pts), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(best, pi, rank[ti])
        hit = best != np.iinfo(np.int64).max
        sub = np.full(len(pts), None, dtype=object)
        sub[hit] = ids[order[best[hit]]]
        out[np.flatnonzero(ok)] = sub
        return out

    return locate


def overlap_areas(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``area(intersection(a[i], b[i]))`` for each pair, without overlaying where it need not.

    Where one polygon covers the other the overlap is the smaller one's area;
    where they only touch (no interior in common) it is 0; only the pairs left
    (true partial overlaps: slivers, misdrawn edges) are intersected. Nested
    layers (micro-grids inside grids) are nearly all of the first two kinds.
    """
    return _overlap_areas(a, b)[0]


def _overlap_areas(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`overlap_areas` and whether ``b[i]`` covers ``a[i]`` (as GEOS decided it)."""
    a = np.asarray(a, dtype=object)
    b = np.asarray(b, dtype=object)
    out = np.zeros(len(a))
    inside = np.zeros(len(a), dtype=bool)
    if len(a) == 0:
        return out, inside
    try:
        inside = shapely.covered_by(a, b)
        out[inside] = shapely.area(a[inside])
        rest = np.flatnonzero(~inside)
        holds = shapely.covers(a[rest], b[rest])
        out[rest[holds]] = shapely.area(b[rest[holds]])
        rest = rest[~holds]
        rest = rest[~shapely.touches(a[rest], b[rest])]  # touching only: no common interior
    except shapely.errors.GEOSException:  # a predicate GEOS cannot decide: overlay them all
        inside = np.zeros(len(a), dtype=bool)
        rest = np.arange(len(a))
    out[rest] = shapely.area(shapely.intersection(a[rest], b[rest]))
    return out, inside


def box_overlap_areas(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Area of the overlap of the bounding boxes of each pair: a bound on their overlap."""
    ba, bb = shapely.bounds(a), shapely.bounds(b)
    w = np.minimum(ba[:, 2], bb[:, 2]) - np.maximum(ba[:, 0], bb[:, 0])
    h = np.minimum(ba[:, 3], bb[:, 3]) - np.maximum(ba[:, 1], bb[:, 1])
    out = np.clip(w, 0, None) * np.clip(h, 0, None)
    return np.where(np.isfinite(out), out, np.inf)  # an empty geometry's NaN bounds: no bound


@dataclass(frozen=True)
class ParentMatch:
    """Each child's parent by largest overlap (:func:`largest_overlaps`).

    Aligned arrays, one entry per child that overlaps a parent: its position in
    the child arrays, the winning parent's position and id, and whether that
    parent polygon covers the child (nothing of it lies outside). And every
    candidate pair (child, parent positions whose geometries intersect) with its
    overlap area, NaN where it was not computed (it could not win).
    """

    child: np.ndarray
    parent: np.ndarray
    parent_id: np.ndarray
    covered: np.ndarray
    pair_child: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    pair_parent: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    pair_area: np.ndarray = field(default_factory=lambda: np.empty(0))


def largest_overlaps(
    child_geoms: np.ndarray,
    child_ids: np.ndarray,
    parent_geoms: np.ndarray,
    parent_ids: np.ndarray,
) -> ParentMatch:
    """The parent of each child by geometry: the largest overlap wins, ties to the smallest id.

    The rule of :func:`derive_parents`, on geometries already valid and in one
    metric CRS, with normalised ids (None: the polygon takes no part).
    """
    import pandas as pd

    empty = ParentMatch(*(np.empty(0, dtype=t) for t in (np.int64, np.int64, object, bool)))
    cg = np.asarray(child_geoms, dtype=object)
    pg = np.asarray(parent_geoms, dtype=object)
    cids = np.asarray(child_ids, dtype=object)
    pids = np.asarray(parent_ids, dtype=object)
    if len(cg) == 0 or len(pg) == 0:
        return empty
    tree = shapely.STRtree(pg)
    ci, pj = tree.query(cg, predicate="intersects")
    if len(ci) == 0:
        return empty
    a, b = cg[ci], pg[pj]
    try:
        inside = shapely.covered_by(a, b)
    except shapely.errors.GEOSException:  # undecidable: every pair is overlaid below
        inside = np.zeros(len(ci), dtype=bool)
    areas = np.full(len(ci), np.nan)
    areas[inside] = shapely.area(a[inside])
    # A child some parent covers overlaps that one by its whole area. For the others,
    # the candidate whose bounding box shares the most with the child (nearly always
    # the winner) is overlaid first. Another parent can then only win or tie if the
    # boxes share at least about that much: the rest are not overlaid at all.
    box = box_overlap_areas(a, b)
    has_cover = np.zeros(len(cg), dtype=bool)
    has_cover[ci[inside]] = True
    open_ = np.flatnonzero(~has_cover[ci])
    if len(open_):
        order = open_[np.lexsort((-box[open_], ci[open_]))]  # by child, largest box first
        lead = order[np.r_[True, ci[order][1:] != ci[order][:-1]]]
        areas[lead] = overlap_areas(a[lead], b[lead])
    known = ~np.isnan(areas)
    top = np.full(len(cg), -np.inf)  # the largest overlap known so far, per child
    np.maximum.at(top, ci[known], areas[known])
    lose = ~known & (box < top[ci] - 0.01)
    rest = ~known & ~lose
    areas[rest] = overlap_areas(a[rest], b[rest])
    frame = pd.DataFrame(
        {
            "child": cids[ci],
            "parent": pids[pj],
            "area": np.round(np.where(lose, 0.0, areas), 3),
            "ci": ci,
            "pj": pj,
            "inside": inside,
        }
    )
    frame = frame[(frame["area"] > 0) & frame["child"].notna() & frame["parent"].notna()]
    frame = frame.sort_values(["child", "area", "parent"], ascending=[True, False, True])
    best = frame.drop_duplicates("child", keep="first")
    return ParentMatch(
        best["ci"].to_numpy(np.int64),
        best["pj"].to_numpy(np.int64),
        best["parent"].to_numpy(dtype=object),
        best["inside"].to_numpy(bool),
        ci.astype(np.int64),
        pj.astype(np.int64),
        np.where(lose, np.nan, areas),
    )


def derive_parents(
    children: gpd.GeoDataFrame,
    child_id: str,
    parents: gpd.GeoDataFrame,
    parent_id: str,
) -> dict[str, str | None]:
    """Parent of each child polygon by geometry: the largest overlap wins.

    Overlap areas are compared in a metric CRS; ties go to the smallest parent
    id. A child that overlaps no parent gets None.
    """
    from gridmap.coords.crs import metric_crs_for

    metric = metric_crs_for(children)
    c = children[[child_id, "geometry"]].to_crs(metric)
    p = parents[[parent_id, "geometry"]].to_crs(metric)
    c = c[~(c.geometry.isna() | c.geometry.is_empty)]
    p = p[~(p.geometry.isna() | p.geometry.is_empty)]
    result: dict[str, str | None] = {
        k: None for k in normalise_ids(children[child_id].to_numpy(dtype=object)) if k
    }
    if c.empty or p.empty:
        return result
    cids = normalise_ids(c[child_id].to_numpy(dtype=object))
    match = largest_overlaps(
        shapely.make_valid(c.geometry.values),
        cids,
        shapely.make_valid(p.geometry.values),
        normalise_ids(p[parent_id].to_numpy(dtype=object)),
    )
    result.update(zip(cids[match.child], match.parent_id, strict=True))
    return result


def build_hierarchy(layers: Mapping[str, gpd.GeoDataFrame]) -> Hierarchy:
    """Collect the polygon layers and resolve each child's parent id.

    Parameters
    ----------
    layers
        Layer name -> GeoDataFrame (a :class:`~gridmap.workspace.store.Workspace`'s
        ``layers`` works). Missing levels are skipped.

    Raises
    ------
    LayerNotFoundError
        When no polygon layer is present at all.
    SchemaError
        When a polygon layer lacks its id column.
    """
    polys: dict[str, gpd.GeoDataFrame] = {}
    for level in POLYGON_LEVELS:
        gdf = layers.get(level)
        if gdf is None or len(gdf) == 0:
            continue
        spec = LAYERS[level]
        if spec.id_column not in gdf.columns:
            raise SchemaError(
                f"the id column '{spec.id_column}' is missing",
                layer=level,
                file=gdf.attrs.get("file"),
            )
        polys[level] = gdf
    if not polys:
        raise LayerNotFoundError(
            "the workspace has no polygon layer (microgrids, grids, zones or communities) to join against"
        )
    h = Hierarchy(polygons=polys)
    for level in POLYGON_LEVELS:
        spec = LAYERS[level]
        if level not in polys or spec.parent is None:
            continue
        child = polys[level]
        pcol = spec.parent_id_column
        if pcol is None or (spec.parent not in polys and pcol not in child.columns):
            continue
        mapping: dict[str, str | None] = {}
        need_derive = spec.parent in polys  # without the parent layer: the column only
        if pcol in child.columns:
            for cid, pid in zip(child[spec.id_column], child[pcol], strict=True):
                cid = normalise_id(cid)
                if cid is not None and cid not in mapping:
                    mapping[cid] = normalise_id(pid)
            need_derive = need_derive and any(v is None for v in mapping.values())
        if need_derive:
            derived = derive_parents(child, spec.id_column, polys[spec.parent], pcol)
            for cid, pid in derived.items():
                if mapping.get(cid) is None:
                    mapping[cid] = pid
        h.parents[level] = mapping
    return h


def point_coordinates(points: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """x/y of each feature in EPSG:4326; polygons use a point on their surface."""
    g = points.geometry
    if points.crs is not None and not points.crs.equals("EPSG:4326"):
        g = g.to_crs("EPSG:4326")
    return geometry_xy(np.asarray(g.values))  # plain object array: shapely ufuncs are fast


def geometry_xy(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x/y of each geometry (a point on the surface for polygons); NaN where missing or empty."""
    n = len(geoms)
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if present.any():
        sub = geoms[present]
        is_point = shapely.get_type_id(sub) == 0
        rep = sub.copy()
        if not is_point.all():  # point_on_surface only where needed (it is slow)
            rep[~is_point] = shapely.point_on_surface(sub[~is_point])
        x[present] = shapely.get_x(rep)
        y[present] = shapely.get_y(rep)
    return x, y


def assign_points(
    points: gpd.GeoDataFrame,
    hierarchy: Hierarchy,
    *,
    locators: Mapping[str, Locator] | None = None,
    nearest: bool = True,
) -> pd.DataFrame:
    """Assign every point to its micro-grid, grid, zone and community.

    Parameters
    ----------
    points
        Point features (polygons, e.g. parking lots, use a point on their
        surface). Any CRS; converted to EPSG:4326.
    hierarchy
        From :func:`build_hierarchy`.
    locators
        Optional level -> locator overriding the reference STRtree (the fast
        index plugs in here).
    nearest
        Add the nearest micro-grid and its distance (metres) for points that
        no micro-grid covers.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``points`` with columns ``microgrid_id``, ``grid_id``,
        ``zone_id``, ``community_id`` (None where no polygon owns the point),
        ``assigned_level`` (finest level that owns the point, None if none)
        and ``nearest_microgrid_id`` / ``nearest_microgrid_m`` for points not
        covered by a micro-grid.
    """
    x, y = point_coordinates(points)
    return assign_xy(x, y, hierarchy, locators=locators, nearest=nearest, index=points.index)


def _present(values: np.ndarray) -> np.ndarray:
    """Elementwise ``v is not None`` of an object array, without a Python loop."""
    return np.not_equal(values, None)  # type: ignore[call-overload]


def _lookup(mapping: Mapping[Any, Any], keys: np.ndarray) -> np.ndarray:
    """``[mapping.get(k) for k in keys]`` as an object array, hashed in C (pandas)."""
    out = np.full(len(keys), None, dtype=object)
    if not mapping or len(keys) == 0:
        return out
    if len(keys) < 10_000:  # a lookup's few points: no pandas import
        out[:] = [mapping.get(k) for k in keys]
        return out
    import pandas as pd

    index = pd.Index(list(mapping.keys()), dtype=object)
    values = np.empty(len(index), dtype=object)
    values[:] = list(mapping.values())
    pos = index.get_indexer(pd.Index(keys, dtype=object))
    hit = pos >= 0
    out[hit] = values[pos[hit]]
    return out


def assign_arrays(
    x: np.ndarray,
    y: np.ndarray,
    hierarchy: Hierarchy,
    *,
    locators: Mapping[str, Locator] | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The core join on WGS84 coordinate arrays, without building a DataFrame.

    Returns the four id columns (object arrays, None where no polygon owns the
    point) and the finest level that owns each point. Single-point lookups
    call this directly to keep their latency low.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = len(x)
    levels = hierarchy.levels
    out = {col: np.full(n, None, dtype=object) for col in ASSIGN_COLUMNS}
    level_col = np.full(n, None, dtype=object)
    get_loc = (lambda lv: locators[lv]) if locators else hierarchy.locator
    remaining = np.isfinite(x) & np.isfinite(y)
    # finest owner
    for level in levels:
        if not remaining.any():
            break
        idx = np.flatnonzero(remaining)
        found = np.asarray(get_loc(level)(x[idx], y[idx]), dtype=object)
        hit = _present(found)
        hit_idx = idx[hit]
        out[LAYERS[level].id_column][hit_idx] = found[hit]
        level_col[hit_idx] = level
        remaining[hit_idx] = False
    # parents by chain; a broken chain falls back to the point's own join
    for i, level in enumerate(POLYGON_LEVELS[:-1]):
        parent_level = POLYGON_LEVELS[i + 1]
        col, pcol = LAYERS[level].id_column, LAYERS[parent_level].id_column
        have = _present(out[col]) & ~_present(out[pcol])
        if not have.any():
            continue
        idx = np.flatnonzero(have)
        vals = _lookup(hierarchy.parents.get(level, {}), out[col][idx])
        out[pcol][idx] = vals
        broken = idx[~_present(vals)]
        if len(broken) and parent_level in hierarchy.polygons:
            out[pcol][broken] = get_loc(parent_level)(x[broken], y[broken])
    # a chain broken below a level (no grids layer, a micro-grid outside every grid):
    # points owned at a finer level are joined to each coarser level directly
    owned_finer = np.zeros(n, dtype=bool)
    for i, level in enumerate(POLYGON_LEVELS[:-1]):
        owned_finer |= level_col == level
        parent_level = POLYGON_LEVELS[i + 1]
        if parent_level not in hierarchy.polygons:
            continue
        pcol = LAYERS[parent_level].id_column
        # np.equal(.., None): elementwise "is missing" on object arrays, fast on millions
        orphan = owned_finer & np.equal(out[pcol], None)  # type: ignore[call-overload]
        orphan &= np.equal(out[LAYERS[level].id_column], None)  # type: ignore[call-overload]
        if orphan.any():
            idx = np.flatnonzero(orphan)
            out[pcol][idx] = get_loc(parent_level)(x[idx], y[idx])
    return out, level_col


def assign_xy(
    x: np.ndarray,
    y: np.ndarray,
    hierarchy: Hierarchy,
    *,
    locators: Mapping[str, Locator] | None = None,
    nearest: bool = True,
    index: pd.Index | None = None,
) -> pd.DataFrame:
    """:func:`assign_points` for WGS84 coordinate arrays (NaN where a point has no geometry).

    Used by the streaming join, which reads coordinates without building
    shapely points. ``index`` labels the rows of the result (default 0..n-1).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = len(x)
    import pandas as pd

    index = pd.RangeIndex(n) if index is None else index
    out, level_col = assign_arrays(x, y, hierarchy, locators=locators)
    frame = pd.DataFrame(
        {col: pd.Series(vals, index=index, dtype=object) for col, vals in out.items()}
    )
    frame[LEVEL_COLUMN] = pd.Series(level_col, index=index, dtype=object)
    frame[NEAREST_COLUMN] = pd.Series([None] * n, index=index, dtype=object)
    frame[NEAREST_DIST_COLUMN] = np.nan
    if nearest and "microgrids" in hierarchy.polygons:
        need = (
            np.array([v is None for v in out["microgrid_id"]], dtype=bool)
            & np.isfinite(x)
            & np.isfinite(y)
        )
        if need.any():
            nid, dist = nearest_polygon(
                hierarchy.polygons["microgrids"], "microgrid_id", x[need], y[need]
            )
            frame.loc[frame.index[need], NEAREST_COLUMN] = nid
            frame.loc[frame.index[need], NEAREST_DIST_COLUMN] = dist
    return frame


def nearest_polygon(
    polygons: gpd.GeoDataFrame, id_column: str, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest polygon id and distance in metres for WGS84 points (see :mod:`gridmap.join.nearest`)."""
    from gridmap.join.nearest import NearestPolygons

    return NearestPolygons.from_frame(polygons, id_column).query(x, y)


def summarise(layer: str, points: gpd.GeoDataFrame, result: pd.DataFrame) -> LayerAssignment:
    """Counts per level and the list of points not inside a micro-grid."""
    import pandas as pd

    id_col = LAYERS[layer].id_column if layer in LAYERS else None
    ids = (
        points[id_col]
        if id_col and id_col in points.columns
        else pd.Series(points.index.astype(str), index=points.index)
    )
    by_level = {lvl: int((result[LEVEL_COLUMN] == lvl).sum()) for lvl in POLYGON_LEVELS}
    by_level["none"] = int(result[LEVEL_COLUMN].isna().sum())
    x, _ = point_coordinates(points)
    no_geom = [str(v) for v in ids[~np.isfinite(x)]]
    mask = (result[LEVEL_COLUMN] != "microgrids").to_numpy()
    return LayerAssignment(
        layer,
        len(points),
        by_level,
        no_geom,
        unassigned_ids=ids[mask].astype(str).to_numpy(dtype=object),
        unassigned_levels=result[LEVEL_COLUMN].to_numpy(dtype=object)[mask],
        nearest_ids=result[NEAREST_COLUMN].to_numpy(dtype=object)[mask],
        nearest_m=result[NEAREST_DIST_COLUMN].to_numpy(dtype=float)[mask],
    )


def assign_general(
    path: Path,
    *,
    out: str | os.PathLike | None,
    layers: list[str] | None,
    write: bool,
    engine: str,
) -> AssignResult:
    """:func:`gridmap.join.assign.assign_workspace` on GeoDataFrames: every case.

    Reads the layers with the store (any CRS, any table), joins with the
    index or the reference and writes with :func:`gridmap.workspace.store.write_columns`
    (or a copy, with ``out``). The caller holds the writer lock when writing in place.
    """
    from gridmap.workspace import store as io

    # read only what the join needs: polygon ids and parent ids, point ids
    point_names = list(layers or POINT_LAYERS)
    wanted_cols: dict[str, list[str] | None] = {
        level: [LAYERS[level].id_column]
        + ([str(LAYERS[level].parent_id_column)] if LAYERS[level].parent else [])
        for level in POLYGON_LEVELS
    }
    for name in point_names:
        wanted_cols[name] = [LAYERS[name].id_column] if name in LAYERS else []
    ws = io.load_workspace(path, [*POLYGON_LEVELS, *point_names], columns=wanted_cols)
    hierarchy = build_hierarchy(ws.layers)
    locators = None
    if engine == "index":
        from gridmap.join.index import cache_dir_for, locators_for  # the fast exact index

        locators = locators_for(hierarchy, cache_dir=cache_dir_for(path), signature=ws.signature)
    elif engine != "reference":
        raise SchemaError(f"unknown engine '{engine}' (use 'reference' or 'index')")
    names = layers or [n for n in POINT_LAYERS if n in ws.layers]
    summaries: dict[str, LayerAssignment] = {}
    frames: dict[str, gpd.GeoDataFrame] = {}
    updates: dict[str, tuple[np.ndarray, pd.DataFrame]] = {}
    for name in names:
        pts = ws.require(name)
        res = assign_points(pts, hierarchy, locators=locators)
        merged = pts.drop(columns=[c for c in RESULT_COLUMNS if c in pts.columns])
        for col in RESULT_COLUMNS:
            merged[col] = res[col]
        frames[name] = merged
        updates[name] = (ws.fids[name], res[list(RESULT_COLUMNS)].reset_index(drop=True))
        summaries[name] = summarise(name, pts, res)
    written = None
    if write and updates:
        # only the result columns change: updated in place, in one SQLite transaction
        if out is not None and Path(out).resolve() != path.resolve():
            target = Path(out)

            def _copy_and_update(tmp: Path) -> None:
                shutil.copyfile(path, tmp)
                io.write_columns(tmp, updates, locked=True)

            written = io.atomic_write_file(target, _copy_and_update)
        else:
            written = io.write_columns(path, updates, locked=True)  # lock held by the caller
    return AssignResult(workspace=path, written_to=written, layers=summaries, _frames=frames)
