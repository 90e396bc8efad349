"""Workspace I/O: ids as text, CRS handling, atomic writes, locking, clear errors."""

from __future__ import annotations

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
    with pytest.warns(RuntimeWarning, match="non conformant file extension"):
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
