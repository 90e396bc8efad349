"""Issue 14 (and issue 12, failure 4): address forms people really type, streets that
are not in the registry, rooms and buildings that do not exist, flats no grid owns.

Each test here fails on the code before issue 14: the numbered failures (a similar
street answered, 〇 deleted, traditional characters not understood), every form of
"also seen", and the flat outside every polygon answered ``ok``.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from conftest import SAMPLE, tiny_layers
from shapely.geometry import Point

from gridmap.lookup import AddressRegistry
from gridmap.workspace import store as io


@pytest.fixture(scope="module")
def reg() -> AddressRegistry:
    return AddressRegistry.from_workspace(io.load_workspace(SAMPLE))


def _record(reg: AddressRegistry, street: str, building: str | None = None, pred=None):
    """The first registry record on ``street`` (and building) matching ``pred``: row."""
    recs = reg.records[(reg.records["street"] == street) & reg.records["microgrid_id"].notna()]
    if building is not None:
        recs = recs[recs["building"] == building]
    if pred is not None:
        recs = recs[recs.apply(pred, axis=1)]
    assert len(recs), (street, building)
    return recs.iloc[0]


def _single_owner_unit(reg, row) -> bool:
    r = reg.records
    same = r[(r["street"] == row["street"]) & (r["building"] == row["building"])]
    same = same[same["unit"] == row["unit"]]
    return same["microgrid_id"].nunique() == 1


# ------------------------------------------------------------ numbered failure 1
@pytest.mark.parametrize(
    ("query_street", "registry_street"),
    [
        ("人民东路", "人民路"),
        ("人民西路", "人民路"),
        ("人民一路", "人民路"),
        ("胜利东路", "胜利路"),
        ("新华南路", "新华路"),
        ("鼓楼南街", "鼓楼街"),
        ("西北街", "西南街"),
        ("西南二街", "西南街"),
        ("幸福二路", "幸福路"),
        ("人民街", "人民路"),
        ("幸福大道", "幸福路"),
        ("向阳巷", "向阳街"),
    ],
)
def test_a_street_not_in_the_registry_is_never_answered_for_a_similar_one(
    reg, query_street, registry_street
) -> None:
    row = _record(reg, registry_street)
    q = f"{query_street}{row['building']}号楼{row['unit']}单元{row['room']}室"
    res = reg.match_address(q)
    assert res.status != "ok", (q, res.status, res.matched_address)
    assert res.microgrid_id is None
    # the similar street may be offered, as a candidate of an ambiguous answer
    if res.status == "ambiguous":
        assert all(c.get("street") != query_street for c in res.candidates)
        assert registry_street in res.message


def test_a_genuine_typo_is_corrected_with_a_warning_naming_the_correction(reg) -> None:
    row = _record(reg, "向阳街")
    res = reg.match_address(f"向洋街{row['building']}号楼{row['unit']}单元{row['room']}")
    assert res.status == "ok" and res.microgrid_id == row["microgrid_id"]
    assert res.match_level == "fuzzy" and "street_corrected" in res.flags
    assert any("向阳街" in w and "向洋街" in w for w in res.warnings)
    # one edit from two registered streets that both have the flat: never a guess
    res = reg.match_address("东阳街6号楼1单元501")
    assert res.status == "ambiguous"


# ------------------------------------------------------------ numbered failure 2
@pytest.mark.parametrize("ling", ["〇", "○", "零"])
def test_ling_typed_inside_arabic_digits_is_zero(reg, ling) -> None:
    row = _record(reg, "幸福路", pred=lambda r: "0" in r["building"])
    q = f"幸福路{row['building'].replace('0', ling)}号楼{row['unit']}单元{row['room']}"
    res = reg.match_address(q)
    assert res.parsed["building"] == row["building"]
    row2 = _record(reg, "西南街", pred=lambda r: "0" in r["room"])
    q2 = f"西南街{row2['building']}号楼{row2['unit']}单元{row2['room'].replace('0', ling)}"
    res2 = reg.match_address(q2)
    assert (res2.status, res2.match_level, res2.microgrid_id) == (
        "ok",
        "exact",
        row2["microgrid_id"],
    ), q2


# ------------------------------------------------------------ numbered failure 3
def test_traditional_characters_and_lookalike_radicals(reg) -> None:
    row = _record(reg, "西南街", "3")
    simplified = f"西南街3号楼{row['unit']}单元{row['room']}"
    expect = reg.match_address(simplified)
    assert expect.status == "ok"
    for q in (
        f"樂昌鎮西南街3號樓{row['unit']}單元{row['room']}",
        f"\u2ec4南街3号楼{row['unit']}单元{row['room']}",  # ⻄ CJK RADICAL WEST TWO
        f"西南街3号楼\u200b{row['unit']}单元{row['room']}",  # zero-width space
    ):
        res = reg.match_address(q)
        assert (res.status, res.microgrid_id) == ("ok", expect.microgrid_id), q
    row = _record(reg, "文化路")
    res = reg.match_address(f"\u2f42化路{row['building']}号楼{row['unit']}单元{row['room']}")
    assert (res.status, res.microgrid_id) == ("ok", row["microgrid_id"])  # ⽂ KANGXI RADICAL


def test_an_unparseable_query_says_what_was_not_understood(reg) -> None:
    res = reg.match_address("西南街甲栋二单元")
    assert res.status == "not_found"
    assert "甲" in res.message and "西南街" in res.message


# ------------------------------------------------------------ also seen
def test_room_that_does_not_exist_says_room_unknown(reg) -> None:
    row = _record(reg, "西南街", "3", pred=lambda r: _single_owner_unit(reg, r))
    res = reg.match_address(f"西南街3-{row['unit']}-2502")
    assert res.status == "ok" and res.match_level == "building"
    assert "room_unknown" in res.flags and "2502" in res.message
    assert res.microgrid_id == row["microgrid_id"]
    assert reg.match_address(f"西南街3-{row['unit']}-{row['room']}").flags == []


def test_a_building_that_does_not_exist_is_not_answered_from_its_street(reg) -> None:
    res = reg.match_address("西南街99号楼1单元101")
    assert res.status != "ok" and res.microgrid_id is None


@pytest.mark.parametrize(
    "template",
    [
        "西南街{b}#楼{u}单元{r}",  # 3#楼 became 3号楼楼
        "西南街{b}号楼{u}单{r}",  # 单 without 元
        "西南街12号院{b}号楼{u}单元{r}",  # X号院X号楼
        "【西南街】{b}号楼{u}单元{r}室",  # street in brackets
        "{b}号楼{u}单元{r}室 西南街",  # street after the flat
        "西南街192号{b}号楼{u}单元{r}",  # door number before the building
        "西南街{u}单元{b}号楼{r}室",  # swapped order
        "{r}室{b}号楼{u}单元 西南街",  # swapped, street last
    ],
)
def test_more_real_forms(reg, template) -> None:
    row = _record(reg, "西南街", "3")
    q = template.format(b=row["building"], u=row["unit"], r=row["room"])
    res = reg.match_address(q)
    assert (res.status, res.microgrid_id) == ("ok", row["microgrid_id"]), (q, res.message)
    assert res.parsed["building"] == row["building"] and res.parsed["room"] == row["room"]


def test_a_leading_remark_in_brackets_is_still_a_remark(reg) -> None:
    """Only a bracket right before the building number is the street (guard, not a fix)."""
    row = _record(reg, "西南街", "3")
    res = reg.match_address(f"（东门）西南街3号楼{row['unit']}单元{row['room']}")
    assert (res.status, res.microgrid_id) == ("ok", row["microgrid_id"])


def test_pinyin_street_names_through_the_registry(reg) -> None:
    row = _record(reg, "向阳街")
    b, u, r = row["building"], row["unit"], row["room"]
    for q in (f"Xiangyang Jie {b}-{u}-{r}", f"xiangyang street {b}-{u}-{r}"):
        res = reg.match_address(q)
        assert res.parsed["building"] == b, res.parsed  # not "E13"
        assert (res.status, res.microgrid_id) == ("ok", row["microgrid_id"]), q
        assert "street_transliterated" in res.flags


def test_latin_street_names_are_left_whole() -> None:
    layers = tiny_layers()
    hh = layers["households"]
    hh.loc[hh.index[0], "address"] = "Unioninkatu 29"
    reg = AddressRegistry.from_workspace(io.Workspace(Path("mem.gpkg"), layers, (0, 0)))
    res = reg.match_address("Unioninkatu 29")
    assert res.parsed["street"] == "UNIONINKATU" and res.parsed["building"] == "29"
    assert res.parsed["unit"] is None
    assert res.status == "ok" and res.microgrid_id is not None


def test_compound_names_are_registry_aliases(tmp_path: Path) -> None:
    layers = tiny_layers()
    hh = layers["households"]
    hh["小区"] = "阳光小区"
    reg = AddressRegistry.from_workspace(io.Workspace(Path("mem.gpkg"), layers, (0, 0)))
    row = reg.records.dropna(subset=["microgrid_id"]).iloc[0]
    res = reg.match_address(f"阳光小区{row['building']}栋{row['unit']}单元{row['room']}")
    assert (res.status, res.microgrid_id) == ("ok", row["microgrid_id"])


# ------------------------------------------------------------ issue 12, failure 4
@pytest.mark.parametrize("address", ["Unioninkatu 29", "东关街5号楼1单元101室", "村委会旁平房"])
def test_a_flat_no_grid_owns_is_not_found_with_the_nearest_microgrid(address) -> None:
    layers = tiny_layers()
    x0, y0, d = 111.47, 35.64, 0.001
    out = gpd.GeoDataFrame(
        {"household_id": ["HX"], "address": [address]},
        geometry=[Point(x0 - 0.5 * d, y0 + 0.5 * d)],  # ~45 m west of micro-grid M01
        crs="EPSG:4326",
    )
    layers["households"] = gpd.GeoDataFrame(
        pd.concat([layers["households"], out], ignore_index=True), crs="EPSG:4326"
    )
    reg = AddressRegistry.from_workspace(io.Workspace(Path("mem.gpkg"), layers, (0, 0)))
    res = reg.match_address(address)
    assert res.status == "not_found", (res.status, res.match_level, res.message)
    assert res.owner == (None, None, None, None)
    assert res.nearest_microgrid is not None
    assert res.nearest_microgrid["microgrid_id"] == "M01"
    assert 30 < res.nearest_microgrid["distance_m"] < 60
    assert "M01" in res.message
    assert res.to_dict()["nearest_microgrid"] == res.nearest_microgrid


# ------------------------------------------------------------ batch output for the office
def _gridmap(args: list[str], cwd: Path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("GRIDMAP_WORKSPACE", None)
    return subprocess.run(
        [sys.executable, "-m", "gridmap", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=180,
    )


def _ambiguous_workspace(tmp_path: Path) -> Path:
    """tiny workspace plus 东南街/西南街 flats so a typo query is ambiguous."""
    layers = tiny_layers()
    hh = layers["households"].copy()
    twin = hh.iloc[[0]].copy()
    twin["household_id"] = "HT"
    twin["address"] = hh["address"].iloc[0].replace("西南街", "东南街")
    twin["geometry"] = [hh.geometry.iloc[5]]
    layers["households"] = gpd.GeoDataFrame(
        pd.concat([hh, twin], ignore_index=True), crs="EPSG:4326"
    )
    path = tmp_path / "w.gpkg"
    io.write_layers(path, layers)
    return path


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_batch_xlsx_for_the_office(tmp_path: Path, lang: str) -> None:
    import openpyxl

    ws_path = _ambiguous_workspace(tmp_path)
    reg = AddressRegistry.from_workspace(ws_path)
    first = reg.records["address"].iloc[0]
    typo = first.replace("西南街", "X南街")  # one edit from 西南街 and 东南街: ambiguous
    src = tmp_path / "工单.csv"
    src.write_text(
        "序号,户号,地址,电话,诉求\n"
        f"1,001,{first},13912345678,漏水\n"
        f"2,002,{typo},13800000000,噪音\n"
        "3,003,胡乱写的,13700000000,其他\n",
        encoding="utf-8",
    )
    out = tmp_path / "结果.xlsx"
    args = ["locate", "--batch", str(src), "--out", str(out), "-w", str(ws_path)]
    r = _gridmap([*args, "--lang", lang] if lang == "en" else args, tmp_path)
    assert r.returncode == 0, r.stderr
    wb = openpyxl.load_workbook(out)
    sh = wb.active
    header = [c.value for c in sh[1]]
    # the input's columns first, in order; then the lookup's
    assert header[:5] == ["序号", "户号", "地址", "电话", "诉求"]
    words = (
        ("匹配状态", "需人工核对", "微网格编号", "候选（地址：网格/微网格）", "说明")
        if lang == "zh"
        else ("status", "review", "microgrid_id", "candidates", "message")
    )
    for w in words:
        assert w in header, header
    col = {h: i + 1 for i, h in enumerate(header)}
    status = words[0]
    assert sh.freeze_panes == "A2"
    assert sh.auto_filter.ref and sh.auto_filter.ref.startswith("A1:")
    assert sh.column_dimensions["C"].width >= 20  # the address column fits its text
    # numbers as numbers, ids and phones as text; rows in the input's order
    assert [sh.cell(row=i, column=1).value for i in (2, 3, 4)] == [1, 2, 3]
    assert [sh.cell(row=i, column=2).value for i in (2, 3, 4)] == ["001", "002", "003"]
    assert sh.cell(row=2, column=4).value == "13912345678"
    assert isinstance(
        sh.cell(row=2, column=col["匹配分" if lang == "zh" else "score"]).value, (int, float)
    )
    ok, amb = ("已匹配", "待确认") if lang == "zh" else ("ok", "ambiguous")
    assert sh.cell(row=2, column=col[status]).value == ok
    assert sh.cell(row=3, column=col[status]).value == amb
    # review rows highlighted, the others not
    fills = [sh.cell(row=i, column=1).fill.fgColor.rgb for i in (2, 3, 4)]
    assert (
        fills[0] in (None, "00000000")
        and fills[1].endswith("FFF2CC")
        and fills[2].endswith("FFF2CC")
    )
    # candidates with their addresses and owners
    cand = sh.cell(row=3, column=col[words[3]]).value
    assert "西南街" in cand and "东南街" in cand and "M0" in cand


def test_a_ledgers_compound_column_gives_aliases(tmp_path: Path, tiny_workspace: Path) -> None:
    src = tmp_path / "台账.csv"
    src.write_text(
        "门牌地址,小区,microgrid_id,grid_id\n"
        "建设路88号3号楼2单元501室,阳光小区,M01,G1\n"
        "建设路90号1号楼1单元101室,锦绣家园;锦绣苑,M05,G3\n",
        encoding="utf-8",
    )
    reg = AddressRegistry.from_table(src, address_col="门牌地址")
    assert reg.match_address("阳光小区3栋2单元501").microgrid_id == "M01"
    for q in ("锦绣家园1-1-101", "锦绣苑1号楼1单元101"):
        res = reg.match_address(q)
        assert (res.status, res.microgrid_id) == ("ok", "M05"), q
