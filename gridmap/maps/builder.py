"""Build the meeting map: one self-contained HTML file from a workspace.

The map is plain Leaflet (inlined from xstatic-leaflet) plus gridmap's own
small JavaScript for the layer tree, legend, title panel, search, fullscreen
and measure tool. Folium is not used for the page itself: its templates link
jQuery, Bootstrap and plugins from CDNs that are blocked in mainland China, and
the few pieces needed here are smaller written directly.

Data are embedded once as compact JSON: polygon rings are integers (coordinates
times ``scale``, relative to an origin) stored as deltas, so 20,000 micro-grids
fit in a few megabytes. Households never appear individually: they are shown as
counts per micro-grid and as counts on a coarse cell grid (cell centres, not
household positions), without names, phones or addresses.

Pipeline: :func:`prepare_map` (join, coverage, indicators, standards) ->
:func:`render_html`. :func:`build_map` does both; the CLI keeps the prepared
context to print the summary without recomputing the join.
"""

from __future__ import annotations

import html
import itertools
import json
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap.analysis import coverage as cov
from gridmap.analysis import indicators as indicators
from gridmap.analysis import standards as standards
from gridmap.analysis.coverage import nearest_euclidean
from gridmap.coords.crs import gdf_wgs84_to, metric_crs_for, out_of_china, wgs84_to_gcj02
from gridmap.errors import GridmapError, LayerNotFoundError, SchemaError
from gridmap.join.core import Hierarchy, assign_points, build_hierarchy, point_coordinates
from gridmap.maps import assets, panels
from gridmap.maps.i18n import check_lang, table, tr
from gridmap.maps.overlay import Overlay
from gridmap.policy import privacy
from gridmap.policy.jsonsafe import json_default
from gridmap.workspace import store as io
from gridmap.workspace.schema import (
    CHARGING_PILES,
    COMMUNITIES,
    GRIDS,
    HOUSEHOLDS,
    MICROGRIDS,
    PARKING,
    ROADS,
    SERVICE_STATIONS,
    ZONES,
)

BASEMAPS = ("amap", "osm", "tianditu", "none")
TIANDITU_KEY_ENV = "GRIDMAP_TIANDITU_KEY"

FACILITY_COLORS = {SERVICE_STATIONS: "#d7301f", CHARGING_PILES: "#238b45", PARKING: "#2171b5"}
#: Facility markers on the web map: dark fills with a white ring, so they stand out on
#: every choropleth class (light yellow to dark green/blue) and on the basemap.
MARKER_STYLES = {
    SERVICE_STATIONS: {"fill": "#67000d", "line": "#ffffff"},
    CHARGING_PILES: {"fill": "#00441b", "line": "#ffffff"},
    PARKING: {"fill": "#08306b", "line": "#ffffff"},
}

#: Columns shown in facility popups (anything else is left out, so unknown
#: columns that might hold personal data never reach the map).
FACILITY_POPUP_COLUMNS = {
    SERVICE_STATIONS: ("station_id", "kind", "open_hours", "staff_on_site"),
    CHARGING_PILES: ("pile_id", "ports", "power_kw", "kind", "status"),
    PARKING: ("parking_id", "spaces", "kind"),
}
_COLUMN_LABEL = {
    "station_id": "id",
    "pile_id": "id",
    "parking_id": "id",
    "kind": "kind",
    "open_hours": "open_hours",
    "staff_on_site": "staff_on_site",
    "ports": "ports",
    "power_kw": "power_kw",
    "status": "status",
    "spaces": "spaces",
}

SHARE_GOOD = ["#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641"]
SEQUENTIAL = ["#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8", "#253494"]
SEQUENTIAL_NEED = ["#feedde", "#fdbe85", "#fd8d3c", "#e6550d", "#a63603"]
NODATA_COLOR = "#cccccc"


@dataclass
class FacilityCoverage:
    """Coverage of households by one facility type, as used on the map."""

    facility: str
    radius_m: float
    distance: str  # "euclidean" or "network"
    covered: pd.Series  # bool, indexed like the households layer
    share: float
    source: str  # "gridmap.analysis.coverage" or "fallback"


@dataclass
class MapContext:
    """Everything computed from the workspace before the HTML is written."""

    workspace: io.Workspace
    lang: str
    hierarchy: Hierarchy | None
    households_assignment: pd.DataFrame | None  # from gridmap.join.core.assign_points
    coverage: dict[str, FacilityCoverage] = field(default_factory=dict)
    indicators: pd.DataFrame | None = None  # one row per grid_id
    failing: pd.DataFrame | None = None  # grid_id, rule, short (failed checks only)
    standards_checked: bool = False
    distance: str = "auto"
    raw_indicators: pd.DataFrame | None = None  # gridmap.analysis.coverage.grid_indicators output
    coverage_context: object | None = None  # gridmap.analysis.coverage.CoverageContext, reused
    notes: list[str] = field(default_factory=list)
    standards_results: pd.DataFrame | None = None  # check_standards output (all rules, all grids)
    standards_used: object | None = None  # the gridmap.analysis.standards.Standards checked
    standards_skipped: list[str] = field(default_factory=list)  # rule ids the fast path skipped
    validation: list | None = None  # gridmap.checks.validation findings (None: not validated)


# ---------------------------------------------------------------------------
# preparation


def load_map_workspace(workspace: str | os.PathLike | None) -> io.Workspace:
    """Load a workspace for the map, leaving households' personal columns on disk.

    Names, phones and addresses of households are never shown on the map, so
    they are not even read (which also halves the reading time of a city).
    """
    import pyogrio

    path = io.resolve_workspace(workspace)
    ws = io.Workspace(path=path, signature=io.file_signature(path))
    for name in io.list_layers(path):
        columns = None
        if name == HOUSEHOLDS:
            fields = pyogrio.read_info(path, layer=name)["fields"]
            policy = privacy.policy_for_workspace(path)  # only columns that feed aggregates
            columns = policy.visible_columns(HOUSEHOLDS, [str(c) for c in fields], "anonymous")
        ws.layers[name] = io.read_layer(path, name, columns=columns)
    return ws


def _as_workspace(workspace) -> io.Workspace:
    if isinstance(workspace, io.Workspace):
        return workspace
    return load_map_workspace(workspace)


def _household_metric_xy(ws: io.Workspace) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Household x, y in a metric CRS (arrays, no geometry objects) and a "located" mask."""
    import pyproj

    hh = ws.require(HOUSEHOLDS)
    x, y = point_coordinates(hh)
    ok = np.isfinite(x) & np.isfinite(y)
    tr_ = pyproj.Transformer.from_crs("EPSG:4326", metric_crs_for(hh), always_xy=True)
    mx, my = tr_.transform(np.where(ok, x, 0.0), np.where(ok, y, 0.0))
    return np.asarray(mx), np.asarray(my), ok


def _fallback_coverage(
    ws: io.Workspace,
    facility: str,
    radius_m: float,
    hh_xy: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> FacilityCoverage | None:
    """Straight-line coverage by KD-tree: the city-size fast path."""
    hh = ws.get(HOUSEHOLDS)
    fac = ws.get(facility)
    if hh is None or fac is None or len(hh) == 0:
        return None
    mx, my, ok = hh_xy if hh_xy is not None else _household_metric_xy(ws)
    fp = fac.geometry.to_crs(metric_crs_for(hh))
    fp = fp[~(fp.isna() | fp.is_empty)]
    covered = np.zeros(len(hh), dtype=bool)
    if len(fp) and ok.any():
        # KD-tree for points; parking lots drawn as areas: distance to the polygon (0 inside)
        dist, _ = nearest_euclidean(np.column_stack([mx[ok], my[ok]]), np.asarray(fp.values))
        covered[ok] = dist <= radius_m
    series = pd.Series(covered, index=hh.index)
    return FacilityCoverage(
        facility, radius_m, "euclidean", series, float(series.mean()), "fallback"
    )


def _coverage_from_module(ctx: MapContext, facility: str) -> FacilityCoverage:
    ws = ctx.workspace
    context = _coverage_context(ctx)
    res = cov.compute_coverage(ws, facility, None, distance=ctx.distance, context=context)
    hh = ws.require(HOUSEHOLDS)
    h = res.households
    flags = pd.Series(
        h["covered"].astype(bool).to_numpy(), index=h["household_id"].astype(str).to_numpy()
    )
    flags = flags[~flags.index.duplicated()]
    covered = hh["household_id"].astype(str).map(flags).fillna(False).astype(bool)
    covered.index = hh.index
    return FacilityCoverage(
        facility,
        float(res.radius_m),
        str(res.distance),
        covered,
        float(covered.mean()),
        "gridmap.analysis.coverage",
    )


class StraightLineWarning(UserWarning):
    """The street network could not be used: the map's distances are straight-line."""


