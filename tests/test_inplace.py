"""The in-place assign (gridmap.join.inplace) against the general path, and its pieces."""

from __future__ import annotations

import shutil
import sqlite3
import struct
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from conftest import tiny_layers
from shapely.geometry import Point, box
from test_join import edge_case_layers

from gridmap.join import inplace
from gridmap.join.assign import assign_workspace
from gridmap.join.core import assign_general
from gridmap.workspace import sqlite as gsql
from gridmap.workspace import store as io

RESULT = [
    "fid",
    "microgrid_id",
    "grid_id",
    "zone_id",
    "community_id",
    "assigned_level",
    "nearest_microgrid_id",
    "nearest_microgrid_m",
]


def _table(path: Path, layer: str) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        cols = {r[1] for r in con.execute(f'PRAGMA table_info("{layer}")')}
        sel = ", ".join(c if c in cols else "NULL" for c in RESULT)
        return con.execute(f'SELECT {sel} FROM "{layer}" ORDER BY fid').fetchall()
    finally:
        con.close()


def _same_as_general(ws: Path, tmp_path: Path) -> dict:
    """Run the in-place path on ws and the general path on a copy; compare everything."""
    ref = tmp_path / "general.gpkg"
    shutil.copyfile(ws, ref)
    fast = inplace.assign_in_place(ws)
    assert fast is not None, "the in-place path did not apply"
    slow = assign_general(ref, out=None, layers=None, write=True, engine="index")
    assert set(fast.layers) == set(slow.layers)
    for name in slow.layers:
        a, b = fast.layers[name], slow.layers[name]
        assert a.total == b.total and a.by_level == b.by_level, name
        assert a.no_geometry == b.no_geometry, name
        assert a.unassigned_records() == b.unassigned_records(), name
        assert _table(ws, name) == _table(ref, name), name
    return fast.layers


def test_sample_in_place_equals_general_path(sample_copy, tmp_path):
    layers = _same_as_general(sample_copy, tmp_path)
    hh = layers["households"]
    assert hh.n_unassigned > 0 and hh.by_level["microgrids"] > 3000  # both kinds occur
    # the second run reads the chain from its cache and writes no row
    cache = sample_copy.with_name(sample_copy.name + ".gridmap-index")
    assert len(list(cache.glob("chain-*.npz"))) == 1
    before = _table(sample_copy, "households")
    again = inplace.assign_in_place(sample_copy)
    assert again is not None and again.layers["households"].by_level == hh.by_level
    assert _table(sample_copy, "households") == before


def test_edge_cases_in_place_equal_general_path(tmp_path):
    """Holes, overlaps, multi-parts, points on edges and vertices, a gap, outside points,
    integer-looking ids, a point without geometry and a parking lot drawn as a polygon."""
    layers = edge_case_layers()
    hh = layers["households"]
    extra = gpd.GeoDataFrame(
        {"household_id": ["NOGEOM", "EMPTY"]},
        geometry=[None, Point()],
        crs=4326,
    )
    layers["households"] = gpd.GeoDataFrame(gpd.pd.concat([hh, extra], ignore_index=True), crs=4326)
    x0, y0, d = 111.47, 35.64, 0.001
    layers["parking"] = gpd.GeoDataFrame(
        {"parking_id": [1, 2]},  # integer ids
        geometry=[box(x0 + 0.1 * d, y0 + 0.1 * d, x0 + 0.3 * d, y0 + 0.3 * d), Point(x0, y0)],
        crs=4326,
    )
    ws = tmp_path / "edge.gpkg"
    io.write_layers(ws, layers)
    got = _same_as_general(ws, tmp_path)
    assert got["households"].no_geometry == ["NOGEOM", "EMPTY"]
    assert got["households"].by_level["grids"] > 0 and got["households"].by_level["none"] > 0


