"""Workspace validation (``gridmap validate``).

Every finding names its layer and the id(s) concerned, and where it makes
sense a WGS84 location and a value (an area in m², a distance in m).

Severities (documented in docs/import-validate.md):

========================  ========  =================================================
code                      severity  meaning
========================  ========  =================================================
missing_layer             error     neither ``microgrids`` nor ``grids`` exists
missing_layer             warning   ``microgrids`` or ``households`` is missing
no_crs                    error     the layer has no coordinate system
missing_column            error     a required column (schema.LAYERS) is missing
null_id                   error     a feature has no id
duplicate_id              error     several features share an id
empty_geometry            error     null or empty geometry
wrong_geometry_type       error     e.g. a LineString in a polygon layer
invalid_geometry          error     shapely's reason and location (``--fix`` repairs)
overlap                   error     two polygons of one layer overlap (area ≥ tolerance)
outside_parent            error     part of a child polygon lies outside its parent
unknown_parent            error     the parent id names no feature of the parent layer
parent_mismatch           error     the parent id column disagrees with the geometry
gap                       warning   part of a parent covered by no child (often a
                                    park or school on purpose)
point_outside             warning   a point layer feature lies in no micro-grid (or
                                    no grid, when there are no micro-grids)
empty_layer               warning   a workspace layer has no features
crs_shift_suspected       warning   points fit the micro-grids only when read as
                                    GCJ-02/BD-09 (imported without --crs gcj02?)
========================  ========  =================================================

Areas are computed in a metric CRS chosen from the data
(:func:`gridmap.coords.crs.metric_crs_for`). Overlaps, gaps and outside parts smaller
than :data:`AREA_TOLERANCE_M2` (0.5 m²) are ignored as digitising slivers.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from gridmap.checks.repair import make_polygonal_valid
from gridmap.coords.crs import WGS84, metric_crs_for
from gridmap.coords.shift import shift_suspicion
from gridmap.join.core import (
    assign_points,
    box_overlap_areas,
    build_hierarchy,
    largest_overlaps,
    nearest_polygon,
    overlap_areas,
    point_coordinates,
)
from gridmap.policy.ids import normalise_id, normalise_id_columns, show_id
from gridmap.workspace import store as gio
from gridmap.workspace.schema import (
    GRIDS,
    HOUSEHOLDS,
    LAYERS,
    MICROGRIDS,
    POINT_LAYERS,
    POLYGON_LEVELS,
)

#: Overlaps, gaps and parts outside a parent below this area (m²) are ignored.
AREA_TOLERANCE_M2 = 0.5
#: Slack (m²) when a bound decides that an exact area need not be computed: far
#: above the rounding of GEOS's areas, far below the tolerance.
_BOUND_MARGIN_M2 = 1e-3

SINGULAR = {
    "communities": "community",
    "zones": "zone",
    "grids": "grid",
    "microgrids": "micro-grid",
}

_LOC_RE = re.compile(r"\[\s*([-+0-9.eE]+)\s+([-+0-9.eE]+)\s*\]")


@dataclass
class Finding:
    """One problem found in a workspace."""

    severity: str  # "error" | "warning"
    code: str
    layer: str | None
    ids: list[str]
    message: str
    lon: float | None = None
    lat: float | None = None
    value: float | None = None

    def to_dict(self) -> dict:
        return {
            "severity": self.severity,
            "code": self.code,
            "layer": self.layer,
            "ids": self.ids,
            "message": self.message,
            "lon": _num(self.lon, 7),
            "lat": _num(self.lat, 7),
            "value": _num(self.value, 2),
        }


@dataclass
class Change:
    """One change made by ``fix=True``."""

    layer: str
    id: str
    action: str
    detail: str

    def to_dict(self) -> dict:
        return {"layer": self.layer, "id": self.id, "action": self.action, "detail": self.detail}


@dataclass
class ValidationReport:
    """Findings (and, with ``fix``, changes) for one workspace."""

    workspace: Path
    findings: list[Finding] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    fixed: bool = False
    tolerance_m2: float = AREA_TOLERANCE_M2
    #: Per layer, the columns the privacy policy keeps from anonymous callers (info, not errors).
    private_columns: dict[str, list[str]] = field(default_factory=dict)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def codes(self) -> set[str]:
        return {f.code for f in self.findings}

    def by_code(self, code: str) -> list[Finding]:
        return [f for f in self.findings if f.code == code]

    def to_dict(self) -> dict:
        return {
            "workspace": str(self.workspace),
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "area_tolerance_m2": self.tolerance_m2,
            "findings": [f.to_dict() for f in self.findings],
            "fixed": self.fixed,
            "changes": [c.to_dict() for c in self.changes],
            "private_columns": self.private_columns,
        }


def _num(v, nd):
    if v is None:
        return None
    v = float(v)
    return None if not np.isfinite(v) else round(v, nd)


# ------------------------------------------------------------------- loading


@dataclass
class _Points:
    """A point layer's geometry as coordinates (read from WKB without shapely)."""

    x: np.ndarray  # WGS84; NaN where the geometry is null or empty
    y: np.ndarray
    missing: np.ndarray  # null geometry
    wkb: object  # the Arrow WKB column, decoded only if a check needs the geometries


