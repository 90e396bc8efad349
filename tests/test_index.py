"""The fast cell index must give the reference join's answer on every point.

The reference is :func:`gridmap.join.core.reference_locator` (shapely STRtree +
``intersects``). Polygons are random: boxes and convex hulls on a coarse
lattice (so neighbours share exact edges and vertices), holes, multi-part
polygons, overlaps, Voronoi cells and a few invalid shapes. Points are random,
exactly on vertices, on edges (lattice points, midpoints) and interpolated
along edges (within rounding distance of the edge line).
"""

from __future__ import annotations

import shutil

import geopandas as gpd
import numpy as np
import pytest
import shapely
from conftest import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Point, Polygon, box

from gridmap.join import index as index_mod
from gridmap.join.assign import assign_workspace
from gridmap.join.core import assign_points, build_hierarchy, reference_locator
from gridmap.join.index import build_index, cache_dir_for, cached_index, layer_key, locators_for
from gridmap.workspace import store as io


@pytest.fixture(autouse=True)
def _kernel_on_every_batch(monkeypatch):
    """These tests are about the compiled kernel: no batch goes to the shapely shortcut."""
    monkeypatch.setattr(index_mod, "SMALL_BATCH", 0)


def test_small_batches_without_the_kernel_give_the_kernels_answers(monkeypatch):
    rng = np.random.default_rng(7)
    polys = [box(i, j, i + 1, j + 1) for i in range(6) for j in range(6)]
    polys.append(Polygon([(0.5, 0.5), (4.5, 0.7), (2.2, 4.9)]))  # overlaps, on the lattice lines
    ids = [f"P{k:02d}" for k in range(len(polys))]
    idx = build_index(gpd.GeoDataFrame({"pid": ids}, geometry=polys, crs=4326), "pid")
    x = np.concatenate([rng.uniform(-0.5, 6.5, 3000), np.arange(7.0), [np.nan]])
    y = np.concatenate([rng.uniform(-0.5, 6.5, 3000), np.arange(7.0), [1.0]])
    kernel = idx.query_ranks(x, y)
    monkeypatch.setattr(index_mod, "SMALL_BATCH", 10**9)
    monkeypatch.setattr(index_mod, "_KERNELS", "not-loaded")  # as in a fresh process
    shortcut = idx.query_ranks(x, y)
    assert np.array_equal(kernel, shortcut)
    assert (kernel >= 0).sum() > 2000 and (kernel < 0).any()


X0, Y0, D = 111.47, 35.64, 0.0005  # lattice step ~50 m


def _lattice(i, j):
    return X0 + i * D, Y0 + j * D


def _check(polys: list, ids: list[str], x: np.ndarray, y: np.ndarray) -> None:
    gdf = gpd.GeoDataFrame({"microgrid_id": ids}, geometry=polys, crs="EPSG:4326")
    idx = build_index(gdf, "microgrid_id", max_edges=4)
    ref = reference_locator(gdf, "microgrid_id")
    got = idx(x, y)
    want = ref(x, y)
    bad = [(x[i], y[i], got[i], want[i]) for i in range(len(x)) if got[i] != want[i]]
    assert not bad, f"{len(bad)} disagreements, e.g. {bad[:5]}"