def test_tiny_workspace_chain_breaks_and_missing_levels(tmp_path):
    """Parents from columns, from geometry where a column is empty, and a micro-grid whose
    grid is not in the grids layer (the chain names an id no polygon has)."""
    layers = tiny_layers()
    mg = layers["microgrids"].copy()
    mg.loc[mg.index[0], "grid_id"] = None  # derived from geometry
    mg.loc[mg.index[1], "grid_id"] = "G99"  # a grid that does not exist
    layers["microgrids"] = mg
    ws = tmp_path / "t.gpkg"
    io.write_layers(ws, layers)
    _same_as_general(ws, tmp_path)
    del layers["zones"]  # a level missing in the middle of the chain
    ws2 = tmp_path / "t2.gpkg"
    io.write_layers(ws2, layers)
    (tmp_path / "t2").mkdir()
    _same_as_general(ws2, tmp_path / "t2")


def test_changed_polygons_get_a_new_chain(tiny_workspace, tmp_path):
    first = inplace.assign_in_place(tiny_workspace)
    assert first is not None
    layers = tiny_layers()
    mg = layers["microgrids"]
    layers["microgrids"] = mg[mg["microgrid_id"] != "M01"].reset_index(drop=True)
    io.write_layers(tiny_workspace, {"microgrids": layers["microgrids"]})
    _same_as_general(tiny_workspace, tmp_path)
    cache = tiny_workspace.with_name(tiny_workspace.name + ".gridmap-index")
    assert len(list(cache.glob("chain-*.npz"))) == 1  # the old chain was replaced


def test_damaged_chain_cache_is_rebuilt(tiny_workspace, tmp_path):
    assert inplace.assign_in_place(tiny_workspace) is not None
    cache = tiny_workspace.with_name(tiny_workspace.name + ".gridmap-index")
    (chain,) = cache.glob("chain-*.npz")
    chain.write_bytes(b"not a zip")
    _same_as_general(tiny_workspace, tmp_path)


def test_other_crs_takes_the_general_path(tmp_path):
    layers = tiny_layers()
    layers["households"] = layers["households"].to_crs(3857)
    ws = tmp_path / "m.gpkg"
    io.write_layers(ws, layers)  # (the store keeps WGS84: write the table in 3857 by hand)
    import pyogrio

    pyogrio.write_dataframe(layers["households"], ws, layer="households", driver="GPKG")
    assert inplace.assign_in_place(ws) is None
    res = assign_workspace(ws)  # the general path reprojects and answers
    assert res.layers["households"].total == len(layers["households"])


