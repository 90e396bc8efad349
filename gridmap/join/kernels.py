"""The compiled kernels of the exact cell index (:mod:`gridmap.join.index`), with numba.

Importing this module imports numba, which costs about a second before the
first call (and a compile of about 20 s on a fresh install; the result is kept
in the user cache folder, see :mod:`gridmap.workspace.cache`). The index
imports it only when it builds a tree or answers a large batch.
"""

from __future__ import annotations

import numpy as np

from gridmap.workspace.cache import configure_numba_cache

configure_numba_cache()  # before numba loads: kernels are cached in the user cache folder

from numba import njit, prange  # noqa: E402

#: Shewchuk's error bound for the orientation filter on float64 coordinates.
_CCW_ERR = (3.0 + 16.0 * 2.0**-53) * 2.0**-53


@njit(cache=True, inline="always")
def _orient(ax, ay, bx, by, px, py):
    """Sign of the turn a -> b -> p: 1 left, -1 right, 0 collinear, 2 unsure.

    Shewchuk's orient2d with the first error bound: the sign returned is
    exact whenever it is not 2.
    """
    detleft = (ax - px) * (by - py)
    detright = (ay - py) * (bx - px)
    det = detleft - detright
    if detleft > 0.0:
        if detright <= 0.0:
            return 1 if det > 0.0 else (-1 if det < 0.0 else 0)
        detsum = detleft + detright
    elif detleft < 0.0:
        if detright >= 0.0:
            return 1 if det > 0.0 else (-1 if det < 0.0 else 0)
        detsum = -detleft - detright
    else:
        return 1 if det > 0.0 else (-1 if det < 0.0 else 0)
    err = _CCW_ERR * detsum
    if det >= err and det != 0.0:
        return 1
    if -det >= err and det != 0.0:
        return -1
    return 2


@njit(cache=True, inline="always")
def _slab(p, py, pbox, nslab, slab_h):
    """Horizontal slab of polygon p holding y = py (monotonic in py, clamped)."""
    k = np.int64((py - pbox[p, 1]) / slab_h[p]) if py > pbox[p, 1] else np.int64(0)
    return min(k, nslab[p] - 1)


@njit(cache=True)
def _pip(p, px, py, poly_start, edges, pbox, slab0, nslab, slab_h, slab_start, slab_edge):
    """1 if polygon p covers (px, py), 0 if not, 2 if float64 cannot decide.

    Polygons with many edges are cut into horizontal slabs, each listing the
    edges whose y-range meets it: only edges whose y-range holds ``py`` can
    cross the test ray or hold the point, and they are all in ``py``'s slab.
    """
    if nslab[p] > 0:
        s = slab0[p] + _slab(p, py, pbox, nslab, slab_h)
        a = slab_start[s]
        b = slab_start[s + 1]
    else:
        a = poly_start[p]
        b = poly_start[p + 1]
    cross = 0
    for j in range(a, b):
        e = slab_edge[j] if nslab[p] > 0 else j
        x1 = edges[e, 0]
        y1 = edges[e, 1]
        x2 = edges[e, 2]
        y2 = edges[e, 3]
        if y1 < y2:
            ylo = y1
            yhi = y2
        else:
            ylo = y2
            yhi = y1
        if py < ylo or py > yhi:
            continue
        if x1 < x2:
            xlo = x1
            xhi = x2
        else:
            xlo = x2
            xhi = x1
        if px > xhi:
            continue
        straddle = (y1 > py) != (y2 > py)
        if px < xlo:
            if straddle:
                cross ^= 1
            continue
        o = _orient(x1, y1, x2, y2, px, py)
        if o == 2:
            return 2
        if o == 0:
            return 1  # inside the edge's box and collinear: on the edge
        if straddle:
            if y2 > y1:
                if o > 0:
                    cross ^= 1
            elif o < 0:
                cross ^= 1
    return cross