def _probe_points(polys: list, rng: np.random.Generator, n_random: int = 300):
    """Random points plus points on every vertex, edge midpoint and along edges."""
    valid = [g for g in polys if g is not None and not g.is_empty]
    bounds = np.array([g.bounds for g in valid]) if valid else np.array([[X0, Y0, X0 + D, Y0 + D]])
    minx, miny = bounds[:, 0].min() - D, bounds[:, 1].min() - D
    maxx, maxy = bounds[:, 2].max() + D, bounds[:, 3].max() + D
    xs = [rng.uniform(minx, maxx, n_random)]
    ys = [rng.uniform(miny, maxy, n_random)]
    # lattice points (vertices and exact edge points of lattice polygons)
    i = rng.integers(-2, 14, n_random)
    j = rng.integers(-2, 14, n_random)
    lx, ly = _lattice(i, j)
    xs.append(np.asarray(lx))
    ys.append(np.asarray(ly))
    for g in valid:
        c = shapely.get_coordinates(g)
        xs.append(c[:, 0])
        ys.append(c[:, 1])
        mid = (c[1:] + c[:-1]) / 2
        xs.append(mid[:, 0])
        ys.append(mid[:, 1])
        b = g.boundary if g.geom_type in ("Polygon", "MultiPolygon", "LineString") else g
        if b.geom_type in ("LineString", "MultiLineString", "LinearRing") and not b.is_empty:
            pts = shapely.line_interpolate_point(b, rng.uniform(0, 1, 8), normalized=True)
            pc = shapely.get_coordinates(pts)
            xs.append(pc[:, 0])
            ys.append(pc[:, 1])
    return np.concatenate(xs), np.concatenate(ys)


lattice_box = st.tuples(
    st.integers(0, 10), st.integers(0, 10), st.integers(1, 4), st.integers(1, 4)
).map(lambda t: box(*_lattice(t[0], t[1]), *_lattice(t[0] + t[2], t[1] + t[3])))


@st.composite
def lattice_hull(draw):
    pts = draw(st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12)), min_size=3, max_size=8))
    hull = shapely.convex_hull(shapely.multipoints([_lattice(i, j) for i, j in pts]))
    return hull if hull.geom_type == "Polygon" else draw(lattice_box)


@st.composite
def holed(draw):
    i, j = draw(st.integers(0, 6)), draw(st.integers(0, 6))
    w, h = draw(st.integers(3, 6)), draw(st.integers(3, 6))
    outer = [_lattice(i, j), _lattice(i + w, j), _lattice(i + w, j + h), _lattice(i, j + h)]
    hole = [_lattice(i + 1, j + 1), _lattice(i + 1, j + h - 1), _lattice(i + w - 1, j + h - 1)]
    if draw(st.booleans()):  # a hole touching the shell at one vertex is still valid
        hole = [_lattice(i, j + 1), _lattice(i + 1, j + 2), _lattice(i + 1, j + 1)]
    return Polygon(outer, [hole])


@st.composite
def multi(draw):
    a = draw(lattice_box)
    b = draw(lattice_box)
    if a.intersects(b):
        b = shapely.affinity.translate(b, xoff=12 * D)
    return MultiPolygon([a, b])


@st.composite
def jittered(draw):
    """An off-lattice quadrilateral (arbitrary float coordinates)."""
    cx = draw(st.floats(X0, X0 + 8 * D, allow_nan=False))
    cy = draw(st.floats(Y0, Y0 + 8 * D, allow_nan=False))
    r = draw(st.floats(D * 0.3, D * 3))
    a = draw(st.floats(0, 6.28))
    pts = [(cx + r * np.cos(a + k * 1.6), cy + r * np.sin(a + k * 1.6)) for k in range(4)]
    return Polygon(pts)


any_polygon = st.one_of(lattice_box, lattice_hull(), holed(), multi(), jittered())


@pytest.mark.slow
@settings(max_examples=examples(120), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(any_polygon, min_size=1, max_size=9), st.integers(0, 2**31), st.permutations(range(9))
)
def test_random_polygons_match_reference(polys, seed, perm):
    """Zero disagreements on random layers with overlaps, shared edges, holes, multi-parts."""
    ids = [f"M{perm[k]:02d}" for k in range(len(polys))]
    x, y = _probe_points(polys, np.random.default_rng(seed))
    _check(polys, ids, x, y)


