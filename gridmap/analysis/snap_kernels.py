"""The nearest street segment of many points, compiled with numba.

:func:`gridmap.analysis.network.locate_on_network` uses this for large batches
of points (households); small batches and polygons go through shapely's
STRtree. Importing this module imports numba (cached compile in the user cache
folder, see :mod:`gridmap.workspace.cache`).

The answer is the STRtree's: the segment at the smallest distance, computed
with GEOS's own point-to-segment formula (``Distance::pointToSegment``), the
lowest edge index among equally near segments. Segments are put in the cells
of a uniform grid that their bounding boxes overlap; a point's search scans
rings of cells around its own until no unscanned cell can hold a nearer
segment (every unscanned segment is at least ``k * cell`` away after ring
``k``), so the result is exact, not approximate.
"""

from __future__ import annotations

import math

import numpy as np

from gridmap.workspace.cache import configure_numba_cache

configure_numba_cache()  # before numba loads: kernels are cached in the user cache folder

from numba import njit, prange  # noqa: E402


@njit(cache=True, inline="always")
def _point_segment(px, py, ax, ay, bx, by):
    """GEOS ``Distance::pointToSegment``, operation for operation."""
    if ax == bx and ay == by:
        dx = px - ax
        dy = py - ay
        return math.sqrt(dx * dx + dy * dy)
    len2 = (bx - ax) * (bx - ax) + (by - ay) * (by - ay)
    r = ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / len2
    if r <= 0.0:
        dx = px - ax
        dy = py - ay
        return math.sqrt(dx * dx + dy * dy)
    if r >= 1.0:
        dx = px - bx
        dy = py - by
        return math.sqrt(dx * dx + dy * dy)
    s = ((ay - py) * (bx - ax) - (ax - px) * (by - ay)) / len2
    return abs(s) * math.sqrt(len2)


@njit(cache=True, inline="always")
def _scan_cell(px, py, cell, cell_start, cell_seg, seg, best_d, best_e):
    for k in range(cell_start[cell], cell_start[cell + 1]):
        e = cell_seg[k]
        d = _point_segment(px, py, seg[e, 0], seg[e, 1], seg[e, 2], seg[e, 3])
        if d < best_d or (d == best_d and e < best_e):
            best_d = d
            best_e = e
    return best_d, best_e


@njit(cache=True, parallel=True)
def nearest_segments(px, py, seg, x0, y0, cell, nx, ny, cell_start, cell_seg):
    """Index of and GEOS distance to the nearest segment of each point.

    ``seg`` is (E, 4): ax, ay, bx, by. ``cell_start``/``cell_seg``: the segments
    of grid cell ``j * nx + i`` are ``cell_seg[cell_start[c]:cell_start[c + 1]]``.
    """
    n = len(px)
    out_e = np.full(n, -1, dtype=np.int64)
    out_d = np.full(n, np.inf)
    for t in prange(n):
        x = px[t]
        y = py[t]
        ci = np.int64(math.floor((x - x0) / cell))
        cj = np.int64(math.floor((y - y0) / cell))
        # rings that do not reach the grid hold nothing
        k = max(np.int64(0), ci - (nx - 1), -ci, cj - (ny - 1), -cj)
        last = max(ci, nx - 1 - ci, cj, ny - 1 - cj)
        best_d = np.inf
        best_e = np.int64(-1)
        while k <= last:
            i_lo = max(ci - k, np.int64(0))
            i_hi = min(ci + k, nx - 1)
            for j in (cj - k, cj + k):
                if 0 <= j < ny:
                    for i in range(i_lo, i_hi + 1):
                        best_d, best_e = _scan_cell(
                            x, y, j * nx + i, cell_start, cell_seg, seg, best_d, best_e
                        )
                if k == 0:
                    break
            if k > 0:
                j_lo = max(cj - k + 1, np.int64(0))
                j_hi = min(cj + k - 1, ny - 1)
                for i in (ci - k, ci + k):
                    if 0 <= i < nx:
                        for j in range(j_lo, j_hi + 1):
                            best_d, best_e = _scan_cell(
                                x, y, j * nx + i, cell_start, cell_seg, seg, best_d, best_e
                            )
            # every segment not scanned yet lies outside the square of rings 0..k
            # (a hair of margin for the rounding of the cell of the point)
            if best_d < (k - 1e-6) * cell:
                break
            k += 1
        out_e[t] = best_e
        out_d[t] = best_d
    return out_e, out_d