@njit(cache=True)
def _build_slabs(poly_start, edges, pbox, min_edges, per_slab):
    """Slab tables of the polygons with more than ``min_edges`` edges (see :func:`_pip`)."""
    npoly = poly_start.shape[0] - 1
    slab0 = np.zeros(npoly, np.int64)
    nslab = np.zeros(npoly, np.int64)
    slab_h = np.ones(npoly, np.float64)
    total = 0
    for p in range(npoly):
        ne = poly_start[p + 1] - poly_start[p]
        h = pbox[p, 3] - pbox[p, 1]
        if not (ne > min_edges and h > 0.0 and np.isfinite(h)):
            continue
        b = max(1, ne // per_slab)
        while b >= 2:  # edges spanning many bands (a comb) repeat: keep the tables small
            nslab[p] = b
            slab_h[p] = h / b
            entries = 0
            for e in range(poly_start[p], poly_start[p + 1]):
                lo = _slab(p, min(edges[e, 1], edges[e, 3]), pbox, nslab, slab_h)
                hi = _slab(p, max(edges[e, 1], edges[e, 3]), pbox, nslab, slab_h)
                entries += hi - lo + 1
            if entries <= 8 * ne:
                break
            b //= 2
        if b < 2:
            nslab[p] = 0
            slab_h[p] = 1.0
            continue
        slab0[p] = total
        total += nslab[p]
    counts = np.zeros(total + 1, np.int64)
    for p in range(npoly):
        if nslab[p] == 0:
            continue
        for e in range(poly_start[p], poly_start[p + 1]):
            lo = _slab(p, min(edges[e, 1], edges[e, 3]), pbox, nslab, slab_h)
            hi = _slab(p, max(edges[e, 1], edges[e, 3]), pbox, nslab, slab_h)
            for k in range(lo, hi + 1):
                counts[slab0[p] + k + 1] += 1
    for k in range(total):
        counts[k + 1] += counts[k]
    slab_start = counts.copy()
    slab_edge = np.empty(counts[total], np.int64)
    fill = counts[:-1].copy()
    for p in range(npoly):
        if nslab[p] == 0:
            continue
        for e in range(poly_start[p], poly_start[p + 1]):
            lo = _slab(p, min(edges[e, 1], edges[e, 3]), pbox, nslab, slab_h)
            hi = _slab(p, max(edges[e, 1], edges[e, 3]), pbox, nslab, slab_h)
            for k in range(lo, hi + 1):
                s = slab0[p] + k
                slab_edge[fill[s]] = e
                fill[s] += 1
    return slab0, nslab, slab_h, slab_start, slab_edge


@njit(cache=True, parallel=True)
def _query(
    x,
    y,
    x0,
    y0,
    scale,
    depth,
    tile_shift,
    tiles_per_side,
    tile_node,
    child0,
    node_depth,
    leaf_of,
    leaf_base,
    cand_start,
    cand,
    poly_start,
    edges,
    poly_kind,
    pbox,
    slab0,
    nslab,
    slab_h,
    slab_start,
    slab_edge,
    out,
    unsure,
):
    n = x.shape[0]
    lim = float(1 << depth)
    for i in prange(n):
        px = x[i]
        py = y[i]
        fx = (px - x0) * scale
        fy = (py - y0) * scale
        out[i] = -1
        unsure[i] = False
        if not (fx >= 0.0 and fx < lim and fy >= 0.0 and fy < lim):
            continue  # outside the extent, or NaN
        ix = np.int64(fx)
        iy = np.int64(fy)
        node = tile_node[(iy >> tile_shift) * tiles_per_side + (ix >> tile_shift)]
        while child0[node] >= 0:
            s = depth - 1 - node_depth[node]
            q = ((ix >> s) & 1) | (((iy >> s) & 1) << 1)
            node = child0[node] + q
        leaf = leaf_of[node]
        res = leaf_base[leaf]
        for k in range(cand_start[leaf], cand_start[leaf + 1]):
            p = cand[k]
            if px < pbox[p, 0] or py < pbox[p, 1] or px > pbox[p, 2] or py > pbox[p, 3]:
                continue  # outside the polygon's bounding box: not covered
            if poly_kind[p] != 0:
                unsure[i] = True
                break
            r = _pip(
                p, px, py, poly_start, edges, pbox, slab0, nslab, slab_h, slab_start, slab_edge
            )
            if r == 2:
                unsure[i] = True
                break
            if r == 1:
                res = p
                break
        out[i] = res


@njit(cache=True)
def _spatial_order(x, y, x0, y0, scale, depth, bits):
    """A permutation grouping points by a coarse 2**bits x 2**bits grid (counting sort).

    Queries in this order touch the index memory in a cache-friendly way
    (about 3x fewer cache misses on random input); points outside the extent
    go last.
    """
    n = x.shape[0]
    nb = 1 << (2 * bits)
    shift = depth - bits
    lim = float(1 << depth)
    key = np.empty(n, np.int64)
    counts = np.zeros(nb + 2, np.int64)
    for i in range(n):
        fx = (x[i] - x0) * scale
        fy = (y[i] - y0) * scale
        if fx >= 0.0 and fx < lim and fy >= 0.0 and fy < lim:
            k = ((np.int64(fy) >> shift) << bits) | (np.int64(fx) >> shift)
        else:
            k = nb
        key[i] = k
        counts[k + 1] += 1
    for k in range(nb + 1):
        counts[k + 1] += counts[k]
    order = np.empty(n, np.int64)
    for i in range(n):
        k = key[i]
        order[counts[k]] = i
        counts[k] += 1
    return order


@njit(cache=True)
def _tile_table(tiles_per_side, tile_shift, child0, node_depth, depth):
    out = np.empty(tiles_per_side * tiles_per_side, dtype=np.int32)
    for ty in range(tiles_per_side):
        for tx in range(tiles_per_side):
            ix = np.int64(tx) << tile_shift
            iy = np.int64(ty) << tile_shift
            node = 0
            while child0[node] >= 0 and node_depth[node] < depth - tile_shift:
                s = depth - 1 - node_depth[node]
                q = ((ix >> s) & 1) | (((iy >> s) & 1) << 1)
                node = child0[node] + q
            out[ty * tiles_per_side + tx] = node
    return out


@njit(cache=True, inline="always")
def _seg_touches(x1, y1, x2, y2, rx0, ry0, rx1, ry1):
    """Conservative segment / closed-rectangle intersection (True when unsure)."""
    if min(x1, x2) > rx1 or max(x1, x2) < rx0 or min(y1, y2) > ry1 or max(y1, y2) < ry0:
        return False
    dx = x2 - x1
    dy = y2 - y1
    pos = 0
    neg = 0
    for k in range(4):
        cx = rx0 if (k & 1) == 0 else rx1
        cy = ry0 if (k & 2) == 0 else ry1
        a = (cx - x1) * dy
        b = (cy - y1) * dx
        v = a - b
        err = 1e-12 * (abs(a) + abs(b))
        if v > err:
            pos += 1
        elif v < -err:
            neg += 1
    return not (pos == 4 or neg == 4)


@njit(cache=True, parallel=True)
def _build_level(
    cell_start, pair_edge, cx, cy, base, d, depth, max_edges, x0, y0, width, margin,
    geom_of_edge, poly_start, edges, kind, max_children,
    pbox, slab0, nslab, slab_h, slab_start, slab_edge,
):  # fmt: skip
    """Split one level of the quadtree (parallel over cells and children).

    Cells hold the edges touching them (CSR ``cell_start``/``pair_edge``, edges
    in rank order). Cells with more than ``max_edges`` edges of polygons that
    can still beat the cell's base are split in four; the others become leaves
    whose candidates are those polygons. A polygon that touched the parent but
    no longer touches a child covers all of the child or none of it: its
    centre is tested and the child's base updated (pairs the compiled test
    cannot decide are returned for shapely). When splitting would create more
    than ``max_children`` cells (edges that no split separates, such as many
    polygons with identical geometry), every cell of the level becomes a leaf:
    leaves are exact at any depth, splitting only makes queries faster.
    """
    ncell = cx.shape[0]
    cnt = np.zeros(ncell, np.int64)
    nu = np.zeros(ncell, np.int64)
    for c in prange(ncell):
        b = base[c]
        m = 0
        u = 0
        last = -1
        for j in range(cell_start[c], cell_start[c + 1]):
            r = geom_of_edge[pair_edge[j]]
            if b < 0 or r < b:
                m += 1
                if r != last:
                    u += 1
                    last = r
        cnt[c] = m
        nu[c] = u
    split = np.zeros(ncell, np.bool_)
    kidx = np.full(ncell, -1, np.int64)
    lidx = np.full(ncell, -1, np.int64)
    nsplit = 0
    nleaf = 0
    nwant = 0
    for c in range(ncell):
        if cnt[c] > max_edges and d < depth:
            nwant += 1
    stop = 4 * nwant > max_children
    for c in range(ncell):
        if cnt[c] > max_edges and d < depth and not stop:
            split[c] = True
            kidx[c] = nsplit
            nsplit += 1
        else:
            lidx[c] = nleaf
            nleaf += 1
    leaf_cells = np.empty(nleaf, np.int64)
    leaf_cstart = np.zeros(nleaf + 1, np.int64)
    sp = np.empty(nsplit, np.int64)
    for c in range(ncell):
        if split[c]:
            sp[kidx[c]] = c
        else:
            leaf_cells[lidx[c]] = c
            leaf_cstart[lidx[c] + 1] = nu[c]
    for i in range(nleaf):
        leaf_cstart[i + 1] += leaf_cstart[i]
    leaf_cand = np.empty(leaf_cstart[nleaf], np.int32)
    for i in prange(nleaf):
        c = leaf_cells[i]
        b = base[c]
        pos = leaf_cstart[i]
        last = -1
        for j in range(cell_start[c], cell_start[c + 1]):
            r = geom_of_edge[pair_edge[j]]
            if (b < 0 or r < b) and r != last:
                leaf_cand[pos] = r
                pos += 1
                last = r
    nch = 4 * nsplit
    ccx = np.empty(nch, np.int64)
    ccy = np.empty(nch, np.int64)
    cbase = np.empty(nch, np.int64)
    child_start = np.zeros(nch + 1, np.int64)
    mask = np.zeros(4 * pair_edge.shape[0], np.bool_)  # edge j touches child quadrant q
    w = width / 2.0 ** (d + 1)
    for ch in prange(nch):
        q = ch % 4
        c = sp[ch // 4]
        b = base[c]
        ccx[ch] = 2 * cx[c] + (q & 1)
        ccy[ch] = 2 * cy[c] + (q >> 1)
        cbase[ch] = b
        rx0 = x0 + ccx[ch] * w - margin
        ry0 = y0 + ccy[ch] * w - margin
        rx1 = rx0 + w + 2 * margin
        ry1 = ry0 + w + 2 * margin
        m = 0
        for j in range(cell_start[c], cell_start[c + 1]):
            e = pair_edge[j]
            r = geom_of_edge[e]
            if (b < 0 or r < b) and _seg_touches(
                edges[e, 0], edges[e, 1], edges[e, 2], edges[e, 3], rx0, ry0, rx1, ry1
            ):
                mask[4 * j + q] = True
                m += 1
        child_start[ch + 1] = m
    for i in range(nch):
        child_start[i + 1] += child_start[i]
    child_edge = np.empty(child_start[nch], np.int64)
    un_start = np.zeros(nch + 1, np.int64)
    for ch in range(nch):
        un_start[ch + 1] = un_start[ch] + nu[sp[ch // 4]]
    un_c_all = np.empty(un_start[nch], np.int64)
    un_r_all = np.empty(un_start[nch], np.int64)
    un_n = np.zeros(nch, np.int64)
    for ch in prange(nch):
        q = ch % 4
        c = sp[ch // 4]
        b = base[c]
        p = child_start[ch]
        for j in range(cell_start[c], cell_start[c + 1]):
            if mask[4 * j + q]:
                child_edge[p] = pair_edge[j]
                p += 1
        # parent polygons with no edge in this child: constant over it
        mx = x0 + (ccx[ch] + 0.5) * w
        my = y0 + (ccy[ch] + 0.5) * w
        t = child_start[ch]
        tend = child_start[ch + 1]
        last = -1
        nun = 0
        for j in range(cell_start[c], cell_start[c + 1]):
            r = geom_of_edge[pair_edge[j]]
            if not (b < 0 or r < b) or r == last:
                continue
            last = r
            while t < tend and geom_of_edge[child_edge[t]] < r:
                t += 1
            if t < tend and geom_of_edge[child_edge[t]] == r:
                continue  # still touches the child
            if cbase[ch] >= 0 and r >= cbase[ch]:
                continue  # cannot win here
            res = 2
            if kind[r] == 0:
                res = _pip(
                    r, mx, my, poly_start, edges, pbox, slab0, nslab, slab_h, slab_start,
                    slab_edge,
                )  # fmt: skip
            if res == 1:
                cbase[ch] = r
            elif res == 2:
                un_c_all[un_start[ch] + nun] = ch
                un_r_all[un_start[ch] + nun] = r
                nun += 1
        un_n[ch] = nun
    total = 0
    for ch in range(nch):
        total += un_n[ch]
    un_c = np.empty(total, np.int64)
    un_r = np.empty(total, np.int64)
    k = 0
    for ch in range(nch):
        for i in range(un_n[ch]):
            un_c[k] = un_c_all[un_start[ch] + i]
            un_r[k] = un_r_all[un_start[ch] + i]
            k += 1
    return (
        split, leaf_cells, leaf_cstart, leaf_cand, ccx, ccy, cbase, child_start, child_edge,
        un_c, un_r,
    )  # fmt: skip