@dataclass
class _Layer:
    name: str
    table: pd.DataFrame  # a GeoDataFrame in WGS84; for ``points`` the attributes only
    has_crs: bool
    id_col: str | None
    ids: np.ndarray  # string ids (None where missing), aligned with the rows
    raw_ids: np.ndarray | None = None  # the id cells as stored (before normalisation)
    #: every column of the layer (a point layer is read with its id and required columns only)
    columns: set[str] | None = None
    points: _Points | None = None
    _gdf: gpd.GeoDataFrame | None = field(default=None, repr=False)

    @property
    def gdf(self) -> gpd.GeoDataFrame:
        """The layer as a GeoDataFrame (for ``points``, built on first use)."""
        if self.points is None:
            return self.table  # type: ignore[return-value]
        if self._gdf is None:
            geoms = shapely.from_wkb(np.asarray(self.points.wkb.to_numpy(zero_copy_only=False)))
            self._gdf = gpd.GeoDataFrame(self.table, geometry=geoms, crs=WGS84)
            self._gdf.attrs.update(self.table.attrs)
        return self._gdf


def _read_points(path: Path, name: str, columns: list[str]) -> tuple[pd.DataFrame, _Points] | None:
    """A WGS84 layer of plain 2-D points, read columnar without decoding a geometry.

    None when the layer is anything else (another CRS, a polygon, a 3-D point, a
    date column): the caller then reads it with geopandas.
    """
    from pyproj import CRS

    from gridmap.workspace.sqlite import wkb_points_xy

    meta, table = pyogrio.read_arrow(path, layer=name, columns=columns)
    geom = meta.get("geometry_name") or "wkb_geometry"
    if geom not in table.column_names or not meta.get("crs"):
        return None
    if any(str(d).startswith("datetime") for d in meta.get("dtypes", [])):
        return None  # GDAL's dates: geopandas' parsing rules apply
    if any(s == "OFSTJSON" for s in meta.get("ogr_subtypes", [])):
        return None
    try:
        if not CRS.from_user_input(meta["crs"]).equals(WGS84):
            return None
    except Exception:
        return None
    xy = wkb_points_xy(table.column(geom))
    if xy is None:
        return None
    wkb = table.column(geom)
    frame = table.drop_columns([geom]).to_pandas()
    return frame, _Points(xy[0], xy[1], xy[2], wkb)


def _load(path: Path) -> tuple[dict[str, _Layer], list[Finding]]:
    findings: list[Finding] = []
    out: dict[str, _Layer] = {}
    for name in gio.list_layers(path):
        spec = LAYERS.get(name)
        want, columns, points = None, None, None
        try:
            if name in POINT_LAYERS and spec is not None:
                # points: only their id and required columns are checked (the rest is
                # names, phones, addresses: large and not read)
                fields = [str(c) for c in pyogrio.read_info(path, layer=name)["fields"]]
                keep = {c.lower() for c in (spec.id_column, *spec.required)}
                want = [c for c in fields if c.lower() in keep]
                columns = {*fields, "geometry"}
                try:
                    fast = _read_points(path, name, want)
                except Exception:  # the general reader below says what is wrong
                    fast = None
                if fast is not None:
                    gdf, points = fast
            if points is None:
                try:  # columnar: fast
                    gdf = pyogrio.read_dataframe(path, layer=name, use_arrow=True, columns=want)
                except Exception:  # e.g. a column Arrow cannot type: GDAL's row reader decides
                    gdf = pyogrio.read_dataframe(path, layer=name, columns=want)
        except Exception as exc:  # a damaged layer is a finding, not a crash
            findings.append(
                Finding(
                    "error",
                    "unreadable_layer",
                    name,
                    [],
                    f"cannot read the layer ({gio._short(exc)})",
                )
            )
            continue
        if points is None:
            if not isinstance(gdf, gpd.GeoDataFrame):
                continue  # attribute table, not a spatial layer
            has_crs = gdf.crs is not None and not str(gdf.crs.name).lower().startswith("undefined")
            if not has_crs:
                b = gdf.total_bounds
                degrees = (
                    np.all(np.isfinite(b))
                    and abs(b[0]) <= 180
                    and abs(b[2]) <= 180
                    and abs(b[1]) <= 90
                    and abs(b[3]) <= 90
                )
                findings.append(
                    Finding(
                        "error",
                        "no_crs",
                        name,
                        [],
                        "the layer has no coordinate system; re-import it with crs= (e.g. crs=4326)"
                        + (
                            "; checked as WGS84 for now"
                            if degrees
                            else "; geometric checks skipped"
                        ),
                    )
                )
                if not degrees:
                    continue
                gdf = gdf.set_crs(WGS84, allow_override=True)
            elif not gdf.crs.equals(WGS84):
                gdf = gdf.to_crs(WGS84)
        else:
            has_crs = True
        id_col = spec.id_column if spec is not None and spec.id_column in gdf.columns else None
        raw_ids = gdf[id_col].to_numpy(dtype=object).copy() if id_col else None
        normalise_id_columns(gdf, gio.id_columns_of(gdf))
        if id_col:
            ids = np.asarray(gdf[id_col].to_numpy(dtype=object))  # normalised just above
        else:
            ids = np.array([f"#{i + 1}" for i in range(len(gdf))], dtype=object)
        gdf.attrs["layer"] = name
        gdf.attrs["file"] = str(path)
        out[name] = _Layer(name, gdf, has_crs, id_col, ids, raw_ids, columns, points)
    return out, findings


