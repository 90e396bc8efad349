"""Per-grid indicators: the one per-grid aggregation, and its check against the standards.

:func:`grid_indicators` gives one row per grid with the supply indicators
(households, residents, elderly share, charging ports per EV household,
parking spaces per household, households per station and per grid worker,
micro-grid sizes, coverage shares and 2SFCA accessibility at the standard
radii). Coverage (``gridmap coverage``), the meeting map and the HTTP API's
``grid_stats`` collection all read their per-grid figures from it; households,
residents and elderly per grid are counted by :func:`households_per_grid` alone
(also on the map's fast path, :func:`basic_grid_indicators`).
:func:`check_standards` evaluates every rule of a standards file
(:mod:`gridmap.analysis.standards`) for every grid.
"""

from __future__ import annotations

import math
import os
import re

import geopandas as gpd
import numpy as np
import pandas as pd

from gridmap.analysis.coverage import (
    CoverageContext,
    Facilities,
    accessibility,
    facility_distances,
    load_facilities,
    make_context,
)
from gridmap.analysis.standards import Standards, facility_column, load_standards
from gridmap.join.core import assign_points

__all__ = ["basic_grid_indicators", "check_standards", "grid_indicators", "households_per_grid"]

_NAME_SPLIT = re.compile(r"[、,，;；/／|\s]+")
#: "households per X" indicators and the column holding X: a grid with
#: households and no X fails a maximum (its figure is reported as None).
_PER_UNIT = {"households_per_station": "service_stations", "households_per_worker": "grid_workers"}


def _count_workers(grids: gpd.GeoDataFrame) -> tuple[np.ndarray, str | None]:
    for col in ("workers", "grid_workers", "staff_count"):
        if col in grids.columns:
            return pd.to_numeric(grids[col], errors="coerce").to_numpy(dtype=float), None
    if "staff_name" in grids.columns:
        counts = [
            0.0
            if v is None or (not isinstance(v, str) and pd.isna(v))
            else float(len([p for p in _NAME_SPLIT.split(str(v)) if p]))
            for v in grids["staff_name"]
        ]
        return np.array(counts), None
    return np.full(
        len(grids), np.nan
    ), "grids: no 'staff_name' or 'workers' column; households per grid worker is n/a"


def _per_grid_sum(grid_ids: pd.Series, values: np.ndarray, index: pd.Index) -> pd.Series:
    s = pd.Series(values, index=grid_ids.index)
    s = s[grid_ids.notna()].groupby(grid_ids[grid_ids.notna()].astype(str)).sum()
    return s.reindex(index).fillna(0.0)


def households_per_grid(
    grid_ids: pd.Series,
    index: pd.Index,
    *,
    residents: pd.Series | None = None,
    elderly: pd.Series | None = None,
) -> pd.DataFrame:
    """The one count of households per grid, with their residents and elderly.

    Every per-grid household figure (coverage, the meeting map on both of its
    paths, the API's ``grid_stats``) comes from here, so they agree.

    Parameters
    ----------
    grid_ids
        The grid of each household, from the core join
        (:func:`gridmap.join.core.assign_points`): None/NaN for a household in
        no grid (counted in no grid's figures). A household outside every
        micro-grid but inside a grid counts in that grid.
    index
        The grid ids of the result (every grid, also those without households).
    residents, elderly
        Per household (same index as ``grid_ids``), or None when the layer has
        no such column (the column is then NaN: n/a). A missing, non-numeric
        or negative figure counts as 0.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``index``: ``households`` (int), ``residents``, ``elderly``
        and ``elderly_share`` (elderly / residents, 4 decimals, NaN without residents).
    """
    out = pd.DataFrame(index=index)
    out["households"] = _per_grid_sum(grid_ids, np.ones(len(grid_ids)), index).astype(int)
    for col, values in (("residents", residents), ("elderly", elderly)):
        if values is None:
            out[col] = np.nan
            continue
        v = pd.to_numeric(values, errors="coerce")
        v = v.where(v >= 0).fillna(0).to_numpy(dtype=float)
        out[col] = _per_grid_sum(grid_ids, v, index).to_numpy()
    res = out["residents"].astype(float)
    out["elderly_share"] = (out["elderly"] / res.where(res > 0)).round(4)
    return out