def test_cli_assign_writes_what_the_general_path_writes(tiny_workspace, tmp_path):
    import subprocess
    import sys

    ref = tmp_path / "ref.gpkg"
    shutil.copyfile(tiny_workspace, ref)
    assign_general(ref, out=None, layers=None, write=True, engine="index")
    r = subprocess.run(
        [sys.executable, "-m", "gridmap", "assign", str(tiny_workspace), "--format", "json"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    for layer in ("households", "service_stations"):
        assert _table(tiny_workspace, layer) == _table(ref, layer)
    # GDAL reads the updated layer, extent unchanged
    import pyogrio

    a = pyogrio.read_info(tiny_workspace, layer="households")
    b = pyogrio.read_info(ref, layer="households")
    assert a["features"] == b["features"] and tuple(a["total_bounds"]) == tuple(b["total_bounds"])


# ---------------------------------------------------------------------------------------
# the blob reader
# ---------------------------------------------------------------------------------------


def _blob(geom, *, envelope: int = 0, big: bool = False, empty: bool = False) -> bytes:
    order = ">" if big else "<"
    flags = (0 if big else 1) | (envelope << 1) | (0x10 if empty else 0)
    head = b"GP" + bytes([0, flags]) + struct.pack(order + "i", 4326)
    env = b""
    if envelope:
        minx, miny, maxx, maxy = shapely.bounds(geom) if not geom.is_empty else (0, 0, 0, 0)
        vals = [minx, maxx, miny, maxy] + [0.0] * {1: 0, 2: 2, 3: 2, 4: 4}[envelope]
        env = struct.pack(order + f"{len(vals)}d", *vals)
    wkb = shapely.to_wkb(geom, byte_order=0 if big else 1, flavor="iso")
    return head + env + wkb


def test_blobs_to_xy_decodes_every_layout_like_shapely():
    pts = [Point(111.5, 35.6), Point(-0.5, 1e-9), Point(1, 2, 3)]
    blobs = [
        _blob(pts[0]),
        _blob(pts[1], envelope=1),
        _blob(pts[0], big=True),
        _blob(pts[2], envelope=2),  # a 3-D point, xyz envelope
        _blob(Point(), empty=True),
        None,
        _blob(box(0, 0, 1, 1)),  # a polygon: the caller decodes it
        b"junk",
    ]
    lengths = np.array([0 if b is None else len(b) for b in blobs])
    x, y, other = gsql.blobs_to_xy(b"".join(b for b in blobs if b), lengths)
    assert list(other) == [False] * 6 + [True, True]
    want = [(111.5, 35.6), (-0.5, 1e-9), (111.5, 35.6), (1.0, 2.0)]
    assert [(x[i], y[i]) for i in range(4)] == want
    assert np.isnan(x[4:]).all() and np.isnan(y[4:]).all()


def test_blobs_to_xy_fast_layout_and_read_blobs_agree_with_gdal(sample_copy):
    import pyogrio

    con = sqlite3.connect(sample_copy)
    fids, buf, lengths = gsql.read_blobs(con, "households", "geom")
    con.close()
    x, y, other = gsql.blobs_to_xy(buf, lengths)
    df = pyogrio.read_dataframe(sample_copy, layer="households", fid_as_index=True)
    assert not other.any()
    assert np.array_equal(fids, df.index.to_numpy())
    assert np.array_equal(x, df.geometry.x.to_numpy()) and np.array_equal(
        y, df.geometry.y.to_numpy()
    )


def test_read_blobs_with_gaps_and_nulls(tmp_path):
    """Deleted rows (fid gaps), null geometries and blobs of several lengths."""
    ws = tmp_path / "g.gpkg"
    pts = gpd.GeoDataFrame(
        {"household_id": [f"H{i}" for i in range(6)]},
        geometry=[Point(1, 1), None, Point(2, 2), box(0, 0, 1, 1), Point(3, 3), Point(4, 4)],
        crs=4326,
    )
    import pyogrio

    pyogrio.write_dataframe(pts, ws, layer="households", driver="GPKG")
    con = sqlite3.connect(ws)
    con.execute("DELETE FROM households WHERE fid IN (1, 5)")
    con.commit()
    fids, buf, lengths = gsql.read_blobs(con, "households", "geom")
    rows = con.execute("SELECT fid, geom FROM households ORDER BY fid").fetchall()
    con.close()
    assert fids.tolist() == [r[0] for r in rows]
    assert buf == b"".join(r[1] for r in rows if r[1] is not None)
    assert lengths.tolist() == [0 if r[1] is None else len(r[1]) for r in rows]


@pytest.mark.parametrize("chunk", [1, 2, 1000])
def test_read_blobs_in_pieces(tiny_workspace, monkeypatch, chunk):
    monkeypatch.setattr(gsql, "_CONCAT_ROWS", chunk)
    con = sqlite3.connect(tiny_workspace)
    fids, buf, lengths = gsql.read_blobs(con, "households", "geom")
    rows = con.execute("SELECT fid, geom FROM households ORDER BY fid").fetchall()
    con.close()
    assert fids.tolist() == [r[0] for r in rows]
    assert buf == b"".join(r[1] for r in rows)
    assert lengths.tolist() == [len(r[1]) for r in rows]


def test_runs_and_join_writers_write_the_same(sample_copy, tmp_path, monkeypatch):
    """update_columns writes run by run (layers in address order) or through a join
    (random order): both give the same table, and a second write changes no row."""
    other = tmp_path / "join.gpkg"
    shutil.copyfile(sample_copy, other)
    monkeypatch.setattr(gsql, "RUN_SHARE", 1.0)  # always run by run
    assert inplace.assign_in_place(sample_copy) is not None
    monkeypatch.setattr(gsql, "RUN_SHARE", 0.0)  # never: the join
    assert inplace.assign_in_place(other) is not None
    for layer in ("households", "parking", "service_stations"):
        assert _table(sample_copy, layer) == _table(other, layer)
    con = sqlite3.connect(sample_copy)
    con.execute("CREATE TABLE audit (x)")
    con.execute(
        "CREATE TRIGGER hh_u AFTER UPDATE ON households BEGIN INSERT INTO audit VALUES (1); END"
    )
    con.commit()
    con.close()
    for share in (1.0, 0.0):  # nothing changed: neither writer rewrites a row
        monkeypatch.setattr(gsql, "RUN_SHARE", share)
        assert inplace.assign_in_place(sample_copy) is not None
        assert _table(sample_copy, "households") == _table(other, "households")
    con = sqlite3.connect(sample_copy)
    assert con.execute("SELECT count(*) FROM audit").fetchone()[0] == 0
    con.close()


def test_runs_cover_gaps_and_unsorted_fids():
    fids = np.array([5, 1, 2, 3, 9, 10, 4])
    codes = np.array([0, 0, 0, 1, 1, 1, 1])
    gsql_runs = gsql._runs(fids, codes)
    assert gsql_runs is None  # 4 runs in 7 rows: more than a quarter
    fids = np.arange(1, 101)
    codes = np.repeat([3, 1, 3], [40, 30, 30])
    fids = np.concatenate([fids[:50], fids[51:]])  # fid 51 deleted
    codes = np.concatenate([codes[:50], codes[51:]])
    lo, hi, code = gsql._runs(fids[::-1].copy(), codes[::-1].copy())
    assert lo.tolist() == [1, 41, 52, 71] and hi.tolist() == [40, 50, 70, 100]
    assert code.tolist() == [3, 1, 1, 3]


def test_warm_in_place_assign_loads_no_dataframe_stack(tiny_workspace):
    """With the chain cached, a small in-place assign imports neither pandas, geopandas,
    pyogrio nor numba (what makes the command start quickly)."""
    import subprocess
    import sys

    assert inplace.assign_in_place(tiny_workspace) is not None  # builds the cache
    code = (
        "import sys; from gridmap.join.assign import assign_workspace; "
        "r = assign_workspace(sys.argv[1]); "
        "print(sorted(m for m in ('pandas', 'geopandas', 'pyogrio', 'numba') if m in sys.modules)); "
        "print(r.layers['households'].total)"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, str(tiny_workspace)], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    loaded, total = r.stdout.split("\n")[:2]
    assert loaded == "[]" and int(total) > 0


def test_unwritable_index_cache_still_assigns(tiny_workspace, tmp_path):
    """A cache folder that cannot be written (a file in its way) only costs the rebuild."""
    cache = tiny_workspace.with_name(tiny_workspace.name + ".gridmap-index")
    cache.write_text("not a folder")
    _same_as_general(tiny_workspace, tmp_path)
    assert cache.is_file()


def test_read_blobs_one_size_with_a_null_and_a_longer_blob(tmp_path):
    """Every fid present, one NULL and one 3-D point: the one-size shortcut must not apply."""
    import pyogrio

    ws = tmp_path / "g.gpkg"
    pts = gpd.GeoDataFrame(
        {"household_id": [f"H{i}" for i in range(5)]},
        geometry=[Point(1, 1), None, Point(2, 2), Point(3, 3), Point(4, 4)],
        crs=4326,
    )
    pyogrio.write_dataframe(pts, ws, layer="households", driver="GPKG")
    con = sqlite3.connect(ws)
    gsql.register_gpkg_functions(con)  # (GDAL's R-tree triggers call them)
    con.execute("UPDATE households SET geom = ? WHERE fid = 5", (_blob(Point(4, 4, 9)),))
    con.commit()
    fids, buf, lengths = gsql.read_blobs(con, "households", "geom")
    rows = con.execute("SELECT fid, geom FROM households ORDER BY fid").fetchall()
    con.close()
    assert fids.tolist() == [1, 2, 3, 4, 5]
    assert lengths.tolist() == [0 if r[1] is None else len(r[1]) for r in rows]
    assert buf == b"".join(r[1] for r in rows if r[1] is not None)
    x, y, _ = gsql.blobs_to_xy(buf, lengths)
    assert np.isnan(x[1]) and x[4] == 4.0 and y[4] == 4.0


def test_fid_range_matches_a_scan(tiny_workspace):
    con = sqlite3.connect(tiny_workspace)
    con.execute("DELETE FROM households WHERE fid IN (1, 3)")
    fids = [r[0] for r in con.execute("SELECT fid FROM households ORDER BY fid")]
    assert gsql.fid_range(con, "households", "fid") == (fids[0], fids[-1])
    assert gsql.fid_range(con, "households", "fid", 3, 3) is None
    assert gsql.fid_range(con, "households", "fid", 1, 4) == (2, 4)
    con.close()


def _triggers(path: Path, table: str) -> dict[str, str]:
    con = sqlite3.connect(path)
    rows = con.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,)
    ).fetchall()
    con.close()
    return dict(rows)


