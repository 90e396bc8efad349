"""gridmap import: real files on disk (CSV in GBK/UTF-8-BOM, XLSX, GeoJSON, Shapefile, KML)."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pyogrio
import pytest
import shapely
from conftest import REPO, tiny_layers
from shapely.geometry import Point, box

from gridmap.coords import crs as crs
from gridmap.errors import CoordinateError, CRSError, InputFileError, SchemaError
from gridmap.ingest.importer import (
    detect_encoding,
    find_coordinate_columns,
    import_layer,
    normalise_header,
    read_input,
)
from gridmap.workspace import store as io

GRIDMAP = str(Path(sys.executable).with_name("gridmap"))  # the environment the tests run in
X0, Y0, D = 111.47, 35.64, 0.001

# WGS84 originals inside the tiny community (4 D x 2 D box)
ORIG = [
    (X0 + 0.5 * D, Y0 + 0.5 * D),
    (X0 + 1.3 * D, Y0 + 1.7 * D),
    (X0 + 2.5 * D, Y0 + 0.4 * D),
    (X0 + 3.2 * D, Y0 + 0.9 * D),
]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dist_m(a, b) -> float:
    return float(crs.haversine_m(a[0], a[1], b[0], b[1]))


def write_csv(path: Path, header: list[str], rows: list[list], encoding: str) -> Path:
    with open(path, "w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture
def ws(tiny_workspace: Path) -> Path:
    return tiny_workspace


def test_gbk_csv_with_gcj02_coordinates(tmp_path, ws):
    glon, glat = crs.wgs84_to_gcj02([p[0] for p in ORIG], [p[1] for p in ORIG])
    rows = [
        [
            f"00{k}",
            f"{glon[k]:.9f}",
            f"{glat[k]:.9f}",
            f"西南街{k}号楼1单元101室",
            "王五",
            "13900000000",
            k + 1,
        ]
        for k in range(len(ORIG))
    ]
    src = write_csv(
        tmp_path / "台账.csv",
        ["户号", "经度", "纬度", "地址", "户主", "电话", "residents"],
        rows,
        "gbk",
    )
    with pytest.raises(UnicodeDecodeError):
        src.read_bytes().decode("utf-8")  # really GBK on disk
    rep = import_layer(ws, "households", src, crs="gcj02")
    assert rep.encoding == "gb18030" and rep.source_crs == "gcj02"
    assert rep.rows_read == rep.imported == 4 and rep.skipped == []
    assert rep.renamed == {"户号": "household_id", "地址": "address"}
    got = io.read_layer(ws, "households")
    assert list(got["household_id"]) == ["000", "001", "002", "003"]  # leading zeros kept
    for k, g in enumerate(got.geometry):
        assert dist_m((g.x, g.y), ORIG[k]) < 0.5
        assert dist_m((glon[k], glat[k]), ORIG[k]) > 100  # the shift was real
    # Chinese text intact, under the name address lookup reads
    assert list(got["address"]) == [r[3] for r in rows] and "地址" not in got.columns
    assert list(got["residents"]) == [1, 2, 3, 4]
    assert list(got["电话"]) == ["13900000000"] * 4  # phone stays text


def test_utf8_bom_csv_lon_lat_headers(tmp_path, ws):
    rows = [[f"P{k}", ORIG[k][0], ORIG[k][1], 2] for k in range(3)]
    src = write_csv(
        tmp_path / "piles.csv",
        [" Longitude ", "LAT", "pile_id", "ports"],
        [[r[1], r[2], r[0], r[3]] for r in rows],
        "utf-8-sig",
    )
    assert src.read_bytes().startswith(b"\xef\xbb\xbf")
    rep = import_layer(ws, "charging_piles", src)
    assert rep.encoding == "utf-8-sig" and rep.crs_assumed
    got = io.read_layer(ws, "charging_piles")
    assert list(got["pile_id"]) == ["P0", "P1", "P2"]
    assert got.geometry.iloc[1].x == pytest.approx(ORIG[1][0], abs=1e-12)


def test_xlsx_with_lon_lat_and_bd09(tmp_path, ws):
    bx, by = crs.wgs84_to_bd09([p[0] for p in ORIG], [p[1] for p in ORIG])
    wb = openpyxl.Workbook()
    sh = wb.active
    sh.title = "驿站"
    sh.append(["station_id", "name", "lng", "lat", "staff_on_site"])
    for k in range(len(ORIG)):
        sh.append([f"00{k + 1}", f"驿站{k + 1}", float(bx[k]), float(by[k]), k % 2])
    src = tmp_path / "stations.xlsx"
    wb.save(src)
    rep = import_layer(ws, "service_stations", src, crs="bd09", sheet="驿站")
    assert rep.imported == 4 and rep.encoding is None
    got = io.read_layer(ws, "service_stations")
    assert list(got["station_id"]) == ["001", "002", "003", "004"]
    for k, g in enumerate(got.geometry):
        assert dist_m((g.x, g.y), ORIG[k]) < 0.5
    with pytest.raises(InputFileError, match=r"no sheet 'Sheet9'.*驿站"):
        import_layer(ws, "service_stations", src, crs="bd09", sheet="Sheet9")


def test_geojson_polygons(tmp_path, ws):
    grids = tiny_layers()["grids"].copy()
    grids["grid_id"] = ["007", "008", "009", "010"]
    src = tmp_path / "grids.geojson"
    pyogrio.write_dataframe(grids, src, driver="GeoJSON")
    rep = import_layer(ws, "grids", src)
    assert rep.imported == 4 and rep.row_numbering.startswith("feature")
    got = io.read_layer(ws, "grids")
    assert list(got["grid_id"]) == ["007", "008", "009", "010"]
    assert got.geometry.iloc[0].equals(grids.geometry.iloc[0])


def test_shapefile_projected_and_missing_prj(tmp_path, ws):
    mg = tiny_layers()["microgrids"][["microgrid_id", "name", "grid_id", "geometry"]]
    projected = mg.to_crs(4547)  # CGCS2000 / 3-degree Gauss-Kruger CM 114E
    src = tmp_path / "mg.shp"
    with pytest.warns(RuntimeWarning, match="laundered"):
        pyogrio.write_dataframe(projected, src, encoding="UTF-8")
    rep = import_layer(ws, "microgrids", src)
    assert rep.source_crs == "EPSG:4547"
    got = io.read_layer(ws, "microgrids")
    assert got.geometry.iloc[0].normalize().equals_exact(mg.geometry.iloc[0].normalize(), 1e-8)
    assert rep.renamed == {"microgrid_": "microgrid_id"}  # Shapefile's 10-byte field names
    assert list(got["name"]) == list(mg["name"])
    before = sha(ws)
    src.with_suffix(".prj").unlink()
    with pytest.raises(CRSError, match=r"\.prj.*crs="):
        import_layer(ws, "microgrids", src)
    assert sha(ws) == before
    rep = import_layer(ws, "microgrids", src, crs="4547")
    g3 = io.read_layer(ws, "microgrids").geometry.iloc[3]
    assert g3.normalize().equals_exact(mg.geometry.iloc[3].normalize(), 1e-8)


@pytest.mark.parametrize("encoding", ["GBK", "UTF-8"])
def test_shapefile_without_cpg_is_decoded_and_long_names_restored(tmp_path, ws, encoding):
    """A Chinese Shapefile without .cpg (code page unmarked): text is detected, not garbled."""
    grids = tiny_layers()["grids"].to_crs(4547)
    src = tmp_path / "grids.shp"
    with pytest.warns(RuntimeWarning, match="laundered"):
        pyogrio.write_dataframe(grids, src, encoding=encoding)
    src.with_suffix(".cpg").unlink()
    dbf = src.with_suffix(".dbf").read_bytes()
    assert dbf[29] == 0 and "一网格".encode(encoding.lower()) in dbf  # really unmarked
    rep = import_layer(ws, "grids", src)
    got = io.read_layer(ws, "grids")
    assert list(got["name"]) == ["一网格", "二网格", "三网格", "四网格"]
    assert list(got["staff_name"]) == ["张伟", "王芳", "李娜", "刘洋"]
    # staff_phone was cut to staff_phon by the Shapefile: stored under its real name
    assert rep.renamed == {"staff_phon": "staff_phone"}
    assert list(got["staff_phone"]) == list(tiny_layers()["grids"]["staff_phone"])
    assert rep.encoding == {"GBK": "gb18030", "UTF-8": "utf-8"}[encoding]
    assert any(".cpg" in n for n in rep.notes)
    # the same Shapefile zipped, as it arrives by mail or WeChat
    import zipfile

    zipped = tmp_path / "grids.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        for part in tmp_path.glob("grids.*"):
            if part.suffix != ".zip":
                zf.write(part, part.name)
    import_layer(ws, "grids", zipped)
    assert list(io.read_layer(ws, "grids")["name"]) == ["一网格", "二网格", "三网格", "四网格"]
    # an explicit --encoding wins, an unknown one is a clear error
    import_layer(ws, "grids", src, encoding="latin-1")
    assert io.read_layer(ws, "grids")["name"].iloc[0] != "一网格"
    with pytest.raises(InputFileError, match="unknown encoding='nope'"):
        import_layer(ws, "grids", src, encoding="nope")


def test_projected_table_without_crs_asks_for_the_epsg_code(tmp_path, ws):
    """X/Y in metres (CGCS2000 Gauss-Krüger) without --crs: one clear error, then it imports."""
    from pyproj import Transformer

    t = Transformer.from_crs(4326, 4547, always_xy=True)
    rows = [[f"N{k}", *(round(v, 3) for v in t.transform(*p))] for k, p in enumerate(ORIG)]
    src = write_csv(tmp_path / "xy.csv", ["编号", "X", "Y"], rows, "gbk")
    before = sha(ws)
    with pytest.raises(CRSError, match=r"not degrees \(X = \d+\.\d+, Y = .*crs=4547"):
        import_layer(ws, "households", src)
    assert sha(ws) == before
    rep = import_layer(ws, "households", src, crs="4547")
    got = io.read_layer(ws, "households")
    assert rep.imported == 4
    for g, p in zip(got.geometry, ORIG, strict=True):
        assert dist_m((g.x, g.y), p) < 0.01


def test_xlsx_data_on_second_sheet_and_old_xls(tmp_path, ws):
    """A cover sheet first: the error names the other sheets; .xls asks for .xlsx."""
    book = openpyxl.Workbook()
    book.active.title = "说明"
    book.active["A1"] = "本表为住户台账"
    data = book.create_sheet("住户")
    data.append(["户号", "经度", "纬度"])
    data.append(["001", *ORIG[0]])
    src = tmp_path / "two.xlsx"
    book.save(src)
    before = sha(ws)
    with pytest.raises(InputFileError, match=r"the workbook also has: 住户.*sheet=NAME"):
        import_layer(ws, "households", src)
    assert sha(ws) == before
    assert import_layer(ws, "households", src, sheet="住户").imported == 1
    old = tmp_path / "ledger.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))  # OLE2 header
    with pytest.raises(InputFileError, match=r"\.xls files are not read.*\.xlsx"):
        import_layer(ws, "households", old)


@pytest.mark.parametrize(
    ("lon_h", "lat_h", "system"),
    [
        ("经度(GCJ02)", "纬度(GCJ02)", "gcj02"),
        ("百度经度", "百度纬度", "bd09"),
        ("lng_gcj", "lat", "gcj02"),
    ],
)
def test_crs_named_in_the_headers_is_used(tmp_path, ws, lon_h, lat_h, system):
    """Headers such as 经度(GCJ02) say the system: converted, not silently taken as WGS84."""
    fwd = crs.wgs84_to_gcj02 if system == "gcj02" else crs.wgs84_to_bd09
    rows = [[f"N{k}", *fwd(*p)] for k, p in enumerate(ORIG)]
    src = write_csv(tmp_path / "h.csv", ["户号", lon_h, lat_h], rows, "gbk")
    rep = import_layer(ws, "households", src)
    assert rep.source_crs == system and not rep.crs_assumed
    assert any("say the coordinates are" in n for n in rep.notes)
    got = io.read_layer(ws, "households")
    for g, p in zip(got.geometry, ORIG, strict=True):
        assert dist_m((g.x, g.y), p) < 0.5
    # an explicit --crs wins, with a note
    rep = import_layer(ws, "households", src, crs="wgs84", shift_check=False)
    assert rep.source_crs == "EPSG:4326" and any("was used as given" in n for n in rep.notes)


def test_one_coordinate_column_lng_comma_lat(tmp_path, ws):
    """Amap-style "lng,lat" in one column (坐标), under a title row; a half-filled cell is a bad row."""
    g = [crs.wgs84_to_gcj02(*p) for p in ORIG]
    src = tmp_path / "one.csv"
    lines = ["住户台账", "户号,高德坐标"]
    lines += [f'N{k},"{x:.8f},{y:.8f}"' for k, (x, y) in enumerate(g[:3])]
    lines += [f"N3,{g[3][0]:.8f}", f'N4,"{g[3][0]:.8f}， {g[3][1]:.8f}"']
    src.write_text("\n".join(lines) + "\n", encoding="gbk")
    before = sha(ws)
    with pytest.raises(CoordinateError, match=r"row 6: empty coordinate"):
        import_layer(ws, "households", src)
    assert sha(ws) == before
    rep = import_layer(ws, "households", src, skip_bad_rows=True)
    assert rep.imported == 4 and rep.source_crs == "gcj02"
    got = io.read_layer(ws, "households").set_index("household_id")
    for k, p in enumerate([*ORIG[:3], ORIG[3]]):
        hid = f"N{k}" if k < 3 else "N4"
        assert dist_m((got.geometry[hid].x, got.geometry[hid].y), p) < 0.5


def _dms(v: float, pos: str, neg: str) -> str:
    """Degrees-minutes-seconds text as in office ledgers: 111°28'12.35"E."""
    a = abs(v)
    d, rem = int(a), (a - int(a)) * 60
    m, sec = int(rem), (rem - int(rem)) * 60
    return f"{d}°{m}'{sec:.3f}\"{pos if v >= 0 else neg}"


