"""GCJ-02 / BD-09 transformations against published reference points, and parse_crs."""

from __future__ import annotations

import numpy as np
import pyproj
import pytest
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from gridmap.coords import crs as crs
from gridmap.errors import CRSError

# WGS84 -> GCJ-02 test vectors (lat, lng order as in the source) from the
# eviltransform project's test suite (googollee/eviltransform; PHP port
# larryli/eviltransform tests/EvilTransformTest.php): Shanghai, Shenzhen, Beijing.
EVILTRANSFORM = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),
]

# wandergis/coordtransform README example at (116.404, 39.915), also used as
# the reference in hutool's CoordinateUtilTest (cn.hutool.core.util):
COORDTRANSFORM_GCJ_TO_BD = ((116.404, 39.915), (116.41036949371029, 39.92133699351021))
COORDTRANSFORM_WGS_TO_GCJ = ((116.404, 39.915), (116.41024449916938, 39.91640428150164))
# coordtransform's bd09togcj02 is a one-step closed-form approximation:
COORDTRANSFORM_BD_TO_GCJ = ((116.404, 39.915), (116.39762729119315, 39.90865673957631))


def _dist_m(lon1, lat1, lon2, lat2):
    return crs.haversine_m(lon1, lat1, lon2, lat2)


@pytest.mark.parametrize(("wlat", "wlon", "glat", "glon"), EVILTRANSFORM)
def test_wgs_to_gcj_matches_eviltransform(wlat, wlon, glat, glon):
    lon, lat = crs.wgs84_to_gcj02(wlon, wlat)
    assert lon == pytest.approx(glon, abs=1e-9)
    assert lat == pytest.approx(glat, abs=1e-9)


@pytest.mark.parametrize(("wlat", "wlon", "glat", "glon"), EVILTRANSFORM)
def test_gcj_to_wgs_exact_inverse_of_published_points(wlat, wlon, glat, glon):
    lon, lat = crs.gcj02_to_wgs84(glon, glat)
    assert _dist_m(lon, lat, wlon, wlat) < 0.01  # centimetre, far below the 0.5 m bar
    # the shift itself is the expected few hundred metres
    assert 200 < _dist_m(wlon, wlat, glon, glat) < 700


def test_coordtransform_reference_points():
    (x, y), (ex, ey) = COORDTRANSFORM_GCJ_TO_BD
    bx, by = crs.gcj02_to_bd09(x, y)
    assert (bx, by) == pytest.approx((ex, ey), abs=1e-9)
    (x, y), (ex, ey) = COORDTRANSFORM_WGS_TO_GCJ
    assert crs.wgs84_to_gcj02(x, y) == pytest.approx((ex, ey), abs=1e-9)
    # our exact inverse lands within a few cm of the closed-form approximation,
    # and maps forward back onto the input exactly
    (x, y), (ex, ey) = COORDTRANSFORM_BD_TO_GCJ
    gx, gy = crs.bd09_to_gcj02(x, y)
    assert _dist_m(gx, gy, ex, ey) < 0.2
    fx, fy = crs.gcj02_to_bd09(gx, gy)
    assert _dist_m(fx, fy, x, y) < 0.001


china_lon = st.floats(min_value=73.7, max_value=134.7, allow_nan=False)
china_lat = st.floats(min_value=18.2, max_value=53.5, allow_nan=False)


@settings(max_examples=examples(300), deadline=None, database=None)
@given(china_lon, china_lat)
def test_gcj02_round_trip_under_half_metre(lon, lat):
    g = crs.wgs84_to_gcj02(lon, lat)
    back = crs.gcj02_to_wgs84(*g)
    assert _dist_m(lon, lat, *back) < 0.5
    assert _dist_m(lon, lat, *g) > 1.0  # inside China the shift is real


@settings(max_examples=examples(300), deadline=None, database=None)
@given(china_lon, china_lat)
def test_bd09_round_trip_under_half_metre(lon, lat):
    b = crs.wgs84_to_bd09(lon, lat)
    back = crs.bd09_to_wgs84(*b)
    assert _dist_m(lon, lat, *back) < 0.5


def test_vectorised_equals_scalar():
    rng = np.random.default_rng(1)
    lon = rng.uniform(100, 120, 50)
    lat = rng.uniform(20, 40, 50)
    gx, gy = crs.gcj02_to_wgs84(lon, lat)
    for k in range(0, 50, 7):
        sx, sy = crs.gcj02_to_wgs84(float(lon[k]), float(lat[k]))
        assert (sx, sy) == pytest.approx((gx[k], gy[k]), abs=1e-10)


@pytest.mark.parametrize(("lon", "lat"), [(2.35, 48.86), (-74.0, 40.7), (151.2, -33.9)])
def test_outside_china_is_identity(lon, lat):
    assert crs.wgs84_to_gcj02(lon, lat) == (lon, lat)
    assert crs.gcj02_to_wgs84(lon, lat) == pytest.approx((lon, lat), abs=1e-12)


@pytest.mark.parametrize(
    ("value", "kind", "epsg"),
    [
        ("wgs84", "proj", 4326),
        ("WGS-84", "proj", 4326),
        ("4326", "proj", 4326),
        (4326, "proj", 4326),
        ("EPSG:4547", "proj", 4547),
        ("4547", "proj", 4547),
        ("cgcs2000", "proj", 4490),
        ("gcj02", "gcj02", None),
        ("GCJ-02", "gcj02", None),
        ("amap", "gcj02", None),
        ("bd09", "bd09", None),
        ("baidu", "bd09", None),
        (None, "proj", 4326),
        ("EPSG 4547", "proj", 4547),
        ("epsg4547", "proj", 4547),
        ("ＥＰＳＧ：４５４７", "proj", 4547),
        ("火星坐标", "gcj02", None),
        ("高德", "gcj02", None),
        ("百度", "bd09", None),
    ],
)
def test_parse_crs_aliases(value, kind, epsg):
    cs = crs.parse_crs(value)
    assert cs.kind == kind
    if epsg is not None:
        assert cs.crs.to_epsg() == epsg
    else:
        assert cs.is_shifted and cs.is_geographic


@pytest.mark.parametrize("value", ["mars", "EPSG:99999999", "gcj03"])
def test_parse_crs_error_names_value(value):
    with pytest.raises(CRSError) as info:
        crs.parse_crs(value)
    assert value in str(info.value)
    assert "gcj02" in str(info.value)


def test_to_wgs84_projected_cgcs2000_gk():
    # a point in EPSG:4547 (CGCS2000 / 3-degree GK CM 114E) checked against pyproj directly
    tr = pyproj.Transformer.from_crs(4326, 4547, always_xy=True)
    x, y = tr.transform(114.3, 30.6)
    lon, lat = crs.to_wgs84(x, y, "4547")
    assert _dist_m(lon, lat, 114.3, 30.6) < 0.01
