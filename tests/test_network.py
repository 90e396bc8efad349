"""Street-network distances against networkx shortest paths built independently."""

from __future__ import annotations

import itertools

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon, box

from gridmap.analysis.coverage import compute_coverage
from gridmap.analysis.network import build_network, route
from gridmap.errors import SchemaError
from gridmap.workspace import store as io

CRS = "EPSG:32649"


def lattice_roads(n: int = 4, step: float = 100.0) -> list[LineString]:
    """Long horizontal and vertical streets crossing without shared vertices."""
    span = (n - 1) * step
    lines = [LineString([(0, i * step), (span, i * step)]) for i in range(n)]
    lines += [LineString([(i * step, 0), (i * step, span)]) for i in range(n)]
    return lines


def reference_distances(lines, households, facilities):
    """Independent reference: nx graph over every street, with entry points inserted.

    Each feature enters at the nearest point of the nearest street (brute force
    over all streets); every street is cut at the crossings and entry points on
    it, consecutive points along it are linked.
    """
    entries = []
    for geom in list(households) + list(facilities):
        d = [geom.distance(line) for line in lines]
        k = int(np.argmin(d))
        pos = lines[k].project(geom) if geom.geom_type == "Point" else None
        if pos is None:
            pt = shapely.shortest_line(geom, lines[k]).coords[1]
            pos = lines[k].project(Point(pt))
        entries.append((k, pos, d[k]))
    g = nx.Graph()
    for k, line in enumerate(lines):
        stops = {0.0, line.length}
        for other in lines:
            inter = line.intersection(other)
            if not inter.is_empty and inter.geom_type == "Point":
                stops.add(round(line.project(inter), 9))
        stops |= {round(pos, 9) for kk, pos, _ in entries if kk == k}
        pts = sorted(stops)
        for a, b in itertools.pairwise(pts):
            pa, pb = line.interpolate(a), line.interpolate(b)
            g.add_edge((round(pa.x, 6), round(pa.y, 6)), (round(pb.x, 6), round(pb.y, 6)), w=b - a)

    def node(k, pos):
        p = lines[k].interpolate(pos)
        return (round(p.x, 6), round(p.y, 6))

    nh = len(households)
    g.add_node("SRC")
    for j, (k, pos, acc) in enumerate(entries[nh:]):
        g.add_edge("SRC", ("F", j), w=0.0)
        g.add_edge(("F", j), node(k, round(pos, 9)), w=acc)
    dist = nx.single_source_dijkstra_path_length(g, "SRC", weight="w")
    out = []
    for k, pos, acc in entries[:nh]:
        out.append(acc + dist.get(node(k, round(pos, 9)), np.inf))
    return np.array(out)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_lattice_distances_equal_networkx(seed):
    rng = np.random.default_rng(seed)
    lines = lattice_roads()
    roads = gpd.GeoDataFrame(geometry=lines, crs=CRS)
    net = build_network(roads, crs=CRS)
    assert net.n_components() == 1
    hh = shapely.points(rng.uniform(-20, 320, 60), rng.uniform(-20, 320, 60))
    fac = shapely.points(rng.uniform(0, 300, 3), rng.uniform(0, 300, 3))
    got, src = route(net, fac).household_distances(hh)
    ref = reference_distances(lines, hh, fac)
    np.testing.assert_allclose(got, ref, atol=1e-6)
    assert (src >= 0).all()
    # and the source is a facility at exactly that distance along the network
    for i in range(0, 60, 7):
        one, _ = route(net, fac[[src[i]]]).household_distances(hh[[i]])
        assert one[0] == pytest.approx(got[i])


def test_pairs_within_equal_per_facility_searches():
    rng = np.random.default_rng(5)
    lines = lattice_roads()
    net = build_network(gpd.GeoDataFrame(geometry=lines, crs=CRS), crs=CRS)
    hh = shapely.points(rng.uniform(0, 300, 40), rng.uniform(0, 300, 40))
    fac = shapely.points(rng.uniform(0, 300, 4), rng.uniform(0, 300, 4))
    hi, fj, d = route(net, fac).pairs_within(hh, 250.0)
    got = {(int(a), int(b)): float(c) for a, b, c in zip(hi, fj, d, strict=True)}
    for j in range(4):
        ref = reference_distances(lines, hh, fac[[j]])
        for i in range(40):
            if ref[i] <= 250.0:
                assert got[(i, j)] == pytest.approx(ref[i], abs=1e-6)
            else:
                assert (i, j) not in got