@pytest.mark.slow
@settings(max_examples=examples(40), deadline=None)
@given(st.integers(5, 60), st.integers(0, 2**31))
def test_voronoi_cells_match_reference(n, seed):
    """A tiling with shared edges everywhere (Voronoi cells, densified)."""
    rng = np.random.default_rng(seed)
    pts = shapely.multipoints(
        np.column_stack([X0 + rng.uniform(0, 0.01, n), Y0 + rng.uniform(0, 0.01, n)])
    )
    frame = box(X0, Y0, X0 + 0.01, Y0 + 0.01)
    cells = shapely.intersection(
        shapely.get_parts(shapely.voronoi_polygons(pts, extend_to=frame)), frame
    )
    cells = list(shapely.segmentize(cells, 0.001))
    ids = [f"V{k:03d}" for k in rng.permutation(len(cells))]
    x, y = _probe_points(cells, rng, n_random=2000)
    _check(cells, ids, x, y)


def test_invalid_empty_missing_and_duplicate_ids():
    """Bow-ties, lines, points, empty and missing geometries, missing and duplicate ids."""
    bowtie = Polygon([_lattice(0, 0), _lattice(4, 4), _lattice(4, 0), _lattice(0, 4)])
    spike = Polygon(
        [_lattice(5, 0), _lattice(8, 0), _lattice(8, 3), _lattice(5, 0), _lattice(6, 0)]
    )
    line = shapely.LineString([_lattice(0, 6), _lattice(6, 6)])
    point = Point(_lattice(7, 7))
    coll = shapely.GeometryCollection(
        [box(*_lattice(9, 9), *_lattice(11, 11)), Point(_lattice(2, 9))]
    )
    overlap_a = box(*_lattice(1, 1), *_lattice(3, 3))
    polys = [
        bowtie,
        spike,
        line,
        point,
        coll,
        Polygon(),
        None,
        overlap_a,
        overlap_a,
        box(*_lattice(0, 0), *_lattice(1, 1)),
    ]
    ids = ["B", "S", "L", "P", "C", "E", "N", "A2", "A1", None]
    rng = np.random.default_rng(3)
    x, y = _probe_points([g for g in polys if g is not None], rng, n_random=3000)
    _check(polys, ids, x, y)


def test_nan_and_far_points():
    gdf = gpd.GeoDataFrame({"microgrid_id": ["A"]}, geometry=[box(0, 0, 1, 1)], crs="EPSG:4326")
    idx = build_index(gdf, "microgrid_id")
    got = idx(
        np.array([np.nan, 0.5, 1e9, -1e9, 0.0, 1.0]), np.array([0.5, np.nan, 0.5, 0.5, 0.0, 1.0])
    )
    assert list(got) == [None, None, None, None, "A", "A"]
    assert idx.locate_one(0.5, 0.5) == "A"
    assert idx.locate_one(1.0000001, 0.5) is None


def test_empty_query_and_empty_layer():
    gdf = gpd.GeoDataFrame({"microgrid_id": ["A"]}, geometry=[box(0, 0, 1, 1)], crs="EPSG:4326")
    assert len(build_index(gdf, "microgrid_id")(np.array([]), np.array([]))) == 0
    empty = gpd.GeoDataFrame({"microgrid_id": ["A"]}, geometry=[Polygon()], crs="EPSG:4326")
    assert list(build_index(empty, "microgrid_id")(np.array([0.5]), np.array([0.5]))) == [None]


