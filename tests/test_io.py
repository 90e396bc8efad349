"""Workspace I/O: ids as text, CRS handling, atomic writes, locking, clear errors."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pytest
from conftest import tiny_layers
from shapely.geometry import Point

from gridmap.errors import (
    CRSError,
    LayerNotFoundError,
    SchemaError,
    WorkspaceBusyError,
    WorkspaceError,
)
from gridmap.join.assign import assign_workspace
from gridmap.workspace import store as io


def test_roundtrip_keeps_text_ids(tmp_path):
    g = gpd.GeoDataFrame(
        {"household_id": ["007", "010"]}, geometry=[Point(1, 1), Point(2, 2)], crs=4326
    )
    p = tmp_path / "w.gpkg"
    io.write_layers(p, {"households": g})
    back = io.read_layer(p, "households")
    assert list(back["household_id"]) == ["007", "010"]


def test_numeric_ids_become_strings(tmp_path):
    g = gpd.GeoDataFrame({"household_id": [7, 10]}, geometry=[Point(1, 1), Point(2, 2)], crs=4326)
    p = tmp_path / "w.gpkg"
    io.write_layers(p, {"households": g})
    assert list(io.read_layer(p, "households")["household_id"]) == ["7", "10"]


def test_projected_layer_is_read_as_wgs84(tmp_path):
    g = gpd.GeoDataFrame({"pile_id": ["P1"]}, geometry=[Point(111.47, 35.64)], crs=4326).to_crs(
        32649
    )
    p = tmp_path / "w.gpkg"
    io.write_layers(p, {"charging_piles": g})
    back = io.read_layer(p, "charging_piles")
    assert back.crs.equals("EPSG:4326")
    assert abs(back.geometry.x.iloc[0] - 111.47) < 1e-9


def test_missing_layer_error_names_layer_and_fix(tiny_workspace):
    with pytest.raises(LayerNotFoundError) as ei:
        io.read_layer(tiny_workspace, "roads")
    msg = str(ei.value)
    assert "roads" in msg and "gridmap import roads" in msg and str(tiny_workspace) in msg


def test_missing_and_empty_workspace(tmp_path):
    with pytest.raises(WorkspaceError, match="not found"):
        io.resolve_workspace(tmp_path / "nope.gpkg")
    empty = tmp_path / "empty.gpkg"
    empty.write_bytes(b"")
    with pytest.raises(WorkspaceError, match="empty"):
        io.list_layers(empty)
    junk = tmp_path / "junk.gpkg"
    junk.write_bytes(b"this is not sqlite" * 10)
    with pytest.raises(WorkspaceError, match="GeoPackage"):
        io.list_layers(junk)


def test_write_without_crs_is_refused(tmp_path):
    g = gpd.GeoDataFrame({"pile_id": ["P1"]}, geometry=[Point(1, 1)])
    with pytest.raises(CRSError):
        io.write_layers(tmp_path / "w.gpkg", {"charging_piles": g})
    assert not (tmp_path / "w.gpkg").exists()


def test_second_writer_gets_busy_error(tiny_workspace):
    with io.workspace_lock(tiny_workspace):
        with pytest.raises(WorkspaceBusyError, match="busy"):
            io.write_layers(tiny_workspace, {}, lock_timeout=0.2)


def test_delete_layer(tiny_workspace):
    io.write_layers(tiny_workspace, {}, delete=["parking"])
    assert "parking" not in io.list_layers(tiny_workspace)
    io.check_sqlite(tiny_workspace)
    assert len(io.read_layer(tiny_workspace, "households")) == 6


def test_mixed_polygon_types_written(tmp_path, tiny_layers_dict):
    from shapely.geometry import MultiPolygon

    mg = tiny_layers_dict["microgrids"].copy()
    mg.loc[mg.index[0], "geometry"] = MultiPolygon([mg.geometry.iloc[0]])
    p = tmp_path / "w.gpkg"
    io.write_layers(p, {"microgrids": mg})
    back = io.read_layer(p, "microgrids")
    assert len(back) == len(mg)
    assert back.to_crs(32649).area.sum() == pytest.approx(mg.to_crs(32649).area.sum())


def test_rewrite_keeps_file_permissions(tiny_workspace):
    import os
    import stat

    os.chmod(tiny_workspace, 0o644)
    io.write_layers(tiny_workspace, {})
    assert stat.S_IMODE(os.stat(tiny_workspace).st_mode) == 0o644


def test_new_workspace_gets_umask_default_permissions(tmp_path, tiny_layers_dict):
    import os
    import stat

    old = os.umask(0o022)
    try:
        p = tmp_path / "new.gpkg"
        io.write_layers(p, {"grids": tiny_layers_dict["grids"]})
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o644
    finally:
        os.umask(old)


@pytest.mark.parametrize("name", ["grids.shp", "ledger.xlsx", "h.csv"])
def test_a_non_geopackage_file_is_not_a_workspace(tmp_path, name):
    """Passing a Shapefile or spreadsheet as the workspace says how to import it."""
    p = tmp_path / name
    p.write_bytes(b"PK\x03\x04 not a database" if name.endswith("xlsx") else b"id,lon,lat\n")
    with pytest.raises(WorkspaceError, match=r"not a workspace.*gridmap import"):
        io.resolve_workspace(p)
    with pytest.raises(WorkspaceError, match="not a workspace"):
        io.resolve_workspace(p, must_exist=False)
    # a GeoPackage under another suffix still is one
    gpkg = tmp_path / "ws.gpkg"
    io.write_layers(gpkg, {"grids": tiny_layers()["grids"]})
    other = tmp_path / "ws.sqlite"
    other.write_bytes(gpkg.read_bytes())
    assert io.list_layers(other) == ["grids"]


def test_column_names_a_geopackage_cannot_store_are_refused_before_writing(tmp_path):
    p = tmp_path / "w.gpkg"
    io.write_layers(p, {"grids": tiny_layers()["grids"]})
    before = p.read_bytes()
    hh = tiny_layers()["households"]
    with pytest.raises(SchemaError, match="'phone' and 'PHONE' differ only in upper/lower case"):
        io.write_layers(p, {"households": hh.assign(PHONE=hh["phone"])})
    with pytest.raises(SchemaError, match="'FID' cannot be stored"):
        io.write_layers(p, {"households": hh.assign(FID=["a"] * len(hh))})
    assert p.read_bytes() == before


# --- workspaces edited in QGIS: extra tables, views, triggers (issue 12, failure 5) ---------


def _qgis_style(ws: Path) -> None:
    """What QGIS-style writers leave in a GeoPackage next to the layers.

    A registered ``layer_styles`` attribute table (QGIS stores styles there), a
    plain unregistered table, a view, user triggers on households and an index.
    """
    import pandas as pd
    import pyogrio

    styles = pd.DataFrame(
        {"f_table_name": ["households"], "styleName": ["默认"], "styleQML": ["<qgis/>"]}
    )
    pyogrio.write_dataframe(styles, ws, layer="layer_styles", driver="GPKG")
    con = sqlite3.connect(ws)
    con.executescript(
        """
        CREATE TABLE audit(x);
        INSERT INTO audit VALUES ('kept');
        CREATE VIEW hh_view AS SELECT fid, household_id FROM households;
        CREATE TRIGGER hh_deleted AFTER DELETE ON households
            BEGIN INSERT INTO audit VALUES (old.household_id); END;
        CREATE TRIGGER hh_address AFTER UPDATE OF address ON households
            BEGIN INSERT INTO audit VALUES (new.address); END;
        CREATE INDEX hh_id_idx ON households(household_id);
        """
    )
    con.commit()
    con.close()


_USER_OBJECTS = ("layer_styles", "audit", "hh_view", "hh_deleted", "hh_address", "hh_id_idx")


def _user_state(ws: Path) -> dict:
    """SQL of the user's tables/views/triggers/index and the rows of their tables."""
    con = sqlite3.connect(f"file:{ws}?mode=ro", uri=True)
    try:
        sql = {
            n: s
            for n, s in con.execute("SELECT name, sql FROM sqlite_master")
            if n in _USER_OBJECTS
        }
        rows = {
            t: con.execute(f'SELECT * FROM "{t}" ORDER BY rowid').fetchall()
            for t in ("layer_styles", "audit")
        }
        styles_registered = con.execute(
            "SELECT data_type FROM gpkg_contents WHERE table_name = 'layer_styles'"
        ).fetchall()
        view_cols = [d[0] for d in con.execute("SELECT * FROM hh_view LIMIT 0").description]
    finally:
        con.close()
    return {"sql": sql, "rows": rows, "registered": styles_registered, "view": view_cols}


