"""Tests of the synthetic community generator (gridmap.datasets.synth) and the sample workspace.

Invariants are checked against independent references: shapely for overlaps and
containment, networkx for road connectivity, the reference core join
(gridmap.join.core) and the ``gridmap assign`` command for where households land, and
GDAL's ``ogrinfo`` for the written GeoPackage.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal

from gridmap.coords.crs import metric_crs_for
from gridmap.datasets.synth import (
    SynthError,
    grow_regions,
    plan_sizes,
    synth_layers,
    synth_workspace,
)
from gridmap.errors import GridmapError
from gridmap.join.core import build_hierarchy, derive_parents, reference_locator
from gridmap.workspace import store as io

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "gridmap" / "datasets" / "data" / "community.gpkg"
GRIDMAP = str(Path(sys.executable).parent / "gridmap")
ADDRESS_RE = re.compile(
    r"^(?P<street>\w+?(?:路|街|大道))(?P<bld>\d+)号楼(?P<unit>\d+)单元(?P<room>\d{3,4})室$"
)
LAYER_NAMES = {
    "communities",
    "zones",
    "grids",
    "microgrids",
    "households",
    "service_stations",
    "charging_piles",
    "parking",
    "roads",
}


@pytest.fixture(scope="module")
def default_layers() -> dict[str, gpd.GeoDataFrame]:
    return synth_layers()


@pytest.fixture(scope="module")
def scaled_layers() -> dict[str, gpd.GeoDataFrame]:
    return synth_layers(seed=7, households=20_000, microgrids=2_000)


# ---------------------------------------------------------------------------
# invariants shared by the default and the scaled run


def check_invariants(
    layers: dict[str, gpd.GeoDataFrame],
    households: int,
    microgrids: int,
    elderly_band: tuple[float, float] = (0.18, 0.26),
) -> None:
    assert set(layers) == LAYER_NAMES
    for name, gdf in layers.items():
        assert gdf.crs is not None and gdf.crs.equals("EPSG:4326"), name
        assert gdf.geometry.notna().all() and not gdf.geometry.is_empty.any(), name
        assert gdf.geometry.is_valid.all(), name
    sizes = plan_sizes(households, microgrids)
    comm, zones, grids, micro = (layers[k] for k in ("communities", "zones", "grids", "microgrids"))
    hh = layers["households"]
    assert len(micro) == microgrids
    assert len(hh) == households
    assert (
        len(grids) == sizes.grids and len(zones) == sizes.zones and len(comm) == sizes.communities
    )
    for gdf, col in (
        (comm, "community_id"),
        (zones, "zone_id"),
        (grids, "grid_id"),
        (micro, "microgrid_id"),
        (hh, "household_id"),
        (layers["roads"], "road_id"),
    ):
        assert gdf[col].is_unique, col

    crs = metric_crs_for(micro)
    mm = micro.to_crs(crs).geometry.to_numpy()
    # micro-grids do not overlap: pairwise intersection areas are ~0 (m^2)
    tree = shapely.STRtree(mm)
    a, b = tree.query(mm, predicate="intersects")
    keep = a < b
    assert keep.sum() > len(mm)  # neighbours touch: it is a tessellation, not scattered blobs
    overlap = shapely.area(shapely.intersection(mm[a[keep]], mm[b[keep]]))
    assert overlap.max() < 1e-3
    # ... and so the area of their union equals the sum of their areas
    assert shapely.area(shapely.union_all(mm)) == pytest.approx(shapely.area(mm).sum(), rel=1e-7)

    # each child lies in its declared parent (exact covers in EPSG:4326) ...
    for child, child_id, parent, parent_id in (
        (micro, "microgrid_id", grids, "grid_id"),
        (grids, "grid_id", zones, "zone_id"),
        (zones, "zone_id", comm, "community_id"),
    ):
        pg = parent.set_index(parent_id).geometry
        covered = shapely.covers(pg.loc[child[parent_id]].to_numpy(), child.geometry.to_numpy())
        assert covered.all(), child.loc[~covered, child_id].tolist()[:5]
        # ... and the parent derived from geometry by the reference join agrees
        derived = derive_parents(child, child_id, parent, parent_id)
        assert derived == dict(zip(child[child_id], child[parent_id], strict=True))
    # parents are unions of their children (plus park gaps): nothing sticks out
    for child, parent in ((grids, zones), (zones, comm)):
        assert shapely.area(shapely.union_all(child.geometry.to_numpy())) == pytest.approx(
            shapely.area(shapely.union_all(parent.geometry.to_numpy())), rel=1e-9
        )
    # grids and zones are contiguous: one polygon each
    assert set(grids.geom_type) == {"Polygon"} and set(zones.geom_type) == {"Polygon"}
    assert set(comm.geom_type) == {"Polygon"}
    # about 11 micro-grids per grid
    per_grid = micro.groupby("grid_id").size()
    assert per_grid.min() >= 3 and per_grid.max() <= 30

    # households: attributes
    assert pd.api.types.is_integer_dtype(hh["residents"]) and pd.api.types.is_integer_dtype(
        hh["elderly"]
    )
    assert hh["residents"].between(1, 6).all()
    assert ((hh["elderly"] >= 0) & (hh["elderly"] <= hh["residents"])).all()
    share = hh["elderly"].sum() / hh["residents"].sum()
    assert elderly_band[0] <= share <= elderly_band[1]
    assert 0.15 <= hh["has_ev"].mean() <= 0.35
    assert (hh["lives_alone"] == (hh["residents"] == 1)).all()
    assert hh["household_id"].str.fullmatch(r"H\d{6,}").all()
    assert hh["address"].is_unique
    parts = hh["address"].str.extract(ADDRESS_RE)
    assert parts.notna().all().all(), hh.loc[parts.isna().any(axis=1), "address"].head().tolist()
    room = parts["room"].astype(int)
    assert (room // 100).between(1, 18).all() and (room % 100).between(1, 2).all()
    # each address street is a road of the workspace
    assert set(parts["street"]) <= set(layers["roads"]["name"])
    for col in ("head_name", "phone"):
        assert hh[col].notna().all()
    assert hh["phone"].str.fullmatch(r"1[3-9]\d{9}").all()

    # where households land: most in a micro-grid, a few (0.5-1 %) in gaps or outside
    h = build_hierarchy(layers)
    x, y = hh.geometry.x.to_numpy(), hh.geometry.y.to_numpy()
    in_micro = pd.notna(reference_locator(micro, "microgrid_id")(x, y))
    in_grid = pd.notna(reference_locator(grids, "grid_id")(x, y))
    in_comm = pd.notna(reference_locator(comm, "community_id")(x, y))
    assert h.levels == ["microgrids", "grids", "zones", "communities"]
    outside = (~in_micro).mean()
    assert 0.004 <= outside <= 0.012
    assert (in_grid & ~in_micro).any()  # in the park: a gap in the micro-grids only
    assert (~in_comm).any()  # school holes and houses just outside the community

    # roads: LineStrings, one connected graph, properly noded
    roads = layers["roads"]
    assert set(roads.geom_type) == {"LineString"}
    assert roads["name"].str.fullmatch(r"\w+(路|街|大道)").all()
    g = nx.Graph()
    for geom in roads.geometry:
        cs = shapely.get_coordinates(geom)
        g.add_edge(tuple(cs[0]), tuple(cs[-1]))
    assert nx.is_connected(g)
    rg = roads.geometry.to_numpy()
    rtree = shapely.STRtree(rg)
    a, b = rtree.query(rg, predicate="intersects")
    keep = a < b
    meet = shapely.intersection(rg[a[keep]], rg[b[keep]])
    # two segments only ever meet at a shared end point (an intersection node)
    assert set(shapely.get_type_id(meet)) <= {0}
    ends_a = shapely.union(shapely.get_point(rg[a[keep]], 0), shapely.get_point(rg[a[keep]], -1))
    ends_b = shapely.union(shapely.get_point(rg[b[keep]], 0), shapely.get_point(rg[b[keep]], -1))
    assert shapely.covers(ends_a, meet).all() and shapely.covers(ends_b, meet).all()
    # streets run along micro-grid edges: road vertices lie on the micro-grid boundary
    # (or outside the community)
    verts = shapely.points(shapely.get_coordinates(rg))
    inside_any = shapely.STRtree(micro.geometry.to_numpy()).query(
        verts, predicate="contains_properly"
    )
    assert len(inside_any[0]) == 0

    # facilities
    st = layers["service_stations"]
    assert len(st) == sizes.stations
    assert (st["open_hours"] == "08:00-21:00").all() and st["name"].is_unique
    assert st["staff_on_site"].sum() == sizes.stations // 2
    piles = layers["charging_piles"]
    assert len(piles) == sizes.piles and piles["ports"].between(1, 10).all()
    assert (piles["power_kw"] > 0).all()
    assert layers["parking"]["spaces"].gt(0).all() and len(layers["parking"]) == sizes.parking
    for name in ("service_stations", "charging_piles", "parking"):
        pts = layers[name]
        px, py = pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy()
        assert pd.notna(reference_locator(micro, "microgrid_id")(px, py)).all(), name


def test_default_sizes_model_the_design_community(default_layers):
    L = default_layers
    counts = {k: len(v) for k, v in L.items()}
    assert counts["communities"] == 1
    assert counts["zones"] == 3
    assert counts["grids"] == 26
    assert counts["microgrids"] == 287
    assert counts["households"] == 3500
    assert counts["service_stations"] == 12
    assert counts["charging_piles"] == 40
    assert counts["parking"] == 15
    assert L["service_stations"]["staff_on_site"].sum() == 6
    assert set(L["charging_piles"]["kind"]) <= {"电动车", "电动轮椅", "汽车快充", "汽车慢充"}
    # around 111.47 E, 35.64 N and a few km^2
    c = L["communities"].geometry.iloc[0]
    assert abs(c.centroid.x - 111.47) < 0.02 and abs(c.centroid.y - 35.64) < 0.02
    area_km2 = L["communities"].to_crs(metric_crs_for(L["communities"])).area.iloc[0] / 1e6
    assert 1.0 <= area_km2 <= 6.0
    # the school is a hole in the community polygon
    assert len(c.interiors) >= 1


def test_default_invariants(default_layers):
    check_invariants(default_layers, 3500, 287)


def test_scaled_invariants(scaled_layers):
    check_invariants(scaled_layers, 20_000, 2_000)
    assert len(scaled_layers["communities"]) == plan_sizes(20_000, 2_000).communities


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_invariants_hold_for_other_seeds(seed):
    # 600 households in ~20 buildings: the elderly share varies more than in the sample
    layers = synth_layers(seed=seed, households=600, microgrids=50)
    check_invariants(layers, 600, 50, elderly_band=(0.14, 0.30))


def test_center_moves_the_town():
    a = synth_layers(seed=2, households=300, microgrids=30)
    b = synth_layers(seed=2, households=300, microgrids=30, center=(116.40, 39.90))
    ca, cb = a["communities"].geometry.iloc[0].centroid, b["communities"].geometry.iloc[0].centroid
    assert abs(ca.x - 111.47) < 0.02 and abs(ca.y - 35.64) < 0.02
    assert abs(cb.x - 116.40) < 0.02 and abs(cb.y - 39.90) < 0.02
    # same town, same size in metres
    ma = a["microgrids"].to_crs(metric_crs_for(a["microgrids"])).area
    mb = b["microgrids"].to_crs(metric_crs_for(b["microgrids"])).area
    assert np.allclose(ma, mb, rtol=0.01)


def test_not_a_chessboard(default_layers):
    """Streets are not axis-aligned and blocks vary in size."""
    roads = default_layers["roads"].to_crs(metric_crs_for(default_layers["roads"]))
    cs = [shapely.get_coordinates(g) for g in roads.geometry]
    ang = np.array(
        [np.degrees(np.arctan2(c[-1, 1] - c[0, 1], c[-1, 0] - c[0, 0])) % 90 for c in cs]
    )
    axis_aligned = (ang < 3) | (ang > 87)
    assert axis_aligned.mean() < 0.2
    lengths = roads.length
    assert lengths.std() / lengths.mean() > 0.15
    micro = default_layers["microgrids"].to_crs(roads.crs)
    assert micro.area.std() / micro.area.mean() > 0.2
    # streets bend: the kink half-way makes most segments non-straight
    straight = np.array([len(c) == 2 or shapely.LineString(c).length == pytest.approx(
        np.hypot(*(c[-1] - c[0]))) for c in cs])  # fmt: skip
    assert straight.mean() < 0.5


def test_deterministic():
    a = synth_layers(seed=11, households=800, microgrids=60)
    b = synth_layers(seed=11, households=800, microgrids=60)
    assert a.keys() == b.keys()
    for name in a:
        assert_geodataframe_equal(a[name], b[name])
        assert list(shapely.to_wkb(a[name].geometry.to_numpy())) == list(
            shapely.to_wkb(b[name].geometry.to_numpy())
        ), name
    c = synth_layers(seed=12, households=800, microgrids=60)
    assert not a["microgrids"].geometry.geom_equals_exact(c["microgrids"].geometry, 0).all()
    assert list(a["households"]["address"]) != list(c["households"]["address"])


def test_sizes_can_be_set_exactly():
    L = synth_layers(seed=3, households=1234, microgrids=100, grids=7, zones=2)
    assert (len(L["microgrids"]), len(L["grids"]), len(L["zones"]), len(L["communities"])) == (
        100,
        7,
        2,
        1,
    )
    assert len(L["households"]) == 1234
    assert set(L["microgrids"]["grid_id"]) == set(L["grids"]["grid_id"])
    assert set(L["grids"]["zone_id"]) == set(L["zones"]["zone_id"])


@pytest.mark.parametrize(("households", "microgrids"), [(1, 1), (10, 3), (100, 287), (60, 20)])
def test_tiny_and_odd_sizes(households, microgrids):
    L = synth_layers(seed=5, households=households, microgrids=microgrids)
    assert len(L["households"]) == households
    assert len(L["microgrids"]) == microgrids
    assert L["households"]["address"].is_unique
    assert L["microgrids"].is_valid.all() and not L["microgrids"].is_empty.any()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"microgrids": 0},
        {"households": 0},
        {"microgrids": 10, "grids": 11},
        {"microgrids": 10, "grids": 3, "zones": 4},
    ],
)
def test_bad_sizes_raise_gridmap_error(kwargs):
    with pytest.raises(SynthError) as exc:
        synth_layers(**kwargs)
    assert isinstance(exc.value, GridmapError)
    assert "must be" in str(exc.value)


def test_synth_workspace_rejects_other_formats(tmp_path):
    with pytest.raises(GridmapError, match="GeoPackage"):
        synth_workspace(tmp_path / "x.shp", households=50, microgrids=5)
    assert not (tmp_path / "x.shp").exists()


def test_the_town_and_the_sample_with_requests(tmp_path):
    """datasets writes the town only; the requests room adds the requests (one way)."""
    from gridmap.requests.synth import synth_frames, synth_sample_workspace

    town = synth_workspace(tmp_path / "town.gpkg", seed=3, households=200, microgrids=12)
    assert set(io.list_layers(town)) == LAYER_NAMES
    steps: list[str] = []
    sample = synth_sample_workspace(
        tmp_path / "sample.gpkg", seed=3, households=200, microgrids=12, progress=steps.append
    )
    assert set(io.list_layers(sample)) == LAYER_NAMES | {"requests", "request_events"}
    assert steps[-1] == "adding a year of resident requests"
    from gridmap.requests.store import read_requests

    req = read_requests(sample)
    want, _, _ = synth_frames(synth_layers(seed=3, households=200, microgrids=12), seed=3)
    assert list(req["request_id"]) == list(want["request_id"])


def test_grow_regions_contiguous_and_exact():
    """Region growing on a path graph with a hole: exact k, contiguous regions."""
    n = 40
    x = np.arange(n, dtype=float)
    y = np.zeros(n)
    a = np.arange(n - 1)
    from gridmap.datasets.synth import _csr

    adj = _csr(n, a, a + 1)
    for k in (1, 3, 7, 40):
        lab = grow_regions(k, x, y, adj)
        assert sorted(set(lab.tolist())) == list(range(k))
        # on a path, contiguous means each label is one run
        runs = 1 + np.count_nonzero(np.diff(lab))
        assert runs == k
    # zero-weight nodes are never seeds but still join a region
    w = np.ones(n)
    w[:5] = 0
    lab = grow_regions(4, x, y, adj, w)
    assert (lab >= 0).all() and len(set(lab.tolist())) == 4


def test_workspace_on_disk_and_assign(tmp_path):
    """CLI synth writes a GeoPackage GDAL reads; gridmap assign puts most households in micro-grids."""
    out = tmp_path / "town.gpkg"
    # a stale layer from an earlier file is removed
    io.write_layers(
        out, {"stale": gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(0, 0)], crs=4326)}
    )
    res = subprocess.run(
        [
            GRIDMAP,
            "synth",
            str(out),
            "--households",
            "900",
            "--microgrids",
            "80",
            "--seed",
            "9",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    doc = json.loads(res.stdout)
    assert doc["layers"]["households"] == 900 and doc["layers"]["microgrids"] == 80
    requests = {"requests", "request_events"}  # a year of synthetic resident requests
    assert set(doc["layers"]) == LAYER_NAMES | requests
    assert set(io.list_layers(out)) == LAYER_NAMES | requests
    assert doc["layers"]["requests"] == round(900 * 330 / 3500)
    info = subprocess.run(
        ["ogrinfo", "-ro", "-so", "-al", str(out)], capture_output=True, text=True, check=True
    )
    assert "Layer name: roads" in info.stdout and "Geometry: Line String" in info.stdout
    assert "Feature Count: 900" in info.stdout
    # same data as the library call
    lib = synth_layers(seed=9, households=900, microgrids=80)
    disk = io.read_layer(out, "households")
    assert list(disk["address"]) == list(lib["households"]["address"])
    assert np.allclose(disk.geometry.x, lib["households"].geometry.x, rtol=0, atol=1e-12)

    res = subprocess.run(
        [GRIDMAP, "assign", str(out), "--format", "json"], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    hh = io.read_layer(out, "households")
    assigned = hh["microgrid_id"].notna().mean()
    assert 0.98 <= assigned < 1.0
    # the assigned micro-grid agrees with the micro-grid the household was built in
    micro = io.read_layer(out, "microgrids")
    ref = reference_locator(micro, "microgrid_id")(
        hh.geometry.x.to_numpy(), hh.geometry.y.to_numpy()
    )
    assert [None if pd.isna(v) else v for v in hh["microgrid_id"]] == [
        None if pd.isna(v) else v for v in ref
    ]
    mg_grid = dict(zip(micro["microgrid_id"], micro["grid_id"], strict=True))
    ok = hh["microgrid_id"].notna()
    assert (hh.loc[ok, "grid_id"] == hh.loc[ok, "microgrid_id"].map(mg_grid)).all()


def test_cli_help_has_example():
    res = subprocess.run([GRIDMAP, "synth", "--help"], capture_output=True, text=True, check=True)
    assert "gridmap synth community.gpkg" in res.stdout
    assert "--microgrids" in res.stdout


def test_committed_sample_is_the_default_output(default_layers, tmp_path):
    """The packaged sample is exactly what 'gridmap synth' makes with the defaults."""
    assert SAMPLE.exists(), "run: gridmap synth community.gpkg"
    assert SAMPLE.stat().st_size < 5_000_000
    copy = tmp_path / "sample.gpkg"
    shutil.copyfile(SAMPLE, copy)
    # plus the synthetic resident requests (gridmap.requests.synth), checked below
    assert set(io.list_layers(copy)) == LAYER_NAMES | {"requests", "request_events"}
    for name, lib in default_layers.items():
        disk = io.read_layer(copy, name)
        assert len(disk) == len(lib), name
        id_col = lib.columns[0]
        assert list(disk[id_col]) == list(lib[id_col]), name
        assert shapely.equals_exact(
            disk.geometry.to_numpy(), lib.geometry.to_numpy(), tolerance=1e-12
        ).all(), name
    hh = io.read_layer(copy, "households")
    assert list(hh["address"]) == list(default_layers["households"]["address"])
    from gridmap.requests.store import read_requests
    from gridmap.requests.synth import synth_frames

    req, ev = read_requests(copy, with_events=True)
    want, want_ev, _ = synth_frames(default_layers)
    assert list(req["request_id"]) == list(want["request_id"])
    assert list(req["status"]) == list(want["status"])
    assert list(req["grid_id"]) == [None if pd.isna(v) else v for v in want["grid_id"]]
    assert list(ev["to_status"]) == list(want_ev["to_status"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--microgrids", "0"], "microgrids must be at least 1"),
        (["--grids", "400"], "grids must be between 1 and microgrids"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, args, message):
    out = tmp_path / "x.gpkg"
    res = subprocess.run([GRIDMAP, "synth", str(out), *args], capture_output=True, text=True)
    assert res.returncode == 2
    assert message in res.stderr and "Traceback" not in res.stderr
    assert not out.exists()


def test_cli_rejects_non_geopackage(tmp_path):
    res = subprocess.run(
        [GRIDMAP, "synth", str(tmp_path / "x.shp")], capture_output=True, text=True
    )
    assert res.returncode == 2 and "GeoPackage" in res.stderr
    assert list(tmp_path.iterdir()) == []
