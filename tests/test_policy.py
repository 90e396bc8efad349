"""The shared policies: one id normaliser, one JSON-safe conversion."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridmap.policy.ids import normalise_id, normalise_id_columns, normalise_ids
from gridmap.policy.jsonsafe import json_default, json_records, json_safe, json_scalar


def test_whole_numbers_are_ids_without_decimals():
    """The decision: 12.0 (a spreadsheet or REAL column) is the id "12"."""
    assert normalise_id(12.0) == "12"
    assert normalise_id(np.float32(12)) == "12"
    assert normalise_id(np.int64(12)) == "12"
    assert normalise_id(12.5) == "12.5"
    assert list(normalise_ids(pd.Series([12.0, 12.5, np.nan]))) == ["12", "12.5", None]
    assert list(normalise_ids(pd.Series([1, None], dtype="Int64"))) == ["1", None]
    # text that looks like a number stays text
    assert normalise_id("12.0") == "12.0"


def test_text_ids_are_nfkc_without_invisible_characters():
    assert normalise_id("Ｇ１２") == "G12"
    assert normalise_id("\u200bG1\ufeff ") == "G1"
    assert normalise_id("G\u200d1") == "G1"
    assert normalise_id("\u3000网格1\u3000") == "网格1"
    assert normalise_id("  ") is None
    assert normalise_id("\u200b") is None


def test_missing_values_are_none():
    for v in (None, float("nan"), np.nan, pd.NA, pd.NaT, ""):
        assert normalise_id(v) is None
    assert list(normalise_ids([None, np.nan, pd.NA, "a"])) == [None, None, None, "a"]


def test_join_and_store_agree_on_a_real_column(tmp_path):
    """The store and the join read the same ids from a REAL id column (was '12' vs '12.0')."""
    import geopandas as gpd
    from shapely.geometry import Point, box

    from gridmap.join.core import assign_points, build_hierarchy
    from gridmap.workspace import store as io

    grids = gpd.GeoDataFrame(
        {"grid_id": [12.0, 13.0], "name": ["a", "b"]},
        geometry=[box(111.47, 35.64, 111.471, 35.641), box(111.471, 35.64, 111.472, 35.641)],
        crs="EPSG:4326",
    )
    pts = gpd.GeoDataFrame(
        geometry=[Point(111.4705, 35.6405), Point(111.4715, 35.6405)], crs="EPSG:4326"
    )
    assigned = assign_points(pts, build_hierarchy({"grids": grids}))
    assert list(assigned["grid_id"]) == ["12", "13"]
    path = tmp_path / "ws.gpkg"
    io.write_layers(path, {"grids": grids})
    assert sorted(io.read_layer(path, "grids")["grid_id"]) == ["12", "13"]


def test_id_columns_in_place():
    df = pd.DataFrame({"grid_id": [1.0, 2.0], "other": [1.0, 2.0]})
    out = normalise_id_columns(df, ["grid_id", "absent"])
    assert out is df
    assert list(df["grid_id"]) == ["1", "2"]
    assert df["grid_id"].dtype == object
    assert list(df["other"]) == [1.0, 2.0]


cells = st.one_of(
    st.none(),
    st.text(max_size=6),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=False, width=64),
    st.sampled_from(["\u200bG1", "Ｇ１", " x ", "\u3000", "\x1fy\t", "12.0"]),
)


@given(st.lists(cells, max_size=30))
def test_vectorised_equals_scalar(values):
    """normalise_ids over any column is normalise_id per value (text, numbers, mixed)."""
    want = [normalise_id(v) for v in values]
    assert list(normalise_ids(values)) == want
    # typed columns take the fast paths
    text = [v for v in values if isinstance(v, str)]
    assert list(normalise_ids(pd.Series(text, dtype=object))) == [normalise_id(v) for v in text]
    nums = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    assert list(normalise_ids(pd.Series(nums, dtype=float))) == [normalise_id(v) for v in nums]


def test_json_safe_values():
    assert json_scalar(np.int64(3)) == 3 and type(json_scalar(np.int64(3))) is int
    assert json_scalar(np.float64("nan")) is None
    assert json_scalar(float("inf")) is None
    assert json_scalar(pd.NA) is None and json_scalar(pd.NaT) is None
    assert json_scalar(np.bool_(True)) is True
    assert json_scalar("网格") == "网格"
    doc = {"a": [np.float64(1.5), float("nan"), (np.int32(2),)], "p": Path("x/y"), 3: {np.nan}}
    safe = json_safe(doc)
    assert safe == {"a": [1.5, None, [2]], "p": "x/y", "3": [None]}
    json.dumps(safe, allow_nan=False)
    assert json.dumps({"t": pd.Timestamp("2026-01-02")}, default=json_default) == (
        '{"t": "2026-01-02T00:00:00"}'
    )


def test_json_records_drop_geometry_and_nan():
    import geopandas as gpd
    from shapely.geometry import Point

    gdf = gpd.GeoDataFrame(
        {"grid_id": ["G1", "G2"], "share": [0.5, np.nan], "n": np.array([1, 2], dtype=np.int64)},
        geometry=[Point(0, 0), Point(1, 1)],
    )
    recs = json_records(gdf)
    assert recs == [
        {"grid_id": "G1", "share": 0.5, "n": 1},
        {"grid_id": "G2", "share": None, "n": 2},
    ]
    assert all(type(r["n"]) is int for r in recs)
    assert not any(isinstance(v, float) and math.isnan(v) for r in recs for v in r.values())


@pytest.mark.parametrize("bad", [float("nan"), float("-inf")])
def test_json_default_never_writes_nan(bad):
    text = json.dumps(json_safe({"v": bad, "w": np.float64(bad)}), allow_nan=False)
    assert text == '{"v": null, "w": null}'