def test_polygon_facility_enters_at_nearest_street_point():
    lines = [LineString([(0, 0), (300, 0)])]
    net = build_network(gpd.GeoDataFrame(geometry=lines, crs=CRS), crs=CRS)
    lot = Polygon([(220, 10), (200, 50), (240, 50)])  # nearest corner 10 m north of the street
    d, _ = route(net, np.array([lot])).household_distances(np.array([Point(0, 5)]))
    # household: 5 m access + 220 m along the street to x=220 + 10 m to the lot's corner
    assert d[0] == pytest.approx(235.0)


def test_near_gaps_are_snapped_far_gaps_are_not():
    lines = [
        LineString([(0, 0), (100, 0)]),
        LineString([(100.6, 0.3), (200, 0)]),  # end 0.67 m away: joined
        LineString([(150, 0.8), (150, 100)]),  # T-junction undershoot 0.8 m: joined
        LineString([(205, 0), (300, 0)]),  # 5 m gap: separate piece
    ]
    net = build_network(gpd.GeoDataFrame(geometry=lines, crs=CRS), crs=CRS)
    assert net.n_components() == 2
    assert any("joined" in n for n in net.notes)
    assert any("separate pieces" in n for n in net.notes)
    r = route(net, np.array([Point(0, 0)]))
    d, src = r.household_distances(np.array([Point(150, 90), Point(250, 1), Point(180, 0)]))
    assert d[0] == pytest.approx(150 + 90, abs=1.5)
    assert np.isinf(d[1]) and src[1] == -1
    assert d[2] == pytest.approx(180, abs=1.0)
    # networkx view agrees on the components
    assert nx.number_connected_components(net.to_networkx()) == 2


def test_roads_without_lines_is_a_clear_error():
    roads = gpd.GeoDataFrame({"road_id": ["R1"]}, geometry=[box(0, 0, 1, 1)], crs=CRS)
    with pytest.raises(SchemaError) as exc:
        build_network(roads, crs=CRS)
    assert "roads" in str(exc.value)


