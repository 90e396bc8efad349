"""Walking distances along a street network (the ``roads`` layer).

The network is built from street centre-lines (LineString or MultiLineString,
any number of vertices) in a metric CRS:

* line ends within ``snap_m`` (default 1 m) of each other are joined, so
  streets digitised with tiny gaps still connect. Snapping is not transitive
  and never moves an end further than ``snap_m``: ends at the same place form
  one point, points carrying the most ends are kept first, and every other
  point within ``snap_m`` of a kept point moves onto the nearest one (a chain
  of ends 0.6 m apart is not pulled into one node). The note counts the ends
  that moved by more than :data:`MOVE_EPS_M` (floating-point noise is no move);
* streets are noded where they cross or touch (``shapely.union_all``), so a
  walker can turn at every crossing. Where the layer carries OpenStreetMap-style
  level tags (``layer``, ``bridge``, ``tunnel``; see :func:`street_levels`),
  only streets of the same level are noded: a bridge crosses the street below
  without a junction and connects where a street ends on it (its ramps).
  Without such columns every crossing is a junction;
* repeated vertices, zero-length lines, duplicated streets and lines with a
  NaN vertex are dropped (the last with a note);
* a dead end that stops short of another street by less than ``snap_m``
  (a T-junction undershoot) is joined to it by a short connector;
* every edge is a straight two-point segment between two nodes and its length
  is the distance between them.

Households and facilities enter the network at the nearest point of the nearest
street segment; the straight access distance from the feature to that point is
added to the walking distance. A polygon facility (a parking lot drawn as an
area) is also entered, with no access distance, wherever a street crosses or
touches its edge. Facilities are inserted as nodes (the segment is split there) and a multi-source Dijkstra search runs from all of them at
once (``scipy.sparse.csgraph.dijkstra``; :meth:`RoadNetwork.to_networkx`
gives the same graph as a :class:`networkx.Graph`). A household's distance is
then ``access + min(d[u] + offset, d[v] + length - offset)`` over the two ends
of the segment it enters on, which is exact because no facility lies inside
that segment after the split.

A household on a street piece with no facility (a disconnected component)
gets an infinite distance; :mod:`gridmap.analysis.coverage` counts it as not covered and
says how many there are.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import geopandas as gpd
import networkx as nx
import numpy as np
import pyproj
import shapely
from scipy import sparse
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from gridmap.coords.crs import metric_crs_for
from gridmap.errors import SchemaError

#: Default snapping tolerance for street ends, metres.
SNAP_M = 1.0
#: Weight used instead of 0 (scipy's sparse graphs drop explicit zeros).
_EPS = 1e-9


@dataclass
class RoadNetwork:
    """A street graph in a metric CRS.

    Attributes
    ----------
    xy
        Node coordinates, shape (N, 2), metres.
    edges
        Node index pairs, shape (E, 2), ``u < v``, no duplicates.
    crs
        The metric CRS of ``xy``.
    notes
        What was repaired or ignored while building the graph.
    """

    xy: np.ndarray
    edges: np.ndarray
    crs: pyproj.CRS
    notes: list[str] = field(default_factory=list)
    _tree: shapely.STRtree | None = field(default=None, repr=False)

    @property
    def lengths(self) -> np.ndarray:
        """Length of every edge in metres."""
        d = self.xy[self.edges[:, 0]] - self.xy[self.edges[:, 1]]
        return np.hypot(d[:, 0], d[:, 1])

    @property
    def segments(self) -> np.ndarray:
        """Every edge as a shapely LineString."""
        coords = np.stack([self.xy[self.edges[:, 0]], self.xy[self.edges[:, 1]]], axis=1)
        return shapely.linestrings(coords)

    @property
    def tree(self) -> shapely.STRtree:
        if self._tree is None:
            self._tree = shapely.STRtree(self.segments)
        return self._tree

    def degree(self) -> np.ndarray:
        return np.bincount(self.edges.ravel(), minlength=len(self.xy))

    def n_components(self) -> int:
        return int(connected_components(self.csgraph(), directed=False)[0])

    def csgraph(self, extra_nodes: int = 0) -> sparse.csr_matrix:
        n = len(self.xy) + extra_nodes
        w = np.maximum(self.lengths, _EPS)
        return sparse.csr_matrix((w, (self.edges[:, 0], self.edges[:, 1])), shape=(n, n))

    def to_networkx(self) -> nx.Graph:
        """The network as an undirected networkx graph (edge attribute ``length``)."""
        g = nx.Graph()
        for i, (x, y) in enumerate(self.xy):
            g.add_node(i, x=float(x), y=float(y))
        for (u, v), length in zip(self.edges, self.lengths, strict=True):
            g.add_edge(int(u), int(v), length=float(length))
        return g

    def street_nodes(self) -> np.ndarray:
        """Indices of junctions and dead ends (degree != 2): candidate sites."""
        return np.flatnonzero(self.degree() != 2)


def _dedupe_edges(edges: np.ndarray) -> np.ndarray:
    edges = np.sort(edges, axis=1)
    edges = edges[edges[:, 0] != edges[:, 1]]
    if len(edges) == 0:
        return edges.reshape(0, 2).astype(np.int64)
    return np.unique(edges, axis=0).astype(np.int64)


_YES = {"yes", "true", "1", "y", "t"}
_NO = {"", "no", "false", "0", "n", "f", "none", "nan", "<na>"}


def _flag(values) -> np.ndarray:
    """True where an OSM-style yes/no tag is set (``bridge=yes``, ``viaduct``, ``True``, 1)."""
    out = np.zeros(len(values), dtype=bool)
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and not np.isfinite(v)):
            continue
        if isinstance(v, bool | np.bool_):
            out[i] = bool(v)
            continue
        text = str(v).strip().lower()
        # any other value names a kind of bridge or tunnel (viaduct, culvert, building_passage)
        out[i] = text in _YES or text not in _NO
    return out


def street_levels(roads: gpd.GeoDataFrame) -> np.ndarray | None:
    """Vertical level of each street from OSM-style tags, or None when the layer has none.

    ``layer`` (an integer, as in OpenStreetMap) wins where it is set; otherwise
    ``bridge`` set means level 1 and ``tunnel`` set means level -1; everything
    else is level 0. Streets on different levels cross without a junction.
    """
    cols = {c.lower(): c for c in roads.columns if isinstance(c, str)}
    have = [k for k in ("layer", "bridge", "tunnel") if k in cols]
    if not have:
        return None
    level = np.zeros(len(roads), dtype=np.int64)
    if "bridge" in cols:
        level[_flag(roads[cols["bridge"]].to_numpy(dtype=object))] = 1
    if "tunnel" in cols:
        level[_flag(roads[cols["tunnel"]].to_numpy(dtype=object))] = -1
    if "layer" in cols:
        import pandas as pd

        raw = roads[cols["layer"]].astype("string").str.strip().str.replace("+", "", regex=False)
        num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        ok = np.isfinite(num)
        level[ok] = np.round(num[ok]).astype(np.int64)
    return level


def _line_parts(roads: gpd.GeoDataFrame, notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Every street as a 2D LineString of positive length, with its level."""
    geoms = np.asarray(roads.geometry.values)
    levels = street_levels(roads)
    if levels is None:
        levels = np.zeros(len(geoms), dtype=np.int64)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if (~ok).sum():
        notes.append(f"roads: {int((~ok).sum())} features without geometry were ignored")
    parts, pidx = shapely.get_parts(shapely.force_2d(geoms[ok]), return_index=True)
    plevel = levels[ok][pidx]
    kind = shapely.get_type_id(parts)
    is_ring = kind == 2
    if is_ring.any():  # a LinearRing is a closed street (a loop)
        coords, ridx = shapely.get_coordinates(parts[is_ring], return_index=True)
        parts = parts.copy()
        parts[np.flatnonzero(is_ring)] = shapely.linestrings(coords, indices=ridx)
        kind = np.where(is_ring, 1, kind)
    other = int((kind != 1).sum())
    if other:
        notes.append(f"roads: {other} non-line geometries (points/polygons) were ignored")
    lines, plevel = parts[kind == 1], plevel[kind == 1]
    coords, cidx = shapely.get_coordinates(lines, return_index=True)
    bad = np.zeros(len(lines), dtype=bool)
    bad[cidx[~np.isfinite(coords).all(axis=1)]] = True
    if bad.any():
        notes.append(
            f"roads: {int(bad.sum())} street lines with a NaN or infinite vertex were ignored"
        )
    keep = ~bad & (shapely.length(lines) > 0)
    return lines[keep], plevel[keep]


