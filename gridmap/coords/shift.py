"""Is a point set really in WGS84, or in GCJ-02/BD-09 labelled WGS84?

Points taken from a Chinese web map (Amap/Tencent: GCJ-02, Baidu: BD-09) and
saved as "WGS84" sit 300-600 m off. :func:`shift_suspicion` tells by asking
whether the points fit the workspace's polygons only once read as shifted.
The importer and validation both use it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gridmap.coords import crs as gcrs

#: The shift check fires when at most this share of the points falls in the
#: workspace's polygons as given, and at least SHIFT_SHIFTED_MIN once shifted.
SHIFT_GIVEN_MAX = 0.5
SHIFT_SHIFTED_MIN = 0.9


def shift_suspicion(
    x: np.ndarray,
    y: np.ndarray,
    locate: Callable[..., np.ndarray],
    points: np.ndarray | None = None,
) -> tuple[str, int, int, int] | None:
    """Do WGS84-labelled points fit the polygons only once read as GCJ-02 or BD-09?

    Parameters
    ----------
    x, y
        Point coordinates as given (degrees).
    locate
        A locator (:func:`gridmap.join.core.reference_locator`) of the polygons.
    points
        The shapely points of ``x``/``y`` when the caller has them (then ``locate``
        must be a reference locator, which takes them instead of building them).

    Returns
    -------
    (system, points, inside as given, inside when shifted) or None
        None unless at most :data:`SHIFT_GIVEN_MAX` of the points fall in a
        polygon as given and at least :data:`SHIFT_SHIFTED_MIN` do when read
        as ``"gcj02"`` (or ``"bd09"``). Needs 3 or more points in China.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or gcrs.out_of_china(x[ok], y[ok]).all():
        return None
    x, y = x[ok], y[ok]
    n = len(x)
    at = locate(x, y) if points is None else locate(x, y, points=np.asarray(points)[ok])
    given = int(np.count_nonzero(np.not_equal(at, None)))  # type: ignore[call-overload]
    if given > SHIFT_GIVEN_MAX * n:
        return None
    for name, func in (("gcj02", gcrs.gcj02_to_wgs84), ("bd09", gcrs.bd09_to_wgs84)):
        sx, sy = func(x, y)
        found = locate(np.asarray(sx), np.asarray(sy))
        shifted = int(np.count_nonzero(np.not_equal(found, None)))  # type: ignore[call-overload]
        if shifted >= SHIFT_SHIFTED_MIN * n:
            return name, n, int(given), int(shifted)
    return None