def test_unreachable_households_are_noted_not_nan(tmp_path):
    x0, y0 = 111.47, 35.64
    hh = gpd.GeoDataFrame(
        {"household_id": ["A", "B"]},
        geometry=[Point(x0 + 0.0002, y0 + 0.0001), Point(x0 + 0.01, y0 + 0.0001)],
        crs="EPSG:4326",
    )
    st = gpd.GeoDataFrame(
        {"station_id": ["S"], "name": ["驿站"]},
        geometry=[Point(x0 + 0.0005, y0 + 0.0001)],
        crs="EPSG:4326",
    )
    roads = gpd.GeoDataFrame(
        {"road_id": ["R1", "R2"]},
        geometry=[
            LineString([(x0, y0), (x0 + 0.002, y0)]),
            LineString([(x0 + 0.009, y0), (x0 + 0.011, y0)]),
        ],
        crs="EPSG:4326",
    )
    grids = gpd.GeoDataFrame(
        {"grid_id": ["G1"], "name": ["一"]},
        geometry=[box(x0 - 0.001, y0 - 0.001, x0 + 0.012, y0 + 0.001)],
        crs="EPSG:4326",
    )
    path = tmp_path / "u.gpkg"
    io.write_layers(
        path, {"grids": grids, "households": hh, "service_stations": st, "roads": roads}
    )
    res = compute_coverage(io.load_workspace(path), "service_stations", 2000)
    assert res.distance == "network"
    js = res.to_json()
    assert js["unreachable"] == 1 and js["covered"] == 1 and js["share"] == 0.5
    assert any("cannot reach" in n and "B" in n for n in js["notes"])
    assert js["median_distance_m"] is None


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_random_crossing_streets_equal_networkx(seed):
    """Streets at random angles: noding at crossings must match the reference."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(7):
        a = rng.uniform(0, np.pi)
        c = rng.uniform(50, 250, 2)
        dxy = 400 * np.array([np.cos(a), np.sin(a)])
        lines.append(LineString([tuple(c - dxy), tuple(c + dxy)]))
    net = build_network(gpd.GeoDataFrame(geometry=lines, crs=CRS), crs=CRS)
    assert not any("joined" in n for n in net.notes)  # nothing snapped in these seeds
    hh = shapely.points(rng.uniform(0, 300, 50), rng.uniform(0, 300, 50))
    fac = shapely.points(rng.uniform(0, 300, 2), rng.uniform(0, 300, 2))
    got, _ = route(net, fac).household_distances(hh)
    ref = reference_distances(lines, hh, fac)
    np.testing.assert_allclose(got, ref, atol=1e-6)


def test_multilinestring_roads_equal_linestrings():
    lines = lattice_roads(3)
    multi = [shapely.MultiLineString(lines[:3]), shapely.MultiLineString(lines[3:])]
    a = build_network(gpd.GeoDataFrame(geometry=lines, crs=CRS), crs=CRS)
    b = build_network(gpd.GeoDataFrame(geometry=multi, crs=CRS), crs=CRS)
    hh = shapely.points([[10, 30], [150, 170], [190, 5]])
    fac = shapely.points([[100, 100]])
    np.testing.assert_allclose(
        route(a, fac).household_distances(hh)[0], route(b, fac).household_distances(hh)[0]
    )


def test_polygon_facility_is_reached_from_every_street_it_meets():
    """A lot between two streets, and a lot a street runs through, are entered where streets meet it."""
    lines = [
        LineString([(0, 0), (1000, 0)]),  # lower street
        LineString([(0, 100), (1000, 100)]),  # upper street
        LineString([(0, 0), (0, 100)]),  # the only link between them
    ]
    net = build_network(gpd.GeoDataFrame(geometry=lines, crs=CRS), crs=CRS)
    between = box(900, 0, 950, 100)  # touches both streets
    through = box(400, -20, 450, 20)  # the lower street runs through it
    hh = np.array([Point(1000, 105), Point(1000, -5), Point(500, -3), Point(300, 2)])
    d, src = route(net, np.array([between])).household_distances(hh)
    # by hand: 5 m to the street + 50 m along it to the lot's edge, on either street
    assert d[:2] == pytest.approx([55.0, 55.0])
    d, src = route(net, np.array([through, between])).household_distances(hh)
    assert d[2] == pytest.approx(3 + 50) and src[2] == 0  # east crossing at x=450
    assert d[3] == pytest.approx(2 + 100) and src[3] == 0  # west crossing at x=400
    hi, fj, dd = route(net, np.array([through, between])).pairs_within(hh, 60.0)
    got = {(int(a), int(b)): float(c) for a, b, c in zip(hi, fj, dd, strict=True)}
    assert got == pytest.approx({(0, 1): 55.0, (1, 1): 55.0, (2, 0): 53.0})


# --- real street layers: any vertex counts, non-transitive snapping, levels (issue 12) ---


def _end_moves(lines, net):
    """How far each original street end is from the nearest node of the network."""
    ends = np.array([c for ln in lines for c in (ln.coords[0], ln.coords[-1])])
    d = np.hypot(*(net.xy[None, :, :] - ends[:, None, :]).transpose(2, 0, 1))
    return d.min(axis=1)


def test_touching_streets_of_two_and_three_vertices_build():
    """Two streets with 2 and 3 vertices whose ends are 0.5 m apart (crashed: inhomogeneous shape)."""
    lines = [
        LineString([(0, 0), (100, 0)]),
        LineString([(100.5, 0), (150, 50), (200, 50)]),
        LineString([(200, 50), (210, 60), (220, 60), (230, 70)]),  # 4 vertices, shared end
    ]
    net = build_network(gpd.GeoDataFrame(geometry=lines, crs=CRS), crs=CRS)
    assert net.n_components() == 1
    d, _ = route(net, np.array([Point(0, 0)])).household_distances(np.array([Point(230, 70)]))
    expected = 100 + np.hypot(50, 50) + 50 + 2 * np.hypot(10, 10) + 10
    assert d[0] == pytest.approx(expected, abs=0.6)


def test_snapping_is_not_transitive():
    """A chain of ends each 0.55 m apart spanning 2.2 m: no end moves more than snap_m."""
    xs = [0.0, 0.55, 1.1, 1.65, 2.2]
    lines = [
        LineString([(x, 0.0), (x + 30 * np.cos(a), 30 * np.sin(a))])
        for x, a in zip(xs, np.linspace(0.3, 2.8, len(xs)), strict=True)
    ]
    lines += [LineString([(1.1, 0.0), (1.1, -40.0)]), LineString([(2.2, 0.0), (40.0, -30.0)])]
    net = build_network(gpd.GeoDataFrame(geometry=lines, crs=CRS), crs=CRS, snap_m=1.0)
    moves = _end_moves(lines, net)
    assert moves.max() <= 1.0 + 1e-9
    # the two points carrying two ends each stay where they are
    assert moves[[4, 10, 12, 8]].max() == pytest.approx(0.0, abs=1e-9)
    note = next(n for n in net.notes if "street ends were moved" in n)
    assert note.startswith(f"roads: {int((moves > 1e-6).sum())} street ends")


def test_snap_note_counts_real_moves_only():
    """Ends meeting up to floating-point noise are joined, but not counted as moved."""
    lines = [
        LineString([(0, 0), (100, 0)]),
        LineString([(1e-10, 1e-10), (0, 100)]),
        LineString([(-1e-9, 0), (-100, 0)]),
        LineString([(100.4, 0.3), (200, 0)]),  # the one real move: 0.5 m
    ]
    net = build_network(gpd.GeoDataFrame(geometry=lines, crs=CRS), crs=CRS)
    assert net.n_components() == 1
    moved = [n for n in net.notes if "street ends were moved" in n]
    assert moved == [
        "roads: 1 street ends were moved by up to 0.50 m and joined to another street end within 1 m"
    ]


def test_duplicate_and_zero_length_segments_and_multilines():
    """Repeated vertices, a zero-length line, a duplicated street and a multi-line agree with a clean copy."""
    clean = lattice_roads(3)
    messy = [
        LineString([(0, 0), (0, 0), (100, 0), (100, 0), (200, 0)]),  # repeated vertices
        LineString([(50, 50), (50, 50)]),  # zero length
        shapely.MultiLineString([clean[1], clean[2]]),
        clean[1],  # duplicate street
        *clean[3:],
        LineString(list(clean[4].coords)[::-1]),  # the same street drawn the other way
    ]
    a = build_network(gpd.GeoDataFrame(geometry=clean, crs=CRS), crs=CRS)
    b = build_network(gpd.GeoDataFrame(geometry=messy, crs=CRS), crs=CRS)
    assert len(a.edges) == len(b.edges) and a.lengths.sum() == pytest.approx(b.lengths.sum())
    hh = shapely.points([[10, 30], [150, 170], [190, 5], [120, 90]])
    fac = shapely.points([[100, 100]])
    np.testing.assert_allclose(
        route(a, fac).household_distances(hh)[0], route(b, fac).household_distances(hh)[0]
    )


@pytest.mark.parametrize(
    ("column", "value"), [("bridge", "yes"), ("layer", "1"), ("tunnel", "yes"), ("layer", -1)]
)
def test_overpass_crosses_without_junction(column, value):
    """A bridge (or tunnel, or layer tag) over a street is no junction; ramps at its ends are."""
    # street below: y=0 from x=0..200; bridge: x=100 from y=-100..100, joined to the street
    # network only at its far ends through two side streets
    below = LineString([(0, 0), (200, 0)])
    over = LineString([(100, -100), (100, 100)])
    side1 = LineString([(100, 100), (0, 100), (0, 0)])
    side2 = LineString([(100, -100), (200, -100), (200, 0)])
    tags = {column: [None, value, None, None]}
    roads = gpd.GeoDataFrame(tags, geometry=[below, over, side1, side2], crs=CRS)
    net = build_network(roads, crs=CRS)
    assert any("without a junction" in n for n in net.notes)
    fac = np.array([Point(110, -1)])  # by the lower street, 10 m from the bridge
    d, _ = route(net, fac).household_distances(np.array([Point(101, 50)]))
    # along the bridge to (100,100), the side street to (0,0), the street to x=110; 1 m access each
    assert d[0] == pytest.approx(1 + 50 + 200 + 110 + 1)
    plain = build_network(gpd.GeoDataFrame(geometry=[below, over, side1, side2], crs=CRS), crs=CRS)
    d0, _ = route(plain, fac).household_distances(np.array([Point(101, 50)]))
    assert d0[0] == pytest.approx(1 + 50 + 10 + 1)  # untagged: a crossing is a junction


def test_street_ending_on_a_bridge_joins_it():
    """Across levels, a street that ends on a bridge's vertex is connected there (a ramp)."""
    bridge = LineString([(0, 0), (100, 0), (200, 0)])
    ramp = LineString([(100, 0), (100, -50)])
    roads = gpd.GeoDataFrame({"layer": [1, 0]}, geometry=[bridge, ramp], crs=CRS)
    net = build_network(roads, crs=CRS)
    assert net.n_components() == 1