def test_city_slice_matches_reference():
    """2,000 Voronoi micro-grids (about 16 vertices each) and 100,000 points."""
    rng = np.random.default_rng(42)
    n, side = 2000, 0.1
    seeds = shapely.multipoints(
        np.column_stack([X0 + rng.uniform(0, side, n), Y0 + rng.uniform(0, side, n)])
    )
    frame = box(X0, Y0, X0 + side, Y0 + side)
    cells = shapely.intersection(
        shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=frame)), frame
    )
    cells = shapely.segmentize(cells, 0.0008)
    gdf = gpd.GeoDataFrame(
        {"microgrid_id": [f"M{k:05d}" for k in range(len(cells))]}, geometry=cells, crs="EPSG:4326"
    )
    idx = build_index(gdf, "microgrid_id")
    ref = reference_locator(gdf, "microgrid_id")
    x = X0 + rng.uniform(-0.01, side + 0.01, 100_000)
    y = Y0 + rng.uniform(-0.01, side + 0.01, 100_000)
    # every vertex too (each on 2-3 cells' shared boundary)
    c = shapely.get_coordinates(cells)
    x = np.concatenate([x, c[:, 0]])
    y = np.concatenate([y, c[:, 1]])
    got, want = idx(x, y), ref(x, y)
    assert (got == want).all()
    assert sum(v is None for v in got) > 0  # some points fall outside the city


def test_sample_workspace_all_households(sample_workspace):
    """Every household and point feature of the shipped sample, at every level."""
    ws = io.load_workspace(sample_workspace)
    h = build_hierarchy(ws.layers)
    locs = locators_for(h)
    for name in ("households", "service_stations", "charging_piles"):
        if name not in ws.layers:
            continue
        pts = ws.layers[name]
        x, y = pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy()
        for level in h.levels:
            got, want = locs[level](x, y), h.locator(level)(x, y)
            assert (got == want).all(), (name, level)
        a = assign_points(pts, h)
        b = assign_points(pts, h, locators=locs)
        pd_equal = a.fillna(-1).astype(str).equals(b.fillna(-1).astype(str))
        assert pd_equal, name


def test_assign_workspace_index_engine_equals_reference(tiny_workspace, tmp_path):
    ref = assign_workspace(tiny_workspace, write=False, engine="reference")
    fast = assign_workspace(tiny_workspace, write=False, engine="index")
    for name, frame in ref.frames.items():
        cols = ["microgrid_id", "grid_id", "zone_id", "community_id", "assigned_level"]
        assert frame[cols].astype(str).equals(fast.frames[name][cols].astype(str)), name
    cache = cache_dir_for(tiny_workspace)
    assert cache.is_dir() and any(cache.glob("microgrids-*.npz"))


def test_cache_is_reused_and_invalidated(tmp_path, tiny_layers_dict):
    mg = tiny_layers_dict["microgrids"]
    cache = tmp_path / "ws.gpkg.gridmap-index"
    a = cached_index(mg, "microgrid_id", cache, "microgrids")
    files = list(cache.glob("microgrids-*.npz"))
    assert len(files) == 1 and layer_key(mg, "microgrid_id") in files[0].name
    b = cached_index(mg, "microgrid_id", cache, "microgrids")  # loaded from disk
    assert b.build_seconds == 0.0
    rng = np.random.default_rng(0)
    x = rng.uniform(X0 - 0.001, X0 + 0.005, 5000)
    y = rng.uniform(Y0 - 0.001, Y0 + 0.003, 5000)
    assert (a(x, y) == b(x, y)).all()
    # a changed layer gets a new index, the old file goes
    mg2 = mg.copy()
    mg2.loc[0, "geometry"] = box(X0, Y0, X0 + 0.0005, Y0 + 0.0005)
    c = cached_index(mg2, "microgrid_id", cache, "microgrids")
    files2 = list(cache.glob("microgrids-*.npz"))
    assert len(files2) == 1 and files2[0] != files[0]
    assert (c(x, y) == reference_locator(mg2, "microgrid_id")(x, y)).all()
    # a corrupt cache file is rebuilt, not trusted
    files2[0].write_bytes(b"not an index")
    d = cached_index(mg2, "microgrid_id", cache, "microgrids")
    assert (d(x, y) == c(x, y)).all()