def test_degrees_minutes_seconds_are_read(tmp_path, ws):
    rows = [[f"N{k}", _dms(x, "E", "W"), _dms(y, "N", "S")] for k, (x, y) in enumerate(ORIG)]
    rows.append(["N9", "111°75'00\"E", "35°38'00\"N"])  # 75 minutes: not a position
    src = write_csv(tmp_path / "dms.csv", ["户号", "经度", "纬度"], rows, "utf-8")
    with pytest.raises(CoordinateError, match=r"row 6: not a number"):
        import_layer(ws, "households", src)
    rep = import_layer(ws, "households", src, skip_bad_rows=True)
    assert rep.imported == 4
    got = io.read_layer(ws, "households")
    for g, p in zip(got.geometry, ORIG, strict=True):
        assert dist_m((g.x, g.y), p) < 0.1  # 0.001" is 3 cm


def test_geojson_numeric_feature_ids_are_kept(tmp_path, ws):
    """Feature-level "id": 11 (not a property) would otherwise vanish into GDAL's FID."""
    grids = tiny_layers()["grids"][["name", "geometry"]]
    doc = json.loads(grids.to_json())
    for k, feat in enumerate(doc["features"]):
        feat["id"] = 11 + k
        feat["properties"].pop("id", None)
    src = tmp_path / "g.geojson"
    src.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    rep = import_layer(ws, "grids", src)
    assert rep.renamed == {"id": "grid_id"}
    assert list(io.read_layer(ws, "grids")["grid_id"]) == ["11", "12", "13", "14"]


