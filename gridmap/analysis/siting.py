"""Where to add facilities: the maximal covering location problem (MCLP).

Given ``k``, choose ``k`` new sites among candidates (grid centroids, street
nodes or a user's candidate layer) that maximise the households (or residents,
or elderly residents) newly brought within the radius, keeping the existing
facilities where they are (households they already cover count for nothing).

Method
    An exact integer program (Church & ReVelle 1974) solved with PuLP's
    bundled CBC solver: binary ``x_j`` per candidate, ``y_g <= sum x_j`` per
    group of households with the same candidate set, ``sum x_j <= k``,
    maximise ``sum w_g y_g``. Households with identical candidate sets are
    merged first, which keeps the program small. When CBC is not available,
    times out, or the instance has more than ``max_ilp_pairs`` household-site
    pairs, a greedy algorithm is used; coverage is submodular, so greedy is
    within ``1 - 1/e`` (63 %) of the optimum, and the reported bound is the
    tighter ``f(S) + sum of the k largest single-site gains given S`` (never
    above ``f(S) / (1 - 1/e)``). The result says which method ran and the gap.
"""

from __future__ import annotations

import heapq
import math
import warnings
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap.analysis.coverage import (
    Facilities,
    facility_distances,
    facility_pairs,
    load_facilities,
    make_context,
)
from gridmap.analysis.standards import load_standards
from gridmap.errors import LayerNotFoundError, SchemaError

WEIGHTS = ("households", "residents", "elderly")
CANDIDATE_KINDS = ("grid_centroids", "street_nodes")
_GREEDY_FACTOR = 1.0 - 1.0 / math.e


@dataclass
class Solution:
    chosen: list[int]
    value: float
    bound: float
    method: str

    @property
    def gap(self) -> float:
        """Relative distance to the best possible value (0 when proven optimal)."""
        if self.bound <= 0:
            return 0.0
        return max(0.0, (self.bound - self.value) / self.bound)


def _coverage_sets(groups: list[np.ndarray]) -> dict[int, list[int]]:
    by_site: dict[int, list[int]] = {}
    for gi, sites in enumerate(groups):
        for j in sites:
            by_site.setdefault(int(j), []).append(gi)
    return by_site


def greedy_mclp(groups: list[np.ndarray], weights: np.ndarray, n_sites: int, k: int) -> Solution:
    """Lazy greedy maximal covering with the submodular upper bound.

    Parameters
    ----------
    groups
        For each demand group, the candidate indices that cover it.
    weights
        Weight per group.
    n_sites, k
        Number of candidates and of sites to choose.
    """
    by_site = _coverage_sets(groups)
    covered = np.zeros(len(groups), dtype=bool)

    def gain(j: int) -> float:
        g = by_site.get(j, [])
        return float(weights[g][~covered[g]].sum()) if g else 0.0

    heap = [(-gain(j), j) for j in range(n_sites)]
    heapq.heapify(heap)
    chosen: list[int] = []
    value = 0.0
    while heap and len(chosen) < k:
        _, j = heapq.heappop(heap)
        g_now = gain(j)
        if heap and g_now < -heap[0][0] - 1e-12:
            heapq.heappush(heap, (-g_now, j))
            continue
        if g_now <= 0:
            break
        chosen.append(j)
        value += g_now
        covered[by_site.get(j, [])] = True
    rest = sorted((gain(j) for j in range(n_sites) if j not in chosen), reverse=True)[:k]
    bound = min(value + sum(rest), value / _GREEDY_FACTOR if value > 0 else sum(rest))
    bound = max(bound, value)
    return Solution(chosen=chosen, value=value, bound=bound, method="greedy")