def _coverage_context(ctx: MapContext) -> cov.CoverageContext:
    """The households located once for coverage and indicators, on the street network if it can be.

    When the roads give no network to walk along (no ``roads`` layer with
    ``distance="network"``, or no usable street line: the
    :class:`~gridmap.errors.LayerNotFoundError` or
    :class:`~gridmap.errors.SchemaError` naming the roads layer, from
    :func:`gridmap.analysis.coverage.make_context` and
    :func:`gridmap.analysis.network.build_network`), the map uses straight-line
    distances throughout (coverage, indicators, standards), says so in a
    :class:`StraightLineWarning` and a note, and its labels read "straight line".
    Any other error propagates.
    """
    if isinstance(ctx.coverage_context, cov.CoverageContext):
        return ctx.coverage_context
    ws = ctx.workspace
    try:
        context = cov.make_context(ws, ctx.distance, hierarchy=ctx.hierarchy)
    except (LayerNotFoundError, SchemaError) as exc:
        if exc.layer != ROADS:
            raise
        msg = (
            f"no street network to walk along ({exc.message}); "
            "the map's distances are straight-line"
        )
        warnings.warn(msg, StraightLineWarning, stacklevel=2)
        ctx.notes.append(msg)
        ctx.distance = "euclidean"
        context = cov.make_context(ws, "euclidean", hierarchy=ctx.hierarchy)
    ctx.coverage_context = context
    return context


def _coverage(ctx: MapContext, facility: str) -> FacilityCoverage | None:
    ws = ctx.workspace
    if ws.get(facility) is None or ws.get(HOUSEHOLDS) is None:
        return None
    return _coverage_from_module(ctx, facility)


def _basic_indicators(ctx: MapContext) -> pd.DataFrame:
    """The map's own columns per grid (households, micro-grids, ``cover_<layer>``).

    From :func:`gridmap.analysis.indicators.basic_grid_indicators` over the
    households' assignment and the map's coverage flags.
    """
    return indicators.basic_grid_indicators(
        ctx.workspace,
        ctx.households_assignment,
        {fac: fc.covered for fac, fc in ctx.coverage.items()},
        ctx.hierarchy,
    )


def _indicators(ctx: MapContext) -> pd.DataFrame:
    base = _basic_indicators(ctx)
    context = _coverage_context(ctx) if ctx.workspace.get(HOUSEHOLDS) is not None else None
    gi = indicators.grid_indicators(ctx.workspace, distance=ctx.distance, context=context)
    ctx.raw_indicators = gi
    gi = pd.DataFrame(gi.drop(columns=[gi.geometry.name], errors="ignore"))
    gi["grid_id"] = gi["grid_id"].astype(str)
    num = gi.set_index("grid_id").select_dtypes("number")
    num = num[[c for c in num.columns if c not in base.columns]]
    return base.join(num, how="left")


def _standards(ctx: MapContext) -> None:
    try:
        res = indicators.check_standards(
            ctx.workspace, distance=ctx.distance, indicators=ctx.raw_indicators
        )
    except Exception as exc:  # an optional part must not break the meeting map
        ctx.notes.append(f"standards not checked ({exc})")
        return
    _keep_standards(ctx, res, standards.load_standards())


def _keep_standards(ctx: MapContext, res: pd.DataFrame, std) -> None:
    ctx.standards_checked = True
    ctx.standards_results = res
    ctx.standards_used = std
    # passed is True/False, or None when the figure does not exist (not a failure)
    failed = res[res["passed"].map(lambda v: v is not None and not pd.isna(v) and not bool(v))]
    ctx.failing = failed[["grid_id", "rule"]].copy()
    ctx.failing["short"] = _rule_texts(failed, ctx.lang)
    columns = {r.id: r.column(std.radii, std.default_radius) for r in std.rules}
    ctx.failing["column"] = [columns.get(r) for r in failed["rule_id"]]


def _fast_standards(ctx: MapContext) -> None:
    """The standards check on the city fast path: every rule whose figure the fast path has.

    Straight-line coverage shares and per-grid counts are checked as usual;
    rules needing figures the fast path does not compute (2SFCA) are listed
    as skipped in the panel and the notes, never silently dropped.
    """
    ind = ctx.indicators
    if ind is None:
        return
    try:
        std = standards.load_standards()
    except Exception as exc:  # a broken standards file must not break the meeting map
        ctx.notes.append(f"standards not checked ({exc})")
        return
    frame = ind.copy()
    for fac, fc in ctx.coverage.items():
        col = f"cover_{fac}"
        if col in frame:
            frame[standards.facility_column("coverage_share", fac, fc.radius_m)] = frame[col]
    if "microgrids_in_range_share" not in frame and ctx.households_assignment is not None:
        frame = _mg_range_shares(ctx, frame, std)
    usable, skipped = [], []
    for r in std.rules:
        (usable if r.column(std.radii, std.default_radius) in frame else skipped).append(r)
    ctx.standards_skipped = [r.id for r in skipped]
    if skipped:
        ctx.notes.append(
            "fast map path: standards not checked (figures not computed): "
            + ", ".join(r.id for r in skipped)
        )
    if not usable:
        return
    sub = standards.Standards(
        radii=std.radii, default_radius=std.default_radius, decay=std.decay, rules=usable
    )
    frame = frame.reset_index().rename(columns={"index": "grid_id"})
    try:
        res = indicators.check_standards(ctx.workspace, sub, indicators=frame)
    except Exception as exc:  # an optional part must not break the meeting map
        ctx.notes.append(f"standards not checked ({exc})")
        return
    _keep_standards(ctx, res, sub)


def _mg_range_shares(ctx: MapContext, frame: pd.DataFrame, std) -> pd.DataFrame:
    """Share of each grid's micro-grids whose household count is in a rule's range."""
    rules = [r for r in std.rules if r.indicator == "microgrids_in_range_share"]
    if not rules or ctx.hierarchy is None:
        return frame
    r = rules[0]
    parents = ctx.hierarchy.parents.get(MICROGRIDS, {})
    if not parents:
        return frame
    counts = ctx.households_assignment["microgrid_id"].dropna().value_counts()
    mg = pd.DataFrame({"mg": list(parents.keys()), "grid_id": list(parents.values())})
    mg["n"] = mg["mg"].map(counts).fillna(0)
    lo = -np.inf if r.range_min is None else r.range_min
    hi = np.inf if r.range_max is None else r.range_max
    mg["ok"] = (mg["n"] >= lo) & (mg["n"] <= hi)
    share = mg.groupby("grid_id")["ok"].mean()
    out = frame.copy()
    out["microgrids_in_range_share"] = share.reindex(out.index)
    return out


def _validate(ctx: MapContext, quick: bool) -> None:
    """Validation findings for the title panel (a quick subset on the city fast path)."""
    path = getattr(ctx.workspace, "path", None)
    if quick or path is None or not Path(path).exists():
        ctx.validation = _quick_validation(ctx.workspace)
        return
    try:
        from gridmap.checks.validation import validate

        ctx.validation = validate(path).findings
    except Exception as exc:  # a broken check must not break the meeting map
        ctx.notes.append(f"workspace not validated ({exc})")


@dataclass
class _QuickFinding:
    severity: str
    code: str
    layer: str
    ids: list[str]


def _quick_validation(ws: io.Workspace) -> list:
    """Duplicate ids and invalid polygons (vectorised; for city-size workspaces)."""
    out: list = []
    for layer, idc in ((MICROGRIDS, "microgrid_id"), (GRIDS, "grid_id"), (ZONES, "zone_id")):
        g = ws.get(layer)
        if g is None or len(g) == 0 or idc not in g:
            continue
        ids = g[idc].astype(str)
        dup = ids[ids.duplicated(keep=False)].unique().tolist()
        if dup:
            out.append(_QuickFinding("error", "duplicate_id", layer, dup))
        geoms = g.geometry.to_numpy()
        bad = ~shapely.is_valid(geoms) & ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        for i in np.flatnonzero(bad)[:20]:
            out.append(_QuickFinding("error", "invalid_geometry", layer, [ids.iloc[i]]))
    return out


def _rule_texts(failed: pd.DataFrame, lang: str) -> list[str]:
    """Each failed check as '<indicator> <bound> (<value>)' in the map's language.

    The rule text of a standards file is free text (often English); the
    indicator name, bound and value read the same in every language.
    """
    rules: dict = {}
    columns: dict[str, str] = {}
    try:
        from gridmap.analysis.standards import load_standards

        std = load_standards()
        rules = {r.id: r for r in std.rules}
        columns = {r.id: r.column(std.radii, std.default_radius) for r in std.rules}
    except Exception:  # optional part: fall back to the rule text
        rules, columns = {}, {}
    out = []
    for r in failed.itertuples(index=False):
        rid = getattr(r, "rule_id", None)
        col = columns.get(rid)
        if col is None:
            out.append(str(r.rule))
            continue
        share = _indicator_kind(col, pd.Series(dtype=float)).startswith("share")

        def show(v, share=share):
            if v is None or pd.isna(v):
                return "—"
            return _pct(v) if share else _num(float(v))

        rule = rules[rid]
        if rule.min is not None and rule.max is not None:
            bound = f"{show(rule.min)}–{show(rule.max)}"
        elif rule.min is not None:
            bound = f"≥ {show(rule.min)}"
        else:
            bound = f"≤ {show(rule.max)}"
        out.append(f"{_indicator_label(col, lang)} {bound} ({show(getattr(r, 'value', None))})")
    return out


