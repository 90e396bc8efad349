"""Property-based fuzzing: the importer and the address normaliser on arbitrary input.

The only exceptions allowed out of gridmap on bad input are its own
:class:`~gridmap.errors.GridmapError` subclasses (which the CLI and the API turn
into one clear line / a JSON error); a KeyError, UnicodeDecodeError or a GEOS
exception escaping is a bug. Where an import succeeds, nothing may have been
dropped silently and what was stored must be sane.

Bounded for CI: small ``max_examples``, no deadline, derandomised (the same
examples on every run).
"""

from __future__ import annotations

import csv
import io as _io
import math
import shutil
import tempfile
from pathlib import Path

import pytest
from conftest import tiny_layers
from hardening_util import file_hash
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gridmap.errors import GridmapError
from gridmap.ingest.importer import import_layer, read_input
from gridmap.workspace import store as io

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)

# hypothesis calls each test many times, so the workspaces live in one module-wide
# temporary folder (made on first use, removed after the module's tests)
_TMP: Path | None = None


def _base_ws() -> Path:
    global _TMP
    if _TMP is None:
        _TMP = Path(tempfile.mkdtemp(prefix="gridmap-fuzz-"))
        io.write_layers(_TMP / "base.gpkg", tiny_layers())
    return _TMP / "base.gpkg"


def _fresh_ws() -> Path:
    base = _base_ws()
    ws = Path(tempfile.mkdtemp(dir=base.parent)) / "ws.gpkg"
    shutil.copyfile(base, ws)
    return ws


@pytest.fixture(scope="module", autouse=True)
def _cleanup():
    global _TMP
    yield
    if _TMP is not None:
        shutil.rmtree(_TMP, ignore_errors=True)
        _TMP = None


def _only_gridmap_errors(fn, *args, **kwargs):
    """Call ``fn``; return its result, or None when it raised a GridmapError."""
    try:
        out = fn(*args, **kwargs)
    except GridmapError as err:
        assert str(err).strip(), "a GridmapError with an empty message"
        event(f"{fn.__name__}: {type(err).__name__}")
        return None
    event(f"{fn.__name__}: accepted")
    return out


# --------------------------------------------------------------- random bytes


@FUZZ
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".csv", ".xlsx", ".geojson", ".gpkg"]))
def test_random_bytes_as_input_file(data, suffix):
    ws = _fresh_ws()
    path = ws.parent / f"input{suffix}"
    path.write_bytes(data)
    before = file_hash(ws)
    _only_gridmap_errors(read_input, path)
    report = _only_gridmap_errors(import_layer, ws, "households", path)
    if report is None:
        assert file_hash(ws) == before, "a failed import changed the workspace"


# --------------------------------------------------------- random text tables

HEADERS = ["household_id", "lon", "lat", "经度", "纬度", "x", "y", "address", "户号", "name", ""]
COORD_TEXT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(min_value=-200, max_value=200).map(lambda v: f"{v:.6f}"),
    st.sampled_from(
        [
            "111.4705",
            "35.6405",
            "",
            " ",
            "nan",
            "inf",
            "-0",
            "1e400",
            "１１１．４７０５",
            "111°28′",
            "35,64",
            "111.47.05",
            "0x10",
            "١١١",
            "N35.64",
            "--1",
            "1_000",
        ]
    ),
    st.text(max_size=8),
)
CELL = st.one_of(
    COORD_TEXT, st.text(max_size=12), st.sampled_from(["007", "H1", "H1", "西南街1号楼"])
)
VALID_LON = st.floats(min_value=111.4695, max_value=111.4745).map(
    lambda v: f"{v:.{len(str(v)) % 7 + 1}f}"
)
VALID_LAT = st.floats(min_value=35.6395, max_value=35.6425).map(lambda v: f"{v:.6f}")
LON = st.one_of(VALID_LON, VALID_LON, VALID_LON, COORD_TEXT)
LAT = st.one_of(VALID_LAT, VALID_LAT, VALID_LAT, COORD_TEXT)
IDS = st.one_of(
    st.sampled_from(["H1", "H2", "H3", "007", "0", "1E5", "", " ", "H1 "]),
    st.text(min_size=1, max_size=6),
)
GOOD_HEADERS = st.sampled_from(
    [
        ["household_id", "address", "lon", "lat"],
        ["户号", "地址", "经度", "纬度"],
        ["household_id", "x", "y"],
        [" Household_ID ", "LON", "Lat", "residents"],
    ]
)


def _num(text: str):
    try:
        return float(text)
    except ValueError:
        return text


def _csv_bytes(header, rows, delimiter, encoding) -> bytes:
    buf = _io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode(encoding, errors="replace")


