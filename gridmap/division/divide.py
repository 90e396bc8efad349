"""Re-division proposals: grids as unions of whole micro-grids, in a household band.

The method (``method="repair"``) starts from today's grids and changes as little
as it can:

1. each unit (a zone, or a community with ``within="community"``) is handled on
   its own, so no proposed grid crosses a unit's boundary;
2. a grid whose micro-grids are not contiguous is cut into its connected parts;
3. a grid above the band is cut along a spanning tree of its micro-grids
   (the edge whose removal leaves the two sides closest to the band: the
   SKATER idea), recursively, so both sides stay contiguous;
4. a grid below the band first takes boundary micro-grids from neighbouring
   grids that can spare them (they stay in the band and contiguous); if that
   cannot fill it, it is merged with the neighbour that gives the total
   closest to the band (and the result is cut again if it is too big);
5. each proposed grid keeps the id of the old grid it shares most micro-grids
   with, so "micro-grids moved" counts real changes; new grids get new ids.

Contiguity is rook contiguity: two micro-grids are neighbours when their
boundaries share a line at least ``min_shared_m`` long (a corner is not enough).
Compactness is the Polsby-Popper ratio 4πA/P² of the grid's outline (1 for a
circle, 0.785 for a square, lower for long or ragged shapes).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import minimum_spanning_tree

from gridmap.coords.crs import metric_crs_for
from gridmap.division.compare import maxp_regions
from gridmap.division.regions import (
    Band,
    DivisionError,
    _components,
    _connected,
    contiguity,
    polsby_popper,
)
from gridmap.errors import LayerNotFoundError
from gridmap.join.core import assign_points, build_hierarchy
from gridmap.workspace.schema import COMMUNITIES, GRIDS, HOUSEHOLDS, LAYERS, MICROGRIDS, ZONES

#: Units a proposal may not cross.
WITHIN = ("zone", "community")


@dataclass
class DivisionResult:
    """A proposal.

    Attributes
    ----------
    microgrids
        One row per micro-grid: ``microgrid_id``, ``unit_id``, ``households``,
        ``old_grid_id``, ``new_grid_id``, ``moved``.
    grids
        Proposed grids (EPSG:4326): ``grid_id``, ``unit_id``, ``households``,
        ``microgrids``, ``compactness``, ``in_band``, ``reason``, geometry.
    before
        Today's grids: ``grid_id``, ``unit_id``, ``households``, ``microgrids``,
        ``compactness``, ``in_band``.
    """

    band: Band
    within: str
    method: str
    microgrids: pd.DataFrame
    grids: gpd.GeoDataFrame
    before: pd.DataFrame
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def moved(self) -> int:
        """Micro-grids whose grid changes."""
        return int(self.microgrids["moved"].sum())

    def summary(self) -> dict:
        """Headline figures of before and after (JSON-safe)."""

        def stats(df: pd.DataFrame) -> dict:
            h = df["households"]
            return {
                "grids": len(df),
                "in_band": int(df["in_band"].sum()),
                "households_min": int(h.min()) if len(h) else None,
                "households_max": int(h.max()) if len(h) else None,
                "households_median": float(h.median()) if len(h) else None,
                "compactness_mean": round(float(df["compactness"].mean()), 3) if len(df) else None,
            }

        return {
            "band": [self.band.low, self.band.high],
            "within": self.within,
            "method": self.method,
            "before": stats(self.before),
            "after": stats(self.grids),
            "microgrids_moved": self.moved,
            "microgrids": len(self.microgrids),
            "seconds": round(self.seconds, 3),
            "out_of_band": [
                {"grid_id": r.grid_id, "households": int(r.households), "reason": r.reason}
                for r in self.grids.itertuples()
                if not r.in_band
            ],
            "notes": list(self.notes),
        }


# ----------------------------------------------------------------- inputs


@dataclass
class _Inputs:
    ids: np.ndarray  # micro-grid ids
    geoms: np.ndarray  # metric polygons
    centroids: np.ndarray  # (n, 2) metric
    households: np.ndarray  # int per micro-grid
    old: np.ndarray  # old grid id per micro-grid (None when none)
    unit: np.ndarray  # unit id per micro-grid
    adj: list[set[int]]
    metric: object
    shared: dict[tuple[int, int], float] = field(default_factory=dict)


def division_inputs(
    layers: Mapping[str, gpd.GeoDataFrame], *, within: str = "zone", min_shared_m: float = 1.0
) -> _Inputs:
    """Micro-grids with their households, today's grid, unit and neighbours."""
    if within not in WITHIN:
        raise DivisionError(f"within must be one of {', '.join(WITHIN)}; got '{within}'")
    mg = layers.get(MICROGRIDS)
    if mg is None or len(mg) == 0:
        raise LayerNotFoundError(
            "a re-division is built from whole micro-grids; the workspace has none",
            layer=MICROGRIDS,
        )
    h = build_hierarchy(layers)
    mid_col = LAYERS[MICROGRIDS].id_column
    ids = mg[mid_col].astype(str).to_numpy(dtype=object)
    old = np.array([h.parent_of(MICROGRIDS, m) for m in ids], dtype=object)
    zone = np.array([h.parent_of(GRIDS, g) for g in old], dtype=object)
    if within == "zone":
        unit = zone
    else:
        unit = np.array([h.parent_of(ZONES, z) for z in zone], dtype=object)
        if COMMUNITIES not in h.polygons and all(u is None for u in unit):
            unit = np.array(["(all)"] * len(ids), dtype=object)
    unit = np.array(["(none)" if u is None else u for u in unit], dtype=object)
    hh = layers.get(HOUSEHOLDS)
    counts = np.zeros(len(ids), dtype=np.int64)
    if hh is not None and len(hh):
        owner = assign_points(hh, h, nearest=False)["microgrid_id"]
        vc = owner.dropna().astype(str).value_counts()
        counts = vc.reindex(ids).fillna(0).to_numpy(dtype=np.int64)
    metric = metric_crs_for(mg)
    geoms = np.asarray(mg.geometry.to_crs(metric).values)
    geoms = shapely.make_valid(geoms)
    cen = shapely.point_on_surface(geoms)
    cxy = np.column_stack([shapely.get_x(cen), shapely.get_y(cen)])
    shared: dict[tuple[int, int], float] = {}
    adj = contiguity(geoms, min_shared_m=min_shared_m, lengths=shared)
    return _Inputs(ids, geoms, cxy, counts, old, unit, adj, metric, shared)