def test_qgis_edited_workspace_reads_around_extra_tables(tiny_workspace):
    ws = tiny_workspace
    layers = io.list_layers(ws)
    _qgis_style(ws)
    assert io.list_layers(ws) == layers  # styles, tables and views are not layers
    loaded = io.load_workspace(ws)
    assert set(loaded.layers) == set(layers)
    assert len(io.read_layer(ws, "layer_styles")) == 1  # registered table: readable by name
    with pytest.raises(LayerNotFoundError, match="no layer 'audit'"):
        io.read_layer(ws, "audit")


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gridmap", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


def test_qgis_edited_workspace_survives_every_command(tiny_workspace, tmp_path):
    """assign, locate, coverage, validate, map, import and serve work; the extras stay as they were."""
    from api_helpers import running_server

    from gridmap.api.settings import Settings

    ws = tiny_workspace
    _qgis_style(ws)
    before = _user_state(ws)
    hh_file = tmp_path / "households.geojson"
    io.read_layer(ws, "households").to_file(hh_file, driver="GeoJSON")

    r = _cli("assign", str(ws), "--format", "json")
    assert r.returncode == 0, r.stderr
    assert "microgrid_id" in io.read_layer(ws, "households").columns
    r = _cli(
        "locate",
        "--lon",
        "111.4705",
        "--lat",
        "35.6405",
        "--workspace",
        str(ws),
        "--format",
        "json",
    )
    assert r.returncode in (0, 1) and "Traceback" not in r.stderr, r.stderr
    assert "microgrid_id" in json.loads(r.stdout)
    r = _cli("coverage", str(ws), "--facility", "service_stations", "--distance", "euclidean")
    assert r.returncode == 0, r.stderr
    r = _cli("validate", str(ws), "--format", "json")
    assert r.returncode in (0, 1) and "Traceback" not in r.stderr, r.stderr
    json.loads(r.stdout)
    r = _cli("map", str(ws), "--out", str(tmp_path / "m.html"), "--basemap", "none")
    assert r.returncode == 0, r.stderr
    r = _cli("import", "households", str(hh_file), "--workspace", str(ws))
    assert r.returncode == 0, r.stderr
    with running_server(Settings(workspace=ws)) as (base, _):
        import httpx

        with httpx.Client(base_url=base, timeout=60) as c:
            got = c.get("/collections")
            assert got.status_code == 200, got.text
            ids = {col["id"] for col in got.json()["collections"]}
            assert "microgrids" in ids and not ids & {"layer_styles", "audit", "hh_view"}
            assert c.get("/collections/microgrids/items?limit=5").status_code == 200
    assert _user_state(ws) == before  # tables, rows, view, triggers and index as they were
    con = sqlite3.connect(ws)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()
    info = subprocess.run(
        ["ogrinfo", "-ro", "-so", str(ws), "households"], capture_output=True, text=True
    )
    assert info.returncode == 0 and "Feature Count: " in info.stdout, info.stderr


