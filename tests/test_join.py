"""The core join against an independent geopandas/shapely computation."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, box

from gridmap.errors import SchemaError
from gridmap.join.assign import assign_workspace
from gridmap.join.core import (
    assign_points,
    build_hierarchy,
    derive_parents,
)
from gridmap.workspace import store as io


def reference_owner(points: gpd.GeoDataFrame, polys: gpd.GeoDataFrame, id_col: str) -> pd.Series:
    """Smallest id among polygons that cover each point, via geopandas.sjoin."""
    j = gpd.sjoin(points[["geometry"]], polys[[id_col, "geometry"]], predicate="covered_by")
    best = j.groupby(level=0)[id_col].min()
    return best.reindex(points.index)


def edge_case_layers():
    """Micro-grids with shared edges, a multi-part polygon, a hole, an overlap and a gap."""
    crs = "EPSG:4326"
    x0, y0, d = 111.47, 35.64, 0.001
    grids = gpd.GeoDataFrame(
        {"grid_id": ["G1", "G2"], "name": ["一", "二"]},
        geometry=[box(x0, y0, x0 + 2 * d, y0 + 2 * d), box(x0 + 2 * d, y0, x0 + 4 * d, y0 + 2 * d)],
        crs=crs,
    )
    hole = box(x0 + 0.4 * d, y0 + 0.4 * d, x0 + 0.6 * d, y0 + 0.6 * d)
    m1 = Polygon(box(x0, y0, x0 + d, y0 + d).exterior.coords, [hole.exterior.coords])
    m2 = box(x0 + d, y0, x0 + 2 * d, y0 + d)
    # multi-part: two squares in different rows of G1
    m3 = MultiPolygon(
        [box(x0, y0 + d, x0 + d, y0 + 2 * d), box(x0 + d, y0 + d, x0 + 1.5 * d, y0 + 2 * d)]
    )
    # overlap: "M10" overlaps "M04" in G2
    m4 = box(x0 + 2 * d, y0, x0 + 3 * d, y0 + d)
    m10 = box(x0 + 2.5 * d, y0, x0 + 3.5 * d, y0 + d)
    micro = gpd.GeoDataFrame(
        {
            "microgrid_id": ["M01", "M02", "M03", "M04", "M10"],
            "name": list("abcde"),
            "grid_id": ["G1", "G1", "G1", "G2", "G2"],
        },
        geometry=[m1, m2, m3, m4, m10],
        crs=crs,
    )
    rng = np.random.default_rng(7)
    xs = rng.uniform(x0 - 0.5 * d, x0 + 4.5 * d, 400)
    ys = rng.uniform(y0 - 0.5 * d, y0 + 2.5 * d, 400)
    # points exactly on vertices and edges of the micro-grids
    verts = shapely.get_coordinates(micro.geometry.boundary.values)
    mids = (verts[:-1] + verts[1:]) / 2.0
    coords = np.vstack([np.column_stack([xs, ys]), verts, mids])
    pts = gpd.GeoDataFrame(
        {"household_id": [f"H{i:04d}" for i in range(len(coords))]},
        geometry=shapely.points(coords),
        crs=crs,
    )
    return {"grids": grids, "microgrids": micro, "households": pts}


def test_join_matches_geopandas_reference_on_edge_cases():
    layers = edge_case_layers()
    h = build_hierarchy(layers)
    res = assign_points(layers["households"], h)
    pts = layers["households"]
    ref_m = reference_owner(pts, layers["microgrids"], "microgrid_id")
    got_m = res["microgrid_id"]
    assert (ref_m.isna() == got_m.isna()).all()
    both = ref_m.notna()
    assert (ref_m[both] == got_m[both]).all()
    # the grid follows the micro-grid's chain; otherwise the point's own grid
    grid_of_mg = dict(
        zip(layers["microgrids"]["microgrid_id"], layers["microgrids"]["grid_id"], strict=False)
    )
    ref_g_direct = reference_owner(pts, layers["grids"], "grid_id")
    ref_g = pd.Series(
        [
            grid_of_mg[m] if isinstance(m, str) else g
            for m, g in zip(ref_m, ref_g_direct, strict=False)
        ],
        index=pts.index,
    )
    assert (ref_g.isna() == res["grid_id"].isna()).all()
    assert (ref_g[ref_g.notna()] == res["grid_id"][ref_g.notna()]).all()
    # the edge cases really occur in the data
    assert res["microgrid_id"].eq("M10").sum() > 0
    assert (res["assigned_level"] == "grids").sum() > 0  # hole or gap inside a grid
    assert res["assigned_level"].isna().sum() > 0  # outside everything


def test_smallest_id_wins_on_shared_vertex_and_overlap():
    x0, y0, d = 111.47, 35.64, 0.001
    layers = edge_case_layers()
    h = build_hierarchy(layers)
    probe = gpd.GeoDataFrame(
        {"household_id": ["v", "e", "o", "hole"]},
        geometry=[
            Point(x0 + d, y0 + d),  # vertex of M01, M02, M03
            Point(x0 + d, y0 + 0.5 * d),  # edge M01|M02
            Point(x0 + 2.7 * d, y0 + 0.5 * d),  # inside M04 and M10
            Point(x0 + 0.5 * d, y0 + 0.5 * d),  # inside M01's hole
        ],
        crs="EPSG:4326",
    )
    res = assign_points(probe, h)
    assert list(res["microgrid_id"].iloc[:3]) == ["M01", "M01", "M04"]
    assert pd.isna(res["microgrid_id"].iloc[3])
    assert res["grid_id"].iloc[3] == "G1"
    assert res["nearest_microgrid_id"].iloc[3] == "M01"
    assert 0 < res["nearest_microgrid_m"].iloc[3] < 20


def test_parent_derived_from_geometry_when_column_absent():
    layers = edge_case_layers()
    micro = layers["microgrids"].drop(columns=["grid_id"])
    parents = derive_parents(micro, "microgrid_id", layers["grids"], "grid_id")
    assert parents == {"M01": "G1", "M02": "G1", "M03": "G1", "M04": "G2", "M10": "G2"}


def test_nothing_dropped_and_index_kept(tiny_layers_dict):
    pts = tiny_layers_dict["households"].set_index(pd.Index([10, 20, 30, 40, 50, 60]))
    h = build_hierarchy(tiny_layers_dict)
    res = assign_points(pts, h)
    assert list(res.index) == [10, 20, 30, 40, 50, 60]
    assert list(res["assigned_level"].fillna("none")) == [
        "microgrids",
        "microgrids",
        "microgrids",
        "grids",
        "none",
        "microgrids",
    ]
    assert res.loc[40, "zone_id"] == "Z2" and res.loc[40, "community_id"] == "C1"


def test_points_without_geometry_are_reported_not_dropped(tiny_layers_dict):
    pts = tiny_layers_dict["households"].copy()
    pts.loc[pts.index[0], "geometry"] = None
    h = build_hierarchy(tiny_layers_dict)
    res = assign_points(pts, h)
    assert len(res) == len(pts)
    assert pd.isna(res["assigned_level"].iloc[0])


def test_assign_workspace_writes_columns_atomically(tiny_workspace):
    before = io.list_layers(tiny_workspace)
    result = assign_workspace(tiny_workspace)
    assert set(io.list_layers(tiny_workspace)) == set(before)
    hh = io.read_layer(tiny_workspace, "households")
    for col in ("microgrid_id", "grid_id", "zone_id", "community_id"):
        assert col in hh.columns
    assert hh.set_index("household_id").loc["H2", "microgrid_id"] == "M01"
    la = result.layers["households"]
    assert la.total == 6 and la.by_level["microgrids"] == 4 and la.by_level["none"] == 1
    # parking is a polygon layer: assigned by a point on its surface
    park = io.read_layer(tiny_workspace, "parking")
    assert park["microgrid_id"].iloc[0] == "M06"
    # running it twice gives the same answer and no duplicate columns
    assign_workspace(tiny_workspace)
    hh2 = io.read_layer(tiny_workspace, "households")
    assert list(hh2.columns) == list(hh.columns)


def test_assign_out_leaves_original_untouched(tiny_workspace, tmp_path):
    original = tiny_workspace.read_bytes()
    out = tmp_path / "out.gpkg"
    assign_workspace(tiny_workspace, out=out)
    assert tiny_workspace.read_bytes() == original
    assert "microgrid_id" in io.read_layer(out, "households").columns


def test_failed_write_leaves_workspace_unchanged(tiny_workspace, monkeypatch):
    """A failure in the middle of writing leaves the original file as it was."""
    original = tiny_workspace.read_bytes()
    from gridmap.workspace import sqlite as gsql

    calls = {"n": 0}
    real = gsql._update_layer

    def failing(*args, **kwargs):  # the second layer's update fails, inside the transaction
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full (simulated)")
        return real(*args, **kwargs)

    monkeypatch.setattr(gsql, "_update_layer", failing)
    with pytest.raises(OSError):
        assign_workspace(tiny_workspace)
    assert tiny_workspace.read_bytes() == original
    leftovers = [p for p in tiny_workspace.parent.iterdir() if p.name.endswith(".tmp.gpkg")]
    assert leftovers == []


@pytest.mark.parametrize("engine", ["reference", "index"])
def test_empty_point_layer_and_grids_only_with_integer_ids(tmp_path, engine):
    """A workspace with only grids (integer ids, no micro-grids) and an empty point layer."""
    layers = edge_case_layers()
    grids = layers["grids"].copy()
    grids["grid_id"] = [2, 10]  # integer ids: compared as strings, "10" < "2"
    grids["geometry"] = [box(111.47, 35.64, 111.472, 35.642), box(111.471, 35.64, 111.474, 35.642)]
    pts = gpd.GeoDataFrame(
        {"household_id": ["A", "B", "C", "D"]},
        geometry=[
            Point(111.4705, 35.641),  # only grid 2
            Point(111.4715, 35.641),  # overlap of 2 and 10 -> "10"
            Point(111.4735, 35.641),  # only grid 10
            Point(111.49, 35.65),  # outside
        ],
        crs="EPSG:4326",
    )
    path = tmp_path / "ws.gpkg"
    io.write_layers(
        path, {"grids": grids, "households": pts, "charging_piles": pts.iloc[:0].copy()}
    )
    result = assign_workspace(path, engine=engine)
    piles = result.layers["charging_piles"]
    assert piles.total == 0 and piles.unassigned.empty
    hh = io.read_layer(path, "households").set_index("household_id")
    ref = reference_owner(pts.set_index("household_id"), grids.astype({"grid_id": str}), "grid_id")
    got = hh["grid_id"].where(hh["grid_id"].notna(), None)
    assert [None if pd.isna(v) else v for v in got] == [None if pd.isna(v) else v for v in ref]
    assert list(got) == ["2", "10", "10", None]
    assert hh["microgrid_id"].isna().all()
    assert result.layers["households"].by_level == {
        "microgrids": 0, "grids": 3, "zones": 0, "communities": 0, "none": 1
    }  # fmt: skip
    assert len(io.read_layer(path, "charging_piles")) == 0


@pytest.mark.parametrize("engine", ["reference", "index"])
def test_chain_broken_by_a_missing_grids_layer(tmp_path, engine, tiny_layers_dict):
    """Micro-grids and zones but no grids: grid_id comes from the micro-grids' column and
    zone_id from the point's own zone (it used to stay empty for every point)."""
    layers = dict(tiny_layers_dict)
    del layers["grids"]
    path = tmp_path / "nogrids.gpkg"
    io.write_layers(path, layers)
    assign_workspace(path, engine=engine)
    hh = io.read_layer(path, "households").set_index("household_id")
    pts = layers["households"].set_index("household_id")
    zones_ref = reference_owner(pts, layers["zones"], "zone_id")
    got = [None if pd.isna(v) else v for v in hh["zone_id"]]
    assert got == [None if pd.isna(v) else v for v in zones_ref]
    assert got.count(None) == 1  # only the household outside everything
    mg_grid = layers["microgrids"].set_index("microgrid_id")["grid_id"]
    inside = hh["microgrid_id"].notna()
    assert inside.sum() == 4
    assert (hh.loc[inside, "grid_id"] == hh.loc[inside, "microgrid_id"].map(mg_grid)).all()
    comm = [None if pd.isna(v) else v for v in hh["community_id"]]
    assert comm == ["C1"] * 4 + [None, "C1"]