def test_shapefile_whose_cpg_lies(tmp_path, ws):
    """A .cpg saying UTF-8 on a GBK .dbf: detected and read right; a wrong --encoding is an error."""
    grids = tiny_layers()["grids"]
    src = tmp_path / "grids.shp"
    with pytest.warns(RuntimeWarning, match="laundered"):
        pyogrio.write_dataframe(grids, src, encoding="GBK")
    src.with_suffix(".cpg").write_text("UTF-8")
    rep = import_layer(ws, "grids", src)
    assert list(io.read_layer(ws, "grids")["name"]) == ["一网格", "二网格", "三网格", "四网格"]
    assert rep.encoding == "gb18030" and any("its .cpg names" in n for n in rep.notes)
    before = sha(ws)
    with pytest.raises(InputFileError, match=r"cannot be read as utf-8.*encoding="):
        import_layer(ws, "grids", src, encoding="utf-8")
    assert sha(ws) == before


def test_survey_table_with_x_northing_is_explained(tmp_path, ws):
    """Chinese survey tables put the northing in X: the error says which columns to swap."""
    from pyproj import Transformer

    t = Transformer.from_crs(4326, 4546, always_xy=True)  # CGCS2000 GK CM 111E
    en = [t.transform(*p) for p in ORIG]
    rows = [[f"N{k}", round(n, 3), round(e, 3)] for k, (e, n) in enumerate(en)]
    src = write_csv(tmp_path / "survey.csv", ["编号", "X", "Y"], rows, "gbk")
    before = sha(ws)
    with pytest.raises(CoordinateError, match=r"look swapped.*lon_col=Y lat_col=X"):
        import_layer(ws, "households", src, crs="4546")
    assert sha(ws) == before
    import_layer(ws, "households", src, crs="4546", lon_col="Y", lat_col="X")
    got = io.read_layer(ws, "households")
    for g, p in zip(got.geometry, ORIG, strict=True):
        assert dist_m((g.x, g.y), p) < 0.01


def test_import_says_when_assign_must_run_again(tmp_path, ws):
    from gridmap.join.assign import assign_workspace

    assign_workspace(ws)
    src = tmp_path / "mg.geojson"
    tiny_layers()["microgrids"].to_file(src)
    rep = import_layer(ws, "microgrids", src)
    assert any("households" in n and "gridmap assign' again" in n for n in rep.notes)
    csv_src = write_csv(tmp_path / "h.csv", ["户号", "经度", "纬度"], [["N1", *ORIG[0]]], "utf-8")
    rep = import_layer(ws, "households", csv_src)
    assert any("run 'gridmap assign' to write microgrid_id" in n for n in rep.notes)


def test_fid_column_from_a_qgis_export_is_kept_as_source_fid(tmp_path, ws):
    rows = [["1", "A", *ORIG[0]], ["1", "B", *ORIG[1]], ["x", "C", *ORIG[2]]]
    src = write_csv(tmp_path / "f.csv", ["fid", "户号", "经度", "纬度"], rows, "utf-8")
    rep = import_layer(ws, "households", src)
    assert rep.renamed["fid"] == "source_fid"
    assert list(io.read_layer(ws, "households")["source_fid"]) == ["1", "1", "x"]