def test_assign_keeps_user_triggers_and_fires_only_on_real_changes(tiny_workspace):
    ws = tiny_workspace
    _qgis_style(ws)
    con = sqlite3.connect(ws)
    con.execute(
        "CREATE TRIGGER hh_any AFTER UPDATE ON households BEGIN INSERT INTO audit VALUES ('u'); END"
    )
    con.commit()
    con.close()
    assign_workspace(ws)
    con = sqlite3.connect(ws)
    names = {n for (n,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    fired = con.execute("SELECT count(*) FROM audit WHERE x = 'u'").fetchone()[0]
    con.close()
    assert {"hh_deleted", "hh_address", "hh_any"} <= names
    assert fired == len(io.read_layer(ws, "households"))  # each row updated once
    assign_workspace(ws)  # nothing changed: no row is rewritten, the trigger stays quiet
    con = sqlite3.connect(ws)
    assert con.execute("SELECT count(*) FROM audit WHERE x = 'u'").fetchone()[0] == fired
    con.close()


def test_emptied_gpkg_contents_still_works_and_stays_empty(tiny_workspace, tmp_path):
    """gpkg_contents emptied (a tool that lost its registrations): layers come from
    gpkg_geometry_columns, commands give the same ids, the table is left as it was."""
    ref = tmp_path / "ref.gpkg"
    shutil.copyfile(tiny_workspace, ref)
    want = assign_workspace(ref).frames["households"]
    ws = tiny_workspace
    _qgis_style(ws)
    con = sqlite3.connect(ws)
    con.execute("DELETE FROM gpkg_contents")
    con.commit()
    con.close()
    assert io.list_layers(ws) == io.list_layers(ref)
    hh = io.read_layer(ws, "households")
    assert hh.crs.equals("EPSG:4326") and hh.geometry.notna().all()
    r = _cli("assign", str(ws), "--format", "json")
    assert r.returncode == 0, r.stderr
    got = io.read_layer(ws, "households")
    cols = ["household_id", "microgrid_id", "grid_id", "zone_id", "community_id"]
    assert got[cols].astype(str).equals(want[cols].astype(str))
    r = _cli(
        "locate",
        "--lon",
        "111.4705",
        "--lat",
        "35.6405",
        "--workspace",
        str(ws),
        "--format",
        "json",
    )
    assert "Traceback" not in r.stderr and "microgrid_id" in json.loads(r.stdout), r.stderr
    r = _cli("coverage", str(ws), "--facility", "service_stations", "--distance", "euclidean")
    assert r.returncode == 0, r.stderr
    con = sqlite3.connect(ws)
    assert con.execute("SELECT count(*) FROM gpkg_contents").fetchone()[0] == 0
    con.close()


# --- start-up: light commands stay light; compiled kernels are cached per user ----------------

_HEAVY = ("numba", "folium", "branca", "matplotlib", "gridmap.join.index", "gridmap.maps")


@pytest.mark.parametrize(
    "args",
    [["--help"], ["locate", "--lon", "111.47", "--lat", "35.64", "--format", "json"]],
)
def test_help_and_locate_do_not_import_numba_or_the_map_stack(args, sample_copy):
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['gridmap', *{args!r}]\n"
        "try:\n"
        "    runpy.run_module('gridmap', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted(m for m in {_HEAVY!r} if m in sys.modules))\n"
    )
    env = {**os.environ, "GRIDMAP_WORKSPACE": str(sample_copy)}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]", r.stdout[-500:]