@pytest.mark.parametrize("threads", [1, 2])
def test_thread_counts_agree(threads):
    from gridmap.join.index import set_threads

    rng = np.random.default_rng(1)
    polys = [box(*_lattice(i, j), *_lattice(i + 1, j + 1)) for i in range(10) for j in range(10)]
    gdf = gpd.GeoDataFrame(
        {"microgrid_id": [f"M{k:03d}" for k in range(100)]}, geometry=polys, crs="EPSG:4326"
    )
    idx = build_index(gdf, "microgrid_id")
    x = X0 + rng.uniform(-D, 11 * D, 20000)
    y = Y0 + rng.uniform(-D, 11 * D, 20000)
    before = set_threads(None)
    try:
        set_threads(threads)
        got = idx(x, y)
    finally:
        set_threads(before)
    assert (got == reference_locator(gdf, "microgrid_id")(x, y)).all()


def test_sample_copy_cache_next_to_workspace(sample_copy):
    shutil.rmtree(cache_dir_for(sample_copy), ignore_errors=True)
    res = assign_workspace(sample_copy, write=False, engine="index")
    ref = assign_workspace(sample_copy, write=False, engine="reference")
    for name in ref.frames:
        cols = ["microgrid_id", "grid_id", "zone_id", "community_id", "assigned_level"]
        assert ref.frames[name][cols].astype(str).equals(res.frames[name][cols].astype(str))
    assert any(cache_dir_for(sample_copy).glob("*.npz"))


@pytest.mark.parametrize("threshold", [0, 10**9])
def test_sorted_and_unsorted_query_orders_agree(threshold, monkeypatch):
    """Large batches are queried in a spatially sorted order; answers come back in input order."""
    import gridmap.join.index as gi

    monkeypatch.setattr(gi, "SORT_THRESHOLD", threshold)
    rng = np.random.default_rng(8)
    polys = [box(*_lattice(i, j), *_lattice(i + 1, j + 1)) for i in range(12) for j in range(12)]
    ids = [f"M{k:03d}" for k in rng.permutation(len(polys))]
    gdf = gpd.GeoDataFrame({"microgrid_id": ids}, geometry=polys, crs="EPSG:4326")
    idx = build_index(gdf, "microgrid_id", max_edges=4)
    x = X0 + rng.uniform(-D, 13 * D, 30000)
    y = Y0 + rng.uniform(-D, 13 * D, 30000)
    x[:500] = np.nan  # missing coordinates stay None, in place
    lx, ly = _lattice(rng.integers(0, 13, 3000), rng.integers(0, 13, 3000))
    x = np.concatenate([x, lx])
    y = np.concatenate([y, ly])
    got = idx(x, y)
    assert (got == reference_locator(gdf, "microgrid_id")(x, y)).all()
    assert all(v is None for v in got[:500])