def _table_row(draw, header: list[str], clean: bool = False) -> list[str]:
    """One row under ``header``; ``clean`` rows have valid coordinates and a unique id."""
    out = []
    for h in header:
        key = h.strip().lower()
        if key in ("lon", "经度", "x"):
            out.append(draw(VALID_LON if clean else LON))
        elif key in ("lat", "纬度", "y"):
            out.append(draw(VALID_LAT if clean else LAT))
        elif key in ("household_id", "户号"):
            out.append("CLEAN-ROW" if clean else draw(IDS))
        else:
            out.append(draw(CELL))
    if not clean and draw(st.integers(0, 9)) == 0:  # ragged row: too few or too many cells
        out = out[:-1] if draw(st.booleans()) else [*out, draw(CELL)]
    return out


@FUZZ
@given(
    data=st.data(),
    header=st.one_of(
        GOOD_HEADERS, GOOD_HEADERS, st.lists(st.sampled_from(HEADERS), min_size=1, max_size=6)
    ),
    delimiter=st.sampled_from([",", ";", "\t"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16"]),
)
def test_random_csv_tables(data, header, delimiter, encoding):
    rows = [_table_row(data.draw, header) for _ in range(data.draw(st.integers(0, 8)))]
    if data.draw(st.booleans()):  # often one good row, so imports also succeed
        rows.insert(data.draw(st.integers(0, len(rows))), _table_row(data.draw, header, clean=True))
    ws = _fresh_ws()
    path = ws.parent / "table.csv"
    path.write_bytes(_csv_bytes(header, rows, delimiter, encoding))
    before = file_hash(ws)
    report = _only_gridmap_errors(import_layer, ws, "households", path)
    if report is None:
        assert file_hash(ws) == before
        return
    _check_imported(ws, report)


def _check_imported(ws: Path, report) -> None:
    got = io.read_layer(ws, "households")
    assert len(got) == report.imported > 0
    ids = list(got["household_id"])
    assert all(isinstance(i, str) and i for i in ids), ids
    assert len(set(ids)) == len(ids), "duplicate ids were imported"
    for g in got.geometry:
        assert g is not None and not g.is_empty
        assert math.isfinite(g.x) and math.isfinite(g.y)
        assert -180 <= g.x <= 180 and -90 <= g.y <= 90


XLSX_EXTRA = st.one_of(
    st.none(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False),
)


@FUZZ
@given(
    data=st.data(),
    header=st.one_of(GOOD_HEADERS, st.lists(st.sampled_from(HEADERS), min_size=1, max_size=5)),
    merge=st.booleans(),
)
def test_random_xlsx_tables(data, header, merge):
    cells = []
    for k in range(data.draw(st.integers(0, 7))):
        row = _table_row(data.draw, header, clean=k == 0)
        # spreadsheet cells are typed: numbers and blanks as well as text
        row = [data.draw(st.one_of(st.just(v), XLSX_EXTRA, st.just(_num(v)))) for v in row]
        cells.append(row)
    from openpyxl import Workbook

    ws = _fresh_ws()
    path = ws.parent / "table.xlsx"
    wb = Workbook()
    sheet = wb.active
    if merge:
        sheet["A1"] = "台账"
        sheet.merge_cells("A1:C1")
    sheet.append(header)
    for row in cells:
        try:
            sheet.append(row)
        except Exception:  # openpyxl refuses control characters: not our input to test
            return
    wb.save(path)
    before = file_hash(ws)
    report = _only_gridmap_errors(import_layer, ws, "households", path)
    if report is None:
        assert file_hash(ws) == before
        return
    _check_imported(ws, report)


# ---------------------------------------------------- random coordinate strings


@FUZZ
@given(
    first=st.tuples(VALID_LON, VALID_LAT),
    more=st.lists(st.tuples(LON, LAT), max_size=8),
)
def test_random_coordinates_nothing_dropped_silently(first, more):
    """With --skip-bad-rows, every row is either imported or listed as skipped."""
    coords = [first, *more]
    ws = _fresh_ws()
    path = ws.parent / "coords.csv"
    rows = [[f"H{k}", lon, lat] for k, (lon, lat) in enumerate(coords)]
    path.write_bytes(_csv_bytes(["household_id", "lon", "lat"], rows, ",", "utf-8"))
    report = _only_gridmap_errors(
        import_layer, ws, "households", path, skip_bad_rows=True, report=ws.parent / "skipped.csv"
    )
    if report is None:
        return
    got = io.read_layer(ws, "households")
    imported = set(got["household_id"])
    skipped_rows = {p.row for p in report.skipped}
    # spreadsheet numbering: header = row 1, H0 = row 2
    for k in range(len(rows)):
        assert (f"H{k}" in imported) != (k + 2 in skipped_rows), (
            f"row {k + 2} (H{k}) is neither imported nor reported as skipped: {rows[k]}"
        )
    for hid, g in zip(got["household_id"], got.geometry, strict=True):
        lon, lat = coords[int(hid[1:])]
        assert -180 <= g.x <= 180 and -90 <= g.y <= 90
        for text, value in ((lon, g.x), (lat, g.y)):
            try:
                plain = float(text)
            except ValueError:
                continue  # e.g. full-width digits: the importer may read them, Python's float not
            assert abs(plain - value) < 1e-6, f"{text!r} stored as {value}"


# ------------------------------------------------------------ address normaliser

ADDRESS_ALPHABET = st.sampled_from(
    list("西南街东北路巷弄号楼栋幢座单元门室房户层楼第一二三四五六七八九十百零〇两")
    + list("0123456789０１２３４５６７８９-—－#＃ ()（）【】,.，。")
    + ["山西省", "临汾市", "尧都区", "乐昌镇", "街道", "U", "B"]
)
ADDRESS_TEXT = st.one_of(
    st.text(max_size=40),
    st.lists(ADDRESS_ALPHABET, max_size=25).map("".join),
    st.sampled_from(["", " ", "\x00", "\ud7ff", "号楼单元室", "十十十十十", "一万亿", "0" * 200]),
)


@FUZZ
@given(text=ADDRESS_TEXT)
def test_address_normaliser_on_any_text(text):
    from gridmap.lookup.address import normalise_text, parse_address

    norm = _only_gridmap_errors(normalise_text, text)
    if norm is not None:
        assert isinstance(norm, str)
    parsed = _only_gridmap_errors(parse_address, text)
    if parsed is not None:
        for part in ("building", "unit", "room"):
            value = getattr(parsed, part, None)
            assert value is None or isinstance(value, str)


@FUZZ
@given(
    value=st.one_of(st.none(), st.integers(), st.floats(), st.binary(max_size=10), st.booleans())
)
def test_address_normaliser_on_non_text(value):
    from gridmap.lookup.address import normalise_text, parse_address

    _only_gridmap_errors(normalise_text, value)
    _only_gridmap_errors(parse_address, value)


_REGISTRY = None


def _registry():
    global _REGISTRY
    if _REGISTRY is None:
        from gridmap.lookup.matching import AddressRegistry

        _REGISTRY = AddressRegistry.from_workspace(io.load_workspace(_base_ws()))
    return _REGISTRY


@FUZZ
@given(text=ADDRESS_TEXT)
def test_locate_on_any_text(text):
    from gridmap.lookup.matching import locate

    res = _only_gridmap_errors(locate, text, registry=_registry())
    if res is None:
        return
    d = res.to_dict()
    assert d["status"] in ("ok", "ambiguous", "not_found")
    if d["status"] != "ok":
        assert d["microgrid_id"] is None or d["status"] == "ambiguous"


# ------------------------------------------------------- coordinates and CRS names

CRS_TEXT = st.one_of(
    st.sampled_from(["wgs84", "gcj02", "bd09", "4326", "EPSG:4547", "4547", "GCJ02", " bd09 ", ""]),
    st.integers(min_value=-10, max_value=10**6).map(str),
    st.text(max_size=12),
)
ANY_FLOAT = st.one_of(st.floats(), st.floats(min_value=-200, max_value=200))


# PROJ takes up to ~0.4 s to reject some names (it searches its database): fewer examples
@settings(parent=FUZZ, max_examples=20)
@given(text=CRS_TEXT)
def test_parse_crs_on_any_text(text):
    from gridmap.coords.crs import parse_crs

    _only_gridmap_errors(parse_crs, text)


# geographic and shifted systems only: projected CRSs overflow to inf on wild input, a
# known gap (tests/test_bad_inputs.py::test_locate_zone_prefixed_coordinate_gets_a_clear_error)
GEO_CRS = st.one_of(
    st.sampled_from(["wgs84", "gcj02", "bd09", "4326", "GCJ02", " bd09 ", ""]),
    st.text(alphabet="abcxyz:_ ", max_size=8),
)


@settings(parent=FUZZ, max_examples=20)
@given(lon=ANY_FLOAT, lat=ANY_FLOAT, crs=GEO_CRS)
def test_locate_on_any_coordinate(lon, lat, crs):
    from gridmap.lookup.matching import locate

    res = _only_gridmap_errors(locate, lon=lon, lat=lat, crs=crs, registry=_registry())
    if res is None:
        return
    d = res.to_dict()
    assert d["status"] in ("ok", "ambiguous", "not_found")
    if not (math.isfinite(lon) and math.isfinite(lat)):
        assert d["status"] != "ok", f"a non-finite coordinate was located: {d}"