def _label(layer: _Layer, i: int) -> str:
    v = layer.ids[i]
    return v if v is not None else f"(no id, feature {i + 1})"


# ------------------------------------------------------------------- checks


def _check_presence(layers: dict[str, _Layer]) -> list[Finding]:
    f = []
    if MICROGRIDS not in layers and GRIDS not in layers:
        f.append(
            Finding(
                "error",
                "missing_layer",
                MICROGRIDS,
                [],
                "the workspace has neither 'microgrids' nor 'grids': nothing to assign points to. "
                "Add one with 'gridmap import microgrids FILE'.",
            )
        )
    elif MICROGRIDS not in layers:
        f.append(
            Finding(
                "warning",
                "missing_layer",
                MICROGRIDS,
                [],
                "no 'microgrids' layer: points are assigned to grids only",
            )
        )
    if HOUSEHOLDS not in layers:
        f.append(
            Finding(
                "warning",
                "missing_layer",
                HOUSEHOLDS,
                [],
                "no 'households' layer: coverage and household counts are unavailable",
            )
        )
    return f


def _check_columns_and_ids(layer: _Layer) -> list[Finding]:
    spec = LAYERS.get(layer.name)
    if spec is None:
        return []
    f = []
    cols = layer.columns if layer.columns is not None else set(layer.gdf.columns)
    for req in spec.required:
        if req not in cols:
            f.append(
                Finding(
                    "error",
                    "missing_column",
                    layer.name,
                    [],
                    f"the required column '{req}' is missing (columns: {', '.join(sorted(cols - {'geometry'}))})",
                )
            )
    if layer.id_col is None:
        return f
    ids = np.asarray(layer.ids, dtype=object)
    present = ids != None  # noqa: E711 (elementwise)
    null_rows = np.flatnonzero(~present).tolist()
    if null_rows:
        f.append(
            Finding(
                "error",
                "null_id",
                layer.name,
                [f"feature {i + 1}" for i in null_rows],
                f"{len(null_rows)} feature(s) have no {layer.id_col} "
                f"(feature numbers {', '.join(str(i + 1) for i in null_rows[:20])})",
            )
        )
    for value, pos in _duplicates(ids, present):
        n = len(pos)
        message = f"{n} features share {layer.id_col} '{value}'"
        if layer.raw_ids is not None and len({str(layer.raw_ids[i]) for i in pos}) > 1:
            # look-alike ids: stored differently (full-width, zero-width space) but one id
            spellings = ", ".join(f"{show_id(layer.raw_ids[i])} (feature {i + 1})" for i in pos)
            message += (
                f": look-alike ids {spellings} are one id once full-width and invisible "
                "characters are folded; keep one of them or give them different ids"
            )
        f.append(
            Finding("error", "duplicate_id", layer.name, [str(value)], message, value=float(n))
        )
    return f