# ------------------------------------------------------------ graph helpers


def _compactness(
    nodes: set[int],
    adj: list[set[int]],
    area: np.ndarray | None,
    perimeter: np.ndarray | None,
    shared: dict[tuple[int, int], float] | None,
) -> float:
    """Polsby-Popper of a union of micro-grids from their areas, perimeters and shared edges."""
    if area is None or perimeter is None or shared is None:
        return 0.0
    a = float(sum(area[v] for v in nodes))
    p = float(sum(perimeter[v] for v in nodes))
    for v in nodes:
        for u in adj[v]:
            if u > v and u in nodes:
                p -= 2 * shared.get((v, u), 0.0)
    return 4 * math.pi * a / (p * p) if p > 0 else 0.0


def _tree_cut(
    nodes: set[int], adj: list[set[int]], hh: np.ndarray, cxy: np.ndarray, band: Band
) -> tuple[set[int], set[int]] | None:
    """Cut a contiguous region in two along a minimum spanning tree edge."""
    order = sorted(nodes)
    if len(order) < 2:
        return None
    pos = {v: k for k, v in enumerate(order)}
    rows, cols, w = [], [], []
    for v in order:
        for u in adj[v]:
            if u in pos and u > v:
                rows.append(pos[v])
                cols.append(pos[u])
                w.append(float(np.hypot(*(cxy[v] - cxy[u]))) + 1e-6)
    if not rows:
        return None
    n = len(order)
    mst = minimum_spanning_tree(coo_matrix((w, (rows, cols)), shape=(n, n))).tocoo()
    tree: list[list[int]] = [[] for _ in range(n)]
    for a, b in zip(mst.row, mst.col, strict=True):
        tree[a].append(b)
        tree[b].append(a)
    parent = np.full(n, -1)
    seen = np.zeros(n, bool)
    stack, visit = [0], []
    seen[0] = True
    while stack:
        v = stack.pop()
        visit.append(v)
        for u in tree[v]:
            if not seen[u]:
                seen[u] = True
                parent[u] = v
                stack.append(u)
    if not seen.all():
        return None  # not contiguous: caller splits components first
    weight = np.array([hh[order[k]] for k in range(n)], dtype=float)
    sub = weight.copy()
    for v in reversed(visit):
        if parent[v] >= 0:
            sub[parent[v]] += sub[v]
    total = sub[0]
    k_max = max(1, math.floor(total / band.low))
    k = min(max(2, math.ceil(total / band.high)), max(2, k_max))
    target = total * (k // 2) / k

    def badness(s: float) -> float:
        pen = 0.0
        for side in (s, total - s):
            if side < band.low:
                pen += 1e6 + (band.low - side)
            elif side > band.high and side < 2 * band.low:
                pen += 1e5  # too big, and too small to split again inside the band
        return pen + abs(s - target)

    best, best_v = None, -1
    for v in range(1, n) if n > 1 else []:
        if parent[v] < 0:
            continue
        b = badness(sub[v])
        if best is None or b < best:
            best, best_v = b, v
    if best_v < 0:
        return None
    # the subtree under best_v
    side = set()
    stack = [best_v]
    while stack:
        v = stack.pop()
        side.add(order[v])
        stack.extend(u for u in tree[v] if parent[u] == v)
    return side, set(nodes) - side


# ---------------------------------------------------------------- the method


def _repair_unit(
    members: list[int],
    labels: dict[int, int],
    adj: list[set[int]],
    hh: np.ndarray,
    cxy: np.ndarray,
    band: Band,
    area: np.ndarray | None = None,
    perimeter: np.ndarray | None = None,
    shared: dict[tuple[int, int], float] | None = None,
    max_rounds: int = 50,
) -> dict[int, set[int]]:
    """Regions (region key -> micro-grid positions) for one unit."""
    mset = set(members)
    uadj = [(a & mset) if i in mset else set() for i, a in enumerate(adj)]
    regions: dict[int, set[int]] = {}
    for v in members:
        regions.setdefault(labels[v], set()).add(v)
    next_key = max(regions, default=0) + 1

    def total(r: set[int]) -> int:
        return int(hh[list(r)].sum())

    # contiguous parts
    for key in list(regions):
        comps = _components(regions[key], uadj)
        if len(comps) > 1:
            comps.sort(key=lambda c: (-total(c), min(c)))
            regions[key] = comps[0]
            for c in comps[1:]:
                regions[next_key] = c
                next_key += 1

    def owner_map() -> dict[int, int]:
        return {v: k for k, r in regions.items() for v in r}

    def neighbours(key: int, own: dict[int, int]) -> set[int]:
        return {own[u] for v in regions[key] for u in uadj[v] if own[u] != key}

    for _ in range(max_rounds):
        changed = False
        # 1. split what is too big
        for key in sorted(regions):
            stack = [key]
            while stack:
                k = stack.pop()
                r = regions[k]
                if total(r) <= band.high or len(r) < 2:
                    continue
                cut = _tree_cut(r, uadj, hh, cxy, band)
                if cut is None:
                    continue
                a, b = cut
                keep, new = (a, b) if total(a) >= total(b) else (b, a)
                regions[k] = keep
                regions[next_key] = new
                stack += [k, next_key]
                next_key += 1
                changed = True
        # 2. fill what is too small
        own = owner_map()
        for key in sorted(regions, key=lambda k: total(regions[k])):
            if key not in regions or total(regions[key]) >= band.low:
                continue
            need = band.low - total(regions[key])
            taken: list[tuple[int, int]] = []
            while need > 0:
                cands = []
                for v in list(regions[key]):
                    for u in uadj[v]:
                        q = own[u]
                        if q == key:
                            continue
                        hq = total(regions[q])
                        if hq - hh[u] < band.low or total(regions[key]) + hh[u] > band.high:
                            continue
                        if not _connected(regions[q] - {u}, uadj):
                            continue
                        cands.append((abs(int(hh[u]) - need), -int(hh[u]), u, q))
                if not cands:
                    break
                _, _, u, q = min(cands)
                regions[q].discard(u)
                regions[key].add(u)
                own[u] = key
                taken.append((u, q))
                need = band.low - total(regions[key])
                changed = True
            if need <= 0:
                continue
            if len(taken) >= len(regions[key]) - len(
                taken
            ):  # stealing moved more than a merge would
                pass
            nbrs = neighbours(key, own)
            if not nbrs:
                continue  # an island: reported later
            # undo the partial steal, then merge
            for u, q in reversed(taken):
                regions[key].discard(u)
                regions[q].add(u)
                own[u] = q
            nbrs = neighbours(key, own)
            if not nbrs:
                continue
            mine = total(regions[key])

            mine_nodes = set(regions[key])

            def merged_badness(
                q: int, mine: int = mine, mine_nodes: set[int] = mine_nodes
            ) -> tuple[float, float]:
                s = mine + total(regions[q])
                if band.contains(s):  # in band: the most compact union wins
                    return (
                        0.0,
                        -_compactness(regions[q] | mine_nodes, uadj, area, perimeter, shared),
                    )
                if s > band.high and s >= 2 * band.low:
                    return (1.0 + abs(s - band.high) / band.high, -total(regions[q]))
                return (10.0 + abs(s - band.low), -total(regions[q]))

            q = min(sorted(nbrs), key=merged_badness)
            keep_key = q if total(regions[q]) >= mine else key
            gone = key if keep_key == q else q
            regions[keep_key] = regions[keep_key] | regions.pop(gone)
            for v in regions[keep_key]:
                own[v] = keep_key
            changed = True
        if not changed:
            break
    if area is not None and perimeter is not None and shared is not None:
        _compact_pass(regions, uadj, hh, band, area, perimeter, shared, home=labels)
    return regions


def _compact_pass(
    regions: dict[int, set[int]],
    adj: list[set[int]],
    hh: np.ndarray,
    band: Band,
    area: np.ndarray,
    perimeter: np.ndarray,
    shared: dict[tuple[int, int], float],
    passes: int = 4,
    min_gain: float = 0.002,
    home: dict[int, int] | None = None,
    home_gain: float = 0.03,
) -> None:
    """Move boundary micro-grids between grids where that makes both more compact.

    A move is kept only when both grids stay in the band (or do not get
    further from it) and contiguous, and the sum of their Polsby-Popper
    ratios grows by at least ``min_gain``; taking a micro-grid away from its
    own (today's) grid needs ``home_gain``, and bringing one back home any
    gain, so compactness is not bought with many needless changes.
    """
    own = {v: k for k, r in regions.items() for v in r}
    tot = {k: float(hh[list(r)].sum()) for k, r in regions.items()}
    ar = {k: float(area[list(r)].sum()) for k, r in regions.items()}

    def sh(v: int, u: int) -> float:
        return shared.get((v, u) if v < u else (u, v), 0.0)

    per = {}
    for k, r in regions.items():
        p = float(perimeter[list(r)].sum())
        for v in r:
            p -= sum(sh(v, u) for u in adj[v] if u in r and u > v) * 2
        per[k] = p

    def pp(a: float, p: float) -> float:
        return 4 * math.pi * a / (p * p) if p > 0 else 0.0

    def ok(n: float, before: float) -> bool:
        return band.contains(n) or (
            not band.contains(before) and abs(n - _mid(band)) <= abs(before - _mid(band))
        )

    for _ in range(passes):
        moved = False
        for v in sorted(own):
            a_key = own[v]
            if len(regions[a_key]) < 2:
                continue
            for b_key in sorted({own[u] for u in adj[v]} - {a_key}):
                sa = sum(sh(v, u) for u in adj[v] if own[u] == a_key)
                sb = sum(sh(v, u) for u in adj[v] if own[u] == b_key)
                pa = per[a_key] - perimeter[v] + 2 * sa
                pb = per[b_key] + perimeter[v] - 2 * sb
                aa, ab = ar[a_key] - area[v], ar[b_key] + area[v]
                gain = (
                    pp(aa, pa) + pp(ab, pb) - pp(ar[a_key], per[a_key]) - pp(ar[b_key], per[b_key])
                )
                need = min_gain
                if home is not None:
                    if home.get(v) == b_key:
                        need = 0.0
                    elif home.get(v) == a_key:
                        need = home_gain
                if gain < need:
                    continue
                na, nb = tot[a_key] - hh[v], tot[b_key] + hh[v]
                if not (ok(na, tot[a_key]) and ok(nb, tot[b_key])):
                    continue
                if not _connected(regions[a_key] - {v}, adj):
                    continue
                regions[a_key].discard(v)
                regions[b_key].add(v)
                own[v] = b_key
                tot[a_key], tot[b_key] = na, nb
                ar[a_key], ar[b_key] = aa, ab
                per[a_key], per[b_key] = pa, pb
                moved = True
                break
        if not moved:
            break


def _mid(band: Band) -> float:
    return (band.low + band.high) / 2


def _label(
    regions: list[set[int]], old: np.ndarray, hh: np.ndarray, taken_ids: set[str]
) -> list[str]:
    """Give each region the old grid id it shares most micro-grids with (each id once)."""
    pairs = []
    for r_i, r in enumerate(regions):
        counts: dict[str, int] = {}
        for v in r:
            if old[v] is not None:
                counts[old[v]] = counts.get(old[v], 0) + 1
        for g, c in counts.items():
            pairs.append((-c, g, r_i))
    pairs.sort()
    name: dict[int, str] = {}
    used: set[str] = set()
    for _, g, r_i in pairs:
        if r_i not in name and g not in used:
            name[r_i] = g
            used.add(g)
    k = 1
    out = []
    for r_i in range(len(regions)):
        if r_i in name:
            out.append(name[r_i])
            continue
        while f"N{k:03d}" in taken_ids or f"N{k:03d}" in used:
            k += 1
        out.append(f"N{k:03d}")
        used.add(out[-1])
        k += 1
    return out


def _reason(members: set[int], inp: _Inputs, band: Band, unit_total: int, unit: str) -> str:
    n = int(inp.households[list(members)].sum())
    if n < band.low:
        if unit_total < band.low:
            return f"unit {unit} holds only {unit_total} households, below {band.low}"
        if all(
            not (inp.adj[v] - members) or all(inp.unit[u] != unit for u in inp.adj[v] - members)
            for v in members
        ):
            return f"island: no neighbouring micro-grid inside {unit} to join"
        return "no contiguous way to reach the band without pushing a neighbour out of it"
    if len(members) == 1:
        return (
            f"one micro-grid alone holds {n} households, above {band.high}: divide the micro-grid"
        )
    return "no contiguous cut leaves both sides inside the band"


def _frame(inp: _Inputs, labels: np.ndarray, units: np.ndarray, band: Band) -> gpd.GeoDataFrame:
    df = pd.DataFrame({"grid_id": labels, "unit_id": units, "households": inp.households})
    df["geometry"] = inp.geoms
    rows = []
    for (g, u), grp in df.groupby(["grid_id", "unit_id"], sort=True):
        geom = shapely.union_all(np.asarray(grp["geometry"].values))
        rows.append(
            {
                "grid_id": g,
                "unit_id": u,
                "households": int(grp["households"].sum()),
                "microgrids": len(grp),
                "geometry": geom,
            }
        )
    out = gpd.GeoDataFrame(rows, geometry="geometry", crs=inp.metric)
    out["compactness"] = np.round(polsby_popper(np.asarray(out.geometry.values)), 4)
    out["in_band"] = [band.contains(n) for n in out["households"]]
    return out


def propose_division(
    layers: Mapping[str, gpd.GeoDataFrame],
    households: str | tuple[int, int] | Band,
    *,
    within: str = "zone",
    method: str = "repair",
    min_shared_m: float = 1.0,
) -> DivisionResult:
    """Propose grids as unions of whole micro-grids, each holding a household count in the band.

    Parameters
    ----------
    layers
        The workspace's layers (``microgrids``, ``grids``, ``zones``,
        ``households``; ``communities`` for ``within="community"``).
    households
        The band, ``"300-500"`` or ``(300, 500)``.
    within
        ``"zone"`` (default) or ``"community"``: the unit no proposed grid crosses.
    method
        ``"repair"`` (start from today's grids, change as few micro-grids as
        possible) or ``"maxp"`` (spopt's max-p regions with the band's minimum
        as the floor; today's grids are ignored).
    min_shared_m
        Shortest shared boundary (metres) that makes two micro-grids neighbours.

    Returns
    -------
    DivisionResult
    """
    band = households if isinstance(households, Band) else Band.parse(households)
    if method not in ("repair", "maxp"):
        raise DivisionError(f"method must be 'repair' or 'maxp'; got '{method}'")
    t0 = time.perf_counter()
    inp = division_inputs(layers, within=within, min_shared_m=min_shared_m)
    n = len(inp.ids)
    key_of_old: dict[str, int] = {}
    labels0 = {}
    for v in range(n):
        g = inp.old[v]
        labels0[v] = key_of_old.setdefault(
            g if g is not None else f"(none){v}", len(key_of_old) + 1
        )
    area, perim = shapely.area(inp.geoms), shapely.length(inp.geoms)
    regions: list[set[int]] = []
    region_unit: list[str] = []
    notes: list[str] = []
    for u in sorted(set(inp.unit)):
        members = [v for v in range(n) if inp.unit[v] == u]
        if method == "repair":
            found = _repair_unit(
                members,
                labels0,
                inp.adj,
                inp.households,
                inp.centroids,
                band,
                area=area,
                perimeter=perim,
                shared=inp.shared,
            )
            parts = list(found.values())
        else:
            parts = maxp_regions(members, inp.adj, inp.households, inp.centroids, inp.geoms, band)
        for r in parts:
            regions.append(r)
            region_unit.append(u)
    grid_layer = layers.get(GRIDS)
    existing = (
        set(grid_layer[LAYERS[GRIDS].id_column].astype(str)) if grid_layer is not None else set()
    )
    names = _label(regions, inp.old, inp.households, existing)
    new = np.empty(n, dtype=object)
    for name, r in zip(names, regions, strict=True):
        for v in r:
            new[v] = name
    after = _frame(inp, new, inp.unit, band)
    unit_totals = pd.Series(inp.households).groupby(inp.unit).sum()
    reasons = []
    members_of = {name: r for name, r in zip(names, regions, strict=True)}
    for row in after.itertuples():
        reasons.append(
            ""
            if row.in_band
            else _reason(
                members_of[row.grid_id], inp, band, int(unit_totals[row.unit_id]), row.unit_id
            )
        )
    after["reason"] = reasons
    has_old = np.array([o is not None for o in inp.old])
    before = _frame(
        _Inputs(
            inp.ids[has_old],
            inp.geoms[has_old],
            inp.centroids[has_old],
            inp.households[has_old],
            inp.old[has_old],
            inp.unit[has_old],
            [],
            inp.metric,
        ),
        inp.old[has_old],
        inp.unit[has_old],
        band,
    )
    if (~has_old).any():
        notes.append(f"{int((~has_old).sum())} micro-grids belonged to no grid; each now has one")
    mg = pd.DataFrame(
        {
            "microgrid_id": inp.ids,
            "unit_id": inp.unit,
            "households": inp.households,
            "old_grid_id": inp.old,
            "new_grid_id": new,
        }
    )
    mg["moved"] = mg["old_grid_id"].astype(object).ne(mg["new_grid_id"])
    after = after.to_crs("EPSG:4326")
    cols = [
        "grid_id",
        "unit_id",
        "households",
        "microgrids",
        "compactness",
        "in_band",
        "reason",
        "geometry",
    ]
    return DivisionResult(
        band=band,
        within=within,
        method=method,
        microgrids=mg,
        grids=after[cols],
        before=pd.DataFrame(before.drop(columns="geometry")),
        seconds=time.perf_counter() - t0,
        notes=notes,
    )


__all__ = [
    "WITHIN",
    "Band",
    "DivisionError",
    "DivisionResult",
    "contiguity",
    "polsby_popper",
    "propose_division",
]
