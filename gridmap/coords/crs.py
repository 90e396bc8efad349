"""Coordinate systems: WGS84, EPSG codes, and China's shifted GCJ-02 and BD-09.

PROJ cannot express GCJ-02 (Amap/Gaode, Tencent) or BD-09 (Baidu), so the
forward transformations are implemented here from the public formula, and the
inverse transformations iterate the forward one until the round trip is below a
millimetre.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pyproj
from pyproj.exceptions import CRSError as _PyprojCRSError

from gridmap.errors import CoordinateError, CRSError

WGS84 = "EPSG:4326"
_A = 6378245.0  # Krasovsky 1940 semi-major axis used by GCJ-02
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0

SHIFTED = ("gcj02", "bd09")


@dataclass(frozen=True)
class CoordSystem:
    """A parsed ``--crs`` value: either a PROJ CRS or one of China's shifted systems."""

    kind: str  # "proj", "gcj02" or "bd09"
    crs: pyproj.CRS | None = None

    @property
    def is_shifted(self) -> bool:
        return self.kind in SHIFTED

    @property
    def is_geographic(self) -> bool:
        return self.is_shifted or bool(self.crs is not None and self.crs.is_geographic)

    def __str__(self) -> str:
        if self.is_shifted:
            return self.kind
        return self.crs.to_string() if self.crs is not None else "unknown"


_ALIASES = {
    "wgs84": WGS84,
    "wgs-84": WGS84,
    "4326": WGS84,
    "epsg:4326": WGS84,
    "cgcs2000": "EPSG:4490",
    "gcj02": "gcj02",
    "gcj-02": "gcj02",
    "gcj": "gcj02",
    "amap": "gcj02",
    "gaode": "gcj02",
    "tencent": "gcj02",
    "bd09": "bd09",
    "bd-09": "bd09",
    "bd09ll": "bd09",
    "baidu": "bd09",
    # Chinese names people type
    "火星坐标": "gcj02",
    "火星坐标系": "gcj02",
    "高德": "gcj02",
    "腾讯": "gcj02",
    "百度": "bd09",
    "百度坐标": "bd09",
    "百度坐标系": "bd09",
    "国家2000": "EPSG:4490",
}


def parse_crs(value: str | int | pyproj.CRS | CoordSystem | None) -> CoordSystem:
    """Parse a user's ``--crs`` value.

    Parameters
    ----------
    value
        An EPSG code (``4326``, ``"EPSG:4547"``), ``"wgs84"``, ``"gcj02"``,
        ``"bd09"``, a :class:`pyproj.CRS`, or None (meaning WGS84).

    Returns
    -------
    CoordSystem

    Raises
    ------
    CRSError
        When the value is not a known coordinate system.
    """
    if isinstance(value, CoordSystem):
        return value
    if value is None:
        return CoordSystem("proj", pyproj.CRS.from_user_input(WGS84))
    if isinstance(value, pyproj.CRS):
        return CoordSystem("proj", value)
    text = unicodedata.normalize("NFKC", str(value)).strip()
    m = re.fullmatch(r"(?i)epsg\s*[:：]?\s*(\d+)", text)  # "EPSG 4547", "epsg4547"
    if m:
        text = m.group(1)
    alias = _ALIASES.get(text.lower(), text)
    if alias in SHIFTED:
        return CoordSystem(alias)
    if alias.isdigit():
        alias = f"EPSG:{alias}"
    try:
        return CoordSystem("proj", pyproj.CRS.from_user_input(alias))
    except _PyprojCRSError as exc:
        raise CRSError(
            f"unknown coordinate system '{value}'. Use an EPSG code such as 4326, "
            "or one of wgs84, gcj02 (Amap/Tencent), bd09 (Baidu)."
        ) from exc