def test_layer_of_the_same_name_is_taken_from_another_workspace(tmp_path, ws):
    other = tmp_path / "district.gpkg"
    layers = tiny_layers()
    io.write_layers(other, {"grids": layers["grids"].to_crs(4547), "zones": layers["zones"]})
    rep = import_layer(ws, "grids", other)
    assert any("its layer 'grids' was read" in n for n in rep.notes)
    assert list(io.read_layer(ws, "grids")["grid_id"]) == ["G1", "G2", "G3", "G4"]
    with pytest.raises(InputFileError, match="choose one with source_layer=NAME"):
        import_layer(ws, "microgrids", other)


def test_ledger_headers_of_optional_columns_are_recognised(tmp_path, ws):
    """地址/人口/老年人数 become address/residents/elderly (lookup and coverage read those);
    two candidates for one column rename neither."""
    rows = [["A", "西南街3号楼2单元501室", "3", "1", "x", *ORIG[0]]]
    header = ["户号", "地址", "人口", "老年人数", "备注", "经度", "纬度"]
    rep = import_layer(ws, "households", write_csv(tmp_path / "a.csv", header, rows, "gbk"))
    assert rep.renamed == {"户号": "household_id", "地址": "address", "人口": "residents",
                           "老年人数": "elderly"}  # fmt: skip
    got = io.read_layer(ws, "households")
    assert got["address"].iloc[0] == "西南街3号楼2单元501室"
    assert int(got["residents"].iloc[0]) == 3 and int(got["elderly"].iloc[0]) == 1
    header2 = ["户号", "地址", "住址", "经度", "纬度"]
    rows2 = [["A", "甲", "乙", *ORIG[0]]]
    rep = import_layer(ws, "households", write_csv(tmp_path / "b.csv", header2, rows2, "utf-8"))
    assert "address" not in rep.renamed.values()


def test_kml_points(tmp_path, ws):
    hh = gpd.GeoDataFrame(
        {"household_id": ["H1", "H2"]}, geometry=[Point(*ORIG[0]), Point(*ORIG[2])], crs=4326
    )
    src = tmp_path / "h.kml"
    pyogrio.write_dataframe(hh, src, driver="KML")
    rep = import_layer(ws, "households", src)
    assert rep.imported == 2
    got = io.read_layer(ws, "households")
    assert sorted(got["household_id"]) == ["H1", "H2"]


def bad_csv(tmp_path: Path) -> Path:
    rows = [
        ["H1", ORIG[0][0], ORIG[0][1]],  # row 2 ok
        ["H2", "", ORIG[1][1]],  # row 3 empty lon
        ["H3", ORIG[2][1], ORIG[2][0]],  # row 4 swapped
        ["H4", 211.47, 35.64],  # row 5 out of range
        ["H5", "111.47abc", 35.64],  # row 6 not a number
        ["H6", ORIG[3][0], ORIG[3][1]],  # row 7 ok
        ["H7", 116.40, 39.90],  # row 8 Beijing: far from the workspace
    ]
    return write_csv(tmp_path / "bad.csv", ["household_id", "lon", "lat"], rows, "utf-8")


def test_bad_rows_fail_and_leave_workspace_unchanged(tmp_path, ws):
    src = bad_csv(tmp_path)
    before = sha(ws)
    with pytest.raises(CoordinateError) as info:
        import_layer(ws, "households", src)
    msg = str(info.value)
    for row, word in [
        (3, "empty"),
        (4, "swapped"),
        (5, "out of range"),
        (6, "not a number"),
        (8, "km from"),
    ]:
        assert f"row {row}: " in msg and word in msg
    assert "row 2:" not in msg and "row 7:" not in msg
    assert "header = row 1" in msg and "Nothing was written" in msg
    assert sha(ws) == before
    assert list(io.read_layer(ws, "households")["household_id"]) == [f"H{k}" for k in range(1, 7)]
    assert not (tmp_path / "bad.skipped.csv").exists()


def test_skip_bad_rows_writes_report(tmp_path, ws):
    src = bad_csv(tmp_path)
    report = tmp_path / "out" / "skipped.csv"
    rep = import_layer(ws, "households", src, skip_bad_rows=True, report=report)
    assert rep.imported == 2 and rep.skipped_rows == 5
    assert list(io.read_layer(ws, "households")["household_id"]) == ["H1", "H6"]
    with open(report, encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["row"]) for r in rows] == [3, 4, 5, 6, 8]
    assert "swapped" in rows[1]["reason"]


def test_read_input_reports_without_raising(tmp_path):
    data = read_input(bad_csv(tmp_path))
    assert sorted(data.gdf.index) == [2, 7, 8]  # no extent given: Beijing is not "far"
    assert [p.row for p in data.problems] == [3, 4, 5, 6]


def test_duplicate_and_empty_ids(tmp_path, ws):
    rows = [["007", *ORIG[0]], ["008", *ORIG[1]], ["007", *ORIG[2]], ["", *ORIG[3]]]
    src = write_csv(tmp_path / "dup.csv", ["household_id", "经度", "纬度"], rows, "utf-8")
    before = sha(ws)
    with pytest.raises(SchemaError) as info:
        import_layer(ws, "households", src)
    msg = str(info.value)
    assert "row 2: duplicate id '007' (also in row 4)" in msg
    assert "row 4: duplicate id '007' (also in row 2)" in msg
    assert "row 5: empty id" in msg
    assert sha(ws) == before
    rep = import_layer(ws, "households", src, skip_bad_rows=True, report=tmp_path / "r.csv")
    assert list(io.read_layer(ws, "households")["household_id"]) == ["008"]
    assert rep.skipped_rows == 3


def test_missing_id_column_and_id_col_option(tmp_path, ws):
    src = write_csv(tmp_path / "x.csv", ["门牌", "lon", "lat"], [["A1", *ORIG[0]]], "utf-8")
    with pytest.raises(SchemaError, match=r"household_id.*门牌.*id_col=NAME"):
        import_layer(ws, "households", src)
    rep = import_layer(ws, "households", src, id_col="门牌")
    assert rep.renamed == {"门牌": "household_id"}
    assert list(io.read_layer(ws, "households")["household_id"]) == ["A1"]


