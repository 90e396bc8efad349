"""Standards file: defaults documented, user files replace them, every grid checked."""

from __future__ import annotations

import geopandas as gpd
import pytest
from conftest import tiny_layers
from test_coverage import random_layers

from gridmap.analysis.indicators import check_standards, grid_indicators
from gridmap.analysis.standards import default_standards_path, load_standards
from gridmap.errors import InputFileError, SchemaError
from gridmap.workspace import store as io


def test_packaged_standards_are_documented():
    std = load_standards()
    assert std.radii == {"service_stations": 1000.0, "charging_piles": 500.0, "parking": 300.0}
    ids = {r.id for r in std.rules}
    assert {"station_15min", "parking_per_household", "grid_size", "microgrid_size"} <= ids
    for r in std.rules:
        assert r.source.strip(), f"rule {r.id} has no source"
    text = default_standards_path().read_text(encoding="utf-8")
    assert "GB 50180-2018" in text and "完整居住社区建设标准" in text


def test_every_grid_gets_every_rule_with_independent_figures(tmp_path):
    layers = random_layers(4, n_hh=300, n_fac=3)
    path = tmp_path / "w.gpkg"
    io.write_layers(path, layers)
    ws = io.load_workspace(path)
    rules = tmp_path / "rules.toml"
    rules.write_text(
        """
[radii]
service_stations = 250

[[rule]]
id = "size"
rule = "40-60 households"
indicator = "households"
min = 40
max = 60
source = "test"

[[rule]]
id = "reach"
rule = "≥ 50 % within 250 m"
indicator = "coverage_share"
facility = "service_stations"
min = 0.5
source = "test"
""",
        encoding="utf-8",
    )
    res = check_standards(ws, rules, distance="euclidean")
    assert len(res) == 6 * 2
    assert list(res.columns[:6]) == ["grid_id", "rule_id", "rule", "value", "threshold", "passed"]
    # independent household count per grid: geopandas point-in-polygon
    joined = gpd.sjoin(layers["households"], layers["grids"][["grid_id", "geometry"]])
    counts = joined.groupby("grid_id").size()
    size = res[res["rule_id"] == "size"].set_index("grid_id")
    for gid, n in counts.items():
        assert size.loc[gid, "value"] == n
        assert size.loc[gid, "passed"] == (40 <= n <= 60)
    assert (size["threshold"] == "40–60").all()
    reach = res[res["rule_id"] == "reach"].set_index("grid_id")
    ind = grid_indicators(ws, standards=rules, distance="euclidean").set_index("grid_id")
    for gid in reach.index:
        v = ind.loc[gid, "coverage_share_service_stations_250m"]
        assert reach.loc[gid, "value"] == pytest.approx(v)
        assert reach.loc[gid, "passed"] == (v >= 0.5)


def test_grid_without_households_is_na_not_nan(tiny_workspace):
    res = check_standards(io.load_workspace(tiny_workspace), distance="euclidean")
    g2 = res[(res["grid_id"] == "G2") & (res["rule_id"] == "station_15min")].iloc[0]
    assert g2["value"] is None and g2["passed"] is None
    size = res[(res["grid_id"] == "G1") & (res["rule_id"] == "grid_size")].iloc[0]
    assert size["value"] == 3 and size["passed"] is False


def test_households_per_station_without_station_fails_a_maximum(tmp_path, tiny_workspace):
    rules = tmp_path / "r.toml"
    rules.write_text(
        '[[rule]]\nid = "hps"\nindicator = "households_per_station"\nmax = 1000\n',
        encoding="utf-8",
    )
    res = check_standards(tiny_workspace, rules, distance="euclidean").set_index("grid_id")
    assert res.loc["G1", "passed"] is False and res.loc["G1", "value"] is None  # no station
    assert res.loc["G2", "passed"] is True  # the station, no households: 0 per station


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("[[rule]\nid=", "not valid TOML"),
        ('[[rule]]\nid = "x"\nindicator = "happiness"\nmin = 1\n', "unknown indicator"),
        ('[[rule]]\nid = "x"\nindicator = "households"\n', "give 'min'"),
        ('[[rule]]\nid = "x"\nindicator = "coverage_share"\nmin = 1\n', "needs a 'facility'"),
        ('[[rule]]\nid = "x"\nindicator = "households"\nmin = "many"\n', "must be a number"),
        ("[radii]\nparking = -3\n", "positive"),
        ('[decay]\nkind = "linear"\n', "decay"),
        ('[[rule]]\nid = "x"\nindicator = "households"\nmin = 500\nmax = 300\n', "greater"),
        (
            '[[rule]]\nid = "x"\nindicator = "microgrids_in_range_share"\nmin = 1\n'
            "range_min = 15\nrange_max = 5\n",
            "'range_min' (15) is greater",
        ),
    ],
)
def test_bad_standards_files_name_file_and_rule(tmp_path, text, fragment):
    p = tmp_path / "bad.toml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises((InputFileError, SchemaError)) as exc:
        load_standards(p)
    assert fragment in str(exc.value)
    assert str(p) in str(exc.value)


def test_missing_standards_file(tmp_path):
    with pytest.raises(InputFileError):
        load_standards(tmp_path / "nope.toml")


def test_decay_option_changes_accessibility(tmp_path):
    layers = tiny_layers()
    path = tmp_path / "d.gpkg"
    io.write_layers(path, layers)
    rules = tmp_path / "g.toml"
    rules.write_text('[decay]\nkind = "gaussian"\n', encoding="utf-8")
    flat = grid_indicators(io.load_workspace(path), distance="euclidean")
    gauss = grid_indicators(io.load_workspace(path), standards=rules, distance="euclidean")
    col = "access_2sfca_charging_piles_500m"
    assert (flat[col].fillna(0) != gauss[col].fillna(0)).any()