def out_of_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """True where a WGS84 position lies outside the rough box GCJ-02 shifts."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _transform_lat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lon, lat):
    """Convert WGS84 longitude/latitude to GCJ-02 (arrays or scalars)."""
    lon_a = np.asarray(lon, dtype=float)
    lat_a = np.asarray(lat, dtype=float)
    dlat = _transform_lat(lon_a - 105.0, lat_a - 35.0)
    dlon = _transform_lon(lon_a - 105.0, lat_a - 35.0)
    radlat = lat_a / 180.0 * np.pi
    magic = 1 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    outside = out_of_china(lon_a, lat_a)
    glon = np.where(outside, lon_a, lon_a + dlon)
    glat = np.where(outside, lat_a, lat_a + dlat)
    return _like(glon, lon), _like(glat, lat)


def gcj02_to_bd09(lon, lat):
    """Convert GCJ-02 longitude/latitude to BD-09."""
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return _like(z * np.cos(theta) + 0.0065, lon), _like(z * np.sin(theta) + 0.006, lat)


def wgs84_to_bd09(lon, lat):
    """Convert WGS84 longitude/latitude to BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def _invert(forward, lon, lat, tol_deg: float = 1e-10, max_iter: int = 30):
    """Invert a near-identity forward map by fixed-point iteration."""
    tlon = np.asarray(lon, dtype=float)
    tlat = np.asarray(lat, dtype=float)
    x, y = tlon.copy(), tlat.copy()
    for _ in range(max_iter):
        fx, fy = forward(x, y)
        dx, dy = np.asarray(fx) - tlon, np.asarray(fy) - tlat
        x = x - dx
        y = y - dy
        if np.nanmax(np.abs(np.concatenate([np.ravel(dx), np.ravel(dy)])), initial=0.0) < tol_deg:
            break
    return _like(x, lon), _like(y, lat)


def gcj02_to_wgs84(lon, lat):
    """Convert GCJ-02 to WGS84 exactly (iterative inverse, error < 1 mm)."""
    return _invert(wgs84_to_gcj02, lon, lat)


def bd09_to_gcj02(lon, lat):
    """Convert BD-09 to GCJ-02 exactly (iterative inverse)."""
    return _invert(gcj02_to_bd09, lon, lat)


def bd09_to_wgs84(lon, lat):
    """Convert BD-09 to WGS84 exactly (iterative inverse)."""
    return _invert(wgs84_to_bd09, lon, lat)


def _like(arr: np.ndarray, template):
    if np.ndim(template) == 0:
        return float(arr)
    return arr


def to_wgs84(x, y, crs: str | int | CoordSystem | pyproj.CRS | None):
    """Convert coordinates in ``crs`` to WGS84 longitude/latitude.

    Parameters
    ----------
    x, y
        Longitude/easting and latitude/northing (scalars or arrays).
    crs
        Anything :func:`parse_crs` accepts.
    """
    cs = parse_crs(crs)
    if cs.kind == "gcj02":
        return gcj02_to_wgs84(x, y)
    if cs.kind == "bd09":
        return bd09_to_wgs84(x, y)
    if cs.crs.equals(pyproj.CRS.from_user_input(WGS84)):
        return x, y
    tr = pyproj.Transformer.from_crs(cs.crs, WGS84, always_xy=True)
    lon, lat = tr.transform(x, y)
    if np.ndim(x) == 0 and np.isfinite([x, y]).all() and not np.isfinite([lon, lat]).all():
        # PROJ answers inf for positions outside the CRS's domain
        raise CoordinateError(
            f"({x}, {y}) is not a valid position in {cs}: check the coordinate system "
            "(a Gauss-Kruger easting with a zone prefix such as 38500000 needs the "
            "zone-prefixed EPSG code) and the order of x and y"
        )
    return lon, lat


def from_wgs84(lon, lat, crs: str | int | CoordSystem | pyproj.CRS | None):
    """Convert WGS84 longitude/latitude into ``crs``."""
    cs = parse_crs(crs)
    if cs.kind == "gcj02":
        return wgs84_to_gcj02(lon, lat)
    if cs.kind == "bd09":
        return wgs84_to_bd09(lon, lat)
    tr = pyproj.Transformer.from_crs(WGS84, cs.crs, always_xy=True)
    return tr.transform(lon, lat)