def test_unrecognised_headers_list_what_was_found(tmp_path):
    src = write_csv(tmp_path / "x.csv", ["id", "east", "north"], [["1", "1", "2"]], "utf-8")
    with pytest.raises(InputFileError) as info:
        read_input(src)
    assert "id, east, north" in str(info.value) and "lon_col=NAME" in str(info.value)
    data = read_input(src, lon_col="east", lat_col="north")
    assert data.gdf.geometry.iloc[0].equals(Point(1, 2))


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (["经度", "纬度"], ("经度", "纬度")),
        (["东经", "北纬"], ("东经", "北纬")),
        (["X坐标", "Y坐标"], ("X坐标", "Y坐标")),
        (["x", "y", "lng", "lat"], ("lng", "lat")),
        (["Longitude (°)", " Latitude"], ("Longitude (°)", " Latitude")),
        (["经度（GCJ02）", "纬度（GCJ02）"], ("经度（GCJ02）", "纬度（GCJ02）")),
        (["LONG", "LAT"], ("LONG", "LAT")),
    ],
)
def test_header_recognition(headers, expected):
    assert find_coordinate_columns(headers) == expected


def test_normalise_header():
    assert normalise_header(" Ｌｏｎ ") == "lon"
    assert normalise_header("经度（°）") == "经度"


def test_detect_encoding():
    assert detect_encoding("经度".encode("gbk")) == "gb18030"
    assert detect_encoding("经度".encode()) == "utf-8"
    assert detect_encoding("\ufeff经度".encode()) == "utf-8-sig"


def test_polygon_layer_from_csv_is_refused(tmp_path, ws):
    src = write_csv(
        tmp_path / "g.csv", ["grid_id", "name", "lon", "lat"], [["G1", "a", *ORIG[0]]], "utf-8"
    )
    with pytest.raises(InputFileError, match="polygon layer"):
        import_layer(ws, "grids", src)


def test_wrong_geometry_type_rows(tmp_path, ws):
    gdf = gpd.GeoDataFrame(
        {"household_id": ["H1", "H2"]},
        geometry=[Point(*ORIG[0]), box(X0, Y0, X0 + D, Y0 + D)],
        crs=4326,
    )
    src = tmp_path / "h.gpkg"
    pyogrio.write_dataframe(gdf, src, layer="h")
    with pytest.raises((CoordinateError, SchemaError), match="row 2: geometry is Polygon"):
        import_layer(ws, "households", src)


def test_new_workspace_is_created(tmp_path):
    src = tmp_path / "grids.geojson"
    pyogrio.write_dataframe(tiny_layers()["grids"], src, driver="GeoJSON")
    target = tmp_path / "new" / "ws.gpkg"
    import_layer(target, "grids", src)
    assert io.list_layers(target) == ["grids"]