def ilp_mclp(
    groups: list[np.ndarray], weights: np.ndarray, n_sites: int, k: int, time_limit_s: float = 60.0
) -> Solution | None:
    """Exact maximal covering with PuLP + CBC; None when CBC is unavailable or not optimal."""
    try:
        import pulp
    except ImportError:  # pragma: no cover - pulp is a dependency
        return None
    if "PULP_CBC_CMD" not in pulp.listSolvers(onlyAvailable=True):
        return None
    prob = pulp.LpProblem("mclp", pulp.LpMaximize)
    if hasattr(prob, "add_variable"):  # PuLP >= 3.3
        x = [prob.add_variable(f"x{j}", cat="Binary") for j in range(n_sites)]
        y = [prob.add_variable(f"y{g}", 0, 1) for g in range(len(groups))]
    else:  # pragma: no cover - older PuLP
        x = [pulp.LpVariable(f"x{j}", cat="Binary") for j in range(n_sites)]
        y = [pulp.LpVariable(f"y{g}", lowBound=0, upBound=1) for g in range(len(groups))]
    prob += pulp.lpSum(float(w) * yv for w, yv in zip(weights, y, strict=True))
    for g, sites in enumerate(groups):
        prob += y[g] <= pulp.lpSum(x[int(j)] for j in sites)
    prob += pulp.lpSum(x) <= k
    with warnings.catch_warnings():
        # PULP_CBC_CMD is the CBC binary bundled with the wheel (nothing to download);
        # PuLP 3.3 warns that it moves to an extra in 4.0
        warnings.simplefilter("ignore", DeprecationWarning)
        status = prob.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_s))
    if pulp.LpStatus.get(status) != "Optimal":
        return None
    chosen = [j for j in range(n_sites) if (x[j].value() or 0) > 0.5]
    covered = np.zeros(len(groups), dtype=bool)
    for g, sites in enumerate(groups):
        covered[g] = any(int(j) in set(chosen) for j in sites)
    value = float(weights[covered].sum())
    return Solution(chosen=chosen, value=value, bound=value, method="ilp (PuLP/CBC, optimal)")


def _candidates(ctx, candidates, notes: list[str]) -> tuple[np.ndarray, np.ndarray, str]:
    """Candidate points in the metric CRS and their labels."""
    if (
        isinstance(candidates, str)
        and candidates not in ("grid_centroids", "street_nodes")
        and ctx.ws.get(candidates) is not None
    ):
        candidates = ctx.ws.get(candidates)  # a candidate layer of the workspace
        if len(candidates) == 0:
            notes.append("candidates: the candidate layer is empty")
    if isinstance(candidates, gpd.GeoDataFrame):
        c = candidates[~(candidates.geometry.isna() | candidates.geometry.is_empty)]
        if len(c) < len(candidates):
            notes.append(f"candidates: {len(candidates) - len(c)} without geometry were left out")
        if c.crs is None:
            raise SchemaError("the candidate layer has no coordinate system")
        geoms = np.asarray(c.to_crs(ctx.metric).geometry.values)
        geoms = np.where(shapely.get_type_id(geoms) == 0, geoms, shapely.point_on_surface(geoms))
        idc = next((col for col in c.columns if col.endswith("_id")), None)
        labels = (
            c[idc].astype(str).to_numpy()
            if idc
            else np.array([str(i) for i in c.index], dtype=object)
        )
        return geoms, labels, "user"
    if candidates == "grid_centroids":
        grids = ctx.ws.require("grids")
        grids = grids[~(grids.geometry.isna() | grids.geometry.is_empty)]
        geoms = np.asarray(shapely.point_on_surface(grids.to_crs(ctx.metric).geometry.values))
        labels = np.array([f"grid {v}" for v in grids["grid_id"]], dtype=object)
        return geoms, labels, candidates
    if candidates == "street_nodes":
        net = ctx.network
        if net is None:
            if ctx.ws.get("roads") is None:
                raise LayerNotFoundError(
                    "street-node candidates need a 'roads' layer",
                    file=str(ctx.ws.path),
                    layer="roads",
                )
            from gridmap.analysis.network import build_network

            net = build_network(ctx.ws.get("roads"), crs=ctx.metric)
        nodes = net.street_nodes()
        return (
            shapely.points(net.xy[nodes]),
            np.array([f"street node {i}" for i in nodes], dtype=object),
            candidates,
        )
    raise SchemaError(
        f"unknown candidates '{candidates}' (use grid_centroids, street_nodes, the name of a "
        "point layer of the workspace (e.g. one added in QGIS), or a GeoDataFrame)",
        file=str(ctx.ws.path),
    )