#: Above this many households the map takes its fast path (see :func:`prepare_map`).
FULL_ANALYSIS_MAX_HOUSEHOLDS = 50_000


def _standard_radius(facility: str) -> float:
    """Default radius of a facility layer: from the packaged standards file, nothing else."""
    return float(standards.load_standards().radius_for(facility))


def prepare_map(
    workspace: str | os.PathLike | io.Workspace | None,
    *,
    lang: str = "zh",
    distance: str = "auto",
    full_analysis_max_households: int = FULL_ANALYSIS_MAX_HOUSEHOLDS,
    validate: bool = True,
) -> MapContext:
    """Load the workspace and compute what the map shows.

    Up to ``full_analysis_max_households`` households (and always with
    ``distance="network"``), coverage, per-grid indicators and the standards
    check come from :mod:`gridmap.analysis.coverage` and :mod:`gridmap.analysis.standards`.
    Above it the map takes a fast path so a city map is made in seconds:
    straight-line coverage at the standard radii (KD-tree), basic per-grid
    indicators (households, residents, elderly share, micro-grids, coverage
    shares) and no standards check; a note in the map and on the console
    says so (``gridmap coverage`` gives the full figures). When the roads
    give no street network to walk along, distances are straight-line
    throughout, with a :class:`StraightLineWarning` and a note; any other error
    in coverage propagates.

    Parameters
    ----------
    workspace
        Path of a workspace GeoPackage, a loaded :class:`~gridmap.workspace.store.Workspace`,
        or None for the default workspace.
    lang
        ``"zh"`` or ``"en"``.
    distance
        Passed to :func:`gridmap.analysis.coverage.compute_coverage` (``"auto"``,
        ``"euclidean"`` or ``"network"``).
    full_analysis_max_households
        Size limit of the full analysis (see above).
    validate
        Validate the workspace (:func:`gridmap.checks.validation.validate`; duplicate
        ids and invalid shapes only on the fast path) so the map can warn in its
        title panel when the data have errors.
    """
    check_lang(lang)
    ws = _as_workspace(workspace)
    hierarchy = None
    if any(
        ws.get(level) is not None and len(ws.get(level))
        for level in (MICROGRIDS, GRIDS, ZONES, COMMUNITIES)
    ):
        hierarchy = build_hierarchy(ws.layers)
    hh = ws.get(HOUSEHOLDS)
    assignment = None
    if hh is not None and hierarchy is not None:
        assignment = assign_points(hh, hierarchy)
    ctx = MapContext(
        workspace=ws,
        lang=lang,
        hierarchy=hierarchy,
        households_assignment=assignment,
        distance=distance,
    )
    n = 0 if hh is None else len(hh)
    fast = n > full_analysis_max_households and distance != "network"
    if fast:
        ctx.notes.append(
            f"{n:,} households: fast map path (straight-line coverage at the standard radii, "
            "basic grid indicators, standards checked where those figures suffice); "
            "'gridmap coverage' gives the full figures"
        )
    hh_xy = _household_metric_xy(ws) if fast else None
    for fac in (SERVICE_STATIONS, CHARGING_PILES, PARKING):
        if fast:
            fc = _fallback_coverage(ws, fac, _standard_radius(fac), hh_xy)
        else:
            fc = _coverage(ctx, fac)
        if fc is not None:
            ctx.coverage[fac] = fc
    if ws.get(GRIDS) is not None:
        ctx.indicators = _basic_indicators(ctx) if fast else _indicators(ctx)
        if fast:
            _fast_standards(ctx)
        else:
            _standards(ctx)
    if validate:
        _validate(ctx, quick=fast)
    return ctx


# ---------------------------------------------------------------------------
# encoding


class _Encoder:
    """Turn WGS84 (or shifted) geometries into compact integer delta arrays."""

    def __init__(self, bounds: np.ndarray) -> None:
        minx, miny, maxx, maxy = bounds
        extent = max(maxx - minx, maxy - miny)
        # ~0.1 m (6 decimals) for a community, ~1 m (5 decimals) at city scale
        self.scale = 1e6 if extent < 0.05 else 1e5
        self.ox = round(float(minx), 3)
        self.oy = round(float(miny), 3)

    def point(self, x: float, y: float) -> list[int]:
        return [round((x - self.ox) * self.scale), round((y - self.oy) * self.scale)]

    def points(self, geoms: np.ndarray) -> list[list[int]]:
        x = np.round((shapely.get_x(geoms) - self.ox) * self.scale).astype(np.int64)
        y = np.round((shapely.get_y(geoms) - self.oy) * self.scale).astype(np.int64)
        return np.column_stack([x, y]).tolist()

    def polygons(self, geoms: np.ndarray) -> list[list[list[list[int]]]]:
        """Each (Multi)Polygon -> list of polygons -> list of rings -> flat delta ints."""
        if len(geoms) == 0:
            return []
        geoms = np.asarray(geoms, dtype=object)
        multi = geoms.copy()
        single = np.flatnonzero(shapely.get_type_id(geoms) == 3)
        if len(single):  # wrap Polygons as one-part MultiPolygons, vectorised
            multi[single] = shapely.multipolygons(geoms[single], indices=np.arange(len(single)))
        # force_2d: a 3D (PolygonZ) layer would give (n, 3) coordinates
        _, coords, (ring_off, poly_off, geom_off) = shapely.to_ragged_array(shapely.force_2d(multi))
        q = np.round((coords - [self.ox, self.oy]) * self.scale).astype(np.int64)
        d = q.copy()
        d[1:] -= q[:-1]
        starts = ring_off[:-1]
        d[starts] = q[starts]
        flat = d.ravel().tolist()
        rings = [flat[2 * s : 2 * (e - 1)] for s, e in itertools.pairwise(ring_off)]
        polys = [rings[s:e] for s, e in itertools.pairwise(poly_off)]
        return [polys[s:e] for s, e in itertools.pairwise(geom_off)]


def _encode_lines(enc: _Encoder, gdf: gpd.GeoDataFrame, tol_deg: float) -> list:
    """(Multi)LineStrings -> list of parts -> flat delta ints (other geometry types skipped)."""
    geoms = gdf.geometry.to_numpy()
    types = shapely.get_type_id(geoms)
    geoms = shapely.simplify(geoms[np.isin(types, [1, 5])], tol_deg)
    geoms = geoms[~shapely.is_empty(geoms)]
    if len(geoms) == 0:
        return []
    single = np.flatnonzero(shapely.get_type_id(geoms) == 1)
    multi = geoms.copy()
    if len(single):
        multi[single] = shapely.multilinestrings(geoms[single], indices=np.arange(len(single)))
    # force_2d: street centre-lines from CAD are often LineString Z
    _, coords, (line_off, geom_off) = shapely.to_ragged_array(shapely.force_2d(multi))
    q = np.round((coords - [enc.ox, enc.oy]) * enc.scale).astype(np.int64)
    d = q.copy()
    d[1:] -= q[:-1]
    d[line_off[:-1]] = q[line_off[:-1]]
    flat = d.ravel().tolist()
    parts = [flat[2 * a : 2 * b] for a, b in itertools.pairwise(line_off)]
    return [parts[a:b] for a, b in itertools.pairwise(geom_off)]


def _display_polygons(
    gdf: gpd.GeoDataFrame, tol_deg: float, layer: str, notes: list[str]
) -> gpd.GeoDataFrame:
    """Drop empty geometries (with a note), fix invalid ones, simplify as a coverage (no gaps)."""
    g = gdf.geometry
    bad = (g.isna() | g.is_empty).to_numpy()
    if bad.any():
        notes.append(f"{layer}: {int(bad.sum())} features without geometry are not drawn")
        gdf = gdf[~bad]
    geoms = gdf.geometry.to_numpy()
    types = shapely.get_type_id(geoms)
    if not np.isin(types, [3, 6]).all():
        geoms = np.array([_polygonal(g) for g in geoms], dtype=object)
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        geoms[invalid] = [_polygonal(shapely.make_valid(g)) for g in geoms[invalid]]
    try:
        simple = shapely.coverage_simplify(geoms, tol_deg)
    except Exception:  # not a coverage GEOS can handle: simplify each shape on its own
        simple = shapely.simplify(geoms, tol_deg, preserve_topology=True)
    empty = shapely.is_empty(simple) | shapely.is_missing(simple)
    simple = np.where(empty, geoms, simple)
    out = gdf.copy()
    out[out.geometry.name] = gpd.GeoSeries(simple, index=gdf.index, crs=gdf.crs)
    return out