def test_atomic_failure_midway_leaves_workspace_readable(tmp_path, ws, monkeypatch):
    """Even a crash inside the GeoPackage write leaves the old workspace intact."""
    src = write_csv(
        tmp_path / "ok.csv", ["household_id", "lon", "lat"], [["N1", *ORIG[0]]], "utf-8"
    )
    before = sha(ws)

    def boom(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(io.pyogrio, "write_dataframe", boom)
    with pytest.raises(OSError):
        import_layer(ws, "households", src)
    monkeypatch.undo()
    assert sha(ws) == before
    io.check_sqlite(ws)
    assert len(io.read_layer(ws, "households")) == 6
    assert not list(ws.parent.glob(".*.tmp.gpkg"))


def _run(*args):
    return subprocess.run([GRIDMAP, *args], capture_output=True, text=True, timeout=120)


def test_cli_import_summary_and_errors(tmp_path, ws):
    glon, glat = crs.wgs84_to_gcj02(ORIG[0][0], ORIG[0][1])
    src = write_csv(
        tmp_path / "h.csv",
        ["户号", "经度", "纬度", "户主", "电话"],
        [["001", glon, glat, "王秘密", "13912345678"]],
        "gbk",
    )
    ok = _run("import", "households", str(src), "--workspace", str(ws), "--crs", "gcj02")
    assert ok.returncode == 0, ok.stderr
    assert (
        "imported 1 of 1" in ok.stdout
        and "gb18030" in ok.stdout
        and "gcj02 -> EPSG:4326" in ok.stdout
    )
    assert "王秘密" not in ok.stdout + ok.stderr and "13912345678" not in ok.stdout + ok.stderr

    before = sha(ws)
    bad = _run("import", "households", str(bad_csv(tmp_path)), "-w", str(ws))
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    lines = [line for line in bad.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "row 3" in lines[0] and "--skip-bad-rows" in lines[0]
    assert sha(ws) == before

    skip = _run("import", "households", str(bad_csv(tmp_path)), "-w", str(ws), "--skip-bad-rows")
    assert skip.returncode == 0 and "skipped 5 rows" in skip.stdout
    assert (tmp_path / "bad.skipped.csv").exists()

    missing = _run("import", "households", str(tmp_path / "nope.csv"), "-w", str(ws))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr

    badcrs = _run("import", "households", str(src), "-w", str(ws), "--crs", "mars")
    assert badcrs.returncode == 2 and "unknown coordinate system 'mars'" in badcrs.stderr


def test_cli_import_prints_crs_assumption_and_bracketed_names(tmp_path, ws):
    """Text in square brackets (the CRS assumption, headers like 经度[GCJ02]) is printed as is."""
    src = write_csv(
        tmp_path / "h.csv", ["户号", "经度", "纬度", "备注[说明]"], [["N1", *ORIG[0], "x"]], "utf-8"
    )
    ok = _run("import", "households", str(src), "-w", str(ws))
    assert ok.returncode == 0, ok.stderr
    out = " ".join(ok.stdout.split())
    assert "[assumed: the table names no CRS; use --crs gcj02" in out


def test_sample_workspace_round_trip(tmp_path, sample_copy):
    """Export the sample's households to a GBK CSV in GCJ-02 and import them back."""
    hh = io.read_layer(sample_copy, "households")
    gx, gy = crs.wgs84_to_gcj02(hh.geometry.x.to_numpy(), hh.geometry.y.to_numpy())
    rows = [[i, f"{x:.9f}", f"{y:.9f}"] for i, x, y in zip(hh["household_id"], gx, gy, strict=True)]
    src = write_csv(tmp_path / "hh.csv", ["户号", "经度", "纬度"], rows, "gbk")
    rep = import_layer(sample_copy, "households", src, crs="gcj02")
    assert rep.imported == len(hh)
    back = io.read_layer(sample_copy, "households")
    d = crs.haversine_m(
        back.geometry.x.to_numpy(),
        back.geometry.y.to_numpy(),
        hh.geometry.x.to_numpy(),
        hh.geometry.y.to_numpy(),
    )
    assert np.max(d) < 0.5


def test_xlsx_ledger_with_title_rows_keeps_excel_row_numbers(tmp_path, ws):
    wb = openpyxl.Workbook()
    sh = wb.active
    sh["A1"] = "西南社区住户台账（2026年11月）"
    sh.merge_cells("A1:D1")
    # row 2 left blank, header in row 3
    sh.append([])
    sh.append(["编号", "经度", "纬度", "人口"])
    sh.append(["007", ORIG[0][0], ORIG[0][1], 3])  # row 4
    sh.append(["008", ORIG[1][0], None, 2])  # row 5: empty latitude
    sh.append([])  # row 6 blank
    sh.append(["009", ORIG[2][0], ORIG[2][1], 1])  # row 7
    src = tmp_path / "ledger.xlsx"
    wb.save(src)
    with pytest.raises(CoordinateError) as info:
        import_layer(ws, "households", src)
    assert "row 5: empty coordinate (纬度)" in str(info.value)
    assert "header = row 3" in str(info.value)
    rep = import_layer(ws, "households", src, skip_bad_rows=True, report=tmp_path / "r.csv")
    assert [p.row for p in rep.skipped] == [5]
    assert any("row 3" in n for n in rep.notes)
    got = io.read_layer(ws, "households")
    assert list(got["household_id"]) == ["007", "009"] and list(got["residents"]) == [3, 1]


def test_duplicate_of_a_bad_row_is_reported(tmp_path, ws):
    rows = [["H1", *ORIG[0]], ["H1", "", ""], ["H2", *ORIG[1]]]
    src = write_csv(tmp_path / "d.csv", ["household_id", "lon", "lat"], rows, "utf-8")
    rep = import_layer(ws, "households", src, skip_bad_rows=True, report=tmp_path / "r.csv")
    # neither H1 row is guessed to be the right one
    assert sorted({p.row for p in rep.skipped}) == [2, 3]
    assert list(io.read_layer(ws, "households")["household_id"]) == ["H2"]


def _bowtie_geojson(tmp_path: Path) -> Path:
    x, y = X0 + D, Y0
    mg = gpd.GeoDataFrame(
        {"microgrid_id": ["M01", "M02"], "name": ["一", "二"]},
        geometry=[
            box(X0, Y0, X0 + D, Y0 + D),
            shapely.Polygon([(x, y), (x + D, y + D), (x + D, y), (x, y + D)]),
        ],
        crs=4326,
    )
    src = tmp_path / "mg.geojson"
    pyogrio.write_dataframe(mg, src, driver="GeoJSON")
    return src


def test_invalid_polygon_refused_or_repaired_on_request(tmp_path, ws):
    src = _bowtie_geojson(tmp_path)
    before = sha(ws)
    with pytest.raises(SchemaError) as info:
        import_layer(ws, "microgrids", src)
    msg = str(info.value)
    assert "row 2: microgrid_id M02: invalid polygon: Self-intersection" in msg
    assert "make_valid=True" in msg and sha(ws) == before
    rep = import_layer(ws, "microgrids", src, make_valid=True)
    assert any("M02" in n and "make_valid" in n for n in rep.notes)
    got = io.read_layer(ws, "microgrids")
    g = got.loc[got["microgrid_id"] == "M02", "geometry"].iloc[0]
    assert g.is_valid and g.geom_type == "MultiPolygon" and len(got) == 2


@pytest.mark.filterwarnings("ignore:Non closed ring")
def test_unclosed_ring_names_the_feature(tmp_path, ws):
    ring = [[X0, Y0], [X0 + D, Y0], [X0 + D, Y0 + D], [X0, Y0 + D]]  # last point missing
    closed = [*ring, ring[0]]
    doc = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"microgrid_id": "M01", "name": "一"},
             "geometry": {"type": "Polygon", "coordinates": [closed]}},
            {"type": "Feature", "properties": {"microgrid_id": "M02", "name": "二"},
             "geometry": {"type": "Polygon", "coordinates": [ring]}},
        ],
    }  # fmt: skip
    src = tmp_path / "open.geojson"
    src.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(InputFileError) as info:
        import_layer(ws, "microgrids", src)
    assert "feature 2 (M02)" in str(info.value) and "not closed" in str(info.value)
    assert "IllegalArgumentException" not in str(info.value)


def test_gcj02_labelled_wgs84_is_refused_with_hint(tmp_path, ws):
    glon, glat = crs.wgs84_to_gcj02([p[0] for p in ORIG], [p[1] for p in ORIG])
    rows = [[f"H{k}", glon[k], glat[k]] for k in range(len(ORIG))]
    src = write_csv(tmp_path / "amap.csv", ["household_id", "lon", "lat"], rows, "utf-8")
    before = sha(ws)
    with pytest.raises(CoordinateError) as info:
        import_layer(ws, "households", src, crs="wgs84")
    msg = str(info.value)
    assert "0 of 4 points" in msg and "4 of 4 do when read as gcj02" in msg
    assert "crs=gcj02" in msg and sha(ws) == before
    # the user's word wins when they insist
    rep = import_layer(ws, "households", src, crs="wgs84", shift_check=False)
    assert rep.imported == 4
    # real WGS84 points pass the check
    rows = [[f"H{k}", *ORIG[k]] for k in range(len(ORIG))]
    ok = write_csv(tmp_path / "wgs.csv", ["household_id", "lon", "lat"], rows, "utf-8")
    assert import_layer(ws, "households", ok, crs="wgs84").imported == 4


def test_mixed_encoding_names_the_row(tmp_path, ws):
    lines = ["household_id,地址,lon,lat\n"] + [
        f"H{k},西南街{k}号楼,{ORIG[k][0]},{ORIG[k][1]}\n" for k in range(3)
    ]
    data = b"".join(line.encode("utf-8" if k == 2 else "gbk") for k, line in enumerate(lines))
    src = tmp_path / "mixed.csv"
    src.write_bytes(data)
    with pytest.raises(InputFileError) as info:
        import_layer(ws, "households", src)
    assert "row 3 cannot be read as GBK/GB18030" in str(info.value) and "encoding=" in str(
        info.value
    )
    with pytest.raises(InputFileError, match="not readable as utf-8: rows 1, 2, 4 cannot"):
        import_layer(ws, "households", src, encoding="utf-8")


