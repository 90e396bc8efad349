"""Coverage analyses: who is within reach of each kind of facility.

* :func:`compute_coverage` gives every household its distance (metres, in a
  metric CRS) to the nearest facility of one layer and whether it lies within
  the radius, and sums households, residents and elderly residents covered for
  the community and for every zone, grid and micro-grid.
* :func:`two_step_fca` is the capacity-aware accessibility (2SFCA): a pile
  with 8 ports counts for more than a pile with 1 port.
* the per-grid indicators built on these are in :mod:`gridmap.analysis.indicators`.

Distances
    ``euclidean``: straight line. Point facilities use a KD-tree
    (``scipy.spatial.cKDTree``; brute force below :data:`BRUTE_FORCE_PAIRS`);
    polygon facilities (parking lots drawn as areas) use the exact distance to the polygon (0 inside it) with shapely's
    STRtree. ``network``: walking distance along the ``roads`` layer (see
    :mod:`gridmap.analysis.network`); polygons enter the network at the street point
    nearest to the polygon and wherever a street crosses or touches their
    edge. ``auto`` uses the network when the workspace has a
    non-empty ``roads`` layer, else straight lines; results say which.

Households
    Their micro-grid, grid, zone and community are recomputed with the core
    join (:func:`gridmap.join.core.assign_points`) rather than trusting columns a
    possibly stale ``gridmap assign`` left on the layer. Households without a
    location are left out of every count and listed in the notes. Households
    that cannot reach any facility along the streets (a separate piece of
    network) get an infinite distance and count as not covered; the notes say
    how many. Shares of an area without households are None ("n/a"), never NaN.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from gridmap.analysis.standards import Standards, load_standards
from gridmap.coords.crs import metric_crs_for
from gridmap.errors import GridmapError, LayerNotFoundError, SchemaError
from gridmap.join.core import Hierarchy, assign_points, build_hierarchy, point_coordinates
from gridmap.join.inplace import CodedJoin
from gridmap.policy.jsonsafe import json_records, json_scalar
from gridmap.workspace import store as io
from gridmap.workspace.schema import LAYERS

#: Result level key -> (workspace layer, id column).
LEVELS: dict[str, tuple[str, str]] = {
    "community": ("communities", "community_id"),
    "zone": ("zones", "zone_id"),
    "grid": ("grids", "grid_id"),
    "microgrid": ("microgrids", "microgrid_id"),
}
DISTANCE_MODES = ("auto", "euclidean", "network")
LEVEL_COLUMNS = (
    "households",
    "covered",
    "share",
    "residents",
    "residents_covered",
    "share_residents",
    "elderly",
    "elderly_covered",
    "share_elderly",
)
#: What :func:`compute_coverage` reads: layer -> attribute columns (None: all). A
#: coverage run without the standards check or siting loads only these and its
#: facility layer.
COVERAGE_COLUMNS: dict[str, list[str] | None] = {
    "households": ["household_id", "residents", "elderly", "has_ev"],
    **{
        layer: [LAYERS[layer].id_column, "name"]
        + ([str(LAYERS[layer].parent_id_column)] if LAYERS[layer].parent else [])
        for layer, _ in LEVELS.values()
    },
    "roads": None,
}
#: From this many households on, they are joined with the exact cell index kept
#: next to the workspace (:mod:`gridmap.join.index`, the one ``gridmap assign``
#: uses) rather than shapely's STRtree: same answers, a fraction of the time.
FAST_JOIN_POINTS = 50_000
_TRUE = {"true", "1", "yes", "y", "t", "是", "有", "√"}


def _as_workspace(ws) -> io.Workspace:
    if isinstance(ws, io.Workspace):
        return ws
    if ws is None or isinstance(ws, str | os.PathLike):
        return io.load_workspace(ws)
    raise TypeError(f"expected a Workspace or a path, got {type(ws).__name__}")


_COUNT = re.compile(
    r"^\s*(?:约|大约|共|计)?\s*(\d+(?:\.\d+)?)\s*(?:人|口|户|个|位|辆|个?车位|个?端口|个?充电口)?\s*$"
)


def _numeric(s: pd.Series) -> pd.Series:
    """Counts as floats: numbers, numbers stored as text, and "3人" / "约50个" style text.

    Anything else is NaN (the caller notes it).
    """
    v = pd.to_numeric(s, errors="coerce").astype(float)
    miss = v.isna() & s.notna()
    if miss.any():
        m = s[miss].astype(str).str.extract(_COUNT, expand=False)
        v = v.copy()
        v[miss] = pd.to_numeric(m, errors="coerce").astype(float)
    return v


def _truthy(v) -> bool:
    """Read a has_ev-style flag: True, 1, "true", "yes", "是", "有" ... are true."""
    if v is None:
        return False
    if isinstance(v, str):
        return v.strip().lower() in _TRUE
    if pd.isna(v):
        return False
    return bool(v)


def _to_bool(s: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(s):
        return s.fillna(False).to_numpy(dtype=bool)
    return np.array([_truthy(v) for v in s], dtype=bool)


@dataclass
class CoverageContext:
    """Households located once, reused for several facility layers.

    Build it with :func:`make_context`.
    """

    ws: io.Workspace
    households: pd.DataFrame  # household_id, 4 id columns, residents, elderly, has_ev
    xy: np.ndarray  # (n, 2) household coordinates in the metric CRS (NaN where missing)
    located: np.ndarray  # bool: household has a location
    metric: pyproj.CRS
    hierarchy: Hierarchy | None
    distance: str  # resolved: "euclidean" or "network"
    network: object | None = None  # gridmap.analysis.network.RoadNetwork
    notes: list[str] = field(default_factory=list)
    has_residents: bool = False
    has_elderly: bool = False
    has_ev: bool = False
    _routing: dict = field(default_factory=dict, repr=False)
    _points: np.ndarray | None = field(default=None, repr=False)
    #: layer -> (code per household, the ids the codes index) when the coded join ran
    codes: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return len(self.households)

    @property
    def points(self) -> np.ndarray:
        """Household points in the metric CRS (None where missing), made on first use.

        Straight-line distances to point facilities use :attr:`xy` and never
        make them.
        """
        if self._points is None:
            pts = np.full(self.n, None, dtype=object)
            if self.located.any():
                pts[self.located] = shapely.points(self.xy[self.located])
            self._points = pts
        return self._points


def _metric_for(ws: io.Workspace) -> pyproj.CRS:
    for name in ("communities", "zones", "grids", "microgrids", "households", "roads"):
        gdf = ws.get(name)
        if gdf is not None and len(gdf) and not gdf.geometry.is_empty.all():
            return metric_crs_for(gdf[~(gdf.geometry.isna() | gdf.geometry.is_empty)])
    raise LayerNotFoundError("the workspace has no layer with geometry", file=str(ws.path))


def _has_roads(ws: io.Workspace) -> bool:
    roads = ws.get("roads")
    if roads is None or len(roads) == 0:
        return False
    t = roads.geometry.geom_type
    return bool(t.isin(["LineString", "MultiLineString"]).any())


def _id_column(code: np.ndarray, vocab: np.ndarray, index: pd.Index) -> pd.Series:
    """The ids ``vocab[code]`` (None where code is -1) as the column pandas makes of text.

    pandas 3 keeps text in Arrow: the column is taken from the vocabulary in
    Arrow directly, without a Python string per row.
    """
    text = pd.Series(["x"]).dtype
    if pd.api.types.is_object_dtype(text):
        ids = np.full(len(code), None, dtype=object)
        ids[code >= 0] = vocab.astype(object)[code[code >= 0]]
        return pd.Series(ids, index=index, dtype=object)
    import pyarrow as pa

    taken = pa.array(np.asarray(vocab, dtype=str), type=pa.string()).take(
        pa.array(np.maximum(code, 0), mask=code < 0)
    )
    return pd.Series(pd.array(taken, dtype=text), index=index)


def _coded_join(
    x: np.ndarray, y: np.ndarray, hierarchy: Hierarchy, path
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The core join with the cached cell indexes, as codes: layer -> (code per point, ids).

    The rules of :func:`gridmap.join.core.assign_points` on integers
    (:func:`gridmap.join.inplace.join_codes`, what ``gridmap assign`` runs);
    code -1: no polygon of that level owns the point.
    """
    from gridmap.join.index import cache_dir_for, locators_for  # the fast exact index
    from gridmap.join.inplace import join_hierarchy_codes

    locators = locators_for(hierarchy, cache_dir=cache_dir_for(path))
    by_level, _, chain = join_hierarchy_codes(x, y, hierarchy, locators)
    return {layer: (by_level[layer], chain.vocab[layer]) for layer, _ in LEVELS.values()}