#: An end that moves less than this (metres) is counted as not moved (floating-point noise).
MOVE_EPS_M = 1e-6


def _snap_line_ends(
    lines: np.ndarray, snap_m: float, notes: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Join street ends within ``snap_m`` of each other, moving no end further than that.

    Ends at exactly the same place are one point. A point that is already a
    junction - two or more ends meet there, or it lies on another street - is
    kept where it is. The other points are taken west to east, south to north;
    each moves onto the nearest kept point within ``snap_m``, or is kept where
    it is when there is none. Kept points never move, so the snapping is not
    transitive: a chain of ends each 0.6 m apart is not pulled into one node,
    and no end moves more than ``snap_m``.

    Returns the lines with their ends moved and a mask of the lines that kept
    a positive length (a street shorter than ``snap_m`` between two joined ends
    collapses into the node).
    """
    keep = np.ones(len(lines), dtype=bool)
    if len(lines) == 0 or snap_m <= 0:
        return lines, keep
    coords, cidx = shapely.get_coordinates(lines, return_index=True)
    counts = np.bincount(cidx, minlength=len(lines))
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    last = first + counts - 1
    ends = np.concatenate([coords[first], coords[last]])
    pts, inv, mult = np.unique(ends, axis=0, return_inverse=True, return_counts=True)
    inv = inv.ravel()
    pairs = cKDTree(pts).query_pairs(snap_m, output_type="ndarray")
    if len(pairs) == 0:
        return lines, keep
    m = len(pts)
    adj = sparse.coo_matrix(
        (
            np.ones(2 * len(pairs)),
            (np.r_[pairs[:, 0], pairs[:, 1]], np.r_[pairs[:, 1], pairs[:, 0]]),
        ),
        shape=(m, m),
    ).tocsr()
    involved = np.unique(pairs)
    # an end already connected - where other ends meet it, or lying on another street - stays
    fixed = mult > 1
    lone = involved[mult[involved] == 1]
    if len(lone):
        own_end = np.empty(m, dtype=np.int64)
        own_end[inv] = np.arange(len(inv))
        own_line = own_end[lone] % len(lines)
        pi, li = shapely.STRtree(lines).query(
            shapely.points(pts[lone]), predicate="dwithin", distance=MOVE_EPS_M
        )
        fixed[lone[pi[li != own_line[pi]]]] = True
    # fixed points first, then by coordinate: deterministic and independent of row order
    order = involved[
        np.lexsort((pts[involved, 1], pts[involved, 0], -mult[involved], ~fixed[involved]))
    ]
    target = np.arange(m)
    is_rep = np.zeros(m, dtype=bool)
    for p in order:
        if fixed[p]:  # a junction already: never moved
            is_rep[p] = True
            continue
        nb = adj.indices[adj.indptr[p] : adj.indptr[p + 1]]
        nb = nb[is_rep[nb]]
        if len(nb) == 0:
            is_rep[p] = True
            continue
        d = np.hypot(*(pts[nb] - pts[p]).T)
        target[p] = nb[np.argmin(d)]
    new_pts = pts[target]
    moved = np.hypot(*(new_pts - pts).T)
    real = moved > MOVE_EPS_M
    n_moved = int(mult[real].sum())
    if n_moved:
        notes.append(
            f"roads: {n_moved} street ends were moved by up to {moved[real].max():.2f} m "
            f"and joined to another street end within {snap_m:g} m"
        )
    new_ends = new_pts[inv]
    coords = coords.copy()
    coords[first] = new_ends[: len(lines)]
    coords[last] = new_ends[len(lines) :]
    out = shapely.linestrings(coords, indices=cidx)
    keep = shapely.length(out) > 0
    return out, keep


def _node_lines(lines: np.ndarray, level: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Node the streets: split where streets of the same level cross or touch.

    Streets on different levels (a bridge over a street) are joined only where
    one of them ends on the other (a ramp), never where they merely cross.
    Returns node coordinates (N, 2) and edges (E, 2).
    """
    seg_a, seg_b, seg_lvl = [], [], []
    for lv in np.unique(level):
        noded = shapely.get_parts(shapely.union_all(lines[level == lv]))
        noded = noded[shapely.get_type_id(noded) == 1]
        coords, idx = shapely.get_coordinates(noded, return_index=True)
        same = idx[:-1] == idx[1:]
        seg_a.append(coords[:-1][same])
        seg_b.append(coords[1:][same])
        seg_lvl.append(np.full(int(same.sum()), lv, dtype=np.int64))
    a, b = np.concatenate(seg_a), np.concatenate(seg_b)
    lvl = np.concatenate(seg_lvl)
    pts = np.concatenate([a, b])
    plv = np.concatenate([lvl, lvl]).astype(float)
    if len(np.unique(level)) > 1:
        # a vertex where any street ends is shared by every level present there
        coords, cidx = shapely.get_coordinates(lines, return_index=True)
        counts = np.bincount(cidx, minlength=len(lines))
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        ends = np.concatenate([coords[first], coords[first + counts - 1]])
        u2, inv2 = np.unique(np.concatenate([pts, ends]), axis=0, return_inverse=True)
        inv2 = inv2.ravel()
        is_end = np.zeros(len(u2), dtype=bool)
        is_end[inv2[len(pts) :]] = True
        plv = np.where(is_end[inv2[: len(pts)]], np.nan, plv)
    key = np.column_stack([pts, np.nan_to_num(plv, nan=np.iinfo(np.int32).min)])
    nodes, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.ravel()
    edges = _dedupe_edges(np.stack([inv[: len(a)], inv[len(a) :]], axis=1))
    return nodes[:, :2].astype(float), edges


def split_edges(
    xy: np.ndarray, edges: np.ndarray, edge_idx: np.ndarray, points: np.ndarray, tol: float = 1e-6
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Insert points lying on edges as new nodes, splitting those edges.

    Parameters
    ----------
    xy, edges
        The graph.
    edge_idx
        For each point, the edge it lies on.
    points
        Point coordinates, shape (M, 2).
    tol
        A point closer than this to an end node (or to another inserted point
        on the same edge) reuses that node.

    Returns
    -------
    new_xy, new_edges, node_of_point
    """
    if len(points) == 0:
        return xy, edges, np.zeros(0, dtype=np.int64)
    node_of = np.empty(len(points), dtype=np.int64)
    new_xy = [xy]
    n = len(xy)
    keep = np.ones(len(edges), dtype=bool)
    added: list[tuple[int, int]] = []
    order = np.argsort(edge_idx, kind="stable")
    ei_sorted = edge_idx[order]
    bounds = np.flatnonzero(np.diff(ei_sorted)) + 1
    for group in np.split(order, bounds):
        e = int(edge_idx[group[0]])
        u, v = int(edges[e, 0]), int(edges[e, 1])
        pu, pv = xy[u], xy[v]
        length = float(np.hypot(*(pv - pu)))
        t = np.hypot(*(points[group] - pu).T)
        chain = [(0.0, u)]
        for gi in group[np.argsort(t, kind="stable")]:
            ti = float(np.hypot(*(points[gi] - pu)))
            if ti <= tol:
                node_of[gi] = u
                continue
            if length - ti <= tol:
                node_of[gi] = v
                continue
            if abs(chain[-1][0] - ti) <= tol and chain[-1][1] != u:
                node_of[gi] = chain[-1][1]
                continue
            new_xy.append(points[gi][None, :])
            chain.append((ti, n))
            node_of[gi] = n
            n += 1
        chain.append((length, v))
        if len(chain) > 2:
            keep[e] = False
            for (_, a), (_, b) in itertools.pairwise(chain):
                added.append((a, b))
    out_edges = edges[keep]
    if added:
        out_edges = np.concatenate([out_edges, np.array(added, dtype=np.int64)])
    return np.concatenate(new_xy), _dedupe_edges(out_edges), node_of


def build_network(
    roads: gpd.GeoDataFrame, crs: pyproj.CRS | None = None, snap_m: float = SNAP_M
) -> RoadNetwork:
    """Build the street graph from a roads layer.

    Parameters
    ----------
    roads
        LineString/MultiLineString street centre-lines (any CRS).
    crs
        Metric CRS to work in (default: chosen from the data).
    snap_m
        Street ends closer than this (metres) are joined.

    Raises
    ------
    SchemaError
        When the layer holds no usable line.
    """
    notes: list[str] = []
    if crs is None:
        crs = metric_crs_for(roads)
    r = roads.to_crs(crs) if roads.crs is not None else roads
    lines, level = _line_parts(r, notes)
    if len(lines) == 0:
        raise SchemaError(
            "the roads layer has no street lines (LineString) to walk along",
            layer="roads",
            file=roads.attrs.get("file"),
        )
    lines, keep = _snap_line_ends(lines, snap_m, notes)
    lines, level = lines[keep], level[keep]
    if len(lines) == 0:
        raise SchemaError(
            f"the roads layer has no street longer than snap_m={snap_m:g} m to walk along",
            layer="roads",
            file=roads.attrs.get("file"),
        )
    nodes, edges = _node_lines(lines, level)
    if len(np.unique(level)) > 1:
        notes.append(
            "roads: streets tagged as bridges, tunnels or on another layer cross other "
            "streets without a junction; they connect where one street ends on another"
        )
    net = RoadNetwork(xy=nodes, edges=edges, crs=pyproj.CRS(crs), notes=notes)
    _join_undershoots(net, snap_m)
    ncomp = net.n_components()
    if ncomp > 1:
        notes.append(
            f"roads: the street network has {ncomp} separate pieces; households on a piece "
            "without a facility cannot reach one along streets"
        )
    return net


def _join_undershoots(net: RoadNetwork, snap_m: float) -> None:
    """Connect dead ends lying within ``snap_m`` of another street's side."""
    if snap_m <= 0 or len(net.edges) == 0:
        return
    deg = net.degree()
    dangles = np.flatnonzero(deg == 1)
    if len(dangles) == 0:
        return
    pts = shapely.points(net.xy[dangles])
    pi, ei = net.tree.query(pts, predicate="dwithin", distance=snap_m)
    if len(pi) == 0:
        return
    incident = (net.edges[ei, 0] == dangles[pi]) | (net.edges[ei, 1] == dangles[pi])
    pi, ei = pi[~incident], ei[~incident]
    if len(pi) == 0:
        return
    segs = net.segments
    d = shapely.distance(pts[pi], segs[ei])
    order = np.lexsort((ei, d, pi))
    pi, ei = pi[order], ei[order]
    first = np.r_[True, pi[1:] != pi[:-1]]
    pi, ei = pi[first], ei[first]
    proj = shapely.get_coordinates(shapely.shortest_line(pts[pi], segs[ei]))[1::2]
    xy, edges, node_of = split_edges(net.xy, net.edges, ei, proj)
    connectors = np.stack([dangles[pi], node_of], axis=1)
    net.xy = xy
    net.edges = _dedupe_edges(np.concatenate([edges, connectors]))
    net._tree = None
    net.notes.append(
        f"roads: {len(pi)} dead ends within {snap_m:g} m of a street were joined to it"
    )


@dataclass
class Entry:
    """Where features enter the network."""

    edge: np.ndarray  # edge index
    point: np.ndarray  # (M, 2) entry coordinates on the edge
    access: np.ndarray  # straight distance feature -> entry point, metres


#: From this many points on, :func:`locate_on_network` finds their street segments
#: with the compiled grid search (:mod:`gridmap.analysis.snap_kernels`, same answers
#: as the STRtree); fewer are not worth loading numba for.
FAST_SNAP_POINTS = 50_000
#: The segment grid of the compiled search: about this many cell entries per segment.
_CELLS_PER_SEGMENT = 2.0


def _segment_grid(
    net: RoadNetwork,
) -> tuple[np.ndarray, float, float, float, int, int, np.ndarray, np.ndarray]:
    """Segments (E, 4) and the uniform grid of cells their bounding boxes overlap (CSR)."""
    a = net.xy[net.edges[:, 0]]
    b = net.xy[net.edges[:, 1]]
    seg = np.ascontiguousarray(np.hstack([a, b]), dtype=float)
    lo = np.minimum(a, b)
    hi = np.maximum(a, b)
    x0, y0 = float(lo[:, 0].min()), float(lo[:, 1].min())
    w = max(float(hi[:, 0].max()) - x0, 1e-9)
    h = max(float(hi[:, 1].max()) - y0, 1e-9)
    e = len(seg)
    cell = max(
        math.sqrt(w * h / max(e, 1)), float(np.median(np.maximum(hi - lo, 0).max(axis=1))), 1e-6
    )
    while True:  # coarser cells until long segments do not fill too many of them
        i0 = np.floor((lo[:, 0] - x0) / cell).astype(np.int64)
        j0 = np.floor((lo[:, 1] - y0) / cell).astype(np.int64)
        i1 = np.floor((hi[:, 0] - x0) / cell).astype(np.int64)
        j1 = np.floor((hi[:, 1] - y0) / cell).astype(np.int64)
        counts = (i1 - i0 + 1) * (j1 - j0 + 1)
        nx_, ny_ = int(i1.max()) + 1, int(j1.max()) + 1
        if counts.sum() <= _CELLS_PER_SEGMENT * e + 4 * e and nx_ * ny_ <= 8 * e + 16:
            break
        cell *= 1.5
    # every (segment, cell) pair of the bounding boxes, then grouped by cell
    total = int(counts.sum())
    owner = np.repeat(np.arange(e, dtype=np.int64), counts)
    start = np.cumsum(counts) - counts
    k = np.arange(total, dtype=np.int64) - np.repeat(start, counts)
    width = np.repeat(i1 - i0 + 1, counts)
    ci = np.repeat(i0, counts) + k % width
    cj = np.repeat(j0, counts) + k // width
    cells = cj * nx_ + ci
    order = np.argsort(cells, kind="stable")
    cell_seg = owner[order]
    cell_start = np.zeros(nx_ * ny_ + 1, dtype=np.int64)
    np.cumsum(np.bincount(cells, minlength=nx_ * ny_), out=cell_start[1:])
    return seg, x0, y0, cell, nx_, ny_, cell_start, cell_seg


def _closest_on_segments(xy: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """GEOS ``LineSegment::closestPoint`` of each point on its segment (a, b)."""
    px, py = xy[:, 0], xy[:, 1]
    ax, ay, bx, by = seg[:, 0], seg[:, 1], seg[:, 2], seg[:, 3]
    dx, dy = bx - ax, by - ay
    len2 = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        r = ((px - ax) * dx + (py - ay) * dy) / len2
    r = np.where((px == ax) & (py == ay), 0.0, np.where((px == bx) & (py == by), 1.0, r))
    inner = (r > 0) & (r < 1)
    d0 = np.sqrt((ax - px) ** 2 + (ay - py) ** 2)
    d1 = np.sqrt((bx - px) ** 2 + (by - py) ** 2)
    use_a = d0 < d1
    cx = np.where(inner, ax + r * dx, np.where(use_a, ax, bx))
    cy = np.where(inner, ay + r * dy, np.where(use_a, ay, by))
    return np.column_stack([cx, cy])


def _locate_points_fast(net: RoadNetwork, xy: np.ndarray) -> Entry:
    """:func:`locate_on_network` for point coordinates, with the compiled grid search."""
    from gridmap.analysis import snap_kernels

    seg, x0, y0, cell, nx_, ny_, cell_start, cell_seg = _segment_grid(net)
    xy = np.ascontiguousarray(xy, dtype=float)
    edge, _ = snap_kernels.nearest_segments(
        xy[:, 0], xy[:, 1], seg, x0, y0, cell, nx_, ny_, cell_start, cell_seg
    )
    point = _closest_on_segments(xy, seg[edge])
    access = np.sqrt(((point - xy) ** 2).sum(axis=1))
    return Entry(edge=edge, point=point, access=access)


def locate_on_network(net: RoadNetwork, geoms: np.ndarray) -> Entry:
    """Nearest point of the nearest street segment for each geometry (metric CRS).

    Polygons (e.g. parking lots) enter at the point of the street nearest to
    the polygon, with the access distance measured from the polygon's edge.
    Ties between equally near segments go to the lowest edge index.
    ``geoms`` may also be point coordinates, a float array of shape (n, 2)
    (no shapely points are made; large batches use the compiled search).
    """
    geoms = np.asarray(geoms)
    if len(geoms) == 0:
        return Entry(np.zeros(0, dtype=np.int64), np.zeros((0, 2)), np.zeros(0))
    if geoms.dtype.kind == "f":
        if len(geoms) >= FAST_SNAP_POINTS and len(net.edges):
            return _locate_points_fast(net, geoms)
        geoms = shapely.points(geoms)
    gi, ei = net.tree.query_nearest(geoms, all_matches=True)
    order = np.lexsort((ei, gi))
    gi, ei = gi[order], ei[order]
    first = np.r_[True, gi[1:] != gi[:-1]]
    edge = np.empty(len(geoms), dtype=np.int64)
    edge[gi[first]] = ei[first]
    line = shapely.shortest_line(geoms, net.segments[edge])
    c = shapely.get_coordinates(line).reshape(-1, 2, 2)
    access = shapely.length(line)
    return Entry(edge=edge, point=c[:, 1, :], access=np.asarray(access, dtype=float))


@dataclass
class Routing:
    """Facilities inserted into the network and the search from all of them."""

    net: RoadNetwork  # the network split at the facilities' entry points
    entry_node: np.ndarray  # per entry (one per facility unless entry_facility is given)
    access: np.ndarray  # per entry
    dist: np.ndarray | None = None  # per node: distance to the nearest facility
    source: np.ndarray | None = None  # per node: index of that facility (-1 if none)
    entry_facility: np.ndarray | None = None  # per entry: its facility (default: entry i -> i)
    facilities: int | None = None  # number of facilities (default: one per entry)

    @property
    def n_facilities(self) -> int:
        return self.facilities if self.facilities is not None else len(self.entry_node)

    def _graph(self) -> sparse.csr_matrix:
        n = len(self.net.xy)
        f = self.n_facilities
        g = self.net.csgraph(extra_nodes=f).tocoo()
        fac = (
            np.arange(len(self.entry_node))
            if self.entry_facility is None
            else np.asarray(self.entry_facility, dtype=np.int64)
        )
        node = np.asarray(self.entry_node, dtype=np.int64)
        acc = np.maximum(np.asarray(self.access, dtype=float), _EPS)
        # one link per (facility, node), the shortest: a sparse matrix would add duplicates up
        order = np.lexsort((acc, node, fac))
        fac, node, acc = fac[order], node[order], acc[order]
        first = np.r_[True, (fac[1:] != fac[:-1]) | (node[1:] != node[:-1])]
        rows = np.concatenate([g.row, n + fac[first]])
        cols = np.concatenate([g.col, node[first]])
        w = np.concatenate([g.data, acc[first]])
        return sparse.csr_matrix((w, (rows, cols)), shape=(n + f, n + f))

    def solve(self) -> Routing:
        """Multi-source Dijkstra from all facilities."""
        n = len(self.net.xy)
        if self.n_facilities == 0:
            self.dist = np.full(n, np.inf)
            self.source = np.full(n, -1, dtype=np.int64)
            return self
        dist, _, src = dijkstra(
            self._graph(),
            directed=False,
            indices=n + np.arange(self.n_facilities),
            min_only=True,
            return_predecessors=True,
        )
        self.dist = dist[:n]
        src = np.asarray(src[:n], dtype=np.int64)
        self.source = np.where(src >= n, src - n, -1)
        return self

    def household_distances(self, geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Walking distance to the nearest facility and its index for each geometry.

        ``geoms``: metric geometries, or point coordinates of shape (n, 2).
        """
        if self.dist is None:
            self.solve()
        entry = locate_on_network(self.net, geoms)
        u, v, off, length = self._ends(entry)
        du = self.dist[u] + off
        dv = self.dist[v] + (length - off)
        use_u = du <= dv
        d = entry.access + np.where(use_u, du, dv)
        src = np.where(use_u, self.source[u], self.source[v])
        src = np.where(np.isfinite(d), src, -1)
        return d, src

    def _ends(self, entry: Entry):
        u = self.net.edges[entry.edge, 0]
        v = self.net.edges[entry.edge, 1]
        off = np.hypot(*(entry.point - self.net.xy[u]).T)
        length = self.net.lengths[entry.edge]
        off = np.minimum(off, length)
        return u, v, off, length

    def pairs_within(
        self, geoms: np.ndarray, radius_m: float, max_cells: int = 20_000_000
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All (household, facility, distance) pairs with walking distance <= radius."""
        n = len(self.net.xy)
        f = self.n_facilities
        empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
        if f == 0 or len(geoms) == 0:
            return empty
        entry = locate_on_network(self.net, geoms)
        u, v, off, length = self._ends(entry)
        graph = self._graph()
        chunk = max(1, min(f, max_cells // max(len(geoms), n, 1)))
        hi, fj, dd = [], [], []
        for start in range(0, f, chunk):
            idx = np.arange(start, min(f, start + chunk))
            dm = dijkstra(graph, directed=False, indices=n + idx, limit=radius_m)[:, :n]
            d = entry.access[None, :] + np.minimum(
                dm[:, u] + off[None, :], dm[:, v] + (length - off)[None, :]
            )
            jj, ii = np.nonzero(d <= radius_m)
            hi.append(ii)
            fj.append(idx[jj])
            dd.append(d[jj, ii])
        if not hi:
            return empty
        return np.concatenate(hi), np.concatenate(fj), np.concatenate(dd)


def _polygon_street_entries(net: RoadNetwork, geoms: np.ndarray):
    """Where streets reach polygon facilities: every point a street crosses or touches the edge.

    Returns (facility index, edge index, point (K, 2)) for streets meeting a
    polygon; the walk ends there with no further access distance.
    """
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 2)))
    poly = np.flatnonzero(np.isin(shapely.get_type_id(geoms), [3, 6]))
    if len(poly) == 0:
        return empty
    gi, ei = net.tree.query(geoms[poly], predicate="intersects")
    if len(gi) == 0:
        return empty
    fac = poly[gi]
    seg = net.segments[ei]
    # the street pieces inside the polygon, and where they start and end (the crossings)
    inside = shapely.intersection(seg, geoms[fac])
    pts = shapely.intersection(shapely.boundary(geoms[fac]), seg)
    p1, i1 = shapely.get_parts(shapely.boundary(shapely.force_2d(inside)), return_index=True)
    p2, i2 = shapely.get_parts(pts, return_index=True)  # touching points (lines are in p1)
    parts, idx = np.concatenate([p1, p2]), np.concatenate([i1, i2])
    keep = ~shapely.is_empty(parts) & (shapely.get_type_id(parts) == 0)
    parts, idx = parts[keep], idx[keep]
    if len(parts) == 0:
        return empty
    return fac[idx], ei[idx], shapely.get_coordinates(parts)


def route(net: RoadNetwork, facility_geoms: np.ndarray) -> Routing:
    """Insert facilities (metric geometries) into the network, ready to search.

    A point facility enters the network at the nearest point of the nearest
    street. A polygon facility (a parking lot drawn as an area) also enters
    wherever a street crosses or touches its edge, so a lot between two
    streets is reached from both.
    """
    facility_geoms = np.asarray(facility_geoms)
    if len(facility_geoms) == 0:
        return Routing(net=net, entry_node=np.zeros(0, np.int64), access=np.zeros(0))
    entry = locate_on_network(net, facility_geoms)
    fac = np.arange(len(facility_geoms))
    edge, points, access = entry.edge, entry.point, entry.access
    pf, pe, pp = _polygon_street_entries(net, facility_geoms)
    if len(pf):
        fac = np.concatenate([fac, pf])
        edge = np.concatenate([edge, pe])
        points = np.concatenate([points, pp])
        access = np.concatenate([access, np.zeros(len(pf))])
    xy, edges, node_of = split_edges(net.xy, net.edges, edge, points)
    split = RoadNetwork(xy=xy, edges=edges, crs=net.crs, notes=net.notes)
    return Routing(
        net=split,
        entry_node=node_of,
        access=access,
        entry_facility=fac,
        facilities=len(facility_geoms),
    )
