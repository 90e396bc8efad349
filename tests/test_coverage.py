"""Coverage: distances and shares against brute force, edge cases, CLI surfaces."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely
from conftest import tiny_layers
from shapely.geometry import LineString, box

from gridmap.analysis.coverage import (
    compute_coverage,
    gaussian_weight,
    make_context,
    two_step_fca,
)
from gridmap.analysis.indicators import grid_indicators
from gridmap.errors import LayerNotFoundError, SchemaError
from gridmap.workspace import store as io

REPO = Path(__file__).resolve().parent.parent
UTM49 = "EPSG:32649"  # the metric CRS gridmap picks near 111.47 E


def _no_nan(obj) -> str:
    """Serialise strictly: NaN/inf anywhere raises."""
    return json.dumps(obj, allow_nan=False, ensure_ascii=False)


def random_layers(seed: int, n_hh: int = 400, n_fac: int = 12) -> dict[str, gpd.GeoDataFrame]:
    """One community of 3 x 2 grids (each 400 m), households and stations at random."""
    rng = np.random.default_rng(seed)
    x0, y0 = 111.47, 35.64
    dx, dy = 0.0044, 0.0036  # about 400 m each way
    crs = "EPSG:4326"
    grids = gpd.GeoDataFrame(
        {
            "grid_id": [f"G{i}{j}" for i in range(3) for j in range(2)],
            "name": [f"网格{i}{j}" for i in range(3) for j in range(2)],
            "staff_name": ["张三"] * 6,
        },
        geometry=[
            box(x0 + i * dx, y0 + j * dy, x0 + (i + 1) * dx, y0 + (j + 1) * dy)
            for i in range(3)
            for j in range(2)
        ],
        crs=crs,
    )
    comm = gpd.GeoDataFrame(
        {"community_id": ["C1"], "name": ["社区"]},
        geometry=[box(x0, y0, x0 + 3 * dx, y0 + 2 * dy)],
        crs=crs,
    )
    hx = rng.uniform(x0 - 0.3 * dx, x0 + 3.3 * dx, n_hh)
    hy = rng.uniform(y0 - 0.3 * dy, y0 + 2.3 * dy, n_hh)
    hh = gpd.GeoDataFrame(
        {
            "household_id": [f"H{k:04d}" for k in range(n_hh)],
            "residents": rng.integers(1, 6, n_hh),
            "elderly": rng.integers(0, 3, n_hh),
            "has_ev": rng.random(n_hh) < 0.3,
        },
        geometry=shapely.points(hx, hy),
        crs=crs,
    )
    fx = rng.uniform(x0, x0 + 3 * dx, n_fac)
    fy = rng.uniform(y0, y0 + 2 * dy, n_fac)
    st = gpd.GeoDataFrame(
        {"station_id": [f"S{k}" for k in range(n_fac)], "name": ["驿站"] * n_fac},
        geometry=shapely.points(fx, fy),
        crs=crs,
    )
    return {"communities": comm, "grids": grids, "households": hh, "service_stations": st}


def brute_distances(hh: gpd.GeoDataFrame, fac: gpd.GeoDataFrame) -> np.ndarray:
    """All-pairs straight-line distances (numpy) in UTM 49N, min per household."""
    h = hh.to_crs(UTM49)
    f = fac.to_crs(UTM49)
    hx, hy = h.geometry.x.to_numpy(), h.geometry.y.to_numpy()
    fx, fy = f.geometry.x.to_numpy(), f.geometry.y.to_numpy()
    d = np.hypot(hx[:, None] - fx[None, :], hy[:, None] - fy[None, :])
    return d.min(axis=1)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("radius", [150.0, 300.0])
def test_distances_and_shares_equal_brute_force(tmp_path, seed, radius):
    layers = random_layers(seed)
    path = tmp_path / "r.gpkg"
    io.write_layers(path, layers)
    ws = io.load_workspace(path)
    res = compute_coverage(ws, "service_stations", radius, distance="euclidean")
    assert res.distance == "euclidean"
    ref = brute_distances(layers["households"], layers["service_stations"])
    got = res.households.set_index("household_id").loc[layers["households"]["household_id"]]
    np.testing.assert_allclose(got["distance_m"].to_numpy(), ref, atol=0.051)
    covered_ref = ref <= radius
    assert (got["covered"].to_numpy() == covered_ref).all()
    # grid shares against an independent point-in-polygon count
    hh = layers["households"].copy()
    hh["cov"] = covered_ref
    joined = gpd.sjoin(hh, layers["grids"][["grid_id", "geometry"]], predicate="intersects")
    by_grid = res.by_level["grid"].set_index("grid_id")
    for gid, grp in joined.groupby("grid_id"):
        assert by_grid.loc[gid, "households"] == len(grp)
        assert by_grid.loc[gid, "covered"] == int(grp["cov"].sum())
        assert by_grid.loc[gid, "residents_covered"] == pytest.approx(
            grp.loc[grp["cov"], "residents"].sum()
        )
        assert by_grid.loc[gid, "share"] == pytest.approx(round(grp["cov"].mean(), 4))
    js = res.to_json()
    _no_nan(js)
    assert js["households"] == len(hh)
    assert js["covered"] == int(covered_ref.sum())
    assert js["share"] == pytest.approx(round(covered_ref.mean(), 4))
    outside = len(hh) - len(joined)
    assert js["outside"].get("grid", 0) == outside


def test_polygon_facility_distance_is_distance_to_polygon(tmp_path):
    layers = random_layers(7, n_hh=200)
    lots = [box(111.471, 35.641, 111.4725, 35.6418), box(111.478, 35.644, 111.479, 35.645)]
    layers["parking"] = gpd.GeoDataFrame(
        {"parking_id": ["K1", "K2"], "spaces": [30, 5]}, geometry=lots, crs="EPSG:4326"
    )
    path = tmp_path / "p.gpkg"
    io.write_layers(path, layers)
    res = compute_coverage(io.load_workspace(path), "parking", 300, distance="euclidean")
    h = layers["households"].to_crs(UTM49).geometry.values
    p = layers["parking"].to_crs(UTM49).geometry.values
    ref = np.min(np.stack([shapely.distance(h, g) for g in p]), axis=0)
    got = res.households.set_index("household_id").loc[layers["households"]["household_id"]]
    np.testing.assert_allclose(got["distance_m"].to_numpy(), ref, atol=0.051)
    assert (got["distance_m"] == 0).any()  # households inside a lot


def test_tiny_fixture_by_hand(tiny_workspace):
    ws = io.load_workspace(tiny_workspace)
    res = compute_coverage(ws, "service_stations", 100, distance="euclidean")
    # the station sits at the centre of M04 (grid G2), 0.5 x 0.5 cells from H3's vertex
    by = res.households.set_index("household_id")
    assert by.loc["H3", "distance_m"] == pytest.approx(math.hypot(0.5 * 90.5, 0.5 * 111.0), abs=4)
    grid = res.by_level["grid"].set_index("grid_id")
    assert grid.loc["G2", "households"] == 0
    assert pd.isna(grid.loc["G2", "share"])
    js = res.to_json()
    g2 = next(r for r in js["by_grid"] if r["grid_id"] == "G2")
    assert g2["share"] is None and g2["households"] == 0
    assert any("G2" in n for n in js["notes"])
    assert set(js) >= {
        "facility",
        "radius_m",
        "distance",
        "households",
        "covered",
        "share",
        "by_grid",
    }
    # no personal data in the result
    assert not {"address", "head_name", "phone"} & set(res.households.columns)
    assert "张伟" not in _no_nan(js) and "西南街" not in _no_nan(js)


def test_empty_facility_layer(tmp_path):
    layers = tiny_layers()
    layers["charging_piles"] = layers["charging_piles"].iloc[0:0]
    path = tmp_path / "e.gpkg"
    io.write_layers(path, layers)
    res = compute_coverage(io.load_workspace(path), "charging_piles", distance="euclidean")
    assert res.facilities == 0
    assert not res.households["covered"].any()
    assert np.isinf(res.households["distance_m"]).all()
    js = res.to_json()
    _no_nan(js)
    assert js["covered"] == 0 and js["share"] == 0.0
    assert any("empty" in n for n in js["notes"])


def test_missing_facility_layer_names_it(tmp_path):
    layers = tiny_layers()
    del layers["parking"]
    path = tmp_path / "m.gpkg"
    io.write_layers(path, layers)
    with pytest.raises(LayerNotFoundError) as exc:
        compute_coverage(io.load_workspace(path), "parking")
    assert "parking" in str(exc.value)
    # grid indicators still work and mark parking n/a
    ind = grid_indicators(io.load_workspace(path), distance="euclidean")
    assert ind["parking_spaces"].isna().all()
    assert any("parking" in n for n in ind.attrs["notes"])


def test_households_without_optional_columns_and_locations(tmp_path):
    layers = tiny_layers()
    hh = layers["households"].drop(columns=["residents", "elderly", "has_ev"])
    hh.loc[hh.index[0], "geometry"] = None
    layers["households"] = hh
    path = tmp_path / "n.gpkg"
    io.write_layers(path, layers)
    ws = io.load_workspace(path)
    res = compute_coverage(ws, "service_stations", 500, distance="euclidean")
    js = res.to_json()
    _no_nan(js)
    assert js["residents"] is None and js["share_residents"] is None
    assert js["households"] == len(hh) - 1
    assert js["no_location"] == 1
    assert any("H1" in n and "without a location" in n for n in js["notes"])
    ind = grid_indicators(ws, distance="euclidean")
    assert ind["residents"].isna().all()


def test_bad_radius_and_distance(tiny_workspace):
    ws = io.load_workspace(tiny_workspace)
    with pytest.raises(SchemaError):
        compute_coverage(ws, "service_stations", -5)
    with pytest.raises(SchemaError):
        compute_coverage(ws, "service_stations", distance="crow")
    with pytest.raises(LayerNotFoundError):
        compute_coverage(ws, "service_stations", distance="network")  # no roads layer


def test_auto_uses_network_when_roads_exist(tmp_path):
    layers = tiny_layers()
    x0, y0, d = 111.47, 35.64, 0.001
    layers["roads"] = gpd.GeoDataFrame(
        {"road_id": ["R1", "R2"]},
        geometry=[
            LineString([(x0 - d, y0 + d), (x0 + 5 * d, y0 + d)]),
            LineString([(x0 + 1.5 * d, y0 - d), (x0 + 1.5 * d, y0 + 3 * d)]),
        ],
        crs="EPSG:4326",
    )
    path = tmp_path / "r.gpkg"
    io.write_layers(path, layers)
    ws = io.load_workspace(path)
    net = compute_coverage(ws, "service_stations", 1000)
    euc = compute_coverage(ws, "service_stations", 1000, distance="euclidean")
    assert net.distance == "network" and euc.distance == "euclidean"
    dn = net.households["distance_m"].to_numpy()
    de = euc.households["distance_m"].to_numpy()
    assert (dn >= de - 0.11).all()  # walking is never shorter than the straight line
    assert (dn > de + 1).any()


def test_two_step_fca_by_hand():
    # households 0,1,2; facility A (supply 8) reaches 0,1; facility B (supply 1) reaches 1,2
    hh = np.array([0, 1, 1, 2])
    fac = np.array([0, 0, 1, 1])
    dist = np.array([100.0, 200.0, 50.0, 400.0])
    demand = np.array([1.0, 1.0, 1.0])
    acc, ratio = two_step_fca(hh, fac, dist, np.array([8.0, 1.0]), demand, 500.0)
    # R_A = 8 / 2 = 4, R_B = 1 / 2 = 0.5; A_0 = 4, A_1 = 4.5, A_2 = 0.5
    np.testing.assert_allclose(ratio, [4.0, 0.5])
    np.testing.assert_allclose(acc, [4.0, 4.5, 0.5])
    # total supply is conserved when every household has demand 1 and is reached
    assert acc.sum() == pytest.approx(9.0)
    # demand weights: household 1 has no EV -> R_A = 8/1, R_B = 1/1
    acc2, _ = two_step_fca(hh, fac, dist, np.array([8.0, 1.0]), np.array([1.0, 0.0, 1.0]), 500.0)
    np.testing.assert_allclose(acc2, [8.0, 9.0, 1.0])
    # Gaussian decay: weights by hand
    accg, ratiog = two_step_fca(hh, fac, dist, np.array([8.0, 1.0]), demand, 500.0, "gaussian")
    w = gaussian_weight(dist, 500.0)
    e = math.exp(-0.5)
    assert w[0] == pytest.approx((math.exp(-0.5 * 0.04) - e) / (1 - e))
    ra = 8.0 / (w[0] + w[1])
    rb = 1.0 / (w[2] + w[3])
    np.testing.assert_allclose(ratiog, [ra, rb])
    np.testing.assert_allclose(accg, [ra * w[0], ra * w[1] + rb * w[2], rb * w[3]])


def test_grid_indicators_supply_by_hand(tiny_workspace):
    ind = grid_indicators(io.load_workspace(tiny_workspace), distance="euclidean")
    ind = ind.set_index("grid_id")
    # P1 (2 ports) in G1, P2 (8 ports) in G4; EV households: H1 (G1), H4 (G4), H6 (G3)
    assert ind.loc["G1", "charging_ports"] == 2 and ind.loc["G4", "charging_ports"] == 8
    assert ind.loc["G1", "ports_per_ev_household"] == 2.0
    assert ind.loc["G3", "ports_per_ev_household"] == 0.0
    assert ind.loc["G3", "parking_spaces"] == 40
    assert ind.loc["G2", "service_stations"] == 1
    assert pd.isna(ind.loc["G1", "households_per_station"])  # no station: n/a, never inf
    num = ind.select_dtypes("number").to_numpy(dtype=float)
    assert not np.isinf(num).any()
    assert ind.loc["G1", "elderly_share"] == pytest.approx(round(2 / 6, 4))
    assert ind.loc["G1", "households_per_worker"] == 3.0
    # 2SFCA for piles within 500 m: both piles reach all 3 located EV households
    # inside the community: R = 10 / 3 per EV household
    assert ind.loc["G1", "access_2sfca_charging_piles_500m"] == pytest.approx(10 / 3, abs=1e-3)


def test_context_reuse_gives_same_result(tiny_workspace):
    ws = io.load_workspace(tiny_workspace)
    ctx = make_context(ws, "euclidean")
    a = compute_coverage(ws, "parking", 300, context=ctx).to_json()
    b = compute_coverage(ws, "parking", 300, distance="euclidean").to_json()
    assert a == b


def _cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "gridmap", "coverage", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_cli_json_shape(tiny_workspace, tmp_path):
    proc = _cli(
        tiny_workspace, "--facility", "service_stations", "--radius", "500", "--format", "json"
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert doc["facility"] == "service_stations" and doc["radius_m"] == 500.0
    assert doc["distance"] in ("euclidean", "network")
    assert isinstance(doc["by_grid"], list) and len(doc["by_grid"]) == 4
    for rec in doc["by_grid"]:
        assert {"grid_id", "households", "covered", "share"} <= set(rec)
    proc = _cli(
        tiny_workspace,
        "--facility",
        "charging_piles",
        "--format",
        "json",
        "--standards",
        REPO / "gridmap" / "analysis" / "standards.toml",
        "--propose",
        "1",
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert doc["radius_m"] == 500.0  # the charging pile default
    assert "grid_size" in doc["standards"]["failing"]["G1"]
    assert "method" in doc["proposed_sites"]


def test_cli_errors_are_one_line(tiny_workspace):
    proc = _cli(tiny_workspace, "--facility", "kindergartens")
    assert proc.returncode == 2
    assert "kindergartens" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_outputs(tiny_workspace, tmp_path):
    xlsx = tmp_path / "out" / "cov.xlsx"
    proc = _cli(tiny_workspace, "--facility", "parking", "--out", xlsx)
    assert proc.returncode == 0, proc.stderr
    wb = openpyxl.load_workbook(xlsx)
    assert {"community", "zone", "grid", "microgrid", "standards", "indicators"} <= set(
        wb.sheetnames
    )
    for name in ("grid", "standards"):
        assert wb[name].freeze_panes == "A2"
    headers = [c.value for c in wb["grid"][1]]
    assert "户数 Households" in headers
    text = " ".join(str(c.value) for ws in wb for row in ws.iter_rows() for c in row)
    for personal in ("张伟", "13800000001", "赵一", "西南街", "党员1 ", "1390000"):
        assert personal not in text
    assert "nan" not in text.lower().split()
    csv = tmp_path / "cov.csv"
    assert _cli(tiny_workspace, "--facility", "parking", "--out", csv).returncode == 0
    df = pd.read_csv(csv, encoding="utf-8-sig")
    assert list(df["grid_id"]) == ["G1", "G2", "G3", "G4"]
    gpkg = tmp_path / "cov.gpkg"
    proc = _cli(tiny_workspace, "--facility", "parking", "--out", gpkg, "--propose", "1")
    assert proc.returncode == 0, proc.stderr
    info = subprocess.run(["ogrinfo", "-so", "-al", str(gpkg)], capture_output=True, text=True)
    assert "coverage_grids" in info.stdout and "Feature Count: 4" in info.stdout
    assert "share_parking" in info.stdout and "rules_failed" in info.stdout
    assert "staff_name" not in info.stdout and "staff_phone" not in info.stdout
    bad = _cli(tiny_workspace, "--facility", "parking", "--out", tmp_path / "x.shp")
    assert bad.returncode == 2 and ".shp" in bad.stderr
    assert not list(tmp_path.glob(".cov*"))  # no temporary files left


def test_sample_runs_with_network(sample_workspace):
    ws = io.load_workspace(sample_workspace)
    res = compute_coverage(ws, "service_stations", 500)
    js = res.to_json()
    _no_nan(js)
    assert js["distance"] == ("network" if "roads" in ws.layers else "euclidean")
    assert js["households"] + js["no_location"] == len(ws.layers["households"])
    assert len(js["by_grid"]) == len(ws.layers["grids"])


def test_two_step_fca_conserves_supply_on_random_pairs():
    """Without decay, demand-weighted accessibility sums to the supply that demand reaches."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        n_h, n_f = 30, 6
        pairs = rng.random((n_h, n_f)) < 0.3
        hi, fj = np.nonzero(pairs)
        supply = rng.integers(1, 9, n_f).astype(float)
        demand = (rng.random(n_h) < 0.7).astype(float)
        acc, ratio = two_step_fca(hi, fj, rng.uniform(0, 500, len(hi)), supply, demand, 500.0)
        reached = np.zeros(n_f, dtype=bool)
        reached[fj[demand[hi] > 0]] = True
        assert (demand * acc).sum() == pytest.approx(supply[reached].sum())
        assert np.isnan(ratio[~reached]).all()