def make_context(
    ws,
    distance: str = "auto",
    *,
    hierarchy: Hierarchy | None = None,
    locators=None,
    coded: CodedJoin | None = None,
) -> CoverageContext:
    """Locate households (ids from the core join, metric coordinates) once.

    Parameters
    ----------
    ws
        Workspace or path.
    distance
        ``"auto"`` (network when a ``roads`` layer exists), ``"euclidean"`` or ``"network"``.
    hierarchy, locators
        Reuse a :class:`gridmap.join.core.Hierarchy` / fast locators (see :mod:`gridmap.join.index`).
    coded
        The workspace's coded join (:func:`gridmap.join.inplace.coded_join_for`,
        read from the file before its layers);
        used when it was made from the same file version as ``ws``.

    Raises
    ------
    LayerNotFoundError
        No ``households`` layer, or ``distance="network"`` without a ``roads`` layer.
    SchemaError
        ``households`` has no ``household_id`` column; unknown ``distance``.
    """
    ws = _as_workspace(ws)
    if distance not in DISTANCE_MODES:
        raise SchemaError(f"unknown distance '{distance}' (use auto, euclidean or network)")
    hh = ws.require("households")
    if "household_id" not in hh.columns:
        raise SchemaError(
            "the households layer has no 'household_id' column",
            layer="households",
            file=str(ws.path),
        )
    notes: list[str] = []
    metric = _metric_for(ws)
    n = len(hh)
    if n == 0:
        notes.append("the households layer is empty: every count is 0 and every share n/a")
    frame = pd.DataFrame(index=hh.index)
    frame["household_id"] = hh["household_id"].astype(object).to_numpy()
    polys_present = any(
        ws.get(layer) is not None and len(ws.get(layer)) for layer, _ in LEVELS.values()
    )
    if hierarchy is None and polys_present:
        hierarchy = build_hierarchy(ws.layers)
    x, y = point_coordinates(hh)
    codes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if hierarchy is not None and n:
        if coded is not None and coded.signature == tuple(ws.signature):
            codes = {
                layer: (code, coded.chain.vocab[layer]) for layer, code in coded.join(x, y).items()
            }
        elif locators is None and n >= FAST_JOIN_POINTS and ws.path is not None:
            codes = _coded_join(x, y, hierarchy, ws.path)
        if codes:
            for layer, col in LEVELS.values():
                frame[col] = _id_column(*codes[layer], hh.index)
        else:
            assigned = assign_points(hh, hierarchy, locators=locators, nearest=False)
            for _, col in LEVELS.values():
                frame[col] = assigned[col].to_numpy()
    else:
        for _, col in LEVELS.values():
            frame[col] = pd.Series([None] * n, index=hh.index, dtype=object)
    ctx_flags = {}
    for col in ("residents", "elderly"):
        if col in hh.columns:
            vals = _numeric(hh[col])
            bad = vals.isna() | (vals < 0)
            if bad.any():
                ids = [str(v) for v in hh.loc[bad, "household_id"]]
                notes.append(
                    f"households: {int(bad.sum())} without a usable '{col}' figure "
                    f"(left out of {col} totals): {', '.join(ids[:10])}"
                    + (" ..." if len(ids) > 10 else "")
                )
            frame[col] = vals.where(~bad).to_numpy()
            ctx_flags[col] = True
        else:
            frame[col] = np.nan
            ctx_flags[col] = False
            notes.append(f"households: no '{col}' column, {col} figures are n/a")
    if "has_ev" in hh.columns:
        frame["has_ev"] = _to_bool(hh["has_ev"])
        ctx_flags["has_ev"] = True
    else:
        frame["has_ev"] = False
        ctx_flags["has_ev"] = False
    located = np.isfinite(x) & np.isfinite(y)
    if (~located).any():
        ids = [str(v) for v in frame.loc[~located, "household_id"]]
        notes.append(
            f"households: {len(ids)} without a location are left out of every count: "
            + ", ".join(ids[:10])
            + (" ..." if len(ids) > 10 else "")
        )
    tr = pyproj.Transformer.from_crs("EPSG:4326", metric, always_xy=True)
    mx, my = tr.transform(x, y)
    xy = np.column_stack([np.asarray(mx, dtype=float), np.asarray(my, dtype=float)])
    xy[~located] = np.nan
    frame["located"] = located
    roads_ok = _has_roads(ws)
    roads = ws.get("roads")
    no_lines = roads is not None and len(roads) > 0 and not roads_ok
    if distance == "network" and not roads_ok:
        what = (
            "the 'roads' layer holds no street centre-lines (LineString), only "
            + ", ".join(sorted(set(roads.geometry.geom_type.dropna().astype(str))))
            if no_lines
            else "network distance needs a 'roads' layer of street centre-lines"
        )
        raise LayerNotFoundError(
            f"{what} (add LineString centre-lines, e.g. in QGIS, or use distance=euclidean)",
            file=str(ws.path),
            layer="roads",
        )
    if distance == "auto" and no_lines:
        notes.append(
            "roads: the layer holds no street centre-lines (LineString); "
            "straight-line distances are used"
        )
    mode = (
        "network" if (distance == "network" or (distance == "auto" and roads_ok)) else "euclidean"
    )
    net = None
    if mode == "network":
        from gridmap.analysis.network import build_network

        net = build_network(ws.get("roads"), crs=metric)
        notes.extend(net.notes)
    return CoverageContext(
        ws=ws,
        households=frame,
        xy=xy,
        located=located,
        metric=metric,
        hierarchy=hierarchy,
        distance=mode,
        network=net,
        notes=notes,
        has_residents=ctx_flags["residents"],
        has_elderly=ctx_flags["elderly"],
        has_ev=ctx_flags["has_ev"],
        codes=codes,
    )