def test_identical_polygons_under_many_ids_build_and_match():
    """40 copies of one micro-grid (a layer imported twice over): no split separates their
    edges; the build must stay small (it used to split to the deepest level and run out
    of memory) and the smallest id must win everywhere."""
    from gridmap.join.index import NODE_BUDGET_PER_EDGE

    dup = box(*_lattice(2, 2), *_lattice(6, 5))
    polys = [dup] * 40 + [
        box(*_lattice(6, 2), *_lattice(9, 5)),
        box(*_lattice(0, 0), *_lattice(2, 2)),
    ]
    ids = [f"D{k:02d}" for k in range(40, 0, -1)] + ["N1", "N2"]
    gdf = gpd.GeoDataFrame({"microgrid_id": ids}, geometry=polys, crs="EPSG:4326")
    idx = build_index(gdf, "microgrid_id")
    assert idx.n_nodes <= NODE_BUDGET_PER_EDGE * len(idx.arrays["edges"]) + 4096
    rng = np.random.default_rng(5)
    x, y = _probe_points(polys, rng, n_random=5000)
    got = idx(x, y)
    assert (got == reference_locator(gdf, "microgrid_id")(x, y)).all()
    assert idx.locate_one(*_lattice(4, 3)) == "D01"


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[: len(b) // 2],  # truncated (copied while being written, disk full)
        lambda b: b"",  # zero bytes
        lambda b: b[:1000] + bytes([b[1000] ^ 0xFF]) + b[1001:],  # one flipped byte
        lambda b: b[:-200] + bytes([b[-200] ^ 0x01]) + b[-199:],
    ],
    ids=["truncated", "zero-bytes", "flipped-early", "flipped-late"],
)
def test_damaged_cache_file_is_rebuilt_not_fatal(tmp_path, tiny_layers_dict, damage):
    mg = tiny_layers_dict["microgrids"]
    cache = tmp_path / "ws.gpkg.gridmap-index"
    cached_index(mg, "microgrid_id", cache, "microgrids")
    (f,) = cache.glob("microgrids-*.npz")
    f.write_bytes(damage(f.read_bytes()))
    idx = cached_index(mg, "microgrid_id", cache, "microgrids")
    rng = np.random.default_rng(2)
    x = rng.uniform(X0 - 0.001, X0 + 0.005, 5000)
    y = rng.uniform(Y0 - 0.001, Y0 + 0.003, 5000)
    assert (idx(x, y) == reference_locator(mg, "microgrid_id")(x, y)).all()
    assert cached_index(mg, "microgrid_id", cache, "microgrids").build_seconds == 0.0  # healed


def test_null_id_and_literal_none_id_get_different_cache_keys(tmp_path):
    """A null id is left out of the index; an id spelled 'None' is kept: a shared cache
    file would hand one layer the other's answers."""
    g = [box(0, 0, 1, 1), box(2, 0, 3, 1)]
    a = gpd.GeoDataFrame({"microgrid_id": ["A", None]}, geometry=g, crs="EPSG:4326")
    b = gpd.GeoDataFrame({"microgrid_id": ["A", "None"]}, geometry=g, crs="EPSG:4326")
    assert layer_key(a, "microgrid_id") != layer_key(b, "microgrid_id")
    cache = tmp_path / "c"
    assert cached_index(a, "microgrid_id", cache, "microgrids").locate_one(2.5, 0.5) is None
    assert cached_index(b, "microgrid_id", cache, "microgrids").locate_one(2.5, 0.5) == "None"


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_polygon_with_non_finite_vertex_does_not_blank_the_layer(bad):
    """One micro-grid with a NaN/inf vertex (broken digitising, a bad WKB) used to make the
    extent NaN: every point of the layer got None and `assign` wrote null micro-grids."""
    rng = np.random.default_rng(11)
    cells = [box(*_lattice(i, j), *_lattice(i + 1, j + 1)) for i in range(8) for j in range(8)]
    ids = [f"M{k:03d}" for k in range(len(cells))]
    broken = Polygon([_lattice(2, 2), (bad, _lattice(3, 3)[1]), _lattice(4, 2)])
    big_broken = Polygon(
        [_lattice(-1, -1), _lattice(9, -1), (bad, _lattice(9, 9)[1]), _lattice(-1, 9)]
    )
    x, y = _probe_points(cells, rng, n_random=5000)
    for extra, eid in [(broken, "A"), (big_broken, "B"), (broken, "Z")]:
        gdf = gpd.GeoDataFrame(
            {"microgrid_id": [*ids, eid]}, geometry=[*cells, extra], crs="EPSG:4326"
        )
        got = build_index(gdf, "microgrid_id")(x, y)
        want = reference_locator(gdf, "microgrid_id")(x, y)
        assert (got == want).all(), eid
        assert sum(g is not None for g in got) > len(x) // 2


@pytest.fixture
def slabs_everywhere(monkeypatch):
    """Cut every polygon into slabs of about 2 edges (normally only long rings are cut)."""
    import gridmap.join.index as gi

    monkeypatch.setattr(gi, "SLAB_MIN_EDGES", 0)
    monkeypatch.setattr(gi, "SLAB_EDGES", 2)