def _personal_column(gdf: gpd.GeoDataFrame, col: str, wanted: bool) -> list:
    """The column's values when personal data are wanted (and present), else Nones."""
    if wanted and col in gdf:
        return gdf[col].tolist()
    return [None] * len(gdf)


def _polygonal(geom):
    if geom is None:
        return shapely.Polygon()
    if shapely.get_type_id(geom) in (3, 6):
        return geom
    parts = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) in (3, 6)]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _text(v) -> str | None:
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    if isinstance(v, (bool, np.bool_)):
        return None
    if isinstance(v, float) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _pct(v) -> str:
    return "—" if v is None or pd.isna(v) else f"{100 * float(v):.0f}%"


def _facility_label(fac: str, lang: str) -> str:
    return tr(f"{fac}_short", lang)


_COVER_COL = re.compile(r"^(coverage_share|access_2sfca)_(\w+?)_(\d+(?:\.\d+)?)m$")


def _indicator_label(col: str, lang: str) -> str:
    """Readable name of a per-grid indicator column (raw name when unknown)."""
    if col.startswith("cover_") and col[6:] in FACILITY_COLORS:
        return tr("ind_cover", lang, facility=_facility_label(col[6:], lang))
    m = _COVER_COL.match(col)
    if m and m.group(2) in FACILITY_COLORS:
        key = "ind_cover_r" if m.group(1) == "coverage_share" else "ind_access_r"
        return tr(key, lang, facility=_facility_label(m.group(2), lang), dist=m.group(3))
    key = f"ind_{col}"
    return tr(key, lang) if key in table(lang) else col


def _indicator_kind(col: str, values: pd.Series) -> str:
    if col == "elderly_share":
        return "share_need"
    vals = values.dropna()
    if col.startswith(("cover_", "coverage_share_")) or (
        col.endswith("_share") and vals.between(0, 1).all()
    ):
        return "share_good"
    return "count"


def _indicator_spec(ctx: MapContext, name: str | None) -> tuple[str, dict] | None:
    ind = ctx.indicators
    if ind is None:
        return None
    numeric = [c for c in ind.columns if pd.api.types.is_numeric_dtype(ind[c])]
    reason = None
    if name is None:
        found = default_finding(ctx)
        if found is not None and found.column in numeric:
            name, reason = found.column, found.reason
    if name is None:
        # the default colours something: skip columns with no figure at all (e.g. no stations)
        filled = [c for c in numeric if ind[c].notna().any()]
        preferred = [c for c in filled if c.startswith(f"coverage_share_{SERVICE_STATIONS}_")]
        for cand in (*preferred, f"cover_{SERVICE_STATIONS}", "households"):
            if cand in filled:
                name = cand
                break
        else:
            if not numeric:
                return None
            name = (filled or numeric)[0]
    if name not in numeric:
        raise SchemaError(
            f"unknown indicator '{name}'. Available per grid: {', '.join(numeric) or 'none'}",
            file=str(ctx.workspace.path),
            layer=GRIDS,
        )
    values = pd.to_numeric(ind[name], errors="coerce")
    values = values.where(np.isfinite(values.astype(float)))
    kind = _indicator_kind(name, values)
    lang = ctx.lang
    if kind.startswith("share"):
        breaks = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
        colors = SHARE_GOOD if kind == "share_good" else SEQUENTIAL_NEED
        labels = [f"{int(100 * a)}–{int(100 * b)}%" for a, b in itertools.pairwise(breaks)]
    else:
        vals = values.dropna()
        if len(vals) == 0:
            breaks = [0.0, 1.0]
        else:
            q = np.quantile(vals, [0, 0.2, 0.4, 0.6, 0.8, 1.0])
            whole = bool((vals == np.round(vals)).all())
            if whole:  # counts: whole-number class limits (v <= floor(q) iff v <= q)
                q = np.floor(q)
            breaks = sorted(set(q.round(6).tolist()))
            if len(breaks) == 1:
                breaks = [breaks[0], breaks[0]]
        n = len(breaks) - 1
        colors = SEQUENTIAL[-n:] if n < len(SEQUENTIAL) else SEQUENTIAL
        if len(vals) and whole:
            # classes are (a, b]: whole numbers a+1..b (the first one also holds a)
            labels = []
            for i, (a, b) in enumerate(itertools.pairwise(breaks)):
                lo = a if i == 0 else a + 1
                labels.append(_num(b) if lo >= b else f"{_num(lo)}–{_num(b)}")
        else:
            labels = [f"{_num(a)}–{_num(b)}" for a, b in itertools.pairwise(breaks)]
        kind = "count"
    spec = {
        "name": name,
        "label": label_for(ctx, name),
        "breaks": breaks,
        "colors": colors,
        "labels": labels,
        "nodata": NODATA_COLOR,
        "has_nodata": bool(values.isna().any()),
        "kind": kind,
        "finding": reason or tr("finding_chosen", lang, indicator=_indicator_label(name, lang)),
    }
    return name, spec


def default_finding(ctx: MapContext) -> panels.Finding | None:
    """The indicator the default view leads with (see :func:`gridmap.maps.panels.finding`)."""
    if ctx.indicators is None:
        return None
    return panels.finding(
        ctx.indicators,
        ctx.coverage,
        ctx.failing,
        ctx.lang,
        lambda c: panels.plain_label(
            c, ctx.lang, _walking(ctx).get(_col_facility(c), False), _facility_label
        ),
    )


def label_for(ctx: MapContext, col: str) -> str:
    """Readable indicator name; coverage figures say 步行 (walking) or 直线 (straight line)."""
    if panels._SHARE_COL.match(col) or panels._ACCESS_COL.match(col):
        walk = _walking(ctx).get(_col_facility(col), False)
        return panels.plain_label(col, ctx.lang, walk, _facility_label)
    return _indicator_label(col, ctx.lang)


def _walking(ctx: MapContext) -> dict[str, bool]:
    return {fac: fc.distance == "network" for fac, fc in ctx.coverage.items()}


def _col_facility(col: str) -> str:
    for fac in FACILITY_COLORS:
        if f"_{fac}" in col or col == f"cover_{fac}":
            return fac
    return ""