def test_numba_cache_goes_to_the_user_cache_folder(tmp_path, tiny_workspace):
    """Compiled kernels land in $XDG_CACHE_HOME/gridmap/numba (a read-only install still
    caches); a NUMBA_CACHE_DIR the user set is kept."""
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "GRIDMAP_CACHE_DIR")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    code = "import gridmap.join.kernels, numba; print(numba.config.CACHE_DIR)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.stdout.strip() == str(tmp_path / "xdg" / "gridmap" / "numba"), r.stderr
    mine = tmp_path / "mine"
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**env, "NUMBA_CACHE_DIR": str(mine)},
    )
    assert r.stdout.strip() == str(mine), r.stderr
    # an assign that runs the compiled kernel (small batches skip it: SMALL_BATCH = 0)
    run = (
        "import sys; from gridmap.join import index; index.SMALL_BATCH = 0; "
        "from gridmap.join.assign import assign_workspace; assign_workspace(sys.argv[1])"
    )
    r = subprocess.run(
        [sys.executable, "-c", run, str(tiny_workspace)], capture_output=True, text=True, env=env
    )
    assert r.returncode == 0, r.stderr
    assert list((tmp_path / "xdg" / "gridmap" / "numba").rglob("*.nbi"))  # numba's cache index


def test_arrow_writer_stores_what_the_row_writer_stores(tmp_path):
    """Layers of numbers, flags and text go through GDAL's Arrow writer: the table,
    its types and every value are those of the row writer (pyogrio's default)."""
    import sqlite3

    import numpy as np
    import pandas as pd
    import pyogrio
    import shapely

    from gridmap.workspace.store import _arrow_writable, _prepare_for_write

    n = 7
    gdf = gpd.GeoDataFrame(
        {
            "household_id": np.array(["H1", None, "网格", "", " x ", "1", "H7"], dtype=object),
            "name": pd.Series(["a", None, "b", "", "c", "d", "e"], dtype="str"),
            "residents": np.arange(n, dtype=np.int64),
            "share": np.array([1.5, np.nan, 2.0, -0.0, np.inf, 3.0, 1e300]),
            "flag": np.array([True, False, True, True, False, False, True]),
            "has_ev": np.array([True, None, False, True, None, False, True], dtype=object),
        },
        geometry=shapely.points(np.arange(n), np.arange(n)),
        crs="EPSG:4326",
        index=[3, 5, 8, 9, 12, 13, 20],
    )
    gdf.loc[5, "geometry"] = None
    out, promote = _prepare_for_write(gdf)
    assert _arrow_writable(out) and not promote
    row = tmp_path / "row.gpkg"
    pyogrio.write_dataframe(gdf, row, layer="households", driver="GPKG")
    ws = tmp_path / "ws.gpkg"
    io.write_layers(ws, {"households": gdf})

    def dump(path):
        con = sqlite3.connect(path)
        try:
            sql = con.execute("SELECT sql FROM sqlite_master WHERE name = 'households'").fetchone()
            cells = con.execute(
                "SELECT fid, hex(geom), household_id, typeof(household_id), name, residents, "
                "typeof(residents), share, typeof(share), flag, typeof(flag), has_ev, "
                "typeof(has_ev) FROM households ORDER BY fid"
            ).fetchall()
            geo = con.execute("SELECT * FROM gpkg_geometry_columns").fetchall()
            ext = con.execute(
                "SELECT min_x, min_y, max_x, max_y, srs_id FROM gpkg_contents"
            ).fetchall()
        finally:
            con.close()
        return sql, cells, geo, ext

    assert dump(ws) == dump(row)
    # a date column is not for the Arrow writer
    assert not _arrow_writable(gdf.assign(when=pd.Timestamp("2026-01-01")))