def _duplicates(ids: np.ndarray, present: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Each id that several rows share, in id order, with those rows (ascending)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    rows = np.flatnonzero(present)
    if len(rows) < 2:
        return []
    arr = pa.array(ids[rows], type=pa.string())
    counts = pc.value_counts(arr)
    many = pc.greater(counts.field("counts"), 1)
    shared = counts.field("values").filter(many)
    if len(shared) == 0:
        return []
    hit = pc.is_in(arr, value_set=shared).to_numpy(zero_copy_only=False)
    rows = rows[hit]
    values = ids[rows].astype(str)
    order = np.lexsort((rows, values))
    rows, values = rows[order], values[order]
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    return [(str(values[a]), rows[a:b]) for a, b in zip(starts, ends, strict=True)]


def _nonfinite(geoms: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """True for the geometries (among ``mask``) with a NaN or infinite coordinate."""
    out = np.zeros(len(geoms), dtype=bool)
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return out
    coords, which = shapely.get_coordinates(geoms[idx], return_index=True)
    bad = which[~np.isfinite(coords).all(axis=1)]
    out[idx[np.unique(bad)]] = True
    return out


#: shapely's geometry type ids (0..7) as the names ``geom_type`` gives.
_GEOM_TYPE_NAMES = (
    "Point",
    "LineString",
    "LinearRing",
    "Polygon",
    "MultiPoint",
    "MultiLineString",
    "MultiPolygon",
    "GeometryCollection",
)


def _check_geometry(layer: _Layer) -> tuple[list[Finding], np.ndarray]:
    """Empty, wrong-type and invalid geometries. Returns findings and a usable mask."""
    if layer.points is not None:
        return _check_point_geometry(layer)
    spec = LAYERS.get(layer.name)
    f = []
    geoms = layer.gdf.geometry.values
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    # a request located by address only has no point (DESIGN: "Point (may be empty)")
    f += _empty_findings(layer, empty)
    usable = ~empty
    if spec is not None:
        type_ids = shapely.get_type_id(geoms)  # -1 for a missing geometry
        types = np.array([None, *_GEOM_TYPE_NAMES], dtype=object)[type_ids + 1]
        wrong = usable & ~np.isin(types, spec.geometry)
        for i in np.flatnonzero(wrong):
            f.append(
                Finding(
                    "error",
                    "wrong_geometry_type",
                    layer.name,
                    [_label(layer, i)],
                    f"geometry is {types[i]}; the layer takes {'/'.join(spec.geometry)}",
                )
            )
        usable &= ~wrong
    nonfinite = _nonfinite(geoms, usable)
    f += _nonfinite_findings(layer, nonfinite)
    usable &= ~nonfinite
    reasons = np.asarray(shapely.is_valid_reason(geoms[usable]), dtype=object)
    idx = np.flatnonzero(usable)
    for i, reason in zip(idx, reasons, strict=True):
        if reason == "Valid Geometry":
            continue
        m = _LOC_RE.search(str(reason))
        lon, lat = (float(m.group(1)), float(m.group(2))) if m else (None, None)
        f.append(
            Finding(
                "error",
                "invalid_geometry",
                layer.name,
                [_label(layer, i)],
                f"invalid geometry: {reason} (fix=True repairs it)",
                lon=lon,
                lat=lat,
            )
        )
    return f, usable


def _empty_findings(layer: _Layer, empty: np.ndarray) -> list[Finding]:
    # a request located by address only has no point (DESIGN: "Point (may be empty)")
    if layer.name == "requests":
        return []
    return [
        Finding(
            "error", "empty_geometry", layer.name, [_label(layer, i)], "the feature has no geometry"
        )
        for i in np.flatnonzero(empty)
    ]


def _nonfinite_findings(layer: _Layer, nonfinite: np.ndarray) -> list[Finding]:
    return [
        Finding(
            "error",
            "invalid_geometry",
            layer.name,
            [_label(layer, i)],
            "a vertex has no numeric coordinate (NaN or infinite): redraw the feature or "
            "import it again (fix=True cannot repair it)",
        )
        for i in np.flatnonzero(nonfinite)
    ]


def _check_point_geometry(layer: _Layer) -> tuple[list[Finding], np.ndarray]:
    """:func:`_check_geometry` for a layer read as coordinates (every geometry a 2-D point).

    GEOS reads a WKB point whose x and y are both NaN as empty; one non-finite
    coordinate is an invalid point; a point with finite coordinates is valid.
    """
    pts = layer.points
    assert pts is not None
    x_nan, y_nan = np.isnan(pts.x), np.isnan(pts.y)
    empty = pts.missing | (x_nan & y_nan)
    nonfinite = ~empty & ~(np.isfinite(pts.x) & np.isfinite(pts.y))
    return _empty_findings(layer, empty) + _nonfinite_findings(layer, nonfinite), ~(
        empty | nonfinite
    )


def _metric_geoms(layer: _Layer, usable: np.ndarray, metric) -> np.ndarray:
    g = gpd.GeoSeries(layer.gdf.geometry.values[usable], crs=WGS84).to_crs(metric).values
    return shapely.make_valid(np.asarray(g))


def _to_lonlat(points_m: np.ndarray, metric) -> tuple[np.ndarray, np.ndarray]:
    s = gpd.GeoSeries(points_m, crs=metric).to_crs(WGS84)
    return s.x.to_numpy(), s.y.to_numpy()


def _polygonal(g: np.ndarray) -> np.ndarray:
    """Keep only the areal part of each geometry (intersections can add lines)."""
    out = g.copy()
    for k, geom in enumerate(g):
        if geom is None or geom.is_empty or geom.geom_type in ("Polygon", "MultiPolygon"):
            continue
        parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
        out[k] = shapely.union_all(parts) if parts else shapely.Polygon()
    return out


def _check_overlaps(
    layer: _Layer, geoms_m: np.ndarray, idx: np.ndarray, metric, tol: float
) -> list[Finding]:
    if len(geoms_m) < 2:
        return []
    tree = shapely.STRtree(geoms_m)
    a, b = tree.query(geoms_m, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if len(a) == 0:
        return []
    # an overlap is no larger than the overlap of the bounding boxes: below the
    # tolerance there, it cannot be reported
    big_box = box_overlap_areas(geoms_m[a], geoms_m[b]) >= tol
    a, b = a[big_box], b[big_box]
    touching = shapely.touches(geoms_m[a], geoms_m[b])
    a, b = a[~touching], b[~touching]
    inter = _polygonal(shapely.intersection(geoms_m[a], geoms_m[b]))
    areas = shapely.area(inter)
    big = areas >= tol
    f = []
    if big.any():
        pts = shapely.point_on_surface(inter[big])
        lon, lat = _to_lonlat(pts, metric)
        for k, (i, j, area) in enumerate(zip(a[big], b[big], areas[big], strict=True)):
            ids = sorted([_label(layer, idx[i]), _label(layer, idx[j])])
            f.append(
                Finding(
                    "error",
                    "overlap",
                    layer.name,
                    ids,
                    f"{ids[0]} and {ids[1]} overlap by {area:.1f} m²",
                    lon=lon[k],
                    lat=lat[k],
                    value=float(area),
                )
            )
    return f


def _outside_parts(children: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """The polygonal part of each child outside its parent (empty where the parent covers it).

    Children their parent covers (nearly all, in a nested layer) are not overlaid.
    """
    out = np.empty(len(children), dtype=object)
    try:
        inside = shapely.covered_by(children, parents)
    except shapely.errors.GEOSException:  # a predicate GEOS cannot decide: overlay them all
        inside = np.zeros(len(children), dtype=bool)
    out[inside] = shapely.Polygon()
    if (~inside).any():
        out[~inside] = _polygonal(shapely.difference(children[~inside], parents[~inside]))
    return out


def _pair_areas(match, pi: np.ndarray, ci: np.ndarray, n_parents: int) -> np.ndarray:
    """The overlap area of each (parent ``pi``, child ``ci``) pair as ``match`` found it.

    NaN where ``match`` did not compute it (or does not have the pair).
    """
    out = np.full(len(pi), np.nan)
    if len(pi) == 0 or len(match.pair_child) == 0:
        return out
    have = match.pair_child * n_parents + match.pair_parent
    order = np.argsort(have, kind="stable")
    have = have[order]
    want = ci.astype(np.int64) * n_parents + pi.astype(np.int64)
    pos = np.minimum(np.searchsorted(have, want), len(have) - 1)
    hit = have[pos] == want
    out[hit] = match.pair_area[order[pos[hit]]]
    return out


def _check_hierarchy(
    child: _Layer,
    c_geoms: np.ndarray,
    c_idx: np.ndarray,
    parent: _Layer,
    p_geoms: np.ndarray,
    p_idx: np.ndarray,
    metric,
    tol: float,
    overlapping: set[str] | None = None,
) -> list[Finding]:
    """Gaps, children outside their parent, and parent-id disagreements.

    ``overlapping`` holds the ids of children found in an overlap (their
    areas cannot simply be added up).
    """
    f: list[Finding] = []
    spec = LAYERS[child.name]
    pcol = spec.parent_id_column
    c_ids = [child.ids[i] for i in c_idx]
    p_ids = [parent.ids[i] for i in p_idx]
    # derived parent = largest overlap (the join's own rule; the geometries are valid
    # and metric already)
    match = largest_overlaps(
        c_geoms, np.array(c_ids, dtype=object), p_geoms, np.array(p_ids, dtype=object)
    )
    derived = dict(zip(np.array(c_ids, dtype=object)[match.child], match.parent_id, strict=True))
    p_first: dict[str, int] = {}
    for j, pid in enumerate(p_ids):
        if pid is not None and pid not in p_first:
            p_first[pid] = j
    # children outside their (derived) parent, vectorised over all children
    parent_of = [derived.get(cid) if cid is not None else None for cid in c_ids]
    has_parent = np.array([p is not None for p in parent_of], dtype=bool)
    has_id = np.array([cid is not None for cid in c_ids], dtype=bool)
    outside = np.array(c_geoms, dtype=object).copy()
    # a child its derived parent (the first polygon of that id) covers has nothing outside
    covered = np.zeros(len(c_geoms), dtype=bool)
    first = np.array([p_first[p] for p in match.parent_id], dtype=np.int64)
    covered[match.child[match.covered & (match.parent == first)]] = True
    outside[covered] = shapely.Polygon()
    rest = has_parent & ~covered
    if rest.any():
        aligned = p_geoms[[p_first[p] for p in np.array(parent_of, dtype=object)[rest]]]
        outside[rest] = _outside_parts(c_geoms[rest], aligned)
    areas = shapely.area(outside)
    flag = has_id & (areas >= tol)
    if flag.any():
        lon, lat = _to_lonlat(shapely.point_on_surface(outside[flag]), metric)
        for n, k in enumerate(np.flatnonzero(flag)):
            label = _label(child, c_idx[k])
            pid = parent_of[k]
            area = float(areas[k])
            if pid is None:
                ids, msg = [label], f"{label} ({area:.1f} m²) lies in no {parent.name} feature"
            else:
                what = SINGULAR.get(parent.name, parent.name)
                ids, msg = [label, pid], f"{label} sticks out of its {what} {pid} by {area:.1f} m²"
            f.append(
                Finding(
                    "error",
                    "outside_parent",
                    child.name,
                    ids,
                    msg,
                    lon=lon[n],
                    lat=lat[n],
                    value=area,
                )
            )
    # declared parent vs geometry
    if pcol in child.gdf.columns:
        known = set(p_id for p_id in parent.ids if p_id is not None)
        declared = child.gdf[pcol].to_numpy()
        for k, i in enumerate(c_idx):
            cid = child.ids[i]
            dec = normalise_id(declared[i])
            if cid is None or dec is None:
                continue
            if dec not in known:
                f.append(
                    Finding(
                        "error",
                        "unknown_parent",
                        child.name,
                        [cid, dec],
                        f"{cid} names {pcol} '{dec}', which is not in layer '{parent.name}'",
                    )
                )
                continue
            der = derived.get(cid)
            if der is not None and der != dec:
                pt = shapely.point_on_surface(c_geoms[k])
                lon, lat = _to_lonlat(np.array([pt]), metric)
                f.append(
                    Finding(
                        "error",
                        "parent_mismatch",
                        child.name,
                        [cid, dec, der],
                        f"{cid} says {pcol} = {dec} but its geometry lies mostly in {der}",
                        lon=lon[0],
                        lat=lat[0],
                    )
                )
    # gaps: parts of each parent covered by no child
    if len(c_geoms):
        tree_c = shapely.STRtree(c_geoms)
        pi, ci = tree_c.query(p_geoms, predicate="intersects")
        groups = pd.Series(ci).groupby(pi).apply(list).to_dict() if len(pi) else {}
        # Fast path: where a parent's children do not overlap each other, the
        # area they cover is the sum of their intersections with the parent, so
        # the union (the slow part) is only built for parents with a gap.
        p_area = shapely.area(p_geoms)
        # The overlaps found when the parents were derived (the same pairs) give a
        # lower bound first. A parent that bound already leaves without a gap needs
        # no more; the others get the exact sum over all their children, overlaying
        # only the pairs not yet known.
        known = _pair_areas(match, pi, ci, len(p_geoms))
        found = ~np.isnan(known)
        held = np.bincount(pi[found], weights=known[found], minlength=len(p_geoms))
        unsure = p_area - held >= tol - _BOUND_MARGIN_M2
        inter_area = np.where(found, known, 0.0)
        todo = unsure[pi] & ~found
        inter_area[todo] = overlap_areas(p_geoms[pi[todo]], c_geoms[ci[todo]])
        covered_sum = np.bincount(pi, weights=inter_area, minlength=len(p_geoms))
        covered_sum[~unsure] = p_area[~unsure]  # (no gap: the bound showed it)
        clean = np.ones(len(p_geoms), dtype=bool)
        if overlapping:
            bad_child = np.array([cid in overlapping for cid in c_ids], dtype=bool)
            clean[np.unique(pi[bad_child[ci]])] = False
        for k, pgeom in enumerate(p_geoms):
            if clean[k] and p_area[k] - covered_sum[k] < tol:
                continue
            pid = p_ids[k]
            kids = groups.get(k, [])
            covered = shapely.union_all(c_geoms[kids]) if kids else shapely.Polygon()
            gap = _polygonal(np.array([shapely.difference(pgeom, covered)]))[0]
            area = float(shapely.area(gap))
            if area < tol:
                continue
            parts = [p for p in shapely.get_parts(gap) if p.area >= tol] or [gap]
            biggest = max(parts, key=lambda p: p.area)
            pt = shapely.point_on_surface(biggest)
            lon, lat = _to_lonlat(np.array([pt]), metric)
            label = _label(parent, p_idx[k])
            f.append(
                Finding(
                    "warning",
                    "gap",
                    parent.name,
                    [label],
                    f"{area:.1f} m² of {label} is in no {SINGULAR.get(child.name, child.name)} "
                    f"({len(parts)} piece(s); largest {biggest.area:.1f} m² near the given location)",
                    lon=lon[0],
                    lat=lat[0],
                    value=area,
                )
            )
    return f


#: From this many points on, validation joins them with the cell indexes ``gridmap
#: assign`` cached for these very polygons, when the cache holds them.
FAST_POINTS = 50_000


def _outside_finest(pts, x, y, hierarchy, locators, chain, finest: str):
    """The points outside every polygon of the finest level, and who owns them instead.

    Returns (outside mask, finest owning level, level -> owner id, nearest micro-grid
    id, its distance), the last four for the outside points only (the nearest ones
    only when the finest level is micro-grids). With the cached cell indexes the
    join runs on integer codes (:func:`gridmap.join.inplace.join_codes`, the core
    join's rules; ``chain``: their :class:`~gridmap.join.inplace.Chain`), else
    :func:`gridmap.join.core.assign_points`.
    """
    if not locators:
        res = assign_points(pts, hierarchy)
        outside = res[LAYERS[finest].id_column].isna().to_numpy()
        owners = {lv: res[LAYERS[lv].id_column].to_numpy()[outside] for lv in POLYGON_LEVELS}
        return (
            outside,
            res["assigned_level"].to_numpy()[outside],
            owners,
            res["nearest_microgrid_id"].to_numpy()[outside],
            res["nearest_microgrid_m"].to_numpy()[outside],
        )
    from gridmap.join.inplace import join_hierarchy_codes

    codes, level, _ = join_hierarchy_codes(x, y, hierarchy, locators, chain)
    outside = codes[finest] < 0
    names = np.array([None, *POLYGON_LEVELS], dtype=object)
    owners = {}
    for lv in POLYGON_LEVELS:
        c = codes[lv][outside]
        ids = np.full(len(c), None, dtype=object)
        ids[c >= 0] = chain.vocab[lv].astype(object)[c[c >= 0]]
        owners[lv] = ids
    near_id = np.full(int(outside.sum()), None, dtype=object)
    near_m = np.full(len(near_id), np.nan)
    ox, oy = np.asarray(x, float)[outside], np.asarray(y, float)[outside]
    need = np.isfinite(ox) & np.isfinite(oy)
    if need.any() and MICROGRIDS in hierarchy.polygons:
        near_id[need], near_m[need] = nearest_polygon(
            hierarchy.polygons[MICROGRIDS], LAYERS[MICROGRIDS].id_column, ox[need], oy[need]
        )
    return outside, names[level[outside].astype(np.int64) + 1], owners, near_id, near_m


def _check_points(
    layers: dict[str, _Layer], usable: dict[str, np.ndarray], path: Path | None = None
) -> list[Finding]:
    polys = {}
    for lvl in POLYGON_LEVELS:
        lay = layers.get(lvl)
        if lay is None or lay.id_col is None:
            continue
        g = lay.gdf[usable[lvl]]
        if len(g):
            polys[lvl] = g
    if not polys:
        return []
    # the finest polygon level present: micro-grids, or grids in a workspace without them
    finest = next(lvl for lvl in POLYGON_LEVELS if lvl in polys)
    finest_col = LAYERS[finest].id_column
    finest_word = SINGULAR.get(finest, finest)
    hierarchy = build_hierarchy(polys)
    locators = None
    n_points = sum(int(usable[n].sum()) for n in POINT_LAYERS if layers.get(n) is not None)
    if path is not None and n_points >= FAST_POINTS:
        from gridmap.join.index import cache_dir_for, cached_locators

        locators = cached_locators(hierarchy, cache_dir_for(path))
    chain = None
    if locators:  # one chain for all point layers
        from gridmap.join.inplace import Chain

        chain = Chain.from_hierarchy(hierarchy, locators)
    f = []
    for name in POINT_LAYERS:
        lay = layers.get(name)
        if lay is None:
            continue
        ok = usable[name]
        if not ok.any():
            continue
        if lay.points is not None:  # read as coordinates: no geometry is decoded
            x_all, y_all = lay.points.x[ok], lay.points.y[ok]
            pts = None if locators else lay.gdf[ok]
        else:
            pts = lay.gdf[ok]
            x_all, y_all = point_coordinates(pts)
        outside, levels, owners, nearest_ids, nearest_m = _outside_finest(
            pts, x_all, y_all, hierarchy, locators, chain, finest
        )
        shift = shift_suspicion(
            x_all, y_all, locators[finest] if locators else hierarchy.locator(finest)
        )
        if shift is not None:
            system, n, n_given, n_shifted = shift
            f.append(
                Finding(
                    "warning",
                    "crs_shift_suspected",
                    name,
                    [],
                    f"{n_given} of {n} features lie in a {finest_word} as stored, but {n_shifted} "
                    f"would if the coordinates were read as {system}: were they imported from "
                    f"{'Amap/Tencent' if system == 'gcj02' else 'Baidu'} without crs={system}?",
                    value=float(n_shifted),
                )
            )
        if not outside.any():
            continue
        idx = np.flatnonzero(ok)[outside]
        x, y = x_all[outside], y_all[outside]
        if finest != MICROGRIDS:
            nearest_ids, nearest_m = nearest_polygon(polys[finest], finest_col, x, y)
        for k, i in enumerate(idx):
            label = _label(lay, i)
            near = nearest_ids[k]
            dist = nearest_m[k]
            level = levels[k]
            owner = (
                f"; it is inside {SINGULAR.get(level, level)} {owners[level][k]}" if level else ""
            )
            f.append(
                Finding(
                    "warning",
                    "point_outside",
                    name,
                    [label],
                    f"{label} is in no {finest_word} (nearest {near}, {dist:.1f} m away){owner}",
                    lon=float(x[k]),
                    lat=float(y[k]),
                    value=float(dist) if dist is not None and np.isfinite(dist) else None,
                )
            )
    return f


# ------------------------------------------------------------------- fixing


def _fix(path: Path, findings: list[Finding]) -> list[Change]:
    """Repair invalid polygons in place (atomically); never deletes features."""
    bad_layers = sorted({f.layer for f in findings if f.code == "invalid_geometry" and f.layer})
    if not bad_layers:
        return []
    changes: list[Change] = []
    frames = {}
    for name in bad_layers:
        gdf = pyogrio.read_dataframe(path, layer=name)
        if gdf.crs is None:
            continue  # cannot write back a layer without CRS; reported as no_crs
        spec = LAYERS.get(name)
        id_col = spec.id_column if spec is not None and spec.id_column in gdf.columns else None
        geoms = gdf.geometry.values.copy()
        present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        invalid = present & ~shapely.is_valid(np.where(present, geoms, None))
        nonfinite = _nonfinite(geoms, present)
        changed = False
        for i in np.flatnonzero(invalid | nonfinite):
            label = normalise_id(gdf[id_col].iloc[i]) if id_col else None
            label = label or f"feature {i + 1}"
            if nonfinite[i]:
                changes.append(
                    Change(name, label, "not_fixed", "a vertex is NaN or infinite: redraw it")
                )
                continue
            reason = shapely.is_valid_reason(geoms[i])
            if geoms[i].geom_type not in ("Polygon", "MultiPolygon"):
                changes.append(
                    Change(name, label, "not_fixed", f"{geoms[i].geom_type} left as is ({reason})")
                )
                continue
            new = make_polygonal_valid(geoms[i])
            if new is None:
                changes.append(
                    Change(name, label, "not_fixed", f"no area left after repair ({reason})")
                )
                continue
            before = geoms[i].geom_type
            geoms[i] = new
            changed = True
            changes.append(
                Change(
                    name,
                    label,
                    "make_valid",
                    f"{reason}: {before} -> {new.geom_type} ({len(shapely.get_parts(new))} part(s))",
                )
            )
        if changed:
            gdf = gdf.set_geometry(geoms)
            frames[name] = gdf
    if frames:
        gio.write_layers(path, frames, create=False)
    return changes


# ------------------------------------------------------------------- entry


def validate(
    workspace: str | os.PathLike | None = None,
    *,
    fix: bool = False,
    tolerance_m2: float = AREA_TOLERANCE_M2,
) -> ValidationReport:
    """Check a workspace and report every problem found.

    Parameters
    ----------
    workspace
        Workspace GeoPackage (default: the sample workspace).
    fix
        Repair invalid polygons with ``make_valid`` (polygonal parts only, a
        MultiPolygon where the repair splits one), write the workspace
        atomically, and validate again. Features are never deleted;
        :attr:`ValidationReport.changes` lists what changed, by id.
    tolerance_m2
        Overlaps, gaps and parts outside a parent smaller than this are
        ignored (digitising slivers).

    Returns
    -------
    ValidationReport
    """
    path = gio.resolve_workspace(workspace)
    report = ValidationReport(workspace=path, tolerance_m2=tolerance_m2)
    if fix:
        first = _run(path, tolerance_m2)
        report.changes = _fix(path, first)
        report.fixed = any(c.action == "make_valid" for c in report.changes)
    report.findings = _run(path, tolerance_m2)
    report.private_columns = _private_columns(path)
    return report


def _private_columns(path: Path) -> dict[str, list[str]]:
    """Columns of each layer that anonymous callers, shared maps and exports never get."""
    from gridmap.policy.privacy import policy_for_workspace

    policy = policy_for_workspace(path)
    out = {}
    for name, _ in pyogrio.list_layers(path):
        fields = [str(c) for c in pyogrio.read_info(path, layer=name)["fields"]]
        hidden = policy.private_columns(name, fields)
        if hidden:
            out[str(name)] = hidden
    return out


def _run(path: Path, tol: float) -> list[Finding]:
    layers, findings = _load(path)
    findings += _check_presence(layers)
    usable: dict[str, np.ndarray] = {}
    for name, lay in layers.items():
        findings += _check_columns_and_ids(lay)
        gf, ok = _check_geometry(lay)
        findings += gf
        usable[name] = ok
    for name, lay in layers.items():
        if name in LAYERS and len(lay.ids) == 0:
            findings.append(
                Finding("warning", "empty_layer", name, [], "the layer has no features")
            )
    poly_present = [lvl for lvl in POLYGON_LEVELS if lvl in layers and usable[lvl].any()]
    if poly_present:
        all_polys = pd.concat([layers[lvl].gdf[usable[lvl]].geometry for lvl in poly_present])
        metric = metric_crs_for(gpd.GeoDataFrame(geometry=all_polys, crs=WGS84))
        metric_geoms = {}
        overlapping: dict[str, set[str]] = {}
        for lvl in poly_present:
            idx = np.flatnonzero(usable[lvl])
            g = _polygonal(_metric_geoms(layers[lvl], usable[lvl], metric))
            metric_geoms[lvl] = (g, idx)
            ov = _check_overlaps(layers[lvl], g, idx, metric, tol)
            overlapping[lvl] = {i for f in ov for i in f.ids}
            findings += ov
        for lvl in poly_present:
            spec = LAYERS[lvl]
            if spec.parent is None or spec.parent not in metric_geoms:
                continue
            if layers[lvl].id_col is None or layers[spec.parent].id_col is None:
                continue
            cg, ci = metric_geoms[lvl]
            pg, pi = metric_geoms[spec.parent]
            findings += _check_hierarchy(
                layers[lvl], cg, ci, layers[spec.parent], pg, pi, metric, tol, overlapping.get(lvl)
            )
        findings += _check_points(layers, usable, path)
    findings += _check_grid_codes(layers)
    order = {"error": 0, "warning": 1}
    layer_order = {n: k for k, n in enumerate(LAYERS)}
    findings.sort(
        key=lambda f: (
            layer_order.get(f.layer, 99),
            f.layer or "",
            order[f.severity],
            f.code,
            f.ids,
        )
    )
    return findings


def _check_grid_codes(layers: dict) -> list[Finding]:
    """Grid codes (a ``grid_code`` column): format, duplicates, parent prefix, order."""
    from gridmap.checks.grid_codes import check_codes

    if GRIDS not in layers:
        return []
    frames = {name: layers[name].gdf for name in POLYGON_LEVELS if name in layers}
    return [Finding(f.severity, f.code, GRIDS, f.ids, f.message) for f in check_codes(frames)]