@pytest.mark.parametrize("share", [1.0, 0.0])  # run by run, and through the join
def test_update_keeps_rtree_triggers_and_fires_user_triggers(sample_copy, monkeypatch, share):
    """The fid-change R-tree triggers are set aside for the write and come back exactly;
    a user's AFTER UPDATE trigger still fires once per changed row; the R-tree
    still finds every household (QGIS and GDAL use it)."""
    import pyogrio

    monkeypatch.setattr(gsql, "RUN_SHARE", share)
    con = sqlite3.connect(sample_copy)
    con.execute("CREATE TABLE audit (fid)")
    con.execute(
        "CREATE TRIGGER hh_audit AFTER UPDATE ON households BEGIN "
        "INSERT INTO audit VALUES (NEW.fid); END"
    )
    n = con.execute("SELECT count(*) FROM households").fetchone()[0]
    con.commit()
    con.close()
    before = _triggers(sample_copy, "households")
    assert any(k.endswith("_update4") for k in before)  # GDAL's fid-change triggers exist
    assert inplace.assign_in_place(sample_copy) is not None
    assert _triggers(sample_copy, "households") == before
    con = sqlite3.connect(sample_copy)
    audited = con.execute("SELECT count(*), count(DISTINCT fid) FROM audit").fetchone()
    in_tree = con.execute("SELECT count(*) FROM rtree_households_geom").fetchone()[0]
    con.close()
    assert audited[0] == audited[1] > 0.9 * n
    assert in_tree == n
    box_all = pyogrio.read_info(sample_copy, layer="households")["total_bounds"]
    inside = pyogrio.read_dataframe(sample_copy, layer="households", bbox=tuple(box_all))
    assert len(inside) == n


