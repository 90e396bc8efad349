"""Walking distances along a street network (the ``roads`` layer).

The network is built from LineString street centre-lines in a metric CRS:

* line ends closer than ``snap_m`` (default 1 m) are merged into one node, so
  streets digitised with tiny gaps still connect;
* crossing streets are noded where they cross (``shapely.union_all``), so a
  walker can turn at every crossing (an overpass without a ramp is therefore
  treated as a crossing: document such streets as separate layers);
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


def _line_parts(roads: gpd.GeoDataFrame, notes: list[str]) -> np.ndarray:
    geoms = roads.geometry.values
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if (~ok).sum():
        notes.append(f"roads: {int((~ok).sum())} features without geometry were ignored")
    parts = shapely.get_parts(np.asarray(geoms[ok]))
    kind = shapely.get_type_id(parts)
    lines = parts[kind == 1]  # LineString
    rings = parts[kind == 2]  # LinearRing
    if len(rings):
        lines = np.concatenate(
            [lines, np.array([shapely.linestrings(shapely.get_coordinates(r)) for r in rings])]
        )
    other = int(((kind != 1) & (kind != 2)).sum())
    if other:
        notes.append(f"roads: {other} non-line geometries (points/polygons) were ignored")
    lines = lines[shapely.length(lines) > 0]
    return lines


def _snap_line_ends(lines: np.ndarray, snap_m: float, notes: list[str]) -> np.ndarray:
    """Merge line end points closer than ``snap_m`` (to the mean of each cluster)."""
    if len(lines) == 0 or snap_m <= 0:
        return lines
    coords = [shapely.get_coordinates(g) for g in lines]
    ends = np.array([[c[0], c[-1]] for c in coords]).reshape(-1, 2)
    tree = cKDTree(ends)
    pairs = tree.query_pairs(snap_m, output_type="ndarray")
    if len(pairs) == 0:
        return lines
    m = len(ends)
    adj = sparse.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(m, m))
    _, label = connected_components(adj, directed=False)
    sums = np.zeros((label.max() + 1, 2))
    np.add.at(sums, label, ends)
    counts = np.bincount(label)
    centre = sums / counts[:, None]
    moved = np.hypot(*(centre[label] - ends).T)
    n_moved = int((moved > 0).sum())
    if n_moved:
        notes.append(f"roads: {n_moved} street ends within {snap_m:g} m of another were joined")
    new_ends = centre[label].reshape(-1, 2, 2)
    out = []
    for c, (a, b) in zip(coords, new_ends, strict=True):
        c = c.copy()
        c[0], c[-1] = a, b
        out.append(c)
    res = shapely.linestrings(out) if out else lines
    return res[shapely.length(res) > 0]


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
    lines = _line_parts(r, notes)
    if len(lines) == 0:
        raise SchemaError(
            "the roads layer has no street lines (LineString) to walk along",
            layer="roads",
            file=roads.attrs.get("file"),
        )
    lines = _snap_line_ends(lines, snap_m, notes)
    noded = shapely.get_parts(shapely.union_all(lines))
    noded = noded[shapely.get_type_id(noded) == 1]
    coords, idx = shapely.get_coordinates(noded, return_index=True)
    same = idx[:-1] == idx[1:]
    a = coords[:-1][same]
    b = coords[1:][same]
    nodes, inv = np.unique(np.concatenate([a, b]), axis=0, return_inverse=True)
    inv = inv.ravel()
    edges = _dedupe_edges(np.stack([inv[: len(a)], inv[len(a) :]], axis=1))
    net = RoadNetwork(xy=nodes.astype(float), edges=edges, crs=pyproj.CRS(crs), notes=notes)
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


def locate_on_network(net: RoadNetwork, geoms: np.ndarray) -> Entry:
    """Nearest point of the nearest street segment for each geometry (metric CRS).

    Polygons (e.g. parking lots) enter at the point of the street nearest to
    the polygon, with the access distance measured from the polygon's edge.
    Ties between equally near segments go to the lowest edge index.
    """
    geoms = np.asarray(geoms)
    if len(geoms) == 0:
        return Entry(np.zeros(0, dtype=np.int64), np.zeros((0, 2)), np.zeros(0))
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
        """Walking distance to the nearest facility and its index for each geometry."""
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
