"""Checks of caller input that reaches expensive code: coordinate systems and radii.

* ``crs``: an allow-list. The names ``wgs84``, ``gcj02``, ``bd09``,
  ``cgcs2000`` (and their usual spellings), or the EPSG code of a 2-D
  geographic or projected CRS of the Earth (an ellipsoid of Earth size).
  Nothing else reaches PROJ: no PROJ strings, WKT, pipelines, URLs or file
  names, so PROJ never reads a file the caller names, never runs a pipeline,
  and never searches its database by name (which cost seconds per request).
  Parsed codes are cached.
* ``radius`` of ``/coverage``: between a minimum and a maximum, a multiple of
  a step, or one of the standards' radii, so callers cannot mint endless
  distinct cache keys.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata

import pyproj
from pyproj.exceptions import CRSError as _PyprojCRSError

from gridmap.api.deps import BadParameterError
from gridmap.coords.crs import CoordSystem, parse_crs

#: Names accepted for ``crs`` (besides EPSG codes), lower case.
CRS_NAMES = {
    "wgs84": "wgs84",
    "wgs-84": "wgs84",
    "crs84": "wgs84",
    "gcj02": "gcj02",
    "gcj-02": "gcj02",
    "amap": "gcj02",
    "gaode": "gcj02",
    "tencent": "gcj02",
    "高德": "gcj02",
    "腾讯": "gcj02",
    "火星坐标": "gcj02",
    "bd09": "bd09",
    "bd-09": "bd09",
    "bd09ll": "bd09",
    "baidu": "bd09",
    "百度": "bd09",
    "cgcs2000": "cgcs2000",
    "国家2000": "cgcs2000",
}
_EPSG_RE = re.compile(r"(?:epsg\s*[:：]?\s*)?(\d{4,6})")
#: Semi-major axes (metres) accepted as "the Earth" (Krasovsky 6378245 to Clarke 1880 ...).
EARTH_AXIS_M = (6_370_000.0, 6_380_000.0)
_SHOWABLE = re.compile(r"^[A-Za-z0-9:+=_.,\- ]{1,40}$")


@functools.lru_cache(maxsize=64)
def _named(name: str) -> CoordSystem:
    return parse_crs(name)


@functools.lru_cache(maxsize=2048)
def _epsg(code: int) -> CoordSystem | None:
    """The CRS of an EPSG code if it is a 2-D geographic/projected Earth CRS, else None."""
    try:
        crs = pyproj.CRS.from_epsg(code)
    except (_PyprojCRSError, ValueError, OverflowError):
        return None
    if crs.is_compound or crs.is_bound or crs.is_engineering or crs.is_vertical:
        return None
    if crs.is_geocentric or not (crs.is_geographic or crs.is_projected):
        return None
    if len(crs.axis_info) != 2:
        return None
    ell = crs.ellipsoid
    if ell is None or not (EARTH_AXIS_M[0] <= ell.semi_major_metre <= EARTH_AXIS_M[1]):
        return None
    return CoordSystem("proj", crs)


def crs_param(value: str) -> CoordSystem:
    """Parse the ``crs`` parameter through the allow-list.

    Raises
    ------
    BadParameterError
        (422) naming the value when it is short plain text, else saying what
        is accepted.
    """
    text = unicodedata.normalize("NFKC", str(value)).strip().lower()
    name = CRS_NAMES.get(text)
    if name is not None:
        return _named(name)
    m = _EPSG_RE.fullmatch(text)
    if m:
        cs = _epsg(int(m.group(1)))
        if cs is not None:
            return cs
    shown = f"crs={value!r}" if _SHOWABLE.match(str(value)) else "this crs value"
    raise BadParameterError(
        f"{shown} is not accepted: use wgs84, gcj02 (Amap/Tencent), bd09 (Baidu), cgcs2000, "
        "or the EPSG code of a geographic or projected coordinate system (e.g. 4326, 4547)"
    )


@functools.lru_cache(maxsize=1)
def standard_radii() -> frozenset[float]:
    """Radii (metres) named by the packaged standards (defaults per facility and rules)."""
    from gridmap.analysis.standards import load_standards

    std = load_standards()
    radii = {float(v) for v in std.radii.values()} | {float(std.default_radius)}
    radii |= {float(r.radius_m) for r in std.rules if r.radius_m}
    return frozenset(radii)


def radius_param(radius: float | None, lo: float, hi: float, step: float) -> float | None:
    """Check a coverage radius: ``lo..hi`` in multiples of ``step``, or a standard's radius.

    Raises
    ------
    BadParameterError
        (422) naming the allowed values.
    """
    if radius is None:
        return None
    r = float(radius)
    if math.isfinite(r) and r in standard_radii():
        return r
    if math.isfinite(r) and lo <= r <= hi:
        k = round(r / step)
        if abs(k * step - r) < 1e-6:
            return float(k * step)
    shown = ", ".join(f"{v:g}" for v in sorted(standard_radii()))
    raise BadParameterError(
        f"radius must be a multiple of {step:g} m between {lo:g} and {hi:g} m, "
        f"or a standard radius ({shown})"
    )
