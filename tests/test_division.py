"""Grid codes and re-division proposals (gridmap.division), checked independently.

Contiguity is checked with libpysal's rook weights and networkx, not with the
method's own graph; households per grid are recounted with geopandas.sjoin.
"""

from __future__ import annotations

import json
import subprocess
import sys

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from conftest import SAMPLE, offline
from shapely.geometry import Point, box

from gridmap.division.codes import (
    check_codes,
    generate_codes,
    load_code_settings,
    reading_order,
)
from gridmap.division.divide import Band, DivisionError, propose_division
from gridmap.division.output import CHANGES_LAYER, grid_table
from gridmap.workspace import store

D = 0.001  # about 100 m near 35.6 N
X0, Y0 = 111.47, 35.64


def lattice_layers(
    nx_: int = 6,
    ny: int = 4,
    per: int = 40,
    island: bool = True,
    communities: int = 1,
) -> dict[str, gpd.GeoDataFrame]:
    """Micro-grid squares in one zone per community, today's grids of 2 columns each.

    With ``island``, zone Z1 also holds a detached micro-grid (not touching any
    other) with 12 households; every other micro-grid holds ``per`` households.
    """
    crs = "EPSG:4326"
    comm_rows, zone_rows, grid_rows, mg_rows, hh = [], [], [], [], []
    for c in range(communities):
        cx = X0 + c * (nx_ + 3) * D
        cid, zid = f"C{c + 1}", f"Z{c + 1}"
        comm_rows.append(
            {
                "community_id": cid,
                "name": f"社区{c + 1}",
                "geometry": box(cx, Y0, cx + (nx_ + 2) * D, Y0 + ny * D),
            }
        )
        zone_rows.append(
            {
                "zone_id": zid,
                "name": f"片区{c + 1}",
                "community_id": cid,
                "geometry": box(cx, Y0, cx + (nx_ + 2) * D, Y0 + ny * D),
            }
        )
        for gcol in range(nx_ // 2):
            gid = f"G{c + 1}{gcol + 1}"
            grid_rows.append(
                {
                    "grid_id": gid,
                    "name": f"网格{gid}",
                    "zone_id": zid,
                    "geometry": box(cx + 2 * gcol * D, Y0, cx + 2 * (gcol + 1) * D, Y0 + ny * D),
                }
            )
            for i in range(2 * gcol, 2 * gcol + 2):
                for j in range(ny):
                    mid = f"M{c + 1}{i:02d}{j:02d}"
                    sq = box(cx + i * D, Y0 + j * D, cx + (i + 1) * D, Y0 + (j + 1) * D)
                    mg_rows.append(
                        {"microgrid_id": mid, "name": mid, "grid_id": gid, "geometry": sq}
                    )
                    for k in range(per):
                        hh.append(
                            Point(
                                cx + (i + 0.1 + 0.8 * (k % 8) / 8) * D,
                                Y0 + (j + 0.1 + 0.8 * (k // 8) / 8) * D,
                            )
                        )
        if island and c == 0:
            gid = f"G{c + 1}9"
            sq = box(cx + (nx_ + 1) * D, Y0 + D, cx + (nx_ + 1.5) * D, Y0 + 1.5 * D)
            grid_rows.append({"grid_id": gid, "name": "岛", "zone_id": zid, "geometry": sq})
            mg_rows.append(
                {"microgrid_id": f"M{c + 1}99", "name": "岛", "grid_id": gid, "geometry": sq}
            )
            hh += [Point(cx + (nx_ + 1.25) * D, Y0 + 1.25 * D)] * 12
    households = gpd.GeoDataFrame(
        {"household_id": [f"H{k:05d}" for k in range(len(hh))]}, geometry=hh, crs=crs
    )
    return {
        "communities": gpd.GeoDataFrame(comm_rows, crs=crs),
        "zones": gpd.GeoDataFrame(zone_rows, crs=crs),
        "grids": gpd.GeoDataFrame(grid_rows, crs=crs),
        "microgrids": gpd.GeoDataFrame(mg_rows, crs=crs),
        "households": households,
    }


def rook_graph(microgrids: gpd.GeoDataFrame) -> nx.Graph:
    """Independent contiguity: libpysal rook weights (shared edge) as a networkx graph."""
    from libpysal.weights import Rook

    w = Rook.from_dataframe(
        microgrids.reset_index(drop=True), use_index=False, silence_warnings=True
    )
    g = nx.Graph()
    ids = list(microgrids["microgrid_id"].astype(str))
    g.add_nodes_from(ids)
    for i, nbrs in w.neighbors.items():
        for j in nbrs:
            g.add_edge(ids[i], ids[j])
    return g


def check_proposal(layers: dict, result, band: Band) -> None:
    """Every proposed grid contiguous, inside one unit, counted right, in band or explained."""
    mg = layers["microgrids"]
    table = result.microgrids
    # every micro-grid exactly once
    assert sorted(table["microgrid_id"]) == sorted(mg["microgrid_id"].astype(str))
    assert table["microgrid_id"].is_unique
    assert table["new_grid_id"].notna().all()
    graph = rook_graph(mg)
    zone_of = dict(zip(table["microgrid_id"], table["unit_id"], strict=True))
    # households recounted with geopandas
    joined = gpd.sjoin(
        layers["households"][["geometry"]], mg[["microgrid_id", "geometry"]], predicate="covered_by"
    )
    joined = joined.sort_values("microgrid_id").groupby(level=0).first()
    counts = joined["microgrid_id"].value_counts()
    for gid, grp in table.groupby("new_grid_id"):
        members = list(grp["microgrid_id"])
        assert nx.is_connected(graph.subgraph(members)), f"{gid} is not contiguous"
        assert len({zone_of[m] for m in members}) == 1, f"{gid} crosses a unit"
        n = int(counts.reindex(members).fillna(0).sum())
        row = result.grids.set_index("grid_id").loc[gid]
        assert int(row["households"]) == n
        if band.contains(n):
            assert bool(row["in_band"]) and row["reason"] == ""
        else:
            assert not bool(row["in_band"]) and row["reason"], f"{gid} out of band without a reason"


# --------------------------------------------------------------------- codes


def test_reading_order_runs_west_to_east_then_north_to_south():
    cells = [
        box(X0 + i * D, Y0 - j * D, X0 + (i + 1) * D, Y0 - (j - 1) * D)
        for j in range(3)
        for i in range(3)
    ]
    expected = list(range(9))  # built row by row from the north, west to east
    rng = np.random.default_rng(1)
    perm = rng.permutation(9)
    g = gpd.GeoSeries([cells[k] for k in perm], crs="EPSG:4326")
    got = [int(perm[k]) for k in reading_order(g)]
    assert got == expected


def test_cjt349_codes_are_valid_ordered_and_prefixed():
    layers = lattice_layers(island=False, communities=2)
    s = load_code_settings()
    layers["communities"]["community_code"] = ["141021100201", "141021100202"]
    res = generate_codes(
        layers,
        s.scheme("cjt349"),
        {"county": "141021", "street": "100", "service_object": "010100"},
    )
    t = res.table
    assert (t["code"].str.len() == 20).all() and t["code"].str.isdigit().all()
    assert t["code"].is_unique
    # layout: service object, county, street, community, sequence
    c1 = t[t["community_id"] == "C1"].sort_values("sequence")
    assert list(c1["code"].str[:6].unique()) == ["010100"]
    assert list(c1["code"].str[6:12].unique()) == ["141021"]
    assert list(c1["code"].str[12:15].unique()) == ["100"]
    assert list(c1["code"].str[15:18].unique()) == ["201"]
    assert list(t[t["community_id"] == "C2"]["code"].str[15:18].unique()) == ["202"]
    assert list(c1["code"].str[18:]) == ["01", "02", "03"]
    # west -> east: grids G11, G12, G13 are columns from the west
    assert list(c1["grid_id"]) == ["G11", "G12", "G13"]
    layers["grids"]["grid_code"] = layers["grids"]["grid_id"].map(res.codes)
    assert check_codes(layers) == []


def test_one_grid_community_gets_sequence_00_in_cjt349():
    layers = lattice_layers(nx_=2, island=False)
    res = generate_codes(
        layers,
        load_code_settings().scheme("cjt349"),
        {"county": "141021", "street": "100", "community": "001"},
    )
    assert list(res.table["code"]) == ["00000014102110000100"]


def test_db11_and_stat12_layouts():
    layers = lattice_layers(island=False)
    s = load_code_settings()
    for name in ("db11", "stat12"):
        res = generate_codes(
            layers, s.scheme(name), {"county": "110105", "street": "001", "community": "012"}
        )
        assert list(res.table.sort_values("sequence")["code"]) == [
            "110105001012001",
            "110105001012002",
            "110105001012003",
        ]


@pytest.mark.parametrize(
    "values, match",
    [
        ({"county": "14102", "street": "100"}, "county must be 6 digits"),
        ({"county": "141021", "street": "1a0"}, "street must be 3 digits"),
        ({"street": "100"}, "needs county"),
    ],
)
def test_bad_code_parts_are_named(values, match):
    with pytest.raises(Exception, match=match):
        generate_codes(lattice_layers(island=False), load_code_settings().scheme("cjt349"), values)


def test_check_codes_finds_format_duplicates_parent_and_order():
    layers = lattice_layers(island=False, communities=2)
    res = generate_codes(
        layers, load_code_settings().scheme("db11"), {"county": "110105", "street": "001"}
    )
    codes = layers["grids"]["grid_id"].map(res.codes)
    g = layers["grids"]
    g["grid_code"] = codes
    assert check_codes(layers) == []
    g.loc[g["grid_id"] == "G11", "grid_code"] = "11010500100100"  # 14 digits
    g.loc[g["grid_id"] == "G12", "grid_code"] = codes[g["grid_id"] == "G13"].iloc[0]  # duplicate
    # a C2 grid with C1's prefix
    c1_prefix = codes[g["grid_id"] == "G11"].iloc[0][:12]
    g.loc[g["grid_id"] == "G21", "grid_code"] = c1_prefix + "009"
    found = {f.code: f for f in check_codes(layers)}
    assert found["grid_code_format"].ids == ["G11"]
    assert sorted(found["grid_code_duplicate"].ids) == ["G12", "G13"]
    assert "G21" in found["grid_code_parent"].ids


def test_validate_reports_code_errors_and_codes_cli_writes_a_column(tmp_path):
    ws = tmp_path / "ws.gpkg"
    layers = lattice_layers(island=False)
    store.write_layers(ws, layers)
    env_cmd = [sys.executable, "-m", "gridmap"]
    r = subprocess.run(
        [
            *env_cmd,
            "codes",
            str(ws),
            "--scheme",
            "cjt349",
            "--county",
            "141021",
            "--street",
            "100",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["written"] and len(doc["codes"]) == 3
    grids = store.read_layer(ws, "grids")
    assert list(grids["grid_id"]) == ["G11", "G12", "G13"]  # ids stay
    assert grids["grid_code"].str.len().eq(20).all()
    r = subprocess.run(
        [*env_cmd, "validate", str(ws), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert not [f for f in json.loads(r.stdout)["findings"] if f["code"].startswith("grid_code")]
    grids.loc[0, "grid_code"] = grids.loc[1, "grid_code"]
    store.write_layers(ws, {"grids": grids})
    r = subprocess.run(
        [*env_cmd, "validate", str(ws), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 1
    dup = [f for f in json.loads(r.stdout)["findings"] if f["code"] == "grid_code_duplicate"]
    assert dup and sorted(dup[0]["ids"]) == ["G11", "G12"]


# ------------------------------------------------------------------- divide


def test_band_parsing():
    assert Band.parse("300-500") == Band(300, 500)
    assert Band.parse("300–500") == Band(300, 500)
    for bad in ("300", "500-300", "a-b", "0-10"):
        with pytest.raises(DivisionError, match="households"):
            Band.parse(bad)


def test_lattice_split_and_island_reason():
    layers = lattice_layers()  # 3 grids of 8 micro-grids x 40 = 320 households, an island of 12
    band = Band(100, 180)
    res = propose_division(layers, band)
    check_proposal(layers, res, band)
    island = res.grids.set_index("grid_id").loc[
        res.microgrids.set_index("microgrid_id").at["M199", "new_grid_id"]
    ]
    assert not island["in_band"] and "island" in island["reason"]
    inside = res.grids[res.grids["households"] > 12]
    assert inside["in_band"].all()


def test_grids_already_in_band_are_left_alone():
    layers = lattice_layers(island=False)
    res = propose_division(layers, "300-400")
    assert res.moved == 0
    assert sorted(res.grids["grid_id"]) == ["G11", "G12", "G13"]


def test_unit_with_too_few_households_is_explained():
    layers = lattice_layers(nx_=2, ny=1, per=10, island=False)  # one grid, 20 households
    res = propose_division(layers, "300-500")
    check_proposal(layers, res, Band(300, 500))
    assert "only 20 households" in res.grids["reason"].iloc[0]


def test_sample_proposal_is_valid_and_in_band():
    ws = store.load_workspace(SAMPLE)
    band = Band(300, 500)
    res = propose_division(ws.layers, band)
    check_proposal(ws.layers, res, band)
    assert res.grids["in_band"].all()
    # stays inside its zone: the grid outline lies in the zone polygon
    zones = ws.layers["zones"].set_index("zone_id")
    for row in res.grids.itertuples():
        assert zones.geometry[row.unit_id].buffer(1e-6).covers(row.geometry)
    table = grid_table(res)
    assert set(table["status"]) <= {"kept", "changed", "new", "removed"}


def test_maxp_reference_is_valid_and_meets_the_floor():
    layers = lattice_layers(island=False)  # spopt's heuristic is slow: a small unit
    band = Band(100, 200)
    res = propose_division(layers, band, method="maxp")
    graph = rook_graph(layers["microgrids"])
    for _gid, grp in res.microgrids.groupby("new_grid_id"):
        assert nx.is_connected(graph.subgraph(list(grp["microgrid_id"])))
    assert (res.grids["households"] >= band.low).all()
    assert sorted(res.microgrids["microgrid_id"]) == sorted(layers["microgrids"]["microgrid_id"])


def test_divide_cli_writes_a_separate_workspace_xlsx_and_map(tmp_path):
    ws = tmp_path / "ws.gpkg"
    ws.write_bytes(SAMPLE.read_bytes())
    before = ws.read_bytes()
    out = tmp_path / "p" / "proposal.gpkg"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "gridmap",
            "divide",
            str(ws),
            "--households",
            "300-500",
            "--out",
            str(out),
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["after"]["in_band"] == doc["after"]["grids"]
    assert ws.read_bytes() == before  # the user's workspace is untouched
    prop = store.load_workspace(out)
    assert set(prop.layers["grids"]["grid_id"]) == set(doc and prop.layers["microgrids"]["grid_id"])
    changes = prop.layers[CHANGES_LAYER]
    assert len(changes) == len(prop.layers["microgrids"]) and changes["microgrid_id"].is_unique
    xl = pd.read_excel(out.with_suffix(".xlsx"), sheet_name=None)
    assert "微网格变更" in xl and "网格前后对比" in xl
    assert len(xl["微网格变更"]) == len(changes)
    html = out.with_suffix(".html").read_text(encoding="utf-8")
    assert "调整方案" in html and "http://" not in html.replace("http://www.w3.org", "")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "gridmap",
            "divide",
            str(ws),
            "--households",
            "300-500",
            "--out",
            str(ws),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 2 and "must not overwrite" in r.stderr
    assert ws.read_bytes() == before


def test_synthetic_city_proposal_is_valid():
    """A bigger synthetic town (5 zones, 1,200 micro-grids) through the same checks."""
    from gridmap.datasets.synth import synth_layers

    layers = synth_layers(seed=5, households=24000, microgrids=1200, grids=60, zones=5)
    band = Band(300, 500)
    res = propose_division(layers, band)
    check_proposal(layers, res, band)
    summary = res.summary()
    assert summary["after"]["in_band"] >= 0.9 * summary["after"]["grids"]


def test_division_map_in_chromium_toggles_before_and_after(chromium, tmp_path):
    """The before/after map opens offline in Debian's chromium, both layers labelled."""
    from gridmap.maps.division import write_division_map

    ws = store.load_workspace(SAMPLE)
    res = propose_division(ws.layers, "300-500")
    html = write_division_map(res, ws.layers["grids"], tmp_path / "d.html", lang="en")
    errors, requests = [], []
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

        offline(page, requests)
        page.goto(html.as_uri())
        labels_after = page.locator(".leaflet-tooltip").all_inner_texts()
        page.locator(".leaflet-control-layers").get_by_text("Grids today", exact=True).click()
        # a removed layer's tooltips fade out for 200 ms before they leave the DOM
        page.wait_for_function(
            f"document.querySelectorAll('.leaflet-tooltip').length === {len(res.before)}"
        )
        labels_before = page.locator(".leaflet-tooltip").all_inner_texts()
        page.screenshot(path=str(tmp_path / "d.png"))
    finally:
        context.close()
    assert not errors and not requests
    assert len(labels_after) == len(res.grids) and len(labels_before) == len(res.before)
    after_counts = sorted(int(t.split("·")[1].split()[0]) for t in labels_after)
    assert after_counts == sorted(res.grids["households"].astype(int))
    before_ids = sorted(t.split("·")[0].strip() for t in labels_before)
    assert before_ids == sorted(res.before["grid_id"])