@pytest.mark.parametrize("name", ["empty.csv", "empty.geojson", "empty.xlsx"])
def test_zero_byte_input(tmp_path, ws, name):
    src = tmp_path / name
    src.write_bytes(b"")
    with pytest.raises(InputFileError, match=r"empty \(0 bytes\)"):
        import_layer(ws, "households", src)


def test_truncated_geopackage_input(tmp_path, ws):
    full = tmp_path / "full.gpkg"
    pts = gpd.GeoDataFrame(
        {"household_id": [f"H{i}" for i in range(300)]},
        geometry=[Point(*ORIG[i % 4]) for i in range(300)],
        crs=4326,
    )
    pyogrio.write_dataframe(pts, full, layer="households")
    cut = tmp_path / "cut.gpkg"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(InputFileError, match="damaged or incomplete"):
        import_layer(ws, "households", cut)


def test_two_row_header_is_explained(tmp_path, ws):
    wb = openpyxl.Workbook()
    sh = wb.active
    sh["A1"] = "台账"
    sh.append(["户号", "地址", "坐标", None])
    sh.merge_cells("C2:D2")
    sh.append([None, None, "经度", "纬度"])
    sh.append(["H1", "西南街1号楼", ORIG[0][0], ORIG[0][1]])
    src = tmp_path / "two.xlsx"
    wb.save(src)
    with pytest.raises(InputFileError) as info:
        import_layer(ws, "households", src)
    msg = str(info.value)
    assert "row 2: 户号, 地址, 坐标" in msg and "row 3: 经度, 纬度" in msg and "merged" in msg
    assert "户号, 地址, 经度, 纬度" in msg


def test_roads_import_numbers_missing_ids_and_feeds_network_coverage(tmp_path):
    """Issue 3 needs a roads layer: a street file without ids imports, ids numbered."""
    import pyogrio

    from gridmap.analysis.coverage import compute_coverage
    from gridmap.ingest.importer import import_layer

    sample = REPO / "gridmap" / "datasets" / "data" / "community.gpkg"
    roads = pyogrio.read_dataframe(sample, layer="roads").drop(columns=["road_id"])
    src = tmp_path / "streets.geojson"
    roads.to_file(src, driver="GeoJSON")
    ws = tmp_path / "ws.gpkg"
    io.write_layers(ws, tiny_layers())
    import_layer(ws, "roads", src)
    got = io.read_layer(ws, "roads")
    assert len(got) == len(roads)
    assert got["road_id"].tolist() == [f"R{k + 1:05d}" for k in range(len(roads))]
    assert compute_coverage(io.load_workspace(ws), "service_stations", 300).distance == "network"


@pytest.mark.parametrize("geographic", [True, False])
def test_check_coordinates_array_path_equals_row_by_row(monkeypatch, geographic):
    """Plain decimals are parsed at array speed: the same x, y and problems (in row order)
    as the row-by-row parser gives when it sees every row."""
    from gridmap.ingest import importer

    lon = [
        "111.5",
        " 111.25 ",
        "１１１.５",
        "111°27'50.5\"E",
        "",
        "nan",
        "1e999",
        "35.6",
        "200",
        "-0.5",
        "+111.",
        ".5",
        "111.5°",
        111.75,
        float("nan"),
        "abc",
        "1e2",
    ]
    lat = [
        "35.6",
        "35.7",
        "35.6",
        "35度38分12秒",
        "35.6",
        "35.6",
        "35.6",
        "111.5",
        "35.6",
        "95",
        "35.6",
        " 35.6",
        "35.6",
        35.5,
        35.5,
        "35.6",
        "3e1",
    ]
    import pandas as pd

    frame = pd.DataFrame({"lon": lon, "lat": lat}, index=range(10, 10 + len(lon)))
    x, y, problems = importer.check_coordinates(frame, "lon", "lat", geographic=geographic)
    monkeypatch.setattr(importer, "_plain_numbers", lambda v: np.full(len(v), np.nan))
    rx, ry, rproblems = importer.check_coordinates(frame, "lon", "lat", geographic=geographic)
    assert np.array_equal(x, rx, equal_nan=True) and np.array_equal(y, ry, equal_nan=True)
    assert problems == rproblems
    assert np.isfinite(x).sum() >= 6  # most rows are usable either way


def test_infer_types_blanks_become_missing_in_every_kind_of_column():
    import pandas as pd

    from gridmap.ingest.importer import _infer_types

    frame = pd.DataFrame(
        {"flag": ["True", "", " false"], "note": ["a", "", " b "], "n": ["1", "", "2"]},
        index=[3, 4, 5],
    )
    out = _infer_types(frame)
    assert out["flag"].tolist() == [True, None, False]
    assert [type(v) for v in out["flag"]] == [bool, type(None), bool]
    assert out["note"].tolist() == ["a", None, "b"] and out["note"].dtype == object
    assert out["n"].iloc[0] == 1 and pd.isna(out["n"].iloc[1]) and out.index.tolist() == [3, 4, 5]


_FAST_CSV_CASES = {
    "plain": "household_id,lon,lat\nH1,111.5,35.6\nH2,111.6,35.7\n",
    "titles_and_blank_rows": "XX社区住户台账,,\n,,\n户号,经度,纬度\nH1,111.5,35.6\n,,\nH2, 111.6 ,35.7\n\n\n",
    "crlf_and_spaces": "id,lon,lat,name\r\nH1,111.5,35.6,\u3000张三 \r\nH2,111.6,35.7,\xa0李四\xa0\r\n",
    "duplicate_and_empty_headers": "id,lon,lat,id,,\nH1,111.5,35.6,x,,\nH2,111.6,35.7,y,,\n",
    "semicolons": "id;lon;lat\nH1;111,5;35,6\nH2;111,6;35,7\n",
    "one_row_header_only_then_rows": "lon,lat\n111.5,35.6\n",
    # the row reader's cases: quotes, rows of other widths, separators Arrow keeps
    "quoted": 'id,lon,lat,address\nH1,111.5,35.6,"1号楼, 2单元"\n',
    "ragged": "id,lon,lat\nH1,111.5,35.6,extra\nH2,111.6\n",
    "python_whitespace": "id,lon,lat\nH1\x1c,111.5,35.6\n",
    "empty_line_inside": "id,lon,lat\nH1,111.5,35.6\n\nH2,111.6,35.7\n",
}