def test_snapping_keeps_ends_already_on_a_street():
    """A T-junction end lying on a street stays there; a stray end nearby moves onto it."""
    lines = [
        LineString([(-100, 0), (100, 0)]),  # main street (no vertex at x=0)
        LineString([(0, 0), (0, 100)]),  # side street ending on the main street
        LineString([(-0.6, -0.3), (-0.6, -100)]),  # a stray end 0.67 m west of that junction
    ]
    net = build_network(gpd.GeoDataFrame(geometry=lines, crs=CRS), crs=CRS)
    assert _end_moves(lines, net)[2] == pytest.approx(0.0, abs=1e-9)  # the T end stayed
    assert net.n_components() == 1
    d, _ = route(net, np.array([Point(50, 1)])).household_distances(np.array([Point(1, 90)]))
    assert d[0] == pytest.approx(1 + 90 + 50 + 1)
    assert any(n.startswith("roads: 1 street ends were moved") for n in net.notes)


@pytest.mark.parametrize("seed", [1, 2])
def test_compiled_snap_equals_strtree(seed):
    """The compiled grid search finds the STRtree's segment, entry point and access, bit for bit.

    Random streets (long and short), and points that tie: on a lattice, exactly
    on nodes and on segments, and far outside the streets' extent.
    """
    from gridmap.analysis.network import _locate_points_fast, locate_on_network

    rng = np.random.default_rng(seed)
    lines = lattice_roads(6, 80.0)
    for _ in range(40):
        c = rng.uniform(0, 400, 2)
        d = rng.uniform(5, 300) * np.array([np.cos(a := rng.uniform(0, np.pi)), np.sin(a)])
        lines.append(LineString([tuple(c - d), tuple(c + d)]))
    net = build_network(gpd.GeoDataFrame(geometry=lines, crs=CRS), crs=CRS)
    ends = net.xy[net.edges]
    xy = np.vstack(
        [
            rng.uniform(-50, 450, (3000, 2)),
            np.round(rng.uniform(0, 400, (3000, 2)) / 20) * 20,  # equidistant from streets
            net.xy[rng.integers(0, len(net.xy), 500)],  # on a node: several segments at 0
            ends.mean(axis=1)[:500],  # on a segment
            rng.uniform(-5000, 5000, (500, 2)),  # far outside
        ]
    )
    fast = _locate_points_fast(net, xy)
    ref = locate_on_network(net, shapely.points(xy))
    np.testing.assert_array_equal(fast.edge, ref.edge)
    np.testing.assert_array_equal(fast.point, ref.point)
    np.testing.assert_array_equal(fast.access, ref.access)


def test_large_batches_of_coordinates_take_the_compiled_snap(monkeypatch):
    """Coordinates at or above FAST_SNAP_POINTS go through the compiled search, same answer."""
    from gridmap.analysis import network as nw

    net = build_network(gpd.GeoDataFrame(geometry=lattice_roads(), crs=CRS), crs=CRS)
    xy = np.random.default_rng(3).uniform(-20, 320, (400, 2))
    calls = []
    real = nw._locate_points_fast
    monkeypatch.setattr(nw, "_locate_points_fast", lambda n, p: calls.append(len(p)) or real(n, p))
    monkeypatch.setattr(nw, "FAST_SNAP_POINTS", 100)
    fast = nw.locate_on_network(net, xy)
    monkeypatch.setattr(nw, "FAST_SNAP_POINTS", 10_000)
    slow = nw.locate_on_network(net, xy)
    assert calls == [400]
    np.testing.assert_array_equal(fast.edge, slow.edge)
    np.testing.assert_array_equal(fast.access, slow.access)