@dataclass
class Facilities:
    """One facility layer in the metric CRS (features without geometry removed)."""

    layer: str
    ids: np.ndarray
    geoms: np.ndarray
    capacity: np.ndarray
    frame: gpd.GeoDataFrame  # the kept rows, EPSG:4326
    notes: list[str]


CAPACITY_COLUMNS = {"charging_piles": "ports", "parking": "spaces"}


def load_facilities(ctx: CoverageContext, facility: str, *, required: bool = True) -> Facilities:
    """Read a facility layer; a missing layer raises LayerNotFoundError (or gives an empty set)."""
    gdf = ctx.ws.get(facility)
    notes: list[str] = []
    if gdf is None:
        if required:
            ctx.ws.require(facility)
        notes.append(f"{facility}: the workspace has no such layer; nothing is covered")
        gdf = gpd.GeoDataFrame({"geometry": []}, geometry="geometry", crs="EPSG:4326")
    spec = LAYERS.get(facility)
    id_col = spec.id_column if spec and spec.id_column in gdf.columns else None
    if id_col is None:
        cands = [
            c
            for c in gdf.columns
            if c.endswith("_id") and c not in ("microgrid_id", "grid_id", "zone_id", "community_id")
        ]
        id_col = cands[0] if cands else None
    ids = (
        gdf[id_col].astype(object).to_numpy()
        if id_col
        else np.array([str(i) for i in gdf.index], dtype=object)
    )
    geoms = gdf.geometry.values
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if (~ok).any():
        bad = [str(v) for v in ids[~ok]]
        notes.append(
            f"{facility}: {len(bad)} features without geometry were left out: {', '.join(bad[:10])}"
        )
    kept = gdf[ok]
    if len(gdf) == 0:
        notes.append(f"{facility}: the layer is empty; no household is covered")
    metric_geoms = (
        np.asarray(kept.to_crs(ctx.metric).geometry.values)
        if len(kept)
        else np.zeros(0, dtype=object)
    )
    cap_col = CAPACITY_COLUMNS.get(facility)
    if cap_col and cap_col in kept.columns:
        cap = _numeric(kept[cap_col]).to_numpy(dtype=float, copy=True)
        bad = ~np.isfinite(cap) | (cap < 0)
        if bad.any():
            bad_ids = [str(v) for v in ids[ok][bad]]
            notes.append(
                f"{facility}: {len(bad_ids)} without a usable '{cap_col}' figure counted as 1: "
                + ", ".join(bad_ids[:10])
            )
            cap[bad] = 1.0
    else:
        if cap_col and len(kept):
            notes.append(f"{facility}: no '{cap_col}' column; each feature counts as capacity 1")
        cap = np.ones(len(kept))
    return Facilities(facility, ids[ok], metric_geoms, cap, kept, notes)