def propose_sites(
    ws,
    facility: str,
    k: int,
    radius_m: float | None = None,
    candidates: str | gpd.GeoDataFrame = "grid_centroids",
    *,
    weight: str = "households",
    distance: str = "auto",
    method: str = "auto",
    max_ilp_pairs: int = 2_000_000,
    time_limit_s: float = 60.0,
    standards=None,
    context=None,
) -> gpd.GeoDataFrame:
    """Propose ``k`` new sites for a facility layer (maximal covering location).

    Parameters
    ----------
    ws
        Workspace or path.
    facility
        Facility layer; its existing features stay (a missing or empty layer
        means no existing facility).
    k
        Number of new sites.
    radius_m
        Coverage radius (default from the standards file).
    candidates
        ``"grid_centroids"`` (a point inside each grid), ``"street_nodes"``
        (junctions and dead ends of ``roads``), the name of a workspace layer
        of candidate places (e.g. one added in QGIS), or a
        GeoDataFrame of candidate places.
    weight
        What to maximise: ``"households"``, ``"residents"`` or ``"elderly"``.
    distance
        ``"auto"``, ``"euclidean"`` or ``"network"``, as in coverage.
    method
        ``"auto"`` (exact ILP when possible, else greedy), ``"ilp"`` or ``"greedy"``.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per proposed site in order of choice (EPSG:4326): ``rank``,
        ``candidate`` (label), ``newly_covered`` (marginal weight it adds,
        in choice order), ``households_newly_covered``. ``attrs`` holds
        ``method``, ``gap`` (0 = proven optimal), ``value``, ``bound``,
        ``already_covered``, ``uncovered_before`` and ``notes``.
    """
    if k < 0:
        raise SchemaError("k must be 0 or more")
    if weight not in WEIGHTS:
        raise SchemaError(f"unknown weight '{weight}' (use {', '.join(WEIGHTS)})")
    std = load_standards(standards)
    radius_m = float(radius_m if radius_m is not None else std.radius_for(facility))
    ctx = context if context is not None else make_context(ws, distance)
    notes: list[str] = []
    fac = load_facilities(ctx, facility, required=False)
    notes.extend(fac.notes)
    d, _ = facility_distances(ctx, fac)
    already = ctx.located & np.isfinite(d) & (d <= radius_m)
    demand = ctx.located & ~already
    hh = ctx.households
    if weight == "households":
        w_all = np.ones(ctx.n)
    else:
        w_all = hh[weight].to_numpy(dtype=float)
        if np.isnan(w_all).all():
            raise SchemaError(
                f"the households layer has no '{weight}' figures to weight by", layer="households"
            )
        if np.isnan(w_all[demand]).any():
            notes.append(f"households without a '{weight}' figure weigh 0")
        w_all = np.nan_to_num(w_all)
    geoms, labels, kind = _candidates(ctx, candidates, notes)
    cand = Facilities("candidates", labels, geoms, np.ones(len(geoms)), gpd.GeoDataFrame(), [])
    hi, cj, _ = facility_pairs(ctx, cand, radius_m)
    keep = demand[hi]
    hi, cj = hi[keep], cj[keep]
    # merge households with the same candidate set
    frame = pd.DataFrame({"h": hi, "c": cj}).sort_values(["h", "c"])
    sets = frame.groupby("h")["c"].apply(lambda s: tuple(s.tolist()))
    merged = pd.DataFrame({"set": sets.values, "w": w_all[sets.index.to_numpy()], "n": 1})
    merged = merged.groupby("set", sort=True).agg(w=("w", "sum"), n=("n", "sum")).reset_index()
    groups = [np.array(s, dtype=np.int64) for s in merged["set"]]
    weights = merged["w"].to_numpy(dtype=float)
    counts = merged["n"].to_numpy(dtype=float)
    n_sites = len(geoms)
    k_eff = min(k, n_sites)
    if k > n_sites:
        notes.append(f"only {n_sites} candidate sites exist; proposing at most {n_sites}")
    sol = None
    if method not in ("auto", "ilp", "greedy"):
        raise SchemaError(f"unknown method '{method}' (use auto, ilp or greedy)")
    if method in ("auto", "ilp") and len(frame) <= max_ilp_pairs and k_eff > 0 and len(groups):
        sol = ilp_mclp(groups, weights, n_sites, k_eff, time_limit_s)
        if sol is None:
            notes.append(
                "the exact solver (CBC) was unavailable or did not prove optimality; used greedy"
            )
    elif method in ("auto", "ilp") and len(frame) > max_ilp_pairs:
        notes.append(
            f"{len(frame)} household-site pairs exceed max_ilp_pairs={max_ilp_pairs}; used greedy"
        )
    if sol is None:
        sol = greedy_mclp(groups, weights, n_sites, k_eff)
    # order the chosen sites by marginal gain (greedy order within the chosen set)
    order = greedy_mclp(
        [np.array([j for j in g if j in set(sol.chosen)], dtype=np.int64) for g in groups],
        weights,
        n_sites,
        len(sol.chosen),
    )
    ranked = order.chosen + [j for j in sol.chosen if j not in order.chosen]
    by_site = _coverage_sets(groups)
    covered = np.zeros(len(groups), dtype=bool)
    rows = []
    for rank, j in enumerate(ranked, start=1):
        g = np.array(by_site.get(j, []), dtype=np.int64)
        new = g[~covered[g]] if len(g) else g
        rows.append(
            {
                "rank": rank,
                "candidate": str(labels[j]),
                "newly_covered": float(weights[new].sum()),
                "households_newly_covered": int(counts[new].sum()),
            }
        )
        covered[new] = True
    if len(sol.chosen) < k_eff:
        notes.append(
            f"only {len(sol.chosen)} sites add any coverage; the others would cover nobody new"
        )
    if not demand.any():
        notes.append(f"every located household is already within {radius_m:g} m of a {facility}")
    pts = [geoms[j] for j in ranked]
    out = gpd.GeoDataFrame(
        rows,
        columns=["rank", "candidate", "newly_covered", "households_newly_covered"],
        geometry=pts,
        crs=ctx.metric,
    ).to_crs("EPSG:4326")
    out.attrs.update(
        {
            "facility": facility,
            "radius_m": radius_m,
            "distance": ctx.distance,
            "weight": weight,
            "candidates": kind,
            "method": sol.method,
            "value": sol.value,
            "bound": sol.bound,
            "gap": round(sol.gap, 4),
            "already_covered": int(already.sum()),
            "uncovered_before": int(demand.sum()),
            "notes": notes,
        }
    )
    return out


def sites_to_json(sites: gpd.GeoDataFrame) -> dict:
    """A JSON-safe summary of :func:`propose_sites` output (lon/lat per site)."""
    recs = []
    for r, geom in zip(
        sites.drop(columns="geometry").to_dict(orient="records"), sites.geometry, strict=True
    ):
        r["lon"] = round(float(geom.x), 7)
        r["lat"] = round(float(geom.y), 7)
        recs.append(r)
    attrs = {k: v for k, v in sites.attrs.items()}
    return {**attrs, "sites": recs}


__all__ = ["greedy_mclp", "ilp_mclp", "propose_sites", "sites_to_json"]