def shift_geometries(geoseries, func):
    """Apply a lon/lat -> lon/lat function to every coordinate of a GeoSeries."""
    import shapely

    def _apply(coords: np.ndarray) -> np.ndarray:
        if len(coords) == 0:
            return coords
        x, y = func(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    out = shapely.transform(geoseries.values, _apply)
    return geoseries.__class__(out, index=geoseries.index, crs=geoseries.crs)


def gdf_to_wgs84(gdf, crs: str | int | CoordSystem | pyproj.CRS | None = None):
    """Return ``gdf`` in EPSG:4326, converting from ``crs`` (or its own CRS).

    GCJ-02 and BD-09 data carry no CRS of their own (they are labelled WGS84 by
    the apps that produce them), so pass ``crs="gcj02"`` or ``"bd09"``.
    """
    cs = parse_crs(crs) if crs is not None else None
    if cs is not None and cs.is_shifted:
        out = gdf.copy()
        func = gcj02_to_wgs84 if cs.kind == "gcj02" else bd09_to_wgs84
        out["geometry" if "geometry" in out else out.geometry.name] = shift_geometries(
            out.geometry, func
        )
        return out.set_crs(WGS84, allow_override=True)
    if cs is not None:
        gdf = gdf.set_crs(cs.crs, allow_override=True)
    if gdf.crs is None:
        raise CRSError("the data has no coordinate system; pass crs= (e.g. crs=4326)")
    return gdf.to_crs(WGS84)


def gdf_wgs84_to(gdf, crs: str):
    """Return a WGS84 GeoDataFrame shifted to ``gcj02``/``bd09`` (labels stay 4326)."""
    cs = parse_crs(crs)
    if not cs.is_shifted:
        return gdf.to_crs(cs.crs)
    func = wgs84_to_gcj02 if cs.kind == "gcj02" else wgs84_to_bd09
    out = gdf.copy()
    out[out.geometry.name] = shift_geometries(out.geometry, func)
    return out


def metric_crs(lon: float, lat: float) -> pyproj.CRS:
    """Pick a metric CRS (WGS84 / UTM zone) for data centred at ``lon``, ``lat``."""
    zone = math.floor((lon + 180.0) / 6.0) % 60 + 1
    epsg = (32600 if lat >= 0 else 32700) + zone
    return pyproj.CRS.from_epsg(epsg)


def metric_crs_for(gdf) -> pyproj.CRS:
    """Pick a metric CRS for a WGS84 GeoDataFrame from the centre of its extent."""
    g = gdf if gdf.crs is None or gdf.crs.is_geographic else gdf.to_crs(WGS84)
    minx, miny, maxx, maxy = g.total_bounds
    if not np.all(np.isfinite([minx, miny, maxx, maxy])):
        return metric_crs(111.47, 35.64)
    return metric_crs((minx + maxx) / 2.0, (miny + maxy) / 2.0)


def haversine_m(lon1, lat1, lon2, lat2):
    """Great-circle distance in metres (sphere of radius 6,371,008.8 m)."""
    lon1, lat1, lon2, lat2 = map(np.radians, (lon1, lat1, lon2, lat2))
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371008.8 * np.arcsin(np.sqrt(a))


def nonfinite_geometries(geoms) -> np.ndarray:
    """True for each geometry holding a NaN or infinite x or y (missing ones are False).

    Such a position cannot be converted, joined or written as JSON: the importer
    refuses it by row, and the OGC API serves it as a null geometry.
    """
    import shapely

    geoms = np.asarray(geoms, dtype=object)
    bad = np.zeros(len(geoms), dtype=bool)
    if not len(geoms):
        return bad
    xy, owner = shapely.get_coordinates(geoms, return_index=True)
    if len(xy):
        bad[np.unique(owner[~np.isfinite(xy).all(axis=1)])] = True
    return bad