@pytest.mark.parametrize("name", sorted(_FAST_CSV_CASES))
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_arrow_csv_reader_gives_the_row_readers_table(tmp_path, monkeypatch, name, encoding):
    """Large plain CSVs are read by Arrow; the table is the row reader's, cell for cell.

    Arrow's cells stay in Arrow (pandas' ``str`` dtype); once typed (``_infer_types``)
    the columns are the row reader's, types included."""
    import gridmap.ingest.importer as im

    path = tmp_path / f"{name}.csv"
    path.write_bytes(_FAST_CSV_CASES[name].encode(encoding))
    monkeypatch.setattr(im, "FAST_CSV_BYTES", 10**15)
    slow, enc_slow = im.read_table(path)
    monkeypatch.setattr(im, "FAST_CSV_BYTES", 0)
    text, enc = im._decode_text(path, None)
    took = im._fast_csv_table(text, enc, path, lon_col=None, lat_col=None, max_title_rows=10)
    fast, enc_fast = im.read_table(path)
    plain = name not in ("quoted", "ragged", "python_whitespace", "empty_line_inside")
    assert (took is not None) == plain
    assert enc_fast == enc_slow
    assert list(fast.columns) == list(slow.columns)
    assert fast.index.tolist() == slow.index.tolist()
    assert fast.astype(object).equals(slow) and fast.attrs == slow.attrs
    typed_fast, typed_slow = im._infer_types(fast), im._infer_types(slow)
    assert typed_fast.equals(typed_slow)
    assert [typed_fast[c].dtype for c in typed_fast] == [typed_slow[c].dtype for c in typed_slow]


def test_type_inference_reads_past_the_first_cells():
    """A column that stops being numbers, flags or zero-free late is still text."""
    import pandas as pd

    import gridmap.ingest.importer as im

    n = im._INFER_HEAD + 500
    nums = [str(k % 97) for k in range(n)]
    frame = pd.DataFrame(
        {
            "count": nums,
            "late_text": [*nums[:-1], "x"],
            "late_flag": [*(["true", "false"] * n)[: n - 1], "maybe"],
            "late_zero": [*nums[:-1], "007"],
            "floats": [f"{k}.5" for k in range(n - 1)] + [""],
        }
    )
    out = im._infer_types(frame)
    assert out["count"].dtype == "int64" and out["count"].iloc[-1] == (n - 1) % 97
    assert out["late_text"].dtype == object and out["late_text"].iloc[-1] == "x"
    assert out["late_flag"].dtype == object and out["late_flag"].iloc[-1] == "maybe"
    assert out["late_zero"].dtype == object and out["late_zero"].iloc[-1] == "007"
    assert out["floats"].dtype == float and np.isnan(out["floats"].iloc[-1])


def test_rows_far_from_the_workspace_are_named_points_and_polygons(tmp_path):
    """A point (or a polygon, by a point on its surface) far from the extent is a problem row."""
    from gridmap.ingest.importer import read_input

    extent = (111.40, 35.60, 111.50, 35.70)
    csv_path = tmp_path / "hh.csv"
    csv_path.write_text(
        "household_id,lon,lat\nH1,111.45,35.65\nH2,114.45,35.65\n", encoding="utf-8"
    )
    data = read_input(csv_path, extent=extent, max_distance_m=50_000)
    far = [p for p in data.problems if "km from the workspace" in p.reason]
    assert [p.row for p in far] == [3]
    lots = gpd.GeoDataFrame(
        {"parking_id": ["P1", "P2"]},
        geometry=[box(111.44, 35.64, 111.45, 35.65), box(114.0, 35.6, 114.01, 35.61)],
        crs="EPSG:4326",
    )
    src = tmp_path / "lots.geojson"
    lots.to_file(src, driver="GeoJSON")
    data = read_input(src, extent=extent, max_distance_m=50_000)
    far = [p for p in data.problems if "km from the workspace" in p.reason]
    assert len(far) == 1 and far[0].row == 2  # the second feature


def test_arrow_read_csv_imports_the_row_readers_layer(tmp_path, monkeypatch, tiny_workspace):
    """A whole import through Arrow's CSV reader writes the layer the row reader writes:
    padded numbers, a trailing °, full-width digits, leading zeros, flags, blank cells,
    a row without coordinates (skipped and reported)."""
    import shutil

    import gridmap.ingest.importer as im

    x0, y0 = 111.4705, 35.6405
    lines = ["household_id,lon,lat,residents,phone,has_ev,note"]
    for k in range(300):
        lon = f"{x0 + k * 1e-6:.7f}"
        lat = f" {y0 + k * 1e-6:.7f} " if k % 7 == 0 else f"{y0 + k * 1e-6:.7f}"
        if k % 11 == 0:
            lon += "°"
        if k % 13 == 0:
            lon = lon.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
        lines.append(
            f"H{k:04d},{lon},{lat},{k % 5 if k % 17 else ''},0{k:010d},"
            f"{'true' if k % 2 else 'False'},{'备注' if k % 3 else ''}"
        )
    lines.append("H9999,,,1,000,true,x")
    src = tmp_path / "hh.csv"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = {}
    took = []
    real = im._fast_csv_table
    monkeypatch.setattr(
        im, "_fast_csv_table", lambda *a, **k: took.append(real(*a, **k)) or took[-1]
    )
    for mode, limit in (("rows", 10**15), ("arrow", 0)):
        monkeypatch.setattr(im, "FAST_CSV_BYTES", limit)
        ws = tmp_path / f"{mode}.gpkg"
        shutil.copyfile(tiny_workspace, ws)
        rep = im.import_layer(ws, "households", src, skip_bad_rows=True, shift_check=False)
        d = rep.to_dict()
        d.pop("workspace")
        out[mode] = (d, io.read_layer(ws, "households"))
    (rep_rows, rows), (rep_arrow, arrow) = out["rows"], out["arrow"]
    assert rep_rows == rep_arrow and rep_rows["skipped"] == 1
    assert took[0] is None and took[-1] is not None  # each reader was used
    assert rows.equals(arrow) and len(rows) == 300
    assert [rows[c].dtype for c in rows] == [arrow[c].dtype for c in arrow]