@pytest.mark.slow
@settings(
    max_examples=examples(80),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(any_polygon, min_size=1, max_size=9), st.integers(0, 2**31), st.permutations(range(9))
)
def test_slabbed_polygons_match_reference(slabs_everywhere, polys, seed, perm):
    """The slab tables (horizontal bands of edges) give the same answers, on edges and
    vertices too, including points on a band's boundary (lattice rows)."""
    ids = [f"M{perm[k]:02d}" for k in range(len(polys))]
    x, y = _probe_points(polys, np.random.default_rng(seed))
    _check(polys, ids, x, y)


def test_slabbed_invalid_and_voronoi_match_reference(slabs_everywhere):
    test_invalid_empty_missing_and_duplicate_ids()
    rng = np.random.default_rng(8)
    pts = shapely.multipoints(
        np.column_stack([X0 + rng.uniform(0, 0.01, 40), Y0 + rng.uniform(0, 0.01, 40)])
    )
    frame = box(X0, Y0, X0 + 0.01, Y0 + 0.01)
    cells = shapely.intersection(
        shapely.get_parts(shapely.voronoi_polygons(pts, extend_to=frame)), frame
    )
    cells = list(shapely.segmentize(cells, 0.0003))
    x, y = _probe_points(cells, rng, n_random=3000)
    _check(cells, [f"V{k:03d}" for k in range(len(cells))], x, y)


def test_detailed_boundary_uses_slabs_and_matches_reference():
    """A community boundary surveyed with 20,000 vertices (a wavy ring with a hole): the
    test reads one slab of edges, not the whole ring; answers equal the reference."""
    n = 20_000
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = 0.01 * (1 + 0.1 * np.sin(40 * t))
    ring = np.c_[X0 + r * np.cos(t), Y0 + r * np.sin(t)]
    hole = np.c_[X0 + 0.002 * np.cos(t[::50]), Y0 + 0.002 * np.sin(t[::50])]
    g = Polygon(ring, [hole])
    gdf = gpd.GeoDataFrame({"community_id": ["C1"]}, geometry=[g], crs="EPSG:4326")
    idx = build_index(gdf, "community_id")
    assert idx.arrays["nslab"][0] > 100
    rng = np.random.default_rng(4)
    x = np.r_[rng.uniform(X0 - 0.012, X0 + 0.012, 20000), ring[::7, 0], hole[:, 0]]
    y = np.r_[rng.uniform(Y0 - 0.012, Y0 + 0.012, 20000), ring[::7, 1], hole[:, 1]]
    ref = gdf.geometry.values[0]
    want = np.where(shapely.intersects(ref, shapely.points(x, y)), "C1", None)
    assert (idx(x, y) == want).all()


def test_comb_polygon_keeps_slab_tables_small():
    """A comb (thousands of teeth spanning the full height): every long edge would sit in
    every band; the bands are coarsened so the tables stay within 8 entries per edge."""
    n = 2000
    xs = np.linspace(0, 1, 2 * n)
    ring = []
    for k in range(n):
        ring += [(xs[2 * k], 0.0), (xs[2 * k], 1.0), (xs[2 * k + 1], 1.0), (xs[2 * k + 1], 0.01)]
    g = Polygon([*ring, (1.0, -0.1), (0.0, -0.1)])
    gdf = gpd.GeoDataFrame({"community_id": ["C"]}, geometry=[g])
    idx = build_index(gdf, "community_id")
    assert len(idx.arrays["slab_edge"]) <= 8 * len(idx.arrays["edges"])
    rng = np.random.default_rng(9)
    x, y = rng.uniform(-0.1, 1.1, 3000), rng.uniform(-0.2, 1.1, 3000)
    want = np.where(shapely.intersects(g, shapely.points(x, y)), "C", None)
    assert (idx(x, y) == want).all()
