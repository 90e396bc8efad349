"""gridmap validate: one test per finding type on small hand-made workspaces."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
import shapely
from conftest import tiny_layers
from shapely.geometry import LineString, Point, Polygon, box

from gridmap.checks.repair import make_polygonal_valid
from gridmap.checks.validation import AREA_TOLERANCE_M2, validate
from gridmap.coords.crs import metric_crs_for
from gridmap.workspace import store as io

GRIDMAP = str(Path(sys.executable).with_name("gridmap"))  # the environment the tests run in
X0, Y0, D = 111.47, 35.64, 0.001


def write(tmp_path: Path, layers: dict, name: str = "ws.gpkg") -> Path:
    path = tmp_path / name
    io.write_layers(path, layers)
    return path


def area_m2(geom) -> float:
    s = gpd.GeoSeries([geom], crs="EPSG:4326")
    return float(s.to_crs(metric_crs_for(gpd.GeoDataFrame(geometry=s))).area.iloc[0])


def codes(rep) -> set[str]:
    return {f.code for f in rep.findings}


def test_tiny_workspace_has_only_expected_warnings(tiny_workspace):
    rep = validate(tiny_workspace)
    assert rep.errors == []
    assert codes(rep) == {"gap", "point_outside"}
    gap = rep.by_code("gap")[0]
    assert gap.layer == "grids" and gap.ids == ["G4"]
    # the gap is micro-grid M08's missing square: compare with shapely in a metric CRS
    assert gap.value == pytest.approx(
        area_m2(box(X0 + 3 * D, Y0 + D, X0 + 4 * D, Y0 + 2 * D)), rel=1e-3
    )
    assert box(X0 + 3 * D, Y0 + D, X0 + 4 * D, Y0 + 2 * D).contains(Point(gap.lon, gap.lat))
    outside = {f.ids[0]: f for f in rep.by_code("point_outside")}
    assert set(outside) == {"H4", "H5"}
    assert outside["H5"].value > 1000 and "M06" in outside["H5"].message


def test_invalid_geometry_reason_location_and_fix(tmp_path):
    layers = tiny_layers()
    mg = layers["microgrids"]
    # a bow-tie over M01's square: self-intersection at its centre
    x, y = X0, Y0
    bowtie = Polygon([(x, y), (x + D, y + D), (x + D, y), (x, y + D)])
    i = mg.index[mg["microgrid_id"] == "M01"][0]
    mg.loc[i, "geometry"] = bowtie
    path = write(tmp_path, layers)
    rep = validate(path)
    inv = rep.by_code("invalid_geometry")
    assert len(inv) == 1 and inv[0].layer == "microgrids" and inv[0].ids == ["M01"]
    assert "Self-intersection" in inv[0].message
    assert inv[0].lon == pytest.approx(x + D / 2, abs=1e-6)
    assert inv[0].lat == pytest.approx(y + D / 2, abs=1e-6)
    before = pyogrio.read_dataframe(path, layer="microgrids")

    fixed = validate(path, fix=True)
    assert [c.id for c in fixed.changes] == ["M01"]
    assert fixed.changes[0].action == "make_valid"
    assert "invalid_geometry" not in codes(fixed)
    after = pyogrio.read_dataframe(path, layer="microgrids")
    assert len(after) == len(before)  # nothing deleted
    assert list(after["microgrid_id"]) == list(before["microgrid_id"])
    g = after.loc[after["microgrid_id"] == "M01", "geometry"].iloc[0]
    assert g.is_valid and g.geom_type == "MultiPolygon" and len(g.geoms) == 2
    # the two triangles of the bow-tie keep their area
    assert g.area == pytest.approx(shapely.make_valid(bowtie).area)
    # other features untouched
    for mid in ("M02", "M03"):
        a = before.loc[before["microgrid_id"] == mid, "geometry"].iloc[0]
        b = after.loc[after["microgrid_id"] == mid, "geometry"].iloc[0]
        assert a.equals(b)  # same shape (the layer may be stored as MultiPolygon now)


def test_make_polygonal_valid_drops_lines_keeps_polygons():
    # a polygon with a spike: make_valid returns polygon + line; only the polygon is kept
    spiky = Polygon([(0, 0), (2, 0), (2, 2), (1, 2), (1, 3), (1, 2), (0, 2)])
    out = make_polygonal_valid(spiky)
    assert out.geom_type == "Polygon" and out.is_valid and out.area == pytest.approx(4)


def test_empty_and_null_geometry(tmp_path):
    layers = tiny_layers()
    layers["households"].loc[0, "geometry"] = None
    layers["microgrids"].loc[1, "geometry"] = Polygon()
    path = write(tmp_path, layers)
    rep = validate(path)
    empty = {(f.layer, f.ids[0]) for f in rep.by_code("empty_geometry")}
    assert empty == {("households", "H1"), ("microgrids", "M02")}
    assert all(f.severity == "error" for f in rep.by_code("empty_geometry"))


def test_wrong_geometry_type(tmp_path):
    layers = tiny_layers()
    st = layers["service_stations"]
    st.loc[0, "geometry"] = LineString([(X0, Y0), (X0 + D, Y0)])
    path = write(tmp_path, layers)
    rep = validate(path)
    f = rep.by_code("wrong_geometry_type")
    assert [(x.layer, x.ids) for x in f] == [("service_stations", ["S1"])]
    assert "LineString" in f[0].message


def test_overlap_pair_and_area(tmp_path):
    layers = tiny_layers()
    mg = layers["microgrids"]
    i = mg.index[mg["microgrid_id"] == "M03"][0]
    grown = box(X0 + 0.7 * D, Y0, X0 + 2 * D, Y0 + D)  # reaches 0.3 D into M01
    mg.loc[i, "geometry"] = grown
    path = write(tmp_path, layers)
    rep = validate(path)
    ov = rep.by_code("overlap")
    assert [(f.layer, f.ids) for f in ov] == [("microgrids", ["M01", "M03"])]
    expected = area_m2(box(X0, Y0, X0 + D, Y0 + D).intersection(grown))
    assert ov[0].value == pytest.approx(expected, rel=1e-3)
    assert ov[0].severity == "error"
    # shared edges in the untouched tiny workspace are not overlaps (tested above)


def test_sliver_overlap_below_tolerance_is_ignored(tmp_path):
    layers = tiny_layers()
    mg = layers["microgrids"]
    i = mg.index[mg["microgrid_id"] == "M03"][0]
    eps = 2e-8  # a ~2 mm strip along a 111 m edge: about 0.2 m²
    mg.loc[i, "geometry"] = box(X0 + D - eps, Y0, X0 + 2 * D, Y0 + D)
    path = write(tmp_path, layers)
    sliver = area_m2(box(X0 + D - eps, Y0, X0 + D, Y0 + D))
    assert 0 < sliver < AREA_TOLERANCE_M2
    assert "overlap" not in codes(validate(path))


def test_child_outside_parent(tmp_path):
    layers = tiny_layers()
    mg = layers["microgrids"]
    i = mg.index[mg["microgrid_id"] == "M01"][0]
    # M01 extends 0.2 D south of the community/grid G1
    mg.loc[i, "geometry"] = box(X0, Y0 - 0.2 * D, X0 + D, Y0 + D)
    path = write(tmp_path, layers)
    rep = validate(path)
    out = [f for f in rep.by_code("outside_parent") if f.layer == "microgrids"]
    assert len(out) == 1 and out[0].ids == ["M01", "G1"]
    assert out[0].value == pytest.approx(area_m2(box(X0, Y0 - 0.2 * D, X0 + D, Y0)), rel=1e-3)
    assert out[0].lat < Y0


def test_child_in_no_parent(tmp_path):
    layers = tiny_layers()
    mg = layers["microgrids"]
    i = mg.index[mg["microgrid_id"] == "M07"][0]
    mg.loc[i, "geometry"] = box(X0 + 10 * D, Y0, X0 + 11 * D, Y0 + D)
    path = write(tmp_path, layers)
    out = [f for f in validate(path).by_code("outside_parent") if f.ids[0] == "M07"]
    assert len(out) == 1 and "no grids feature" in out[0].message


def test_parent_id_disagrees_with_geometry(tmp_path):
    layers = tiny_layers()
    mg = layers["microgrids"]
    mg.loc[mg["microgrid_id"] == "M05", "grid_id"] = "G1"  # M05 lies in G3
    mg.loc[mg["microgrid_id"] == "M06", "grid_id"] = "G99"  # no such grid
    path = write(tmp_path, layers)
    rep = validate(path)
    mm = rep.by_code("parent_mismatch")
    assert [(f.layer, f.ids) for f in mm] == [("microgrids", ["M05", "G1", "G3"])]
    unk = rep.by_code("unknown_parent")
    assert [(f.layer, f.ids) for f in unk] == [("microgrids", ["M06", "G99"])]


def test_gap_between_zone_grids(tmp_path):
    layers = tiny_layers()
    gr = layers["grids"]
    i = gr.index[gr["grid_id"] == "G2"][0]
    gr.loc[i, "geometry"] = box(X0 + D, Y0, X0 + 2 * D, Y0 + 1.5 * D)  # top quarter of Z1 uncovered
    path = write(tmp_path, layers)
    gaps = {f.ids[0]: f for f in validate(path).by_code("gap")}
    assert "Z1" in gaps
    assert gaps["Z1"].value == pytest.approx(
        area_m2(box(X0 + D, Y0 + 1.5 * D, X0 + 2 * D, Y0 + 2 * D)), rel=1e-3
    )


def test_duplicate_and_null_ids(tmp_path):
    layers = tiny_layers()
    hh = layers["households"]
    hh.loc[1, "household_id"] = "H1"
    hh.loc[2, "household_id"] = None
    path = write(tmp_path, layers)
    rep = validate(path)
    dup = rep.by_code("duplicate_id")
    assert [(f.layer, f.ids, f.value) for f in dup] == [("households", ["H1"], 2.0)]
    null = rep.by_code("null_id")
    assert null[0].layer == "households" and null[0].ids == ["feature 3"]


def test_missing_required_column(tmp_path):
    layers = tiny_layers()
    layers["grids"] = layers["grids"].drop(columns=["name"])
    path = write(tmp_path, layers)
    f = validate(path).by_code("missing_column")
    assert [(x.layer, x.severity) for x in f] == [("grids", "error")]
    assert "'name'" in f[0].message


def test_missing_layers_severity(tmp_path):
    layers = tiny_layers()
    only_grids = {"grids": layers["grids"], "zones": layers["zones"]}
    rep = validate(write(tmp_path, only_grids, "a.gpkg"))
    ml = {(f.layer, f.severity) for f in rep.by_code("missing_layer")}
    assert ml == {("microgrids", "warning"), ("households", "warning")}
    assert rep.ok
    rep2 = validate(write(tmp_path, {"households": layers["households"]}, "b.gpkg"))
    assert ("microgrids", "error") in {(f.layer, f.severity) for f in rep2.by_code("missing_layer")}
    assert not rep2.ok


@pytest.mark.parametrize("how", ["written_without_crs", "srs_id_0"])
def test_layer_without_crs(tmp_path, how):
    layers = tiny_layers()
    path = write(tmp_path, layers)
    if how == "written_without_crs":
        # a tool writing the layer with no projection information
        hh = layers["households"].set_crs(None, allow_override=True)
        with pytest.warns(UserWarning):
            pyogrio.write_dataframe(hh, path, layer="households", driver="GPKG")
        assert pyogrio.read_info(path, layer="households")["crs"] is None
    else:
        # GeoPackage's "undefined geographic SRS" (srs_id 0)
        con = sqlite3.connect(path)
        con.execute("UPDATE gpkg_geometry_columns SET srs_id = 0 WHERE table_name = 'households'")
        con.execute("UPDATE gpkg_contents SET srs_id = 0 WHERE table_name = 'households'")
        con.commit()
        con.close()
    rep = validate(path)
    f = rep.by_code("no_crs")
    assert [(x.layer, x.severity) for x in f] == [("households", "error")]
    # still checked as WGS84: the same households are outside micro-grids
    assert {x.ids[0] for x in rep.by_code("point_outside")} == {"H4", "H5"}


def test_to_dict_shape(tiny_workspace):
    d = validate(tiny_workspace).to_dict()
    assert set(d) >= {
        "workspace",
        "ok",
        "errors",
        "warnings",
        "findings",
        "changes",
        "area_tolerance_m2",
    }
    assert d["errors"] == 0 and d["warnings"] == len(d["findings"]) == 3
    f = d["findings"][0]
    assert set(f) == {"severity", "code", "layer", "ids", "message", "lon", "lat", "value"}
    json.dumps(d)


def _run(*args):
    return subprocess.run([GRIDMAP, *args], capture_output=True, text=True, timeout=120)


def test_cli_exit_codes_and_json(tmp_path, tiny_workspace):
    ok = _run("validate", str(tiny_workspace), "--format", "json")
    assert ok.returncode == 0, ok.stderr
    doc = json.loads(ok.stdout)  # one JSON document, nothing else on stdout
    assert doc["warnings"] == 3 and doc["ok"] is True

    layers = tiny_layers()
    layers["households"].loc[1, "household_id"] = "H1"
    bad = write(tmp_path, layers, "bad.gpkg")
    res = _run("validate", str(bad))
    assert res.returncode == 1
    assert "households" in res.stdout and "duplicate_id" in res.stdout and "H1" in res.stdout

    missing = _run("validate", str(tmp_path / "nope.gpkg"))
    assert missing.returncode == 2
    assert "Traceback" not in missing.stderr and "workspace not found" in missing.stderr


def test_cli_fix_reports_changes(tmp_path):
    layers = tiny_layers()
    mg = layers["microgrids"]
    mg.loc[mg["microgrid_id"] == "M02", "geometry"] = Polygon(
        [(X0, Y0 + D), (X0 + D, Y0 + 2 * D), (X0 + D, Y0 + D), (X0, Y0 + 2 * D)]
    )
    path = write(tmp_path, layers)
    res = _run("validate", str(path), "--fix", "--format", "json")
    doc = json.loads(res.stdout)
    assert doc["fixed"] is True
    assert [(c["layer"], c["id"], c["action"]) for c in doc["changes"]] == [
        ("microgrids", "M02", "make_valid")
    ]
    assert not [f for f in doc["findings"] if f["code"] == "invalid_geometry"]


def test_sample_workspace_validates(sample_workspace):
    rep = validate(sample_workspace)
    # the synthetic town has deliberate gaps and households in them, but no errors
    assert rep.errors == [], [f.message for f in rep.errors][:5]
    assert all(f.layer and f.ids for f in rep.findings if f.code != "missing_layer")


def test_gap_next_to_overlapping_children(tmp_path):
    """Overlapping children cannot be summed: the gap must still come out exact."""
    layers = tiny_layers()
    mg = layers["microgrids"]
    i = mg.index[mg["microgrid_id"] == "M04"][0]
    mg.loc[i, "geometry"] = box(X0 + D, Y0 + 0.8 * D, X0 + 2 * D, Y0 + 1.6 * D)
    path = write(tmp_path, layers)
    rep = validate(path)
    assert [f.ids for f in rep.by_code("overlap")] == [["M03", "M04"]]
    gaps = {f.ids[0]: f for f in rep.by_code("gap")}
    expected = area_m2(box(X0 + D, Y0 + 1.6 * D, X0 + 2 * D, Y0 + 2 * D))
    assert gaps["G2"].value == pytest.approx(expected, rel=1e-3)
    assert box(X0 + D, Y0 + 1.6 * D, X0 + 2 * D, Y0 + 2 * D).contains(
        Point(gaps["G2"].lon, gaps["G2"].lat)
    )


def test_empty_layer_is_a_warning_not_a_cascade(tmp_path):
    layers = tiny_layers()
    layers["zones"] = layers["zones"].iloc[0:0]
    rep = validate(write(tmp_path, layers))
    assert [(f.layer, f.severity) for f in rep.by_code("empty_layer")] == [("zones", "warning")]
    # grids are not reported as outside a parent layer that has no features
    assert "outside_parent" not in codes(rep) and "unknown_parent" not in codes(rep)


def test_gcj02_stored_as_wgs84_is_suspected(tmp_path):
    from gridmap.coords.crs import wgs84_to_gcj02

    layers = tiny_layers()
    hh = layers["households"]
    inside = [(X0 + (i + 0.5) * D, Y0 + 0.5 * D) for i in range(3)] + [(X0 + 0.5 * D, Y0 + 1.5 * D)]
    gx, gy = wgs84_to_gcj02([p[0] for p in inside], [p[1] for p in inside])
    layers["households"] = gpd.GeoDataFrame(
        {"household_id": ["A", "B", "C", "D"]},
        geometry=[Point(x, y) for x, y in zip(gx, gy, strict=True)],
        crs=hh.crs,
    )
    rep = validate(write(tmp_path, layers))
    f = rep.by_code("crs_shift_suspected")
    assert [(x.layer, x.severity) for x in f] == [("households", "warning")]
    assert "0 of 4" in f[0].message and "gcj02" in f[0].message
    # the untouched tiny workspace (4 of 6 households in micro-grids) raises no suspicion
    assert not validate(write(tmp_path, tiny_layers(), "ok.gpkg")).by_code("crs_shift_suspected")


@pytest.mark.parametrize("empty_microgrids", [False, True])
def test_points_outside_every_grid_when_there_are_no_microgrids(tmp_path, empty_microgrids):
    """Without micro-grids (absent or empty), points are checked against the grids."""
    layers = tiny_layers()
    layers.pop("microgrids")
    if empty_microgrids:
        layers["microgrids"] = tiny_layers()["microgrids"].iloc[:0]
    rep = validate(write(tmp_path, layers))
    outside = rep.by_code("point_outside")
    # independent reference: households covered by no grid, nearest grid in metres
    hh, grids = layers["households"], layers["grids"]
    covered = gpd.sjoin(hh, grids, predicate="covered_by").index
    expected = sorted(hh.loc[~hh.index.isin(covered), "household_id"])
    assert sorted(f.ids[0] for f in outside if f.layer == "households") == expected == ["H5"]
    f = next(f for f in outside if f.layer == "households")
    metric = metric_crs_for(grids)
    d = grids.to_crs(metric).distance(hh[hh.household_id == "H5"].to_crs(metric).geometry.iloc[0])
    assert f.value == pytest.approx(d.min(), abs=0.2)
    assert "in no grid (nearest G4" in f.message


def test_cli_table_prints_ids_and_columns_with_brackets_literally(tmp_path):
    """Ids like '[b]7' and columns like 'x[/m]' are user text, not rich markup (no crash)."""
    layers = tiny_layers()
    hh = layers["households"]
    hh["household_id"] = ["[b]7", "[b]7", "H3", "H4", "H5", "H6"]
    layers["grids"] = layers["grids"].rename(columns={"name": "名称[/m]"})
    res = _run("validate", str(write(tmp_path, layers)))
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    out = " ".join(res.stdout.split())
    assert "'[b]7'" in out and "名称[/m]" in out


def test_nan_vertex_is_an_error_naming_the_id_not_a_traceback(tmp_path):
    from shapely.geometry import Polygon

    from gridmap.checks.validation import validate
    from gridmap.workspace import store as io

    layers = tiny_layers()
    mg = layers["microgrids"].copy()
    x0, y0 = 111.47, 35.64
    mg.loc[mg.index[2], "geometry"] = Polygon(
        [(x0, y0), (x0 + 0.001, y0), (float("nan"), y0 + 0.001), (x0, y0)]
    )
    layers["microgrids"] = mg
    p = tmp_path / "nan.gpkg"
    io.write_layers(p, layers)
    bad_id = mg["microgrid_id"].iloc[2]
    report = validate(p)
    hits = [f for f in report.findings if f.code == "invalid_geometry" and bad_id in f.ids]
    assert hits and "NaN" in hits[0].message
    before = p.read_bytes()
    fixed = validate(p, fix=True)
    assert any(c.id == bad_id and c.action == "not_fixed" for c in fixed.changes)
    assert p.read_bytes() == before  # nothing else to repair: file untouched


def test_many_points_use_the_assign_cache_with_the_same_findings(sample_copy, monkeypatch):
    """Points joined with the cell indexes ``gridmap assign`` cached: the same findings.

    Some households are moved outside every micro-grid, so the point findings are
    not empty.
    """
    import gridmap.checks.validation as val
    import gridmap.join.index as ix
    from gridmap.join.assign import assign_workspace

    hh = io.read_layer(sample_copy, "households")
    geoms = hh.geometry.values.copy()
    geoms[:5] = shapely.points([[111.0 + k * 0.001, 35.0] for k in range(5)])
    hh = hh.set_geometry(gpd.GeoSeries(geoms, crs=hh.crs))
    io.write_layers(sample_copy, {"households": hh})
    assign_workspace(sample_copy)  # fills the index cache
    used = []
    real = ix.cached_locators
    monkeypatch.setattr(ix, "cached_locators", lambda h, d: used.append(1) or real(h, d))
    monkeypatch.setattr(val, "FAST_POINTS", 10**9)
    slow = validate(sample_copy).to_dict()
    assert not used
    monkeypatch.setattr(val, "FAST_POINTS", 1)
    fast = validate(sample_copy).to_dict()
    assert used and real(*_hier_and_cache(sample_copy)) is not None
    assert any(f["code"] == "point_outside" for f in fast["findings"])
    assert json.dumps(fast, sort_keys=True) == json.dumps(slow, sort_keys=True)


def _hier_and_cache(path):
    from gridmap.join.core import build_hierarchy
    from gridmap.join.index import cache_dir_for

    ws = io.load_workspace(path, ["communities", "zones", "grids", "microgrids"])
    return build_hierarchy(ws.layers), cache_dir_for(path)


def test_points_read_narrow_still_list_every_column(tmp_path):
    """A point layer is read with its id and required columns only; a missing one is
    still reported with all the columns the layer has."""
    layers = tiny_layers()
    hh = layers["households"].rename(columns={"household_id": "hh_no"})
    hh["address"] = "1号楼"
    layers["households"] = hh
    ws = tmp_path / "w.gpkg"
    io.write_layers(ws, layers)
    found = [f for f in validate(ws).findings if f.code == "missing_column"]
    assert len(found) == 1 and found[0].layer == "households"
    assert "'household_id'" in found[0].message
    assert "hh_no" in found[0].message and "address" in found[0].message


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:3857", None])
def test_points_read_as_coordinates_give_the_geopandas_findings(tmp_path, monkeypatch, crs):
    """Point layers decoded from WKB without shapely: the findings of the geopandas read.

    Null, empty, NaN and infinite points, a polygon among the points (the layer falls
    back to geopandas), another CRS and none at all (falls back too).
    """
    import gridmap.checks.validation as val

    layers = tiny_layers()
    hh = layers["households"].copy()
    hh.loc[hh.index[0], "geometry"] = None
    hh.loc[hh.index[1], "geometry"] = Point()
    hh.loc[hh.index[2], "geometry"] = Point(float("nan"), Y0)
    hh.loc[hh.index[3], "geometry"] = Point(float("inf"), Y0)
    layers["households"] = hh
    st = layers["service_stations"].copy()
    st.loc[st.index[0], "geometry"] = box(X0, Y0, X0 + D / 4, Y0 + D / 4)
    layers["service_stations"] = st
    path = tmp_path / "ws.gpkg"
    io.write_layers(path, {k: v for k, v in layers.items() if k != "households"})
    if crs == "EPSG:3857":
        hh = hh.to_crs(crs)
    elif crs is None:
        hh = hh.set_crs(None, allow_override=True)
    pyogrio.write_dataframe(hh, path, layer="households", driver="GPKG")
    read = []
    real = val._read_points
    monkeypatch.setattr(val, "_read_points", lambda *a: read.append(a[1]) or real(*a))
    fast = validate(path).to_dict()
    assert "households" in read  # the coordinate reader was tried
    monkeypatch.setattr(val, "_read_points", lambda *a: None)
    slow = validate(path).to_dict()
    assert fast == slow
    codes_hh = {f["code"] for f in fast["findings"] if f["layer"] == "households"}
    if crs == "EPSG:4326":
        assert {"empty_geometry", "invalid_geometry"} <= codes_hh
        assert real(path, "households", ["household_id"]) is not None
        assert real(path, "service_stations", ["station_id"]) is None  # a polygon in it
    assert any(f["code"] == "wrong_geometry_type" for f in fast["findings"])


def test_duplicate_ids_match_a_pandas_reference():
    """``_duplicates``: every shared id, in id order, with its rows, as pandas finds them."""
    import numpy as np
    import pandas as pd

    from gridmap.checks.validation import _duplicates

    rng = np.random.default_rng(7)
    pool = np.array(["H1", "H10", "H2", "网格A", "Ｈ1", "a", "B", "h1", ""], dtype=object)
    ids = pool[rng.integers(0, len(pool), 500)].copy()
    ids[rng.random(500) < 0.1] = None
    ids[:3] = [f"u{k}" for k in range(3)]  # a few unique ones
    present = np.array([v is not None for v in ids])
    s = pd.Series(ids)[present]
    dup = s[s.duplicated(keep=False)]
    want = [(v, list(dup.index[dup == v])) for v in dup.value_counts().sort_index().index]
    got = [(v, list(r)) for v, r in _duplicates(ids, present)]
    assert got == want and len(got) > 3
    assert _duplicates(np.array(["a", "b", None], dtype=object), np.array([1, 1, 0], bool)) == []


def test_small_gap_beside_children_their_parent_covers(tmp_path):
    """A 2-3 m² sliver of a zone in no grid, beside grids the zone covers whole: found,
    with its exact area (the covered grids only bound the area from below)."""
    layers = tiny_layers()
    gr, zo = layers["grids"], layers["zones"]
    top = Y0 + 2 * D - 2.5e-7  # about 0.03 m below the zone's edge, 90 m long
    gr.loc[gr["grid_id"] == "G2", "geometry"] = box(X0 + D, Y0, X0 + 2 * D, top)
    # the zone has a vertex at every grid corner on its edge: it covers both grids
    # exactly, also once projected
    corners = [(X0, Y0), (X0 + D, Y0), (X0 + 2 * D, Y0), (X0 + 2 * D, top)]
    corners += [(X0 + 2 * D, Y0 + 2 * D), (X0 + D, Y0 + 2 * D), (X0, Y0 + 2 * D)]
    zo.loc[zo["zone_id"] == "Z1", "geometry"] = Polygon(corners)
    path = write(tmp_path, layers)
    gaps = {f.ids[0]: f for f in validate(path).by_code("gap")}
    want = area_m2(box(X0 + D, top, X0 + 2 * D, Y0 + 2 * D))
    assert 1 < want < 5
    assert "Z1" in gaps and gaps["Z1"].value == pytest.approx(want, rel=0.05)


def test_overlaps_reused_from_the_parent_step_give_the_same_gaps(tmp_path, monkeypatch):
    """Parents drawn a little off their children (no child exactly inside), with a gap
    and parts outside: the gap step reusing the parent step's overlap areas finds what
    it finds overlaying every pair again."""
    import numpy as np

    import gridmap.checks.validation as val

    layers = tiny_layers()

    def nudge(c):
        return c + np.column_stack([np.sin(c[:, 0] * 7e6), np.cos(c[:, 1] * 9e6)]) * 2e-6

    for name in ("grids", "zones", "communities"):
        g = layers[name]
        layers[name] = g.set_geometry(shapely.transform(np.asarray(g.geometry.values), nudge))
    gr = layers["grids"]
    gr.loc[gr["grid_id"] == "G2", "geometry"] = box(X0 + D, Y0, X0 + 2 * D, Y0 + 1.5 * D)
    path = write(tmp_path, layers)
    reused = validate(path).to_dict()
    monkeypatch.setattr(val, "_pair_areas", lambda m, pi, ci, n: np.full(len(pi), np.nan))
    again = validate(path).to_dict()
    assert reused == again
    codes_found = {f["code"] for f in reused["findings"]}
    assert {"gap", "outside_parent"} <= codes_found