def _num(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 10 or float(v).is_integer() else f"{v:.2g}"


def _bins(x: np.ndarray, y: np.ndarray, cell_deg: float) -> list[tuple[float, float, int]]:
    """Count points per square cell; return cell centres (never a point's own position)."""
    if len(x) == 0:
        return []
    ix = np.floor(x / cell_deg).astype(np.int64)
    iy = np.floor(y / cell_deg).astype(np.int64)
    keys, counts = np.unique(np.column_stack([ix, iy]), axis=0, return_counts=True)
    return [
        ((kx + 0.5) * cell_deg, (ky + 0.5) * cell_deg, int(c))
        for (kx, ky), c in zip(keys.tolist(), counts.tolist(), strict=True)
    ]


def check_basemap(basemap: str, lang: str = "zh") -> None:
    """Raise a GridmapError for an unknown basemap or a missing tianditu key."""
    _basemap(basemap, lang)


def _basemap(basemap: str, lang: str) -> dict | None:
    if basemap not in BASEMAPS:
        raise GridmapError(f"unknown basemap '{basemap}' (use one of: {', '.join(BASEMAPS)})")
    if basemap == "none":
        return None
    if basemap == "amap":
        lg = "zh_cn" if lang == "zh" else "en"
        url = (
            "https://webrd0{s}.is.autonavi.com/appmaptile?"
            f"lang={lg}&size=1&scale=1&style=8&x={{x}}&y={{y}}&z={{z}}"
        )
        opts = {
            "subdomains": "1234",
            "maxNativeZoom": 18,
            "maxZoom": 19,
            "attribution": "© 高德地图 AutoNavi",
        }
        return {"kind": "amap", "tiles": [{"url": url, "options": opts}]}
    if basemap == "osm":
        opts = {"maxNativeZoom": 19, "maxZoom": 19, "attribution": "© OpenStreetMap contributors"}
        return {
            "kind": "osm",
            "tiles": [{"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "options": opts}],
        }
    key = os.environ.get(TIANDITU_KEY_ENV, "").strip()
    if not key:
        raise GridmapError(
            f"the tianditu basemap needs a key: get one at console.tianditu.gov.cn and set "
            f"{TIANDITU_KEY_ENV}=<key>, or use basemap=amap, osm or none"
        )
    tiles = []
    for layer in ("vec", "cva" if lang == "zh" else "eva"):
        url = (
            f"https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
            f"&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
            f"&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={key}"
        )
        opts = {
            "subdomains": "01234567",
            "maxNativeZoom": 18,
            "maxZoom": 19,
            "attribution": "© 天地图",
        }
        tiles.append({"url": url, "options": opts})
    return {"kind": "tianditu", "tiles": tiles}


# ---------------------------------------------------------------------------
# rendering


def render_html(
    ctx: MapContext,
    *,
    title: str | None = None,
    basemap: str = "amap",
    indicator: str | None = None,
    include_personal: bool = False,
    extent: tuple[float, float, float, float] | None = None,
    overlays: list[Overlay] | None = None,
) -> str:
    """Write the map HTML for a prepared context (see :func:`build_map`).

    ``extent`` (WGS84 ``minx, miny, maxx, maxy``) is the frame the map opens
    and prints at, so every map of a meeting can share one frame; by default
    the map opens on all the data and prints the extent on screen.
    ``overlays`` adds extra layers (:class:`Overlay`) to the layer tree.
    """
    lang = ctx.lang
    base = _basemap(basemap, lang)
    ws = ctx.workspace
    notes = ctx.notes
    shift = basemap == "amap"

    def layer(name: str) -> gpd.GeoDataFrame | None:
        gdf = ws.get(name)
        if gdf is None or len(gdf) == 0:
            return None
        return gdf_wgs84_to(gdf, "gcj02") if shift else gdf

    polys = {n: layer(n) for n in (COMMUNITIES, ZONES, GRIDS, MICROGRIDS)}
    present = [g for g in polys.values() if g is not None]
    hh = ws.get(HOUSEHOLDS)
    if hh is not None and len(hh) == 0:
        hh = None
    if not present and hh is None:
        raise GridmapError("the workspace has no layers to draw", file=str(ws.path))
    allb = np.array([g.total_bounds for g in present] or [hh.total_bounds])
    bounds = np.array([allb[:, 0].min(), allb[:, 1].min(), allb[:, 2].max(), allb[:, 3].max()])
    enc = _Encoder(bounds)
    extent_m = max(bounds[2] - bounds[0], bounds[3] - bounds[1]) * 111_320
    tol_m = max(0.5, extent_m / 5000.0)
    tol_deg = tol_m / 111_320
    data_layers: dict[str, object] = {}
    indicators = ctx.indicators
    ind_spec = _indicator_spec(ctx, indicator)
    ind_name = ind_spec[0] if ind_spec else None

    def names(gdf, id_col):
        nm = gdf["name"] if "name" in gdf else gdf[id_col]
        return [_text(v) or _text(i) or "" for v, i in zip(nm, gdf[id_col], strict=True)]

    for lname in (COMMUNITIES, ZONES):
        g = polys[lname]
        if g is None:
            continue
        idc = "community_id" if lname == COMMUNITIES else "zone_id"
        g = _display_polygons(g, tol_deg, lname, notes)
        geoms = enc.polygons(g.geometry.to_numpy())
        data_layers[lname] = [
            {"id": _text(i), "name": n, "g": gg}
            for i, n, gg in zip(g[idc], names(g, idc), geoms, strict=True)
        ]

    roads = layer(ROADS)
    if roads is not None:
        lines = _encode_lines(enc, roads, tol_deg)
        data_layers["roads"] = {
            "lines": lines,
            "on": base is None,
            "names": _road_labels(enc, roads, tol_deg),
        }

    zone_names: dict = {}
    zone_of: dict[str, str] = {}
    # micro-grids
    mg_by_grid: dict[str, list[str]] = {}
    hh_counts = pd.Series(dtype=int)
    a = ctx.households_assignment
    if a is not None:
        hh_counts = a["microgrid_id"].dropna().value_counts()
    mg = polys[MICROGRIDS]
    if mg is not None:
        mgd = _display_polygons(mg, tol_deg, MICROGRIDS, notes)
        geoms = enc.polygons(mgd.geometry.to_numpy())
        parents = ctx.hierarchy.parents.get(MICROGRIDS, {}) if ctx.hierarchy else {}
        items = []
        hh_bubbles = []
        counts = hh_counts.to_dict()
        hh_label = tr("households", lang)
        rep = shapely.point_on_surface(mgd.geometry.to_numpy())
        reps = enc.points(rep)
        for mid, nm, gg, xy, leader, phone in zip(
            mgd["microgrid_id"],
            names(mgd, "microgrid_id"),
            geoms,
            reps,
            _personal_column(mgd, "leader_name", include_personal),
            _personal_column(mgd, "leader_phone", include_personal),
            strict=True,
        ):
            mid = _text(mid)
            n = int(counts.get(mid, 0))
            p = {hh_label: n}
            if include_personal and (_text(leader) or _text(phone)):
                p[tr("leader", lang)] = " ".join(v for v in (_text(leader), _text(phone)) if v)
            items.append({"id": mid, "name": nm, "g": gg, "p": p})
            gid = parents.get(mid)
            if gid is not None:
                mg_by_grid.setdefault(gid, []).append(mid)
            if n:
                hh_bubbles.append([*xy, n, nm])
        data_layers[MICROGRIDS] = items
        data_layers["hh"] = hh_bubbles

    # grids with popup figures and the indicator value
    grids = polys[GRIDS]
    if grids is not None:
        gd = _display_polygons(grids, tol_deg, GRIDS, notes)
        geoms = enc.polygons(gd.geometry.to_numpy())
        labs = enc.points(shapely.point_on_surface(gd.geometry.to_numpy()))
        if ws.get(ZONES) is not None:
            z = ws.get(ZONES)
            zone_names = dict(zip(z["zone_id"], names(z, "zone_id"), strict=True))
        zparents = ctx.hierarchy.parents.get(GRIDS, {}) if ctx.hierarchy else {}
        fails: dict[str, list[str]] = {}
        if ctx.failing is not None:
            for gid, rule in zip(
                ctx.failing["grid_id"].astype(str), ctx.failing["short"], strict=True
            ):
                fails.setdefault(gid, []).append(str(rule))
        ind_rows: dict = {}
        if indicators is not None:
            ind_rows = indicators[~indicators.index.duplicated()].to_dict("index")
        items = []
        for i, (gid, nm, gg, lab) in enumerate(
            zip(gd["grid_id"], names(gd, "grid_id"), geoms, labs, strict=True)
        ):
            gid = _text(gid)
            row = ind_rows.get(gid)
            p: dict[str, object] = {tr("id", lang): gid}
            zid = zparents.get(gid)
            if zid:
                p[tr("zone", lang)] = zone_names.get(zid, zid)
                zone_of[gid] = str(zone_names.get(zid, zid))
            if row is not None:
                for col, key in (("households", "households"), ("residents", "residents")):
                    if col in row and not pd.isna(row[col]):
                        p[tr(key, lang)] = int(row[col])
                if "elderly_share" in row:
                    p[tr("elderly_share", lang)] = _pct(row["elderly_share"])
                for fac, fc in ctx.coverage.items():
                    col = f"cover_{fac}"
                    if col in row:
                        fac_label = _facility_label(fac, lang)
                        key = "plain_cover_walk" if fc.distance == "network" else "plain_cover_line"
                        label = tr(key, lang, facility=fac_label, dist=_num(fc.radius_m))
                        p[label] = _pct(row[col])
                ind_label = label_for(ctx, ind_name) if ind_name else None
                if ind_label and ind_label not in p:
                    v = row.get(ind_name)
                    ok = v is not None and not pd.isna(v) and math.isfinite(float(v))
                    if not ok:
                        p[ind_label] = "—"
                    elif ind_spec[1]["kind"].startswith("share"):
                        p[ind_label] = _pct(v)
                    else:
                        p[ind_label] = _num(float(v))
            if gid in fails:
                p[tr("failing", lang)] = "；".join(fails[gid])
            if include_personal:
                staff = [_text(gd.iloc[i].get(c)) for c in ("staff_name", "staff_phone")]
                if any(staff):
                    p[tr("staff", lang)] = " ".join(s for s in staff if s)
            v = None
            if row is not None and ind_name is not None and not pd.isna(row.get(ind_name)):
                v = float(row[ind_name])
                v = round(v, 6) if math.isfinite(v) else None
            items.append(
                {
                    "id": gid,
                    "name": nm,
                    "g": gg,
                    "lab": lab,
                    "p": p,
                    "v": v,
                    "mg": mg_by_grid.get(gid, []),
                }
            )
        data_layers[GRIDS] = items

    # facilities (clustered when there are many: a city)
    policy = privacy.policy_for_workspace(ws.path)
    clusters: list[str] = []
    for fac in (SERVICE_STATIONS, CHARGING_PILES, PARKING):
        f = layer(fac)
        if f is None:
            continue
        keep = ~(f.geometry.isna() | f.geometry.is_empty).to_numpy()
        if (~keep).any():
            notes.append(f"{fac}: {int((~keep).sum())} features without geometry are not drawn")
        f = f[keep]
        xy = enc.points(shapely.point_on_surface(f.geometry.to_numpy()))
        idc = FACILITY_POPUP_COLUMNS[fac][0]
        size_col = {CHARGING_PILES: "ports", PARKING: "spaces"}.get(fac)
        feats = []
        records = pd.DataFrame(f.drop(columns=[f.geometry.name])).to_dict("records")
        for k, r in enumerate(records):
            p = {}
            for col in FACILITY_POPUP_COLUMNS[fac]:
                if col in r and policy.is_visible(fac, col, "anonymous"):
                    v = r[col]
                    if isinstance(v, (bool, np.bool_)):
                        v = tr("yes" if v else "no", lang)
                    t = _text(v)
                    if t is not None:
                        p[tr(_COLUMN_LABEL[col], lang)] = t
            title_txt = _text(r.get("name")) if fac == SERVICE_STATIONS else None
            title_txt = (
                title_txt or f"{_facility_label(fac, lang)} {_text(r.get(idc)) or ''}".strip()
            )
            item = {"xy": xy[k], "title": title_txt, "p": p}
            if size_col and size_col in r:
                n = pd.to_numeric(r[size_col], errors="coerce")
                item["n"] = None if pd.isna(n) else float(n)
            feats.append(item)
        data_layers[fac] = feats
        if len(feats) > CLUSTER_MIN:
            clusters.append(fac)

    # coverage areas. Straight-line figures: the radius circles, dissolved per type
    # (labelled 直线). Walking figures: each micro-grid shaded by the share of its
    # households within the walk (the same flags as the headline), and the streets
    # within the walking distance.
    rings = []
    mg_order = [it["id"] for it in data_layers.get(MICROGRIDS, [])]
    grid_order = [_text(g) for g in grids["grid_id"]] if grids is not None else []
    for fac, fc in ctx.coverage.items():
        fac_label = _facility_label(fac, lang)
        if fc.distance == "network":
            reach = _reach_shares(ctx, fc, mg_order, grid_order)
            if reach is None:
                continue
            entry = {
                "facility": fac,
                "kind": "walk",
                "radius": fc.radius_m,
                "color": FACILITY_COLORS[fac],
                "label": tr(
                    "ring_walk" if reach["unit"] == MICROGRIDS else "ring_walk_grid",
                    lang,
                    facility=fac_label,
                    dist=_num(fc.radius_m),
                ),
                "on": False,
                **reach,
            }
            streets = _reached_streets(ctx, fac, fc.radius_m, shift)
            if streets is not None:
                entry["streets"] = _encode_lines(enc, streets, tol_deg)
                entry["streets_label"] = tr(
                    "streets_walk", lang, facility=fac_label, dist=_num(fc.radius_m)
                )
            rings.append(entry)
            continue
        area = _coverage_area(ws.get(fac), fc.radius_m, tol_m)
        if area is None:
            continue
        if shift:
            area = gdf_wgs84_to(area, "gcj02")
        rings.append(
            {
                "facility": fac,
                "kind": "line",
                "radius": fc.radius_m,
                "color": FACILITY_COLORS[fac],
                "areas": enc.polygons(area.geometry.to_numpy()),
                "label": tr("ring", lang, facility=fac_label, dist=_num(fc.radius_m)),
                "on": False,
            }
        )
    data_layers["rings"] = rings

    # aggregated households: outside every micro-grid, and beyond service-station reach
    cell_deg = max(0.0005, tol_deg * 50)
    if hh is not None:
        hx, hy = point_coordinates(hh)
        ok = np.isfinite(hx) & np.isfinite(hy)
        if shift and ok.any():
            hx, hy = hx.copy(), hy.copy()
            hx[ok], hy[ok] = wgs84_to_gcj02(hx[ok], hy[ok])
        if a is not None and mg is not None:
            out_mask = a["microgrid_id"].isna().to_numpy() & ok
            data_layers["outside"] = [
                [*enc.point(x, y), n] for x, y, n in _bins(hx[out_mask], hy[out_mask], cell_deg)
            ]
        fc = ctx.coverage.get(SERVICE_STATIONS)
        if fc is not None:
            un = (~fc.covered.to_numpy()) & ok
            data_layers["uncovered"] = {
                "label": tr(
                    "hh_uncovered_walk" if fc.distance == "network" else "hh_uncovered",
                    lang,
                    dist=_num(fc.radius_m),
                    facility=_facility_label(SERVICE_STATIONS, lang),
                ),
                "pts": [[*enc.point(x, y), n] for x, y, n in _bins(hx[un], hy[un], cell_deg)],
            }

    headline = _headline(ctx)
    comm = ws.get(COMMUNITIES)
    default_title = tr("title_default", lang)
    if comm is not None and len(comm) == 1 and "name" in comm and _text(comm["name"].iloc[0]):
        default_title = f"{_text(comm['name'].iloc[0])} · {default_title}"
    title = title or default_title
    note_parts = [tr("data_note", lang)]
    if shift and bool(out_of_china(bounds[[0, 2]], bounds[[1, 3]]).all()):
        # GCJ-02 leaves positions outside China unshifted: say so, not "shifted"
        note_parts.append(tr("shift_outside_note", lang))
        msg = (
            "the data lie outside mainland China: no GCJ-02 shift was applied and Amap "
            "tiles may be blank there; use basemap=osm"
        )
        if msg not in notes:
            notes.append(msg)
    elif shift:
        note_parts.append(tr("shift_note", lang))
    if base is None:
        note_parts.append(tr("basemap_none", lang))
    if ind_spec is None and rings:
        rings[0]["on"] = True  # no choropleth: the first coverage area is the picture
    label_zoom = _label_min_zoom(polys[GRIDS], bounds)
    grid_names = {it["id"]: it["name"] for it in data_layers.get(GRIDS, [])}
    std_panel = None
    if ctx.standards_checked and ctx.standards_results is not None and ctx.standards_used:
        std_panel = panels.standards_panel(
            ctx.standards_results,
            ctx.standards_used,
            lang,
            _walking(ctx),
            grid_names,
            _facility_label,
            ctx.standards_skipped,
        )
    grid_tab = None
    if indicators is not None and grid_names:
        fails_by_grid: dict[str, list[str]] = {}
        if ctx.failing is not None:
            for gid, short in zip(
                ctx.failing["grid_id"].astype(str), ctx.failing["short"], strict=False
            ):
                fails_by_grid.setdefault(gid, []).append(str(short))
        grid_tab = panels.grid_table(
            indicators,
            list(grid_names),
            grid_names,
            zone_of,
            fails_by_grid,
            lang,
            _walking(ctx),
            _facility_label,
        )
    frame = None
    if extent is not None:
        ex = np.asarray(extent, dtype=float)
        if ex.shape != (4,) or not np.isfinite(ex).all() or ex[0] >= ex[2] or ex[1] >= ex[3]:
            raise GridmapError(
                f"extent must be four numbers minx, miny, maxx, maxy (WGS84), got {extent!r}"
            )
        if shift:
            fx, fy = wgs84_to_gcj02(ex[[0, 2]], ex[[1, 3]])
            ex = np.array([fx[0], fy[0], fx[1], fy[1]])
        frame = [[float(ex[1]), float(ex[0])], [float(ex[3]), float(ex[2])]]
    source = ws.path.name if getattr(ws, "path", None) else "gridmap"
    payload = {
        "lang": lang,
        "t": table(lang),
        "title": title,
        "warning": tr("personal_warning", lang) if include_personal else None,
        "headline": headline,
        "note": " · ".join(note_parts),
        "origin": [enc.ox, enc.oy],
        "scale": enc.scale,
        "basemap": base,
        "layers": data_layers,
        "indicator": ind_spec[1] if ind_spec else None,
        "labelMinZoom": label_zoom,
        "minZoom": _min_zooms(data_layers, bounds),
        "hhScale": _hh_scale(hh_counts),
        "stationGlyph": "站" if lang == "zh" else "S",
        "markers": MARKER_STYLES,
        "finding": ind_spec[1]["finding"] if ind_spec else None,
        "standards": std_panel,
        "gridTable": grid_tab,
        "validation": panels.validation_summary(ctx.validation or [], lang),
        "date": tr("map_date", lang, date=date.today().isoformat()),
        "source": tr("data_source", lang, source=source),
        "frame": frame,
        "clusters": clusters,
        "buildings": _buildings(ws, enc, shift),
        "overlays": [_overlay(o, enc, shift) for o in (overlays or [])],
    }
    blob = json.dumps(
        payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=json_default
    )
    blob = blob.replace("<", "\\u003c")  # inert inside <script>, whatever the names hold
    return _TEMPLATE.format(
        lang="zh-CN" if lang == "zh" else "en",
        title=html.escape(title),
        leaflet_css=assets.leaflet_css() + ("\n" + assets.markercluster_css() if clusters else ""),
        map_css=assets.own_asset("map.css"),
        leaflet_js=assets.leaflet_js() + ("\n" + assets.markercluster_js() if clusters else ""),
        data=blob,
        map_js=assets.own_asset("map.js"),
    )


#: More markers than this in a facility layer are clustered (Leaflet.markercluster).
CLUSTER_MIN = 300


def _buildings(ws: io.Workspace, enc: _Encoder, shift: bool) -> list:
    """Buildings for the search box: [x, y, households, name] from household addresses.

    The address column is read here only to find street + building number (never
    unit or room); a building with fewer than
    :data:`gridmap.maps.panels.BUILDING_MIN_HOUSEHOLDS` households is left out.
    A workspace ``buildings`` layer with a ``name`` is used as it is.
    """
    import pyogrio

    b = ws.get("buildings")
    if b is not None and len(b) and "name" in b:
        g = b[~(b.geometry.isna() | b.geometry.is_empty)]
        pts = shapely.point_on_surface(g.geometry.to_numpy())
        x, y = shapely.get_x(pts), shapely.get_y(pts)
        if shift:
            x, y = wgs84_to_gcj02(x, y)
        return [
            [*enc.point(xi, yi), None, str(nm)]
            for xi, yi, nm in zip(x, y, g["name"], strict=True)
            if _text(nm)
        ]
    path = getattr(ws, "path", None)
    hh = ws.get(HOUSEHOLDS)
    if path is None or hh is None or len(hh) == 0 or len(hh) > FULL_ANALYSIS_MAX_HOUSEHOLDS:
        return []
    try:
        fields = [str(c) for c in pyogrio.read_info(path, layer=HOUSEHOLDS)["fields"]]
        if "address" not in fields:
            return []
        df = pyogrio.read_dataframe(path, layer=HOUSEHOLDS, columns=["address"])
    except Exception:  # no readable addresses: no buildings to search
        return []
    x, y = point_coordinates(df)
    found = panels.building_index(df["address"], x, y)
    del df
    out = []
    for name, bx, by, n in found:
        if shift:
            gx, gy = wgs84_to_gcj02(np.array([bx]), np.array([by]))
            bx, by = float(gx[0]), float(gy[0])
        out.append([*enc.point(bx, by), n, name])
    return out


def _overlay(o: Overlay, enc: _Encoder, shift: bool) -> dict:
    """An extra layer as the map's JS reads it (points or polygons, public columns only)."""
    if not re.fullmatch(r"\w+", o.key):
        raise GridmapError(f"overlay key '{o.key}' must be letters, digits or _")
    g = o.gdf[~(o.gdf.geometry.isna() | o.gdf.geometry.is_empty)]
    if shift and len(g):
        g = gdf_wgs84_to(g, "gcj02")
    # popup_columns is the allow-list: the caller names aggregate columns only
    cols = {c: lab for c, lab in o.popup_columns.items() if c in g}
    props = [
        {lab: _text(r[c]) for c, lab in cols.items() if _text(r[c]) is not None}
        for _, r in g.iterrows()
    ]
    geoms = g.geometry.to_numpy()
    polygonal = bool(len(g)) and bool(np.isin(shapely.get_type_id(geoms), [3, 6]).all())
    out = {
        "key": o.key,
        "label": o.label,
        "color": o.color,
        "group": o.group,
        "on": o.on,
        "kind": "polygons" if polygonal else "points",
        "p": props,
    }
    if polygonal:
        out["g"] = enc.polygons(geoms)
    else:
        out["xy"] = enc.points(shapely.point_on_surface(geoms))
    if o.size_column and o.size_column in g:
        n = pd.to_numeric(g[o.size_column], errors="coerce")
        out["n"] = [None if pd.isna(v) else float(v) for v in n]
    return out


def _reach_shares(
    ctx: MapContext, fc: FacilityCoverage, mg_order: list[str], grid_order: list[str]
) -> dict | None:
    """Households reached (``c``) and in total (``n``) per micro-grid (or grid), map order.

    The flags are the ones behind the headline figure, so the shading agrees
    with it by construction (households outside every micro-grid are counted
    in the headline but belong to no micro-grid).
    """
    a = ctx.households_assignment
    if a is None:
        return None
    if mg_order:
        key, order, unit = a["microgrid_id"], mg_order, MICROGRIDS
    elif grid_order:
        key, order, unit = a["grid_id"], grid_order, GRIDS
    else:
        return None
    df = pd.DataFrame({"k": key.to_numpy(dtype=object), "c": fc.covered.to_numpy().astype(int)})
    df = df[df["k"].notna()]
    df["k"] = df["k"].astype(str)
    g = df.groupby("k")["c"].agg(["sum", "size"])
    c = g["sum"].reindex(order).fillna(0).astype(int).tolist()
    n = g["size"].reindex(order).fillna(0).astype(int).tolist()
    return {"unit": unit, "c": c, "n": n}


def _reached_streets(
    ctx: MapContext, facility: str, radius_m: float, shift: bool
) -> gpd.GeoDataFrame | None:
    """Street pieces within ``radius_m`` walking of a facility (WGS84, or GCJ-02 with ``shift``).

    Uses the coverage's own network (:func:`gridmap.analysis.network.route`): an
    edge is kept in full when both ends together reach across it, else the
    part reachable from each end.
    """
    cc = ctx.coverage_context
    net = getattr(cc, "network", None)
    if net is None:
        return None
    try:
        from gridmap.analysis.network import route

        facs = cov.load_facilities(cc, facility, required=False)
        if len(facs.geoms) == 0:
            return None
        rt = route(net, facs.geoms).solve()
    except Exception as exc:  # the drawing must not break the meeting map
        ctx.notes.append(f"walking streets of {facility} not drawn ({exc})")
        return None
    n, d = rt.net, rt.dist
    e = n.edges
    if len(e) == 0:
        return None
    length = n.lengths
    u, v = e[:, 0], e[:, 1]
    ru = np.nan_to_num(np.clip(radius_m - d[u], 0, None), nan=0.0, posinf=0.0)
    rv = np.nan_to_num(np.clip(radius_m - d[v], 0, None), nan=0.0, posinf=0.0)
    a, b = n.xy[u], n.xy[v]
    full = np.flatnonzero((ru + rv >= length) & (length > 0))
    part = (ru + rv < length) & (length > 0)
    pu = np.flatnonzero(part & (ru > 0))
    pv = np.flatnonzero(part & (rv > 0))
    tu = (ru[pu] / length[pu])[:, None]
    tv = (rv[pv] / length[pv])[:, None]
    starts = np.concatenate([a[full], a[pu], b[pv]])
    ends = np.concatenate([b[full], a[pu] + (b[pu] - a[pu]) * tu, b[pv] + (a[pv] - b[pv]) * tv])
    if len(starts) == 0:
        return None
    lines = shapely.linestrings(np.stack([starts, ends], axis=1))
    merged = shapely.line_merge(shapely.union_all(lines))
    out = gpd.GeoDataFrame(geometry=[merged], crs=n.crs).to_crs("EPSG:4326")
    return gdf_wgs84_to(out, "gcj02") if shift else out


def _road_labels(enc: _Encoder, roads: gpd.GeoDataFrame, tol_deg: float) -> list:
    """One label per street name: [x, y, angle, name, minx, miny, maxx, maxy] (encoded ints).

    The label sits at the middle of the street's longest continuous piece,
    turned along it; the box is the whole street's extent (for search).
    """
    if "name" not in roads:
        return []
    g = roads[roads["name"].notna() & ~(roads.geometry.isna() | roads.geometry.is_empty)]
    g = g[g.geometry.geom_type.isin(["LineString", "MultiLineString"])]
    if len(g) == 0:
        return []
    lat = float(np.nanmean(g.total_bounds[[1, 3]]))
    coslat = math.cos(math.radians(lat))
    out = []
    geoms = shapely.force_2d(g.geometry.to_numpy())
    for name, idx in pd.Series(np.arange(len(g))).groupby(g["name"].astype(str).to_numpy()):
        if not str(name).strip():
            continue
        merged = shapely.line_merge(shapely.union_all(geoms[idx.to_numpy()]))
        parts = [p for p in shapely.get_parts(merged) if shapely.get_type_id(p) == 1]
        if not parts:
            continue
        longest = max(parts, key=lambda p: p.length)
        mid = longest.interpolate(0.5, normalized=True)
        p0 = longest.interpolate(0.4, normalized=True)
        p1 = longest.interpolate(0.6, normalized=True)
        ang = math.degrees(math.atan2(-(p1.y - p0.y), (p1.x - p0.x) * coslat))
        if ang > 90:
            ang -= 180
        elif ang < -90:
            ang += 180
        minx, miny, maxx, maxy = shapely.total_bounds(merged)
        out.append(
            [
                *enc.point(mid.x, mid.y),
                round(ang, 1),
                str(name),
                *enc.point(minx, miny),
                *enc.point(maxx, maxy),
            ]
        )
    return out


def _coverage_area(
    fac: gpd.GeoDataFrame | None, radius_m: float, tol_m: float
) -> gpd.GeoDataFrame | None:
    """Union of ``radius_m`` circles around the facilities (WGS84), simplified for display."""
    if fac is None or len(fac) == 0:
        return None
    g = fac.geometry[~(fac.geometry.isna() | fac.geometry.is_empty)]
    if len(g) == 0:
        return None
    metric = metric_crs_for(fac)
    pts = shapely.point_on_surface(g.to_crs(metric).to_numpy())
    area = shapely.union_all(shapely.buffer(pts, radius_m, quad_segs=16))
    area = shapely.simplify(area, tol_m, preserve_topology=True)
    out = gpd.GeoDataFrame(geometry=[area], crs=metric).to_crs("EPSG:4326")
    return out[~out.geometry.is_empty]


def _hh_scale(counts: pd.Series) -> float:
    if len(counts) == 0:
        return 1.0
    q = float(np.quantile(counts.to_numpy(), 0.9))
    return max(0.3, min(1.5, 9.0 / math.sqrt(max(q, 1.0))))


#: Layers with more features than this appear only once zoomed in (see _min_zooms).
DETAIL_FEATURES = 400


def _zoom_for(n_units: int, bounds: np.ndarray, px: float) -> float:
    """Zoom at which ``n_units`` equal cells covering ``bounds`` are ``px`` pixels wide."""
    lat = (bounds[1] + bounds[3]) / 2
    coslat = math.cos(math.radians(lat))
    area_m2 = (bounds[2] - bounds[0]) * coslat * (bounds[3] - bounds[1]) * 111_320**2
    width_m = math.sqrt(area_m2 / max(n_units, 1))
    return float(math.ceil(math.log2(px * 156_543 * coslat / max(width_m, 1.0))))


def _min_zooms(data_layers: dict, bounds: np.ndarray) -> dict[str, float]:
    """Zoom from which each crowded layer is drawn, so a city overview stays readable.

    A layer with more than DETAIL_FEATURES features appears when its features
    are about 25 px apart on average (micro-grid outlines: 12 px wide).
    """
    out: dict[str, float] = {}
    for key, px in (
        ("hh", 25),
        ("uncovered", 25),
        ("outside", 25),
        ("service_stations", 40),
        ("charging_piles", 25),
        ("parking", 25),
        ("microgrids", 12),
    ):
        v = data_layers.get(key)
        items = v["pts"] if isinstance(v, dict) else v
        if items and len(items) > DETAIL_FEATURES:
            out[key] = _zoom_for(len(items), bounds, px)
    roads = data_layers.get("roads")
    if roads and len(roads["lines"]) > 4 * DETAIL_FEATURES:
        out["roads"] = _zoom_for(len(roads["lines"]), bounds, 25)
    return out


def _label_min_zoom(grids: gpd.GeoDataFrame | None, bounds: np.ndarray) -> float:
    """Zoom from which grid names are shown: always for a community, zoomed in for a city."""
    if grids is None or len(grids) <= 80:
        return 0
    lat = (bounds[1] + bounds[3]) / 2
    area_deg = (bounds[2] - bounds[0]) * (bounds[3] - bounds[1])
    width_m = math.sqrt(area_deg / len(grids)) * 111_320 * math.cos(math.radians(lat)) ** 0.5
    m_per_px_z0 = 156_543 * math.cos(math.radians(lat))
    return float(math.ceil(math.log2(90 * m_per_px_z0 / max(width_m, 1.0))))


def _headline(ctx: MapContext) -> list[dict]:
    lang = ctx.lang
    ws = ctx.workspace
    out = []
    hh = ws.get(HOUSEHOLDS)
    if hh is not None:
        out.append({"label": tr("households", lang), "value": f"{len(hh):,}"})
        if "residents" in hh:
            res = pd.to_numeric(hh["residents"], errors="coerce")
            out.append({"label": tr("residents", lang), "value": f"{int(res.sum()):,}"})
            if "elderly" in hh and res.sum() > 0:
                eld = pd.to_numeric(hh["elderly"], errors="coerce").sum()
                out.append({"label": tr("elderly_share", lang), "value": _pct(eld / res.sum())})
    if ws.get(GRIDS) is not None:
        out.append({"label": tr("grids", lang), "value": f"{len(ws.get(GRIDS)):,}"})
    for fac, fc in ctx.coverage.items():
        key = "covered_by_walk" if fc.distance == "network" else "covered_by"
        label = tr(key, lang, dist=_num(fc.radius_m), facility=_facility_label(fac, lang))
        out.append({"label": label, "value": _pct(fc.share), "bad": fc.share < 0.85})
    if ctx.standards_checked and ctx.failing is not None:
        n = ctx.failing["grid_id"].nunique()
        out.append({"label": tr("grids_failing", lang), "value": str(n), "bad": n > 0})
    a = ctx.households_assignment
    if a is not None and ws.get(MICROGRIDS) is not None:
        n = int(a["microgrid_id"].isna().sum())
        out.append({"label": tr("hh_outside", lang), "value": str(n), "bad": n > 0})
    return out


_TEMPLATE = """<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="gridmap">
<title>{title}</title>
<style>{leaflet_css}</style>
<style>{map_css}</style>
</head>
<body>
<div id="map"></div>
<script>{leaflet_js}</script>
<script type="application/json" id="gm-data">{data}</script>
<script>{map_js}</script>
</body>
</html>
"""


# ---------------------------------------------------------------------------
# public API


def build_map(
    workspace: str | os.PathLike | io.Workspace | None,
    *,
    title: str | None = None,
    basemap: str = "amap",
    lang: str = "zh",
    indicator: str | None = None,
    include_personal: bool = False,
    distance: str = "auto",
    extent: tuple[float, float, float, float] | None = None,
    overlays: list[Overlay] | None = None,
) -> str:
    """Build the self-contained meeting map and return its HTML.

    Parameters
    ----------
    workspace
        Workspace path or a loaded :class:`~gridmap.workspace.store.Workspace`.
    title
        Title of the map (default: the community name and "社区网格化管理图").
    basemap
        ``"amap"`` (default, GCJ-02 tiles usable in China; all layers are
        shifted to GCJ-02), ``"osm"``, ``"tianditu"`` (key from
        ``$GRIDMAP_TIANDITU_KEY``) or ``"none"``.
    lang
        ``"zh"`` (Simplified Chinese) or ``"en"``.
    indicator
        Per-grid indicator for the choropleth (default: service-station
        coverage share).
    include_personal
        Put grid-worker and micro-grid-leader names and phones in the popups
        (a warning is shown in the map and printed on stderr).
    distance
        Coverage distance kind passed to gridmap.analysis.coverage.
    extent
        Frame (WGS84 ``minx, miny, maxx, maxy``) the map opens and prints at;
        give every map of a meeting the same one.
    overlays
        Extra layers (:class:`Overlay`); by default the workspace's resident
        requests aggregated per grid and micro-grid (none without a requests
        layer); pass ``[]`` for none.

    Returns
    -------
    str
        Complete HTML with Leaflet and all data inlined.
    """
    check_lang(lang)
    _basemap(basemap, lang)  # fail early on a bad basemap / missing key
    ctx = prepare_map(workspace, lang=lang, distance=distance)
    if include_personal:
        warn_personal()
    if overlays is None:  # resident requests, aggregated per grid (gridmap.maps.requests_layer)
        from gridmap.maps.requests_layer import request_overlays

        overlays = request_overlays(ctx.workspace, lang=lang)
    return render_html(
        ctx,
        title=title,
        basemap=basemap,
        indicator=indicator,
        include_personal=include_personal,
        extent=extent,
        overlays=overlays,
    )


class PersonalDataWarning(UserWarning):
    """A map was built with ``include_personal=True``: names and phones are in it."""


def warn_personal() -> None:
    """Warn (:class:`PersonalDataWarning`) that the map holds names and phone numbers."""
    warnings.warn(
        "include_personal=True puts grid-worker and micro-grid-leader names and phone "
        "numbers into the map; do not share the file outside the office.",
        PersonalDataWarning,
        stacklevel=3,
    )


def write_map(out_path: str | os.PathLike, workspace, **options) -> Path:
    """Build the map (see :func:`build_map`) and write it atomically to ``out_path``."""
    text = build_map(workspace, **options)
    return write_html(out_path, text)


def write_html(out_path: str | os.PathLike, text: str) -> Path:
    """Write HTML text atomically (UTF-8)."""
    return io.atomic_write_file(out_path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
