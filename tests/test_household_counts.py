"""Households per grid are counted once: coverage, the map (both paths), the API agree.

Every per-grid household figure comes from
:func:`gridmap.analysis.indicators.households_per_grid`; the sample has households
outside every micro-grid (the park lodge, counted in its grid) and outside every
grid (counted in none), so a second way of counting would show here.
"""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

import gridmap.datasets
from gridmap.analysis import coverage as cov
from gridmap.analysis.indicators import (
    basic_grid_indicators,
    grid_indicators,
    households_per_grid,
)
from gridmap.analysis.summary import summarise_workspace
from gridmap.join.core import assign_points, build_hierarchy
from gridmap.workspace import store as io


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    path = tmp_path_factory.mktemp("counts") / "community.gpkg"
    shutil.copyfile(gridmap.datasets.get_path("community"), path)
    ws = io.load_workspace(path)
    a = assign_points(ws.require("households"), build_hierarchy(ws.layers))
    return path, ws, a


def _expected(ws, a) -> pd.Series:
    ids = [str(g) for g in ws.require("grids")["grid_id"]]
    return a["grid_id"].dropna().astype(str).value_counts().reindex(ids).fillna(0).astype(int)


def test_the_sample_has_households_outside_microgrids_and_grids(sample):
    _, ws, a = sample
    in_grid_only = a["microgrid_id"].isna() & a["grid_id"].notna()
    assert in_grid_only.sum() > 0, "the sample should have households in a grid but no micro-grid"
    assert a["grid_id"].isna().sum() > 0, "the sample should have households in no grid"
    want = _expected(ws, a)
    assert want.sum() + int(a["grid_id"].isna().sum()) == len(ws.require("households"))


def test_coverage_map_and_api_count_the_same_households(sample):
    from fastapi.testclient import TestClient

    from gridmap.api import Settings, create_app
    from gridmap.maps.builder import prepare_map

    path, ws, a = sample
    want = _expected(ws, a)

    def check(name: str, got: pd.Series) -> None:
        got = got.copy()
        got.index = got.index.astype(str)
        got = got.reindex(want.index)
        assert got.notna().all(), f"{name}: grids missing"
        diff = got.astype(int) != want
        assert not diff.any(), f"{name} counts other households: {got[diff].to_dict()}"

    gi = grid_indicators(ws).set_index("grid_id")
    check("grid_indicators (gridmap coverage, the API)", gi["households"])
    full = prepare_map(ws, validate=False)
    check("the map", full.indicators["households"])
    fast = prepare_map(ws, validate=False, full_analysis_max_households=0)
    check("the map's fast path", fast.indicators["households"])
    by_grid = cov.compute_coverage(ws, "service_stations").by_level["grid"]
    check("coverage per grid", by_grid.set_index("grid_id")["households"])
    summary = summarise_workspace(ws, a)
    check("the workspace summary", summary.per_grid.set_index("grid_id")["households"])
    with TestClient(create_app(Settings(workspace=path))) as client:
        r = client.get("/collections/grid_stats/items", params={"limit": 1000})
        assert r.status_code == 200, r.text
        feats = r.json()["features"]
    api = pd.Series({f["properties"]["grid_id"]: f["properties"]["households"] for f in feats})
    check("the API's grid_stats", api)
    # residents and elderly too: the map shows the same figures as coverage
    for col in ("residents", "elderly", "elderly_share"):
        for name, ind in (("map", full.indicators), ("fast map", fast.indicators)):
            a_, b_ = ind[col].astype(float), gi[col].reindex(ind.index).astype(float)
            assert ((a_ - b_).abs() < 1e-9).all(), f"{name} {col} differs from grid_indicators"


def test_households_per_grid_counts_bad_figures_as_zero_and_no_grid_nowhere():
    grid_ids = pd.Series(["G1", "G1", None, "G2", "G1"])
    residents = pd.Series([3, -1, 5, "x", 2])
    got = households_per_grid(grid_ids, pd.Index(["G1", "G2", "G3"]), residents=residents)
    assert got["households"].tolist() == [3, 1, 0]
    assert got["residents"].tolist() == [5.0, 0.0, 0.0]
    assert got["elderly"].isna().all() and got["elderly_share"].isna().all()


def test_basic_indicators_without_households_have_no_household_columns(sample):
    _, ws, _ = sample
    out = basic_grid_indicators(ws, None)
    assert "households" not in out.columns and len(out) == len(ws.require("grids"))