def nearest_euclidean(
    points: np.ndarray, facilities: np.ndarray, *, workers: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Straight-line distance from each point to the nearest facility, and its index.

    Parameters
    ----------
    points
        Shapely points in a metric CRS, or their coordinates as a float array
        of shape (n, 2) (faster: no geometry objects are made for point
        facilities).
    facilities
        Shapely points or polygons in the same CRS, or point coordinates as a
        float array of shape (m, 2). Points use a KD-tree
        (``scipy.spatial.cKDTree``; brute force for small inputs); polygons
        use the exact distance to the polygon (0 inside) with shapely's STRtree.
    workers
        Threads for the KD-tree query (``-1``: all cores).

    Returns
    -------
    distance (inf where there is no facility), facility index (-1 where none)
    """
    n = len(points)
    dist = np.full(n, np.inf)
    idx = np.full(n, -1, dtype=np.int64)
    if n == 0 or len(facilities) == 0:
        return dist, idx
    pts_are_xy = isinstance(points, np.ndarray) and points.dtype.kind == "f"
    xy = points if pts_are_xy else shapely.get_coordinates(points)
    if isinstance(facilities, np.ndarray) and facilities.dtype.kind == "f":
        return _nearest_points(xy, facilities, workers)
    is_point = shapely.get_type_id(facilities) == 0
    if is_point.any():
        fpos = np.flatnonzero(is_point)
        d, i = _nearest_points(xy, shapely.get_coordinates(facilities[fpos]), workers)
        dist, idx = d, fpos[i]
    if (~is_point).any():
        geoms = shapely.points(xy) if pts_are_xy else points
        ppos = np.flatnonzero(~is_point)
        stree = shapely.STRtree(facilities[ppos])
        (pi, ti), d = stree.query_nearest(geoms, return_distance=True, all_matches=False)
        better = d < dist[pi]
        dist[pi[better]] = d[better]
        idx[pi[better]] = ppos[ti[better]]
    return np.asarray(dist, dtype=float), idx


#: Up to this many point x facility pairs (the sample: 3,500 x 10), nearest points are
#: found by brute force: no KD-tree, so scipy is not loaded and a small workspace's
#: command starts faster.
BRUTE_FORCE_PAIRS = 250_000


def _nearest_points(xy: np.ndarray, fxy: np.ndarray, workers: int) -> tuple[np.ndarray, np.ndarray]:
    """Distance to and index of the nearest of the points ``fxy`` for each row of ``xy``.

    Exact either way; on a tie the KD-tree may pick any of the nearest, brute
    force picks the first.
    """
    xy = np.asarray(xy, dtype=float)
    fxy = np.asarray(fxy, dtype=float)
    if len(xy) * len(fxy) > BRUTE_FORCE_PAIRS:
        from scipy.spatial import cKDTree

        tree = cKDTree(fxy, balanced_tree=False, compact_nodes=False)
        d, i = tree.query(xy, k=1, workers=workers)
        return np.asarray(d, dtype=float), np.asarray(i, dtype=np.int64)
    dx = xy[:, 0, None] - fxy[None, :, 0]
    dy = xy[:, 1, None] - fxy[None, :, 1]
    d2 = dx * dx + dy * dy
    i = np.argmin(d2, axis=1)
    return np.sqrt(d2[np.arange(len(xy)), i]), i.astype(np.int64)


def pairs_euclidean(points: np.ndarray, facilities: np.ndarray, radius_m: float):
    """All (point index, facility index, distance) with straight distance <= radius."""
    if len(points) == 0 or len(facilities) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    tree = shapely.STRtree(facilities)
    pi, fj = tree.query(points, predicate="dwithin", distance=radius_m)
    d = shapely.distance(points[pi], facilities[fj])
    keep = d <= radius_m
    return pi[keep].astype(np.int64), fj[keep].astype(np.int64), np.asarray(d[keep], dtype=float)


def _routing(ctx: CoverageContext, fac: Facilities):
    from gridmap.analysis.network import route

    key = (fac.layer, len(fac.geoms), id(fac.geoms))
    if key not in ctx._routing:
        ctx._routing = {key: route(ctx.network, fac.geoms).solve()}
    return ctx._routing[key]


def _inside_polygons(points: np.ndarray, facilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(point index, facility index) for points covered by a polygon facility.

    ``points``: shapely points or their coordinates, shape (n, 2).
    """
    empty = np.zeros(0, np.int64)
    poly = np.flatnonzero(np.isin(shapely.get_type_id(facilities), [3, 6]))
    if len(poly) == 0 or len(points) == 0:
        return empty, empty
    if isinstance(points, np.ndarray) and points.dtype.kind == "f":
        points = shapely.points(points)
    pi, ti = shapely.STRtree(facilities[poly]).query(points, predicate="intersects")
    return pi.astype(np.int64), poly[ti].astype(np.int64)


def facility_distances(ctx: CoverageContext, fac: Facilities) -> tuple[np.ndarray, np.ndarray]:
    """Distance (m) and nearest facility index for every household (NaN/-1 where unlocated)."""
    dist = np.full(ctx.n, np.nan)
    idx = np.full(ctx.n, -1, dtype=np.int64)
    loc = ctx.located
    if ctx.distance == "network" and len(fac.geoms):
        xy = ctx.xy[loc]
        d, i = _routing(ctx, fac).household_distances(xy)
        hi, fj = _inside_polygons(xy, fac.geoms)
        d[hi], i[hi] = 0.0, fj  # a household inside a lot is there: no walk
    else:
        d, i = nearest_euclidean(ctx.xy[loc], fac.geoms, workers=-1)
    dist[loc] = d
    idx[loc] = i
    return dist, idx


def facility_pairs(ctx: CoverageContext, fac: Facilities, radius_m: float):
    """(household row, facility index, distance) for every pair within the radius."""
    loc = np.flatnonzero(ctx.located)
    pts = ctx.points[loc]
    if ctx.distance == "network" and len(fac.geoms):
        hi, fj, d = _routing(ctx, fac).pairs_within(pts, radius_m)
        ih, jf = _inside_polygons(pts, fac.geoms)
        if len(ih):  # households inside a lot: distance 0 to it
            n_f = max(len(fac.geoms), 1)
            known = np.isin(hi * n_f + fj, ih * n_f + jf)
            hi = np.concatenate([hi[~known], ih])
            fj = np.concatenate([fj[~known], jf])
            d = np.concatenate([d[~known], np.zeros(len(ih))])
    else:
        hi, fj, d = pairs_euclidean(pts, fac.geoms, radius_m)
    return loc[hi], fj, d


@dataclass
class CoverageResult:
    """Coverage of one facility layer: per household and per level.

    Attributes
    ----------
    facility, radius_m, distance
        The layer, the radius in metres, and ``"euclidean"`` or ``"network"``.
    households
        GeoDataFrame (EPSG:4326): household_id, microgrid_id, grid_id, zone_id,
        community_id, residents, elderly, distance_m (inf when no facility can
        be reached, NaN when the household has no location), covered,
        nearest_facility_id. Holds no names, phones or addresses.
    by_level
        ``"community"``, ``"zone"``, ``"grid"``, ``"microgrid"`` -> DataFrame with
        the id column, name, households, covered, share, residents,
        residents_covered, share_residents, elderly, elderly_covered, share_elderly.
        Every polygon of the level is listed, also those without households
        (share NaN there; None in :meth:`to_json`).
    notes
        Everything a reader should know: missing columns, unreachable households...
    """

    facility: str
    radius_m: float
    distance: str
    households: gpd.GeoDataFrame
    by_level: dict[str, pd.DataFrame]
    notes: list[str] = field(default_factory=list)
    facilities: int = 0
    outside: dict[str, int] = field(default_factory=dict)

    def totals(self) -> dict:
        hh = (
            self.households[self.households["located"]]
            if "located" in self.households
            else self.households
        )
        n = len(hh)
        cov = int(hh["covered"].sum())
        res = hh["residents"].sum(min_count=1)
        res_cov = hh.loc[hh["covered"], "residents"].sum(min_count=1) if n else np.nan
        eld = hh["elderly"].sum(min_count=1)
        eld_cov = hh.loc[hh["covered"], "elderly"].sum(min_count=1) if n else np.nan
        if pd.notna(res) and pd.isna(res_cov):
            res_cov = 0.0
        if pd.notna(eld) and pd.isna(eld_cov):
            eld_cov = 0.0
        finite = np.isfinite(hh["distance_m"].to_numpy(dtype=float))
        return {
            "households": n,
            "covered": cov,
            "share": _ratio(cov, n),
            "residents": json_scalar(res),
            "residents_covered": json_scalar(res_cov),
            "share_residents": _ratio(res_cov, res),
            "elderly": json_scalar(eld),
            "elderly_covered": json_scalar(eld_cov),
            "share_elderly": _ratio(eld_cov, eld),
            "unreachable": int((~finite).sum()),
            # unreachable households count as infinitely far: None when they are the majority
            "median_distance_m": json_scalar(
                round(float(np.median(hh["distance_m"].to_numpy(dtype=float))), 1)
            )
            if n
            else None,
        }

    def to_json(self) -> dict:
        """JSON-safe summary (aggregates only; no NaN or inf anywhere)."""
        out = {
            "facility": self.facility,
            "radius_m": json_scalar(float(self.radius_m)),
            "distance": self.distance,
            "facilities": self.facilities,
        }
        out.update(self.totals())
        out["no_location"] = (
            int((~self.households["located"]).sum()) if "located" in self.households else 0
        )
        out["outside"] = dict(self.outside)
        grid = self.by_level.get("grid")
        out["by_grid"] = json_records(grid) if grid is not None else []
        out["by_level"] = {k: json_records(v) for k, v in self.by_level.items()}
        out["notes"] = list(self.notes)
        return out


def _ratio(a, b):
    a, b = json_scalar(a), json_scalar(b)
    if a is None or b is None or b == 0:
        return None
    return round(float(a) / float(b), 4)


def aggregate(
    hh: pd.DataFrame,
    level: str,
    ws: io.Workspace,
    codes: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[pd.DataFrame, int]:
    """Sum households/residents/elderly (covered and all) per polygon of one level.

    Returns the table (every polygon listed) and the number of located
    households outside every polygon of the level. The sums are
    ``numpy.bincount`` over the factorised ids (no Python per group); a
    polygon whose households all lack a figure gets NaN for it. ``codes``:
    the level's ids of ``hh`` already as (code per row, ids), -1 for none.
    """
    layer, col = LEVELS[level]
    located = hh["located"].to_numpy(dtype=bool)
    poly = ws.get(layer)
    if poly is not None and col in poly.columns:
        base = poly[[col] + (["name"] if "name" in poly.columns else [])].copy()
        base = base[base[col].notna()].drop_duplicates(col)
        base[col] = base[col].astype(str).astype(object)
    else:
        base = pd.DataFrame({col: pd.Series(dtype=object)})
    if "name" not in base.columns:
        base["name"] = None
    if codes is not None:
        code, uniques = codes[0][located], codes[1]
    else:
        code, uniques = pd.factorize(hh[col].to_numpy(dtype=object)[located], use_na_sentinel=True)
    inside = code >= 0
    k = len(uniques)
    c = code[inside]
    cov = hh["covered"].to_numpy(dtype=bool)[located][inside]
    sums: dict[str, np.ndarray] = {
        "households": np.bincount(c, minlength=k).astype(np.int64),
        "covered": np.bincount(c, weights=cov, minlength=k).astype(np.int64),
    }
    for fig in ("residents", "elderly"):
        v = hh[fig].to_numpy(dtype=float)[located][inside]
        known = ~np.isnan(v)
        v0 = np.where(known, v, 0.0)
        total = np.bincount(c, weights=v0, minlength=k)
        sums[fig] = np.where(np.bincount(c, weights=known, minlength=k) > 0, total, np.nan)
        sums[f"{fig}_covered"] = np.bincount(c, weights=np.where(cov, v0, 0.0), minlength=k)
    agg = pd.DataFrame({col: np.asarray(uniques, dtype=object).astype(str).astype(object), **sums})
    agg = agg[agg["households"] > 0]  # (a vocabulary may name ids no household has)
    out = base.merge(agg, on=col, how="outer")
    out["households"] = out["households"].fillna(0).astype(int)
    out["covered"] = out["covered"].fillna(0).astype(int)
    for fig in ("residents", "elderly"):
        known = out[fig].notna()
        out.loc[~known, f"{fig}_covered"] = np.nan
        if np.isnan(hh[fig].to_numpy(dtype=float)[located]).all():
            out[fig] = np.nan
            out[f"{fig}_covered"] = np.nan
        elif level and (out["households"] == 0).any():
            empty = out["households"] == 0
            out.loc[empty, fig] = 0.0
            out.loc[empty, f"{fig}_covered"] = 0.0
    hhs = out["households"].astype(float)
    out["share"] = (out["covered"] / hhs.where(hhs > 0)).round(4)
    res = out["residents"].astype(float)
    out["share_residents"] = (out["residents_covered"].astype(float) / res.where(res > 0)).round(4)
    eld = out["elderly"].astype(float)
    out["share_elderly"] = (out["elderly_covered"].astype(float) / eld.where(eld > 0)).round(4)
    out = out[[col, "name", *LEVEL_COLUMNS]].sort_values(col, kind="stable").reset_index(drop=True)
    return out, int(np.count_nonzero(~inside))


def compute_coverage(
    ws,
    facility: str,
    radius_m: float | None = None,
    *,
    distance: str = "auto",
    standards: Standards | str | os.PathLike | None = None,
    context: CoverageContext | None = None,
) -> CoverageResult:
    """Distance to the nearest facility and coverage shares at every level.

    Parameters
    ----------
    ws
        A :class:`gridmap.workspace.store.Workspace` (or a workspace path).
    facility
        Facility layer: ``service_stations``, ``charging_piles``, ``parking``
        (any point/polygon layer of the workspace works).
    radius_m
        Catchment radius in metres; default from the standards file
        (``[radii]``: 1000 / 500 / 300 m, GB 50180-2018 life circles).
    distance
        ``"auto"`` (network when the workspace has ``roads``), ``"euclidean"``
        or ``"network"``.
    standards
        Standards file (or :class:`~gridmap.analysis.standards.Standards`) for default radii.
    context
        A :class:`CoverageContext` from :func:`make_context`, to reuse located households.

    Returns
    -------
    CoverageResult

    Raises
    ------
    LayerNotFoundError
        The facility layer or ``households`` is missing (or ``roads`` with
        ``distance="network"``).
    SchemaError
        A non-positive radius or an unknown distance mode.
    """
    std = load_standards(standards)
    if radius_m is None:
        radius_m = std.radius_for(facility)
    radius_m = float(radius_m)
    if not math.isfinite(radius_m) or radius_m <= 0:
        raise SchemaError(f"the radius must be a positive number of metres, got {radius_m:g}")
    ctx = context if context is not None else make_context(ws, distance)
    fac = load_facilities(ctx, facility, required=True)
    notes = list(ctx.notes) + fac.notes
    dist, idx = facility_distances(ctx, fac)
    hh = ctx.households.copy()
    hh["distance_m"] = np.round(dist, 1)
    hh["covered"] = np.isfinite(dist) & (dist <= radius_m)
    hh["nearest_facility_id"] = np.where(
        idx >= 0, fac.ids[np.maximum(idx, 0)] if len(fac.ids) else None, None
    )
    unreachable = ctx.located & ~np.isfinite(dist)
    if unreachable.any() and len(fac.geoms):
        ids = [str(v) for v in hh.loc[unreachable, "household_id"]]
        notes.append(
            f"{len(ids)} households cannot reach any {facility} along the streets (their street "
            f"piece is not connected to one); they count as not covered: {', '.join(ids[:10])}"
            + (" ..." if len(ids) > 10 else "")
        )
    by_level: dict[str, pd.DataFrame] = {}
    outside: dict[str, int] = {}
    for level, (layer, _) in LEVELS.items():
        table, n_out = aggregate(hh, level, ctx.ws, codes=ctx.codes.get(layer))
        by_level[level] = table
        if ctx.ws.get(layer) is None:
            notes.append(f"the workspace has no '{layer}' layer; the {level} table is empty")
        elif n_out:
            outside[level] = n_out
            notes.append(
                f"{n_out} households lie outside every {layer} polygon (counted in the totals only)"
            )
        empty = table[table["households"] == 0]
        if len(empty) and level in ("grid", "microgrid"):
            notes.append(
                f"{len(empty)} {layer} without households: share n/a ("
                + ", ".join(empty.iloc[:, 0].astype(str).head(10))
                + (" ..." if len(empty) > 10 else "")
                + ")"
            )
    geo = gpd.GeoDataFrame(
        hh.drop(columns=["has_ev"]),
        geometry=ctx.ws.require("households").geometry.values,
        crs="EPSG:4326",
    )
    return CoverageResult(
        facility=facility,
        radius_m=radius_m,
        distance=ctx.distance,
        households=geo,
        by_level=by_level,
        notes=notes,
        facilities=len(fac.geoms),
        outside=outside,
    )


def gaussian_weight(d: np.ndarray, radius_m: float) -> np.ndarray:
    """Gaussian decay of Dai (2010): 1 at distance 0, 0 at the radius."""
    e = math.exp(-0.5)
    w = (np.exp(-0.5 * (np.asarray(d) / radius_m) ** 2) - e) / (1.0 - e)
    return np.where(np.asarray(d) <= radius_m, w, 0.0)


def two_step_fca(
    hh_rows: np.ndarray,
    fac_idx: np.ndarray,
    dist: np.ndarray,
    supply: np.ndarray,
    demand: np.ndarray,
    radius_m: float,
    decay: str = "none",
) -> tuple[np.ndarray, np.ndarray]:
    """Two-step floating catchment accessibility from (household, facility, distance) pairs.

    Step 1: each facility's supply-to-demand ratio
    ``R_j = S_j / sum_i(P_i * w(d_ij))`` over households within the radius.
    Step 2: each household's accessibility ``A_i = sum_j(R_j * w(d_ij))``.
    With ``decay="none"`` the weight is 1 inside the radius; with
    ``"gaussian"`` it is :func:`gaussian_weight`. A facility no demand reaches
    has no ratio and adds nothing.

    Parameters
    ----------
    hh_rows, fac_idx, dist
        Pairs within the radius.
    supply
        Capacity per facility (ports, spaces, 1 per station).
    demand
        Demand per household (1, or 1 for households with an EV and 0 otherwise).

    Returns
    -------
    accessibility per household (supply units per demand unit), ratio per facility (NaN if none)
    """
    if decay not in ("none", "gaussian"):
        raise SchemaError(f"unknown decay '{decay}' (use none or gaussian)")
    w = np.ones(len(dist)) if decay == "none" else gaussian_weight(dist, radius_m)
    demand = np.asarray(demand, dtype=float)
    supply = np.asarray(supply, dtype=float)
    denom = np.zeros(len(supply))
    np.add.at(denom, fac_idx, demand[hh_rows] * w)
    ratio = np.where(denom > 0, supply / np.where(denom > 0, denom, 1.0), np.nan)
    access = np.zeros(len(demand))
    contrib = ratio[fac_idx] * w
    ok = np.isfinite(contrib)
    np.add.at(access, hh_rows[ok], contrib[ok])
    return access, ratio


def accessibility(
    ctx: CoverageContext,
    facility: str,
    radius_m: float,
    decay: str = "none",
    fac: Facilities | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """2SFCA accessibility per household for one facility layer.

    Demand is one per household, except for charging piles where it is one
    per household with an EV (when the layer has ``has_ev``). Capacity is
    ``ports`` for charging piles, ``spaces`` for parking, 1 otherwise.

    Returns
    -------
    access per household (NaN where unlocated), demand per household, notes
    """
    fac = fac or load_facilities(ctx, facility, required=False)
    notes = list(fac.notes)
    demand = ctx.located.astype(float)
    if facility == "charging_piles":
        if ctx.has_ev:
            demand = demand * ctx.households["has_ev"].to_numpy(dtype=float)
        else:
            notes.append(
                "households: no 'has_ev' column; every household counts as charging demand"
            )
    hi, fj, d = facility_pairs(ctx, fac, radius_m)
    access, _ = two_step_fca(hi, fj, d, fac.capacity, demand, radius_m, decay)
    access = np.where(ctx.located, access, np.nan)
    return access, demand, notes


def coverage_summary_frame(result: CoverageResult, level: str) -> pd.DataFrame:
    """The level table of a result (helper for the CLI and exports)."""
    if level not in result.by_level:
        raise GridmapError(f"unknown level '{level}' (use community, zone, grid or microgrid)")
    return result.by_level[level]


#: Readable (bilingual) column headers for spreadsheets.
HEADERS = {
    "community_id": "社区 Community ID",
    "zone_id": "片区 Zone ID",
    "grid_id": "网格 Grid ID",
    "microgrid_id": "微网格 Micro-grid ID",
    "name": "名称 Name",
    "households": "户数 Households",
    "covered": "覆盖户数 Households covered",
    "share": "户覆盖率 Share of households covered",
    "residents": "人口 Residents",
    "residents_covered": "覆盖人口 Residents covered",
    "share_residents": "人口覆盖率 Share of residents covered",
    "elderly": "老年人 Elderly",
    "elderly_covered": "覆盖老年人 Elderly covered",
    "share_elderly": "老年人覆盖率 Share of elderly covered",
    "elderly_share": "老龄化率 Elderly share of residents",
    "ev_households": "电动车户数 Households with an EV",
    "charging_piles": "充电桩 Charging piles",
    "charging_ports": "充电端口 Charging ports",
    "ports_per_ev_household": "端口/电动车户 Ports per EV household",
    "parking_lots": "停车场 Parking lots",
    "parking_spaces": "车位 Parking spaces",
    "spaces_per_household": "车位/户 Spaces per household",
    "service_stations": "服务驿站 Service stations",
    "households_per_station": "户/驿站 Households per station",
    "grid_workers": "网格员 Grid workers",
    "households_per_worker": "户/网格员 Households per worker",
    "microgrids": "微网格数 Micro-grids",
    "microgrid_households_min": "微网格最少户数 Min households per micro-grid",
    "microgrid_households_max": "微网格最多户数 Max households per micro-grid",
    "microgrids_in_range_share": "合规微网格比例 Share of micro-grids in size range",
    "rule_id": "规则 Rule ID",
    "rule": "规则说明 Rule",
    "value": "数值 Value",
    "threshold": "标准 Threshold",
    "passed": "达标 Passed",
    "source": "依据 Source",
    "notes": "说明 Notes",
    "rank": "序号 Rank",
    "candidate": "候选点 Candidate",
    "newly_covered": "新增覆盖 Newly covered",
    "households_newly_covered": "新增覆盖户数 Households newly covered",
}


def _readable(df: pd.DataFrame) -> pd.DataFrame:
    out = df.drop(columns=[c for c in ("geometry",) if c in df.columns]).copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].map(lambda v: "n/a" if v is None else v)
        elif pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].astype(object).map(lambda v: "n/a" if not math.isfinite(v) else v)
    return out.rename(columns=_header)


_LAYER_ZH = {"service_stations": "服务驿站", "charging_piles": "充电桩", "parking": "停车"}
_FAC_COL = re.compile(r"^(coverage_share|access_2sfca)_(.+)_(\d+(?:\.\d+)?)m$")


def _header(col: str) -> str:
    """Bilingual spreadsheet header for a column name."""
    if col in HEADERS:
        return HEADERS[col]
    m = _FAC_COL.match(col)
    if m:
        kind, layer, r = m.groups()
        zh = _LAYER_ZH.get(layer, layer)
        if kind == "coverage_share":
            return f"{zh}{r}米覆盖率 Share of households within {r} m of {layer}"
        return f"{zh}{r}米可达性(2SFCA) Accessibility within {r} m of {layer} (2SFCA)"
    return col


def write_coverage(
    out_path: str | os.PathLike,
    result: CoverageResult,
    *,
    indicators: gpd.GeoDataFrame | None = None,
    standards: pd.DataFrame | None = None,
    sites: gpd.GeoDataFrame | None = None,
) -> os.PathLike:
    """Write coverage aggregates atomically; the format follows the suffix.

    ``.xlsx``: one sheet per level (community, zone, grid, microgrid), plus
    ``indicators``, ``standards``, ``sites`` and ``notes`` sheets when given;
    frozen header row, bilingual headers, "n/a" where a figure is not available.
    ``.csv``: the grid table (UTF-8 with BOM so Excel shows Chinese).
    ``.gpkg``: layer ``coverage_grids`` (grid polygons with coverage figures and
    indicators, plus ``rules_failed``), and ``proposed_sites`` when given.
    Only aggregates are written: no household, name, phone or address.

    Raises
    ------
    GridmapError
        For an unsupported suffix.
    """
    from pathlib import Path

    import pyogrio

    from gridmap.policy.privacy import COVERAGE, DEFAULT, GRID_STATS

    p = Path(out_path)
    suffix = p.suffix.lower()
    # a shared file: only what the privacy policy lets anyone see (aggregates)
    by_level = {lvl: DEFAULT.public_frame(COVERAGE, df) for lvl, df in result.by_level.items()}
    if indicators is not None:
        indicators = DEFAULT.public_frame(GRID_STATS, indicators)
    grid = by_level["grid"]
    if suffix == ".csv":
        return io.atomic_write_file(
            p, lambda tmp: grid.to_csv(tmp, index=False, encoding="utf-8-sig")
        )
    if suffix == ".xlsx":

        def write_xlsx(tmp):
            with pd.ExcelWriter(tmp, engine="openpyxl") as xw:
                sheets: dict[str, pd.DataFrame] = dict(by_level)
                if indicators is not None:
                    sheets["indicators"] = indicators
                if standards is not None:
                    sheets["standards"] = standards
                if sites is not None:
                    s = sites.copy()
                    s["lon"] = s.geometry.x.round(7)
                    s["lat"] = s.geometry.y.round(7)
                    sheets["sites"] = pd.DataFrame(s.drop(columns="geometry"))
                meta = [
                    f"facility: {result.facility}",
                    f"radius_m: {result.radius_m:g}",
                    f"distance: {result.distance}",
                    *result.notes,
                ]
                sheets["notes"] = pd.DataFrame({"notes": meta})
                for name, df in sheets.items():
                    _readable(df).to_excel(xw, sheet_name=name, index=False)
                    sh = xw.sheets[name]
                    sh.freeze_panes = "A2"
                    for col in sh.columns:
                        width = max(len(str(c.value or "")) for c in col[:200])
                        sh.column_dimensions[col[0].column_letter].width = min(
                            60, max(10, width + 2)
                        )

        return io.atomic_write_file(p, write_xlsx)
    if suffix == ".gpkg":
        ind = indicators
        if ind is None:
            raise GridmapError(
                "a .gpkg output holds the grid polygons with their indicators; a workspace "
                "without a 'grids' layer can write .xlsx or .csv instead "
                "(pass indicators=gridmap.analysis.indicators.grid_indicators(ws))",
                file=str(p),
            )
        cov = grid[["grid_id", "households", "covered", "share"]].rename(
            columns={"covered": f"covered_{result.facility}", "share": f"share_{result.facility}"}
        )
        layer = ind.drop(columns=["households"]).merge(cov, on="grid_id", how="left")
        if standards is not None and len(standards):
            failed = standards[standards["passed"].map(lambda v: v is False)]
            fails = failed.groupby("grid_id")["rule_id"].apply(lambda s: ",".join(s))
            layer["rules_failed"] = layer["grid_id"].map(fails).fillna("")
        for c in layer.columns:
            if c != "geometry" and pd.api.types.is_float_dtype(layer[c]):
                layer[c] = layer[c].where(np.isfinite(layer[c].astype(float)))
        layer = gpd.GeoDataFrame(layer, geometry="geometry", crs="EPSG:4326")

        def write_gpkg(tmp):
            pyogrio.write_dataframe(
                layer, tmp, layer="coverage_grids", driver="GPKG", promote_to_multi=True
            )
            if sites is not None and len(sites):
                pyogrio.write_dataframe(
                    sites, tmp, layer="proposed_sites", driver="GPKG", append=False
                )

        return io.atomic_write_file(p, write_gpkg)
    raise GridmapError(f"cannot write '{p.suffix}' files; use .xlsx, .csv or .gpkg", file=str(p))