def test_assign_out_must_be_a_geopackage(tiny_workspace, tmp_path):
    """--out x.csv used to write a GeoPackage under a .csv name."""
    original = tiny_workspace.read_bytes()
    with pytest.raises(SchemaError, match=r"must be a GeoPackage file ending in \.gpkg"):
        assign_workspace(tiny_workspace, out=tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()
    assert tiny_workspace.read_bytes() == original


def test_pandas_missing_values_are_not_ids():
    from gridmap.policy.ids import normalise_id

    assert [normalise_id(v) for v in (None, float("nan"), pd.NA, pd.NaT, " ", " G1 ", 7)] == [
        None,
        None,
        None,
        None,
        None,
        "G1",
        "7",
    ]


def test_overlap_areas_equal_the_intersection_areas():
    """Nested, touching, partly overlapping, disjoint and collection pairs: the areas of
    the overlay, without overlaying the pairs it need not."""
    from shapely.geometry import GeometryCollection, LineString, box

    from gridmap.join.core import overlap_areas

    rng = np.random.default_rng(4)
    a, b = [], []
    for _ in range(300):
        x, y, w, h = (
            rng.uniform(0, 10),
            rng.uniform(0, 10),
            rng.uniform(0.5, 4),
            rng.uniform(0.5, 4),
        )
        big = box(x, y, x + w, y + h)
        kind = rng.integers(0, 5)
        if kind == 0:  # nested
            other = box(x + 0.1, y + 0.1, x + w / 2, y + h / 2)
        elif kind == 1:  # touching along an edge
            other = box(x + w, y, x + w + 1, y + h)
        elif kind == 2:  # partial overlap
            other = box(x + w / 2, y + h / 2, x + w * 1.5, y + h * 1.5)
        elif kind == 3:  # disjoint
            other = box(x + w + 1, y + h + 1, x + w + 2, y + h + 2)
        else:  # a repaired polygon with a dangling line
            other = GeometryCollection(
                [box(x, y, x + w / 3, y + h), LineString([(x, y), (x + 9, y)])]
            )
        a.append(big if rng.random() < 0.5 else other)
        b.append(other if a[-1] is big else big)
    a, b = np.array(a, dtype=object), np.array(b, dtype=object)
    want = shapely.area(shapely.intersection(a, b))
    np.testing.assert_allclose(overlap_areas(a, b), want, rtol=1e-12, atol=1e-12)


def test_largest_overlaps_equal_a_brute_force_overlay():
    """Irregular (Voronoi) parents and children, nested ones and ones across a border,
    a parent drawn twice under two ids (a tie: the smaller id wins): every child's
    winner is the brute-force overlay's, and ``covered`` is GEOS's covered_by."""
    from gridmap.join.core import largest_overlaps

    rng = np.random.default_rng(11)
    frame = shapely.box(0, 0, 1000, 1000)

    def cells(n):
        pts = shapely.multipoints(rng.uniform(0, 1000, (n, 2)))
        return np.array(
            [
                shapely.intersection(c, frame)
                for c in shapely.get_parts(shapely.voronoi_polygons(pts))
            ],
            dtype=object,
        )

    parents = cells(25)
    raw = cells(400)
    nested = [shapely.intersection(c, p) for c in raw[:200] for p in parents]
    nested = [g for g in nested if g.area > 1 and g.geom_type == "Polygon"]
    children = np.array(nested + list(raw[200:]), dtype=object)  # the rest cross borders
    parents = np.append(parents, parents[3])  # drawn twice
    pids = [f"P{k:02d}" for k in range(len(parents) - 1)] + ["P00a"]
    # a child covered by P91 and all but 0.0001 m² of it in P90: equal once rounded,
    # so P90, the smaller id, wins without covering it
    children = np.append(children, shapely.box(2000, 2000, 2010, 2010))
    big = shapely.box(1990, 1990, 2020, 2020)
    nick = shapely.difference(big, shapely.box(2000, 2000, 2000.01, 2000.01))
    parents = np.append(parents, [big, nick])
    pids = np.array([*pids, "P91", "P90"], dtype=object)
    cids = np.array([f"C{k:04d}" for k in range(len(children))], dtype=object)
    got = largest_overlaps(children, cids, parents, pids)
    winners = dict(zip(cids[got.child], got.parent_id, strict=True))
    want = {}
    for i, c in enumerate(children):
        areas = np.round(shapely.area(shapely.intersection(c, parents)), 3)
        cand = sorted((-a, pids[j]) for j, a in enumerate(areas) if a > 0)
        if cand:
            want[cids[i]] = cand[0][1]
    assert winners == want
    assert any(w == "P00a" for w in winners.values())  # the tie was met
    assert winners[cids[-1]] == "P90"
    # the pair areas it reports are the overlay's; the ones it left out could not win
    brute = shapely.area(shapely.intersection(children[got.pair_child], parents[got.pair_parent]))
    done = ~np.isnan(got.pair_area)
    np.testing.assert_allclose(got.pair_area[done], brute[done], rtol=1e-9, atol=1e-9)
    win_area = {c: round(float(a), 3) for c, a in zip(cids, [0.0] * len(cids), strict=True)}
    for c, p in zip(got.child, got.parent, strict=True):
        win_area[cids[c]] = float(shapely.area(shapely.intersection(children[c], parents[p])))
    skipped = [(cids[c], a) for c, a, d in zip(got.pair_child, brute, done, strict=True) if not d]
    assert skipped and all(a < win_area[c] - 0.009 for c, a in skipped)
    np.testing.assert_array_equal(
        got.covered, shapely.covered_by(children[got.child], parents[got.parent])
    )
    assert got.covered.sum() > 100 and (~got.covered).sum() > 50