def grid_indicators(
    ws,
    *,
    standards: Standards | str | os.PathLike | None = None,
    distance: str = "auto",
    context: CoverageContext | None = None,
) -> gpd.GeoDataFrame:
    """Supply indicators, one row per grid (EPSG:4326 polygons).

    Columns: grid_id, name, households, residents, elderly, elderly_share,
    ev_households, charging_piles, charging_ports, ports_per_ev_household,
    parking_lots, parking_spaces, spaces_per_household, service_stations,
    households_per_station, grid_workers, households_per_worker, microgrids,
    microgrid_households_min/max, microgrids_in_range_share, and per facility
    layer present ``coverage_share_<layer>_<r>m`` (share of households within
    the radius) and ``access_2sfca_<layer>_<r>m`` (2SFCA accessibility: ports
    per EV household, spaces per household, stations per household, averaged
    over the grid's demand), at the default radius and at every radius a rule
    of the standards names.

    Ratios are NaN (n/a) where the denominator is 0: every indicator column is
    finite or NaN, never infinite, so maps can colour them directly. (A grid
    with households but no station has households_per_station NaN;
    :func:`gridmap.analysis.standards.check_standards` still fails it against a maximum.)
    The notes are in ``result.attrs["notes"]``.
    """
    std = load_standards(standards)
    ctx = context if context is not None else make_context(ws, distance)
    ws_ = ctx.ws
    grids = ws_.require("grids")
    notes = list(ctx.notes)
    gid = grids["grid_id"].astype(object)
    keep = gid.notna()
    g = grids[keep].drop_duplicates("grid_id").copy()
    g["grid_id"] = g["grid_id"].astype(str)
    out = gpd.GeoDataFrame(
        {"grid_id": g["grid_id"].to_numpy(), "name": g["name"].to_numpy() if "name" in g else None},
        geometry=g.geometry.values,
        crs="EPSG:4326",
    )
    index = pd.Index(out["grid_id"])
    hh = ctx.households[ctx.located]
    hg = hh["grid_id"]
    figures = households_per_grid(
        hg,
        index,
        residents=hh["residents"] if ctx.has_residents else None,
        elderly=hh["elderly"] if ctx.has_elderly else None,
    )
    for col in figures.columns:
        out[col] = figures[col].to_numpy()
    ev = (
        _per_grid_sum(hg, hh["has_ev"].to_numpy(dtype=float), index).to_numpy()
        if ctx.has_ev
        else np.full(len(out), np.nan)
    )
    out["ev_households"] = ev
    hhf = out["households"].astype(float).to_numpy()

    def located_in_grid(layer: str) -> tuple[pd.Series, Facilities | None]:
        if ws_.get(layer) is None:
            notes.append(f"the workspace has no '{layer}' layer; its indicators are n/a")
            return pd.Series(np.nan, index=index), None
        fac = load_facilities(ctx, layer, required=False)
        notes.extend(n for n in fac.notes if n not in notes)
        if len(fac.frame) and ctx.hierarchy is not None:
            a = assign_points(fac.frame, ctx.hierarchy, nearest=False)["grid_id"]
        else:
            a = pd.Series([None] * len(fac.frame), index=fac.frame.index, dtype=object)
        return a, fac

    def safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        num = np.asarray(num, dtype=float)
        den = np.asarray(den, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = num / den
        zero = den == 0
        r[zero] = np.nan
        return np.round(r, 4)

    for layer, count_col, capacity_col in (
        ("charging_piles", "charging_piles", "charging_ports"),
        ("parking", "parking_lots", "parking_spaces"),
    ):
        fac_grid, fac = located_in_grid(layer)
        if fac is None:
            out[count_col] = np.nan
            out[capacity_col] = np.nan
            continue
        out[count_col] = _per_grid_sum(fac_grid, np.ones(len(fac_grid)), index).to_numpy()
        out[capacity_col] = _per_grid_sum(fac_grid, fac.capacity, index).to_numpy()
    out["ports_per_ev_household"] = safe_div(out["charging_ports"], out["ev_households"])
    out["spaces_per_household"] = safe_div(out["parking_spaces"], hhf)
    st_grid, stations = located_in_grid("service_stations")
    out["service_stations"] = (
        _per_grid_sum(st_grid, np.ones(len(st_grid)), index).to_numpy()
        if stations is not None
        else np.nan
    )
    out["households_per_station"] = safe_div(hhf, out["service_stations"])
    workers, note = _count_workers(g)
    if note:
        notes.append(note)
    out["grid_workers"] = workers
    out["households_per_worker"] = safe_div(hhf, workers)
    # micro-grid sizes
    mg = ws_.get("microgrids")
    rng = next((r for r in std.rules if r.indicator == "microgrids_in_range_share"), None)
    lo = rng.range_min if rng and rng.range_min is not None else -np.inf
    hi = rng.range_max if rng and rng.range_max is not None else np.inf
    if rng is None:
        lo, hi = 5.0, 15.0
    if mg is not None and "microgrid_id" in mg.columns and ctx.hierarchy is not None:
        parents = ctx.hierarchy.parents.get("microgrids", {})
        mids = [str(m) for m in mg["microgrid_id"].dropna().astype(str).unique()]
        counts = hh["microgrid_id"].dropna().astype(str).value_counts()
        sizes = pd.DataFrame(
            {
                "microgrid_id": mids,
                "grid_id": [parents.get(m) for m in mids],
                "n": [int(counts.get(m, 0)) for m in mids],
            }
        )
        sizes = sizes[sizes["grid_id"].notna()]
        sizes["ok"] = (sizes["n"] >= lo) & (sizes["n"] <= hi)
        agg = sizes.groupby("grid_id").agg(
            mn=("n", "min"), mx=("n", "max"), cnt=("n", "size"), ok=("ok", "mean")
        )
        agg = agg.reindex(index)
        out["microgrids"] = agg["cnt"].fillna(0).to_numpy()
        out["microgrid_households_min"] = agg["mn"].to_numpy(dtype=float)
        out["microgrid_households_max"] = agg["mx"].to_numpy(dtype=float)
        out["microgrids_in_range_share"] = agg["ok"].astype(float).round(4).to_numpy()
    else:
        notes.append("no micro-grids; micro-grid indicators are n/a")
        for c in (
            "microgrids",
            "microgrid_households_min",
            "microgrid_households_max",
            "microgrids_in_range_share",
        ):
            out[c] = np.nan
    # coverage shares and 2SFCA at default radii and rule radii
    wanted: dict[tuple[str, str], set[float]] = {}
    for layer in ("service_stations", "charging_piles", "parking"):
        if ws_.get(layer) is not None:
            for ind in ("coverage_share", "access_2sfca"):
                wanted.setdefault((ind, layer), set()).add(std.radius_for(layer))
    for r in std.rules:
        if r.facility and r.indicator in ("coverage_share", "access_2sfca"):
            wanted.setdefault((r.indicator, r.facility), set()).add(
                r.radius_m or std.radius_for(r.facility)
            )
    facs: dict[str, Facilities] = {}
    for (ind, layer), radii in sorted(wanted.items()):
        if ws_.get(layer) is None:
            for rad in radii:
                out[facility_column(ind, layer, rad)] = np.nan
            if f"the workspace has no '{layer}' layer; its indicators are n/a" not in notes:
                notes.append(f"the workspace has no '{layer}' layer; its indicators are n/a")
            continue
        fac = facs.setdefault(layer, load_facilities(ctx, layer, required=False))
        for rad in sorted(radii):
            col = facility_column(ind, layer, rad)
            if ind == "coverage_share":
                d, _ = facility_distances(ctx, fac)
                cov = (np.isfinite(d) & (d <= rad))[ctx.located].astype(float)
                c = _per_grid_sum(hg, cov, index).to_numpy()
                out[col] = safe_div(c, hhf)
            else:
                acc, demand, n2 = accessibility(ctx, layer, rad, std.decay, fac=fac)
                notes.extend(x for x in n2 if x not in notes)
                dem = demand[ctx.located]
                a = np.nan_to_num(acc[ctx.located]) * dem
                out[col] = safe_div(
                    _per_grid_sum(hg, a, index).to_numpy(), _per_grid_sum(hg, dem, index).to_numpy()
                )
    out.attrs["notes"] = notes
    out.attrs["distance"] = ctx.distance
    return out


def check_standards(ws, rules=None, *, distance: str = "auto", indicators=None) -> pd.DataFrame:
    """Evaluate every rule for every grid.

    Parameters
    ----------
    ws
        A :class:`gridmap.workspace.store.Workspace` or a workspace path.
    rules
        A standards file path, a :class:`Standards`, or None for the packaged file.
    distance
        ``"auto"``, ``"euclidean"`` or ``"network"`` (as :func:`gridmap.analysis.coverage.compute_coverage`).
    indicators
        Precomputed :func:`gridmap.analysis.coverage.grid_indicators` output to reuse.

    Returns
    -------
    pandas.DataFrame
        One row per grid and rule: ``grid_id``, ``rule_id``, ``rule``, ``value``
        (None when not available), ``threshold``, ``passed`` (True/False, None
        when the value is not available), ``source``.
    """
    std = load_standards(rules)
    ind = indicators
    needed = [r.column(std.radii, std.default_radius) for r in std.rules]
    if ind is None or any(c not in ind.columns for c in needed):
        ind = grid_indicators(ws, standards=std, distance=distance)
    rows = []
    for _, g in ind.iterrows():
        for rule, col in zip(std.rules, needed, strict=True):
            v = g[col]
            raw = None if v is None or pd.isna(v) else float(v)
            den = _PER_UNIT.get(rule.indicator)
            if raw is None and den is not None and g.get("households", 0) > 0:
                # households but no station / no worker: "infinitely many per unit"
                if g.get(den) == 0:
                    raw = math.inf
            # an infinite figure (e.g. households per station with no station) fails a
            # maximum but is reported as None, never as inf/NaN
            value = raw if raw is not None and math.isfinite(raw) else None
            rows.append(
                {
                    "grid_id": g["grid_id"],
                    "rule_id": rule.id,
                    "rule": rule.rule,
                    "value": value,
                    "threshold": rule.threshold,
                    "passed": rule.passes(raw),
                    "source": rule.source,
                }
            )
    cols = ["grid_id", "rule_id", "rule", "value", "threshold", "passed", "source"]
    out = pd.DataFrame(rows, columns=cols)
    # keep None (not NaN) for figures that are not available
    for col in ("value", "passed"):
        out[col] = pd.Series([r[col] for r in rows], index=out.index, dtype=object)
    return out


def basic_grid_indicators(
    ws,
    assignment: pd.DataFrame | None,
    covered: dict[str, pd.Series] | None = None,
    hierarchy=None,
) -> pd.DataFrame:
    """The cheap per-grid counts, from an assignment already computed (indexed by grid_id).

    Used where :func:`grid_indicators` would be too slow (the meeting map of a
    city with hundreds of thousands of households).

    Parameters
    ----------
    ws
        A loaded :class:`gridmap.workspace.store.Workspace` with a ``grids`` layer.
    assignment
        The households' :func:`gridmap.join.core.assign_points` result (same
        index as the households), or None when there are none.
    covered
        Facility layer -> boolean Series per household (covered or not); each
        gives the column ``cover_<layer>`` (share of the grid's households).
    hierarchy
        The workspace's :class:`gridmap.join.core.Hierarchy`, for micro-grids per grid.

    Returns
    -------
    pandas.DataFrame
        Index grid_id; columns households, residents, elderly, elderly_share
        (from :func:`households_per_grid`, as in :func:`grid_indicators`; NaN
        where the households have no such column), ``cover_<layer>``, microgrids.
    """
    covered = covered or {}
    grids = ws.require("grids")
    gid = grids["grid_id"].astype(object)
    index = pd.Index(gid[gid.notna()].astype(str).unique(), name="grid_id")
    out = pd.DataFrame(index=index)
    hh = ws.get("households")
    if hh is not None and assignment is not None:
        grid_ids = pd.Series(assignment["grid_id"].to_numpy(dtype=object), index=hh.index)
        figures = households_per_grid(
            grid_ids,
            index,
            residents=hh["residents"] if "residents" in hh else None,
            elderly=hh["elderly"] if "elderly" in hh else None,
        )
        out = out.join(figures)
        inside = grid_ids.notna()
        for fac, flags in covered.items():
            share = (
                pd.Series(flags.to_numpy(dtype=float), index=hh.index)[inside]
                .groupby(grid_ids[inside].astype(str))
                .mean()
            )
            out[f"cover_{fac}"] = share.reindex(index)
    mg = ws.get("microgrids")
    if mg is not None and hierarchy is not None:
        parents = hierarchy.parents.get("microgrids", {})
        counts = pd.Series(list(parents.values())).value_counts()
        out["microgrids"] = counts.reindex(out.index).fillna(0).astype(int)
    return out
