"""The summary printed by the main job: layer counts, households per grid, unassigned households."""

from __future__ import annotations

import json
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pytest
from conftest import tiny_layers
from rich.console import Console
from shapely.geometry import Point, box

from gridmap.analysis.summary import COMPACT_GRIDS, summarise_workspace
from gridmap.cli.render import print_summary
from gridmap.workspace import store as io


def _printed(summary, width: int = 100) -> str:
    console = Console(width=width, record=True, force_terminal=False, color_system=None)
    print_summary(summary, console)
    return console.export_text()


@pytest.fixture
def tiny_ws(tiny_workspace) -> io.Workspace:
    return io.load_workspace(tiny_workspace)


def test_counts_and_households_per_grid(tiny_ws):
    s = summarise_workspace(tiny_ws)
    assert s.layer_counts == {name: len(gdf) for name, gdf in tiny_layers().items()}
    assert s.households == 6
    # independent reference: which grid polygon covers each household (smallest id on edges)
    hh, grids = tiny_ws.get("households"), tiny_ws.get("grids")
    j = gpd.sjoin(hh, grids[["grid_id", "geometry"]], predicate="covered_by")
    owner = (
        j.sort_values("grid_id")
        .drop_duplicates("household_id")
        .set_index("household_id")["grid_id"]
    )
    expected = owner.value_counts().reindex(grids["grid_id"]).fillna(0).astype(int).to_dict()
    got = dict(zip(s.per_grid["grid_id"], s.per_grid["households"], strict=True))
    assert got == expected == {"G1": 3, "G2": 0, "G3": 1, "G4": 1}
    assert s.no_grid == len(hh) - len(owner) == 1


def test_unassigned_with_nearest_microgrid(tiny_ws):
    s = summarise_workspace(tiny_ws)
    assert set(s.unassigned["household_id"]) == {"H4", "H5"}
    hh, mg = tiny_ws.get("households"), tiny_ws.get("microgrids")
    metric = hh.estimate_utm_crs()
    hm, mm = hh.to_crs(metric).set_index("household_id"), mg.to_crs(metric)
    for r in s.unassigned.itertuples(index=False):
        d = mm.distance(hm.loc[r.household_id].geometry).to_numpy()
        assert abs(r.nearest_microgrid_m - d.min()) < 0.2
        best = set(mm["microgrid_id"][np.isclose(d, d.min(), atol=0.2)])
        assert r.nearest_microgrid_id in best
    # the farthest comes first
    assert s.unassigned["nearest_microgrid_m"].is_monotonic_decreasing


def test_printed_summary_is_compact_and_private(tiny_ws):
    text = _printed(summarise_workspace(tiny_ws))
    for layer in ("communities", "zones", "grids", "microgrids", "households", "service_stations"):
        assert layer in text
    assert "households per grid" in text and "一网格" in text
    assert "2 households not in any micro-grid" in text and "H5" in text and "H4" in text
    for secret in ("赵一", "西南街1号楼1单元101室", "13700000000", "张伟", "13800000001", "党员1"):
        assert secret not in text
    assert max(len(line) for line in text.splitlines()) <= 100


def test_many_grids_show_largest_and_smallest(tmp_path):
    n = COMPACT_GRIDS + 20
    d = 0.001
    grids = gpd.GeoDataFrame(
        {"grid_id": [f"G{i:03d}" for i in range(n)], "name": [f"网格{i}" for i in range(n)]},
        geometry=[box(111 + i * d, 35, 111 + (i + 1) * d, 35 + d) for i in range(n)],
        crs=4326,
    )
    # grid i holds i households
    pts = [
        Point(111 + i * d + d / 2, 35 + d * (k + 1) / (i + 2)) for i in range(n) for k in range(i)
    ]
    hh = gpd.GeoDataFrame(
        {"household_id": [f"H{k}" for k in range(len(pts))]}, geometry=pts, crs=4326
    )
    path = tmp_path / "many.gpkg"
    io.write_layers(path, {"grids": grids, "households": hh})
    s = summarise_workspace(path)
    assert s.per_grid.set_index("grid_id")["households"].to_dict() == {
        f"G{i:03d}": i for i in range(n)
    }
    text = _printed(s)
    assert f"{n} grids; the 10 largest and 10 smallest shown" in text
    assert f"网格{n - 1}" in text and "网格0 " in text and f"网格{n // 2}" not in text


def test_summary_without_households(tmp_path):
    layers = tiny_layers()
    del layers["households"]
    path = tmp_path / "nohh.gpkg"
    io.write_layers(path, layers)
    s = summarise_workspace(path)
    assert s.households == 0 and len(s.unassigned) == 0
    _printed(s)  # prints without failing


def test_cli_json_summary(tiny_workspace, tmp_path):
    out = tmp_path / "m.html"
    args = ["map", str(tiny_workspace), "--out", str(out), "--basemap", "none", "--format", "json"]
    r = subprocess.run(
        [sys.executable, "-m", "gridmap", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["map"] == str(out) and out.exists()
    assert doc["layers"]["grids"] == 4 and doc["households"] == 6
    assert {g["grid_id"]: g["households"] for g in doc["households_per_grid"]}["G1"] == 3
    assert doc["households_not_in_microgrid"] == 2
    assert {u["household_id"] for u in doc["unassigned"]} == {"H4", "H5"}


def test_no_false_all_inside_claim_without_microgrids_or_households(tmp_path):
    """'Every household is inside a micro-grid' only when there are micro-grids and households."""
    layers = tiny_layers()
    del layers["microgrids"]
    layers["grids"]["name"] = ["[b]一", "二", "三", "四"]  # user text, not rich markup
    io.write_layers(tmp_path / "g.gpkg", layers)
    text = _printed(summarise_workspace(tmp_path / "g.gpkg"))
    assert "Every household is inside a micro-grid" not in text
    assert "no micro-grids" in text and "[b]一" in text
    layers = tiny_layers()
    layers["households"] = layers["households"].iloc[:0]
    io.write_layers(tmp_path / "e.gpkg", layers)
    text = _printed(summarise_workspace(tmp_path / "e.gpkg"))
    assert "Every household is inside a micro-grid" not in text and "no households" in text


def test_no_microgrids_means_null_not_zero(tmp_path):
    from conftest import tiny_layers

    from gridmap.analysis.summary import summarise_workspace
    from gridmap.workspace import store as io

    layers = tiny_layers()
    del layers["microgrids"]
    p = tmp_path / "no-micro.gpkg"
    io.write_layers(p, layers)
    d = summarise_workspace(p).to_dict()
    assert d["households_not_in_microgrid"] is None
    assert d["households_in_no_grid"] == 1