def test_wkb_points_xy_reads_arrow_wkb_like_shapely():
    import pyarrow as pa

    nan = float("nan")
    geoms = [Point(111.5, 35.6), None, Point(), Point(nan, 1.0), Point(float("inf"), 2.0)]
    wkb = [None if g is None else shapely.to_wkb(g, flavor="iso") for g in geoms]
    arr = pa.array(wkb, type=pa.binary())
    for col in (
        arr,
        pa.chunked_array([arr[:2], arr[2:]]),
        arr.slice(1),
        pa.array(wkb, pa.large_binary()),
    ):
        x, y, missing = gsql.wkb_points_xy(col)
        want = [g for g in geoms[len(geoms) - len(col) :]]
        assert list(missing) == [g is None for g in want]
        ref_x = [nan if g is None or g.is_empty else shapely.get_x(g) for g in want]
        ref_y = [nan if g is None or g.is_empty else shapely.get_y(g) for g in want]
        np.testing.assert_array_equal(x, ref_x)
        np.testing.assert_array_equal(y, ref_y)
    # anything but little-endian 2-D points: None, the caller decodes with shapely
    for other in (
        shapely.to_wkb(box(0, 0, 1, 1)),
        shapely.to_wkb(Point(1, 2, 3), flavor="iso"),
        shapely.to_wkb(Point(1, 2), byte_order=0),
    ):
        assert gsql.wkb_points_xy(pa.array([wkb[0], other], type=pa.binary())) is None
