"""Streaming join of large point files: GeoParquet and GDAL formats, in chunks."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
from conftest import ASSIGNED_COLUMNS, points_over

from gridmap.errors import GridmapError, InputFileError
from gridmap.join.core import assign_points, build_hierarchy
from gridmap.join.stream import (
    assign_file,
    open_points,
    read_geoparquet,
    write_geoparquet,
    write_partitioned,
)
from gridmap.workspace import store as io

COLS = ASSIGNED_COLUMNS


def _expected(layers, pts: gpd.GeoDataFrame) -> pd.DataFrame:
    res = assign_points(pts, build_hierarchy(layers))  # the reference STRtree
    return res[COLS].astype(object).where(res[COLS].notna(), None).reset_index(drop=True)


def _got(path) -> pd.DataFrame:
    g = gpd.read_parquet(path)
    return g, g[COLS].astype(object).where(g[COLS].notna(), None).reset_index(drop=True)


@pytest.mark.parametrize("engine", ["index", "reference"])
def test_geoparquet_directory_in_chunks_equals_reference(
    tiny_workspace, tiny_layers_dict, tmp_path, engine
):
    pts = points_over(tiny_layers_dict, 5000)
    src = write_partitioned(pts, tmp_path / "pts", rows_per_part=1700)
    assert len(list(src.glob("part-*.parquet"))) == 3
    out = tmp_path / "out.parquet"
    res = assign_file(src, out, tiny_workspace, chunk_size=600, engine=engine, progress=False)
    assert res.rows == len(pts)
    assert res.chunks == 3 * 3  # 1700-row parts in 600-row chunks
    g, got = _got(out)
    assert g.crs.equals("EPSG:4326")
    assert list(g["household_id"]) == list(pts["household_id"])
    pd.testing.assert_frame_equal(got, _expected(tiny_layers_dict, pts))
    assert sum(res.by_level.values()) == len(pts)
    assert (g["nearest_microgrid_m"].notna() == (g["assigned_level"] != "microgrids")).all()


def test_gpkg_input_partitioned_output(tiny_workspace, tiny_layers_dict, tmp_path):
    pts = points_over(tiny_layers_dict, 2000, seed=5)
    src = tmp_path / "households.gpkg"
    pts.to_file(src, layer="households", driver="GPKG")
    res = assign_file(src, tmp_path / "out", tiny_workspace, chunk_size=500, progress=False)
    parts = sorted((tmp_path / "out").glob("part-*.parquet"))
    assert len(parts) == res.chunks == int(np.ceil(len(pts) / 500))
    assert all(pq.ParquetFile(p).metadata.num_rows <= 500 for p in parts)
    _, got = _got(tmp_path / "out")
    pd.testing.assert_frame_equal(got, _expected(tiny_layers_dict, pts))


def test_projected_points_are_converted(tiny_workspace, tiny_layers_dict, tmp_path):
    pts = points_over(tiny_layers_dict, 800, seed=9)
    # round-trip through Web Mercator: the join compares in WGS84 like the reference
    merc = pts.to_crs("EPSG:3857")
    write_geoparquet(merc, tmp_path / "merc.parquet")
    assign_file(tmp_path / "merc.parquet", tmp_path / "out.parquet", tiny_workspace, progress=False)
    g, got = _got(tmp_path / "out.parquet")
    assert g.crs.equals("EPSG:3857")
    pd.testing.assert_frame_equal(got, _expected(tiny_layers_dict, merc))


def test_existing_result_columns_are_replaced(tiny_workspace, tiny_layers_dict, tmp_path):
    pts = points_over(tiny_layers_dict, 300)
    pts["microgrid_id"] = "stale"
    write_geoparquet(pts, tmp_path / "p.parquet")
    assign_file(tmp_path / "p.parquet", tmp_path / "o.parquet", tiny_workspace, progress=False)
    g, _ = _got(tmp_path / "o.parquet")
    assert list(g.columns).count("microgrid_id") == 1
    assert "stale" not in set(g["microgrid_id"].dropna())


def test_sample_households_streamed(sample_copy, tmp_path):
    ws = io.load_workspace(sample_copy)
    res = assign_file(
        sample_copy,
        tmp_path / "hh.parquet",
        sample_copy,
        layer="households",
        chunk_size=1000,
        progress=False,
    )
    assert res.rows == len(ws.layers["households"])
    _, got = _got(tmp_path / "hh.parquet")
    pd.testing.assert_frame_equal(got, _expected(ws.layers, ws.layers["households"]))


def test_empty_input_writes_valid_empty_file(tiny_workspace, tiny_layers_dict, tmp_path):
    pts = points_over(tiny_layers_dict, 10).iloc[:0]
    write_geoparquet(pts, tmp_path / "e.parquet")
    res = assign_file(
        tmp_path / "e.parquet", tmp_path / "o.parquet", tiny_workspace, progress=False
    )
    assert res.rows == 0
    assert len(read_geoparquet(tmp_path / "o.parquet")) == 0


def test_bad_inputs_name_the_file(tiny_workspace, tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        assign_file(
            tmp_path / "nope.parquet", tmp_path / "o.parquet", tiny_workspace, progress=False
        )
    pq.write_table(pa.table({"a": [1, 2]}), tmp_path / "plain.parquet")
    with pytest.raises(InputFileError, match="not GeoParquet") as e:
        open_points(tmp_path / "plain.parquet")
    assert "plain.parquet" in str(e.value)
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(InputFileError, match=r"no \.parquet"):
        open_points(tmp_path / "empty_dir")


def test_failure_midway_leaves_no_output(tiny_workspace, tiny_layers_dict, tmp_path):
    """A second part whose columns cannot be read like the first's: the error names
    the part after the first chunks were written, and no partial output is left."""
    pts = points_over(tiny_layers_dict, 1000)
    src = write_partitioned(pts, tmp_path / "pts", rows_per_part=400)
    bad = pts.iloc[400:800].copy()
    bad["residents"] = "three"  # text where the first part has integers
    bad.to_parquet(src / "part-00001.parquet", index=False)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "keep.txt").write_text("previous result")
    for out in (tmp_path / "o.parquet", out_dir):
        with pytest.raises(InputFileError, match="part-00001"):
            assign_file(src, out, tiny_workspace, chunk_size=100, progress=False)
    assert not (tmp_path / "o.parquet").exists()
    assert (out_dir / "keep.txt").read_text() == "previous result"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_mixed_geometries_nulls_and_3d_points(tiny_workspace, tiny_layers_dict, tmp_path):
    """Polygons (point on surface), 3D points, empty and missing geometries: the
    general decoding path, same answers as the reference; plain 2D points use the
    direct WKB path and must agree with it."""
    from gridmap.join.stream import _xy_from_wkb_points

    pts = points_over(tiny_layers_dict, 200, seed=2)
    geoms = list(pts.geometry.values)
    geoms[0] = shapely.box(111.4701, 35.6401, 111.4704, 35.6404)  # a parking lot polygon
    geoms[1] = shapely.Point(111.4705, 35.6405, 12.0)  # with a height
    geoms[2] = shapely.Point()  # empty
    geoms[3] = None  # missing
    mixed = gpd.GeoDataFrame(pts.drop(columns="geometry"), geometry=geoms, crs="EPSG:4326")
    write_geoparquet(mixed, tmp_path / "mixed.parquet")
    res = assign_file(
        tmp_path / "mixed.parquet", tmp_path / "o.parquet", tiny_workspace, progress=False
    )
    assert res.rows == len(mixed)
    _, got = _got(tmp_path / "o.parquet")
    pd.testing.assert_frame_equal(got, _expected(tiny_layers_dict, mixed))
    assert got.loc[3, "assigned_level"] is None and got.loc[2, "assigned_level"] is None
    # direct WKB decoding equals shapely's
    table = pq.read_table(tmp_path / "mixed.parquet")
    assert _xy_from_wkb_points(table.column("geometry")) is None  # mixed: general path
    write_geoparquet(pts, tmp_path / "pts.parquet")
    col = pq.read_table(tmp_path / "pts.parquet").column("geometry")
    x, y = _xy_from_wkb_points(col)
    assert np.array_equal(x, shapely.get_x(pts.geometry.values)) and np.array_equal(
        y, shapely.get_y(pts.geometry.values)
    )


def test_cli_streams_points_to_geoparquet(tiny_workspace, tiny_layers_dict, tmp_path):
    """'gridmap assign --points' end to end, as a user runs it."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    gridmap = str(Path(sys.executable).with_name("gridmap"))
    pts = points_over(tiny_layers_dict, 1500, seed=12)
    src = tmp_path / "pts.gpkg"
    pts.to_file(src, layer="households", driver="GPKG")
    out = tmp_path / "assigned.parquet"
    cmd = [gridmap, "assign", str(tiny_workspace), "--points", str(src), "--out", str(out)]
    p = subprocess.run([*cmd, "--chunk-size", "400", "-f", "json"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["rows"] == len(pts) and doc["chunks"] == 4 and doc["engine"] == "index"
    _, got = _got(out)
    pd.testing.assert_frame_equal(got, _expected(tiny_layers_dict, pts))
    # user mistakes: one clear line, exit code 2, no traceback
    bad = subprocess.run(
        [gridmap, "assign", str(tiny_workspace), "--points", str(src)],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "--out" in bad.stderr and "Traceback" not in bad.stderr
    bad = subprocess.run([*cmd, "--engine", "fast"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown engine" in bad.stderr
    bad = subprocess.run(
        [
            gridmap,
            "assign",
            str(tiny_workspace),
            "--points",
            str(tmp_path / "no.parquet"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "no.parquet" in bad.stderr and "Traceback" not in bad.stderr


def test_multi_layer_file_needs_a_layer(tiny_workspace, tmp_path):
    with pytest.raises(InputFileError, match="several layers") as e:
        assign_file(tiny_workspace, tmp_path / "o.parquet", tiny_workspace, progress=False)
    # the library names the parameter (layer=); the CLI says --layer
    assert "households" in str(e.value) and "layer=" in str(e.value)
    res = assign_file(
        tiny_workspace, tmp_path / "o.parquet", tiny_workspace, layer="households", progress=False
    )
    assert res.rows == 6


def _plain_parquet(pts: gpd.GeoDataFrame, path, geom_name: str, geoms=None) -> None:
    """A Parquet file as DuckDB (no spatial extension), Spark or pandas write it: WKB, no 'geo'."""
    wkb = shapely.to_wkb(pts.geometry.values if geoms is None else geoms)
    t = pa.table(
        {"hid": pts["household_id"].astype(str).to_numpy(), geom_name: pa.array(wkb, pa.binary())}
    )
    pq.write_table(t, path)
    assert b"geo" not in (pq.read_schema(path).metadata or {})


@pytest.mark.parametrize("geom_name", ["geometry", "geom", "wkb", "my_shape_blob"])
def test_plain_parquet_with_a_wkb_column_is_read_as_wgs84(
    tiny_workspace, tiny_layers_dict, tmp_path, geom_name
):
    pts = points_over(tiny_layers_dict, 700, seed=21)
    src = tmp_path / "plain.parquet"
    _plain_parquet(pts, src, geom_name)
    assert open_points(src).geometry_column == geom_name
    out = tmp_path / "o.parquet"
    res = assign_file(src, out, tiny_workspace, chunk_size=300, progress=False)
    assert res.rows == len(pts)
    _, got = _got(out)
    pd.testing.assert_frame_equal(got, _expected(tiny_layers_dict, pts))


def test_plain_parquet_without_geometry_names_its_columns(tiny_workspace, tmp_path):
    src = tmp_path / "lonlat.parquet"
    pq.write_table(pa.table({"id": ["a"], "lon": [111.47], "lat": [35.64]}), src)
    with pytest.raises(InputFileError, match="no WKB geometry column") as e:
        assign_file(src, tmp_path / "o.parquet", tiny_workspace, progress=False)
    assert "lon, lat" in str(e.value) and "lonlat.parquet" in str(e.value)
    assert not (tmp_path / "o.parquet").exists()


@pytest.mark.parametrize("how", ["no-geo-metadata", "crs-null", "declared-wgs84", "swapped"])
def test_projected_or_swapped_points_in_a_lonlat_file_are_refused(
    tiny_workspace, tiny_layers_dict, tmp_path, how
):
    """Metres in a file that says (or is taken as) lon/lat used to join to nothing, exit 0."""
    pts = points_over(tiny_layers_dict, 300, seed=22)
    src = tmp_path / "pts.parquet"
    if how == "no-geo-metadata":
        _plain_parquet(pts, src, "geometry", pts.to_crs(4547).geometry.values)
    elif how == "crs-null":
        pts.to_crs(4547).set_crs(None, allow_override=True).to_parquet(src)
    elif how == "declared-wgs84":
        pts.to_crs(3857).set_crs(4326, allow_override=True).to_parquet(src)
    else:
        swapped = shapely.points(pts.geometry.y.values, pts.geometry.x.values)
        gpd.GeoDataFrame(pts.drop(columns="geometry"), geometry=swapped, crs=4326).to_parquet(src)
    out = tmp_path / "o.parquet"
    with pytest.raises(GridmapError, match="not longitude/latitude") as e:
        assign_file(src, out, tiny_workspace, chunk_size=100, progress=False)
    assert "pts.parquet" in str(e.value) and "row 0" in str(e.value)
    assert not out.exists()


@pytest.mark.parametrize("shifted", ["gcj02", "bd09"])
def test_points_in_a_shifted_crs_are_converted_before_the_join(
    tiny_workspace, tiny_layers_dict, tmp_path, shifted
):
    """Points copied from Amap/Baidu (labelled WGS84) join like their WGS84 originals."""
    from gridmap.coords.crs import from_wgs84

    pts = points_over(tiny_layers_dict, 400, seed=21)
    ref = assign_file(
        write_geoparquet(pts, tmp_path / "wgs.parquet"), tmp_path / "a.parquet", tiny_workspace
    )
    x, y = from_wgs84(pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy(), shifted)
    moved = pts.set_geometry(gpd.points_from_xy(x, y), crs="EPSG:4326")
    src = write_geoparquet(moved, tmp_path / f"{shifted}.parquet")
    naive = assign_file(src, tmp_path / "naive.parquet", tiny_workspace, progress=False)
    fixed = assign_file(
        src, tmp_path / "fixed.parquet", tiny_workspace, progress=False, crs=shifted
    )
    want = gpd.read_parquet(ref.written_to)
    got = gpd.read_parquet(fixed.written_to)
    wrong = gpd.read_parquet(naive.written_to)
    # exact vertices sit on boundaries: compare the random points (first 400)
    same = got["microgrid_id"].iloc[:400].fillna("-") == want["microgrid_id"].iloc[:400].fillna("-")
    assert same.mean() > 0.99
    assert (
        wrong["microgrid_id"].iloc[:400].fillna("-") != want["microgrid_id"].iloc[:400].fillna("-")
    ).mean() > 0.3
    # the output keeps the coordinates the user gave
    assert np.allclose(got.geometry.x.to_numpy(), x)