def test_table_prints_names_with_square_brackets(tmp_path):
    """Names and ids like '网格[/]1' or '[G1]' are printed as text (rich markup crashed)."""
    import io as stdio

    from rich.console import Console

    from gridmap.analysis.indicators import check_standards
    from gridmap.analysis.siting import propose_sites
    from gridmap.cli.render import print_coverage

    layers = tiny_layers()
    names = ["一网格[/]", "二网格[b]", "[red]三网格", "四网格[/b]"]
    layers["grids"]["name"] = names
    path = tmp_path / "brackets.gpkg"
    io.write_layers(path, layers)
    ws = io.load_workspace(path)
    res = compute_coverage(ws, "parking")
    buf = stdio.StringIO()
    print_coverage(
        res,
        "grid",
        Console(file=buf, width=200),
        checks=check_standards(ws),
        sites=propose_sites(ws, "parking", 1, res.radius_m),
        out=tmp_path / "[x].xlsx",
    )
    text = buf.getvalue()
    for name in names:
        assert name in text
    assert "[x].xlsx" in text
    proc = _cli(path, "--facility", "parking")  # the command itself
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr


def test_counts_stored_as_text(tmp_path):
    """'约40个' / '3人' are read as numbers; unreadable text is noted, never a traceback."""
    from gridmap.analysis.coverage import load_facilities

    layers = tiny_layers()
    layers["charging_piles"]["ports"] = ["2个", "充电口若干"]
    layers["parking"]["spaces"] = ["约40个"]
    hh = layers["households"]
    want_res = hh["residents"].sum()
    hh["residents"] = [f"{v}人" for v in hh["residents"]]
    path = tmp_path / "text.gpkg"
    io.write_layers(path, layers)
    ctx = make_context(path, "euclidean")
    assert ctx.households["residents"].sum() == want_res
    assert not any("residents" in n for n in ctx.notes)
    piles = load_facilities(ctx, "charging_piles")
    assert piles.capacity.tolist() == [2.0, 1.0]
    assert any("P2" in n and "'ports'" in n for n in piles.notes)
    assert load_facilities(ctx, "parking").capacity.tolist() == [40.0]
    proc = _cli(path, "--facility", "charging_piles", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["residents"] == want_res


def test_network_household_inside_a_polygon_lot_is_at_distance_zero(tmp_path):
    """Walking distance to a parking lot drawn as an area is 0 for a household inside it."""
    from gridmap.analysis.coverage import accessibility

    layers = tiny_layers()
    x0, y0, d = 111.47, 35.64, 0.001
    layers["roads"] = gpd.GeoDataFrame(
        {"road_id": ["R1"]},
        geometry=[LineString([(x0 - d, y0 - 2 * d), (x0 + 5 * d, y0 - 2 * d)])],  # south of all
        crs="EPSG:4326",
    )
    h = layers["households"].geometry.iloc[0]
    layers["parking"] = gpd.GeoDataFrame(
        {"parking_id": ["K1"], "spaces": [30]},
        geometry=[box(h.x - 0.0002, h.y - 0.0002, h.x + 0.0002, h.y + 0.0002)],
        crs="EPSG:4326",
    )
    path = tmp_path / "lot.gpkg"
    io.write_layers(path, layers)
    ctx = make_context(path, "network")
    res = compute_coverage(path, "parking", 100, context=ctx)
    hh = res.households.set_index("household_id")
    first = layers["households"]["household_id"].iloc[0]
    assert hh.loc[first, "distance_m"] == 0 and hh.loc[first, "covered"]
    assert hh.loc[first, "nearest_facility_id"] == "K1"
    access, _, _ = accessibility(ctx, "parking", 100)
    assert access[0] > 0  # the lot's spaces count for the household inside it


def test_cli_says_why_a_rule_is_na(tiny_workspace, tmp_path):
    """A rule on a layer the workspace lacks is n/a for every grid, and the notes say why."""
    rules = tmp_path / "std.toml"
    rules.write_text(
        '[[rule]]\nid = "kg"\nindicator = "coverage_share"\nfacility = "kindergartens"\n'
        "min = 0.5\n",
        encoding="utf-8",
    )
    proc = _cli(tiny_workspace, "--facility", "parking", "--standards", rules, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert all(r["passed"] is None for r in doc["standards"]["results"])
    assert any("kindergartens" in n for n in doc["notes"])


def test_cli_gpkg_without_grids_explains_itself(tmp_path):
    layers = {k: v for k, v in tiny_layers().items() if k in ("households", "parking")}
    path = tmp_path / "nogrids.gpkg"
    io.write_layers(path, layers)
    proc = _cli(path, "--facility", "parking", "--out", tmp_path / "out.gpkg")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "'grids' layer" in proc.stderr and ".xlsx" in proc.stderr
    assert not (tmp_path / "out.gpkg").exists()
    assert _cli(path, "--facility", "parking", "--out", tmp_path / "out.xlsx").returncode == 0


def test_roads_drawn_as_areas_are_not_used_silently(tmp_path):
    """A roads layer of polygons: auto says it fell back to straight lines; network says why not."""
    layers = tiny_layers()
    x0, y0 = 111.47, 35.64
    layers["roads"] = gpd.GeoDataFrame(
        {"road_id": ["R1"]}, geometry=[box(x0, y0, x0 + 0.004, y0 + 0.0001)], crs="EPSG:4326"
    )
    path = tmp_path / "roadareas.gpkg"
    io.write_layers(path, layers)
    res = compute_coverage(path, "parking")
    assert res.distance == "euclidean"
    assert any("no street centre-lines" in n for n in res.notes)
    with pytest.raises(LayerNotFoundError, match="only Polygon"):
        compute_coverage(path, "parking", distance="network")


def test_coverage_report_decides_what_the_run_includes(tiny_workspace, tmp_path):
    """The library, not the CLI, decides when the standards are checked and builds the JSON."""
    from gridmap.analysis.report import coverage_report

    plain = coverage_report(tiny_workspace, "service_stations", 500, distance="euclidean")
    assert plain.checks is None and plain.indicators is None and plain.written_to is None
    assert "standards" not in plain.to_json()
    std = REPO / "gridmap" / "analysis" / "standards.toml"
    full = coverage_report(
        tiny_workspace, "charging_piles", distance="euclidean", standards=std, propose=1
    )
    doc = full.to_json()
    assert full.checks is not None and doc["standards"]["file"] == str(std)
    assert set(doc["standards"]["failing"]) <= {"G1", "G2", "G3", "G4"}
    assert "method" in doc["proposed_sites"]
    out = tmp_path / "c.xlsx"
    written = coverage_report(tiny_workspace, "parking", distance="euclidean", out=out)
    assert written.checks is not None  # a spreadsheet carries the standards sheet
    assert written.to_json()["written_to"] == str(out) and out.exists()


def test_nearest_points_brute_force_equals_kd_tree(monkeypatch):
    """Small inputs skip the KD-tree (no scipy at start-up): same distances, and the
    index is a nearest one (the first on a tie)."""
    from gridmap.analysis import coverage as cov

    rng = np.random.default_rng(7)
    xy = rng.uniform(0, 1000, (500, 2))
    fxy = np.vstack([rng.uniform(0, 1000, (40, 2)), [[10.0, 10.0], [10.0, 10.0]]])
    xy[0] = (10.0, 13.0)  # equally near the two copies of (10, 10)
    monkeypatch.setattr(cov, "BRUTE_FORCE_PAIRS", 10**9)
    d_b, i_b = cov._nearest_points(xy, fxy, 1)
    monkeypatch.setattr(cov, "BRUTE_FORCE_PAIRS", 0)
    d_k, i_k = cov._nearest_points(xy, fxy, 1)
    assert np.array_equal(d_b, d_k)
    want = np.sqrt(((xy[:, None, :] - fxy[None, :, :]) ** 2).sum(axis=2))
    assert np.array_equal(want[np.arange(len(xy)), i_b], d_b)
    assert np.array_equal(want[np.arange(len(xy)), i_k], d_k)
    assert i_b[0] == 40 and d_b[0] == 3.0


@pytest.mark.parametrize("distance", ["euclidean", "network"])
@pytest.mark.parametrize("facility", ["service_stations", "parking"])
def test_report_from_a_path_reads_less_and_says_the_same(sample_workspace, distance, facility):
    """Given a path, a coverage run reads only its layers and columns: same document."""
    from gridmap.analysis.report import coverage_report

    whole = io.load_workspace(sample_workspace)
    a = coverage_report(sample_workspace, facility, 400, distance=distance).to_json()
    b = coverage_report(whole, facility, 400, distance=distance).to_json()
    assert json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def test_aggregate_sums_equal_a_groupby(tmp_path):
    """The bincount sums per polygon equal pandas' groupby (NaN where no figure is known)."""
    from gridmap.analysis.coverage import aggregate

    rng = np.random.default_rng(5)
    n = 2000
    ids = rng.choice(np.array(["M1", "M2", "M3", None], dtype=object), n)
    res = rng.integers(0, 6, n).astype(float)
    res[rng.random(n) < 0.2] = np.nan
    res[ids == "M3"] = np.nan  # a micro-grid with no known figure at all
    hh = pd.DataFrame(
        {
            "microgrid_id": ids,
            "located": rng.random(n) < 0.95,
            "covered": rng.random(n) < 0.5,
            "residents": res,
            "elderly": rng.integers(0, 3, n).astype(float),
        }
    )
    mg = gpd.GeoDataFrame(
        {"microgrid_id": ["M1", "M2", "M3", "M4"], "name": list("abcd")},
        geometry=[box(i, 0, i + 1, 1) for i in range(4)],
        crs="EPSG:4326",
    )
    ws = io.Workspace(path=tmp_path / "w.gpkg", layers={"microgrids": mg})
    got, outside = aggregate(hh, "microgrid", ws)
    loc = hh[hh["located"] & hh["microgrid_id"].notna()]
    ref = loc.groupby("microgrid_id").agg(
        households=("covered", "size"),
        covered=("covered", "sum"),
        residents=("residents", lambda s: s.sum(min_count=1)),
    )
    got = got.set_index("microgrid_id")
    for mid in ("M1", "M2", "M3"):
        assert got.loc[mid, "households"] == ref.loc[mid, "households"]
        assert got.loc[mid, "covered"] == ref.loc[mid, "covered"]
        r = ref.loc[mid, "residents"]
        assert (math.isnan(r) and math.isnan(got.loc[mid, "residents"])) or got.loc[
            mid, "residents"
        ] == pytest.approx(r)
    assert math.isnan(got.loc["M3", "residents"])
    assert got.loc["M4", "households"] == 0 and got.loc["M4", "share"] != got.loc["M4", "share"]
    assert outside == int((hh["located"] & hh["microgrid_id"].isna()).sum())


def test_id_column_from_codes_equals_python_strings():
    """Ids taken from the vocabulary (Arrow) equal the object-array way, None where code -1."""
    from gridmap.analysis.coverage import _id_column

    vocab = np.array(["M1", "M10", "网格2"], dtype=str)
    code = np.array([0, -1, 2, 1, -1, 0], dtype=np.int32)
    got = _id_column(code, vocab, pd.RangeIndex(6))
    want = [None if c < 0 else str(vocab[c]) for c in code]
    assert [None if pd.isna(v) else v for v in got.tolist()] == want
    assert got.dtype == pd.Series(["x"]).dtype


def test_coded_join_of_many_households_equals_the_reference(tmp_path, monkeypatch):
    """Households joined as codes with the cached chain get the ids the core join gives."""
    from gridmap.analysis import coverage as cov
    from gridmap.analysis.report import coverage_report

    layers = random_layers(11, n_hh=600)
    ws = tmp_path / "w.gpkg"
    io.write_layers(ws, layers)
    monkeypatch.setattr(cov, "FAST_JOIN_POINTS", 10**9)
    ref = cov.make_context(io.load_workspace(ws), "euclidean")
    monkeypatch.setattr(cov, "FAST_JOIN_POINTS", 1)
    import gridmap.analysis.report as rep

    monkeypatch.setattr(rep, "FAST_JOIN_POINTS", 1)
    fast = cov.make_context(io.load_workspace(ws), "euclidean")
    assert fast.codes and not ref.codes
    for _, col in cov.LEVELS.values():
        a = ref.households[col].astype(object).where(ref.households[col].notna(), None)
        b = fast.households[col].astype(object).where(fast.households[col].notna(), None)
        assert a.tolist() == b.tolist()
    doc = coverage_report(ws, "service_stations", 300, distance="euclidean").to_json()
    monkeypatch.setattr(rep, "FAST_JOIN_POINTS", 10**9)
    monkeypatch.setattr(cov, "FAST_JOIN_POINTS", 10**9)
    slow = coverage_report(ws, "service_stations", 300, distance="euclidean").to_json()
    assert json.dumps(doc, sort_keys=True) == json.dumps(slow, sort_keys=True)


def test_coded_join_on_all_four_levels_equals_the_reference(sample_copy, monkeypatch):
    """The sample (communities, zones, grids, micro-grids): same ids at every level."""
    from gridmap.analysis import coverage as cov

    monkeypatch.setattr(cov, "FAST_JOIN_POINTS", 10**9)
    ref = cov.make_context(io.load_workspace(sample_copy), "euclidean")
    monkeypatch.setattr(cov, "FAST_JOIN_POINTS", 1)
    fast = cov.make_context(io.load_workspace(sample_copy), "euclidean")
    assert set(fast.codes) == {layer for layer, _ in cov.LEVELS.values()}
    for _, col in cov.LEVELS.values():
        a = ref.households[col].astype(object).where(ref.households[col].notna(), None)
        b = fast.households[col].astype(object).where(fast.households[col].notna(), None)
        assert a.notna().any() and a.tolist() == b.tolist()
