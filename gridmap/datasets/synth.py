"""Deterministic synthetic community (or city) generator.

The sample workspace ``gridmap/datasets/data/community.gpkg`` and the city-size benchmark
data are made here. Everything is **synthetic**: streets, buildings, names and
phone numbers are invented; any resemblance to real people is accidental.

How the town is built (all in a local metric frame, metres, then placed around
``center`` in EPSG:4326):

1. **Streets.** A lattice of streets with random block widths (100-220 m by
   80-170 m), bent by a smooth random warp, jittered at every intersection,
   given a small kink half-way along every segment and rotated by 12-28
   degrees, so no street is axis-aligned. About one lattice cell in eight is
   merged with a neighbour (the street between them is dropped), which makes
   larger and L-shaped blocks and T-junctions.
2. **Outline.** The cells nearest to the centre under a wobbly radius are
   taken, so the community outline is an irregular blob. Cells left out but
   enclosed by the blob are holes in every layer.
3. **Blocks and micro-grids.** Each block is split into micro-grids by a
   Voronoi diagram of seed points (relaxed twice by Lloyd's algorithm) clipped
   to the block. Street centre-lines and Voronoi edges are noded together
   (snap-rounded to 1 cm) and polygonised, so neighbouring micro-grids share
   their edges exactly and micro-grids never overlap. Street centre-lines are
   micro-grid boundaries.
4. **Grids, zones, communities.** Contiguous unions grown on the adjacency
   graph (balanced region growing from seeds spread along a Hilbert curve):
   about 11 micro-grids per grid, about 9 grids per zone, about 3 zones per
   community. Defaults reproduce the community of docs/design.md: 1 community,
   3 zones, 26 grids, 287 micro-grids.
5. **Parks and schools** (one of each per ~287 micro-grids). A *park* block
   has no micro-grid but belongs to the grid (and zone and community) next to
   it: a gap in the micro-grid layer only. A *school* block is a hole in every
   layer (micro-grids, grids, zones and the community): schools are run by the
   education bureau, not by the grid system.
6. **Households** live in apartment buildings (5-7 floors, some 11-18 floor
   towers at city scale; 2 doors per floor; 2-4 units) inside micro-grids, at
   the building point with up to 1.5 m of jitter. About 0.8 % of households
   live in gaps: the park keeper's lodge, a school staff dormitory, or houses
   just outside the community; they are in no micro-grid.
7. **Roads** are the street centre-lines, one LineString per segment between
   two intersections; segments meet at identical coordinates, so a graph built
   from their end points is connected.

Only ``numpy.random.default_rng(seed)`` supplies randomness, and nothing
depends on set or dict order or on time: the same arguments give identical
layers.
"""

from __future__ import annotations

import heapq
import math
import os
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from gridmap.errors import GridmapError

__all__ = ["DEFAULT_SEED", "SynthSizes", "plan_sizes", "synth_layers", "synth_workspace"]

DEFAULT_SEED = 20240601
CRS = "EPSG:4326"

#: Micro-grids per grid, grids per zone and zones per community used to derive
#: the coarser counts when they are not given (287 -> 26 -> 3 -> 1).
MICRO_PER_GRID = 11.0
GRIDS_PER_ZONE = 9.0
ZONES_PER_COMMUNITY = 3.0

#: Facilities per 287 micro-grids (the reference community of docs/design.md).
REF_MICROGRIDS = 287
STATIONS_PER_REF = 12
PILES_PER_REF = 40
PARKING_PER_REF = 15

#: Share of households living in gaps (park, school, just outside).
GAP_SHARE = 0.008
#: Snap-rounding grid (metres) for noding streets and micro-grid edges.
GRID_SIZE_M = 0.01
#: Metres per degree at the equator (longitude) and of latitude (WGS84 mean).
_M_PER_DEG_LON = 111_320.0
_M_PER_DEG_LAT = 110_574.0

SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
    "龚邵万钱严覃武戴莫孔向汤"
)
GIVEN_CHARS = list(
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂兰华建国红玉梅俊辉鹏飞志文斌宇浩凯晨欣雪琳"
    "婷颖慧佳宁海波林峰云春燕荣凤兵亮新利成永福生光德安"
)
PHONE_PREFIXES = [
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152",
    "155", "156", "157", "158", "159", "166", "177", "180", "181", "185", "186", "187",
    "188", "189", "191", "199",
]  # fmt: skip
#: Street name stems: east-west streets are 路 (大道 for main roads), north-south ones 街.
EW_STEMS = [
    "建设", "解放", "迎宾", "新华", "文化", "人民", "和平", "东风", "胜利", "幸福", "光明",
    "朝阳", "青年", "育才", "团结", "友谊", "中山", "长安", "滨河", "振兴", "兴业", "康宁",
]  # fmt: skip
NS_STEMS = [
    "西南", "鼓楼", "平阳", "尧都", "汾河", "向阳", "工农", "五一", "府前", "北关", "南关",
    "东关", "西关", "体育", "学府", "园丁", "春晖", "秀水", "柳湖", "晋阳", "华翔", "紫荆",
]  # fmt: skip
_ORDINALS = "一二三四五六七八九十"
ZONE_NAMES = ["第一片区", "第二片区", "第三片区", "第四片区", "第五片区", "第六片区"]
PILE_KINDS = np.array(["电动车", "电动轮椅", "汽车快充", "汽车慢充"], dtype=object)
PARKING_KINDS = np.array(["地面停车场", "地下车库", "路边停车位", "立体车库"], dtype=object)

Progress = Callable[[str], None]


class SynthError(GridmapError):
    """Raised when the requested sizes cannot be generated."""


# ---------------------------------------------------------------------------
# sizes


class SynthSizes:
    """The counts a run will produce (derived from the arguments).

    Attributes
    ----------
    households, microgrids, grids, zones, communities, stations, piles, parking
        Exact counts of the generated layers.
    parks, schools
        Number of park blocks (gap in micro-grids only) and school blocks
        (hole in every layer).
    """

    def __init__(self, households: int, microgrids: int, grids: int | None, zones: int | None):
        if microgrids < 1:
            raise SynthError(f"microgrids must be at least 1 (got {microgrids})")
        if households < 1:
            raise SynthError(f"households must be at least 1 (got {households})")
        self.households = int(households)
        self.microgrids = int(microgrids)
        self.grids = int(grids) if grids else max(1, round(microgrids / MICRO_PER_GRID))
        if not 1 <= self.grids <= self.microgrids:
            raise SynthError(
                f"grids must be between 1 and microgrids ({microgrids}); got {self.grids}"
            )
        self.zones = int(zones) if zones else max(1, round(self.grids / GRIDS_PER_ZONE))
        if not 1 <= self.zones <= self.grids:
            raise SynthError(f"zones must be between 1 and grids ({self.grids}); got {self.zones}")
        self.communities = max(1, round(self.zones / ZONES_PER_COMMUNITY))
        scale = microgrids / REF_MICROGRIDS
        self.stations = max(1, round(STATIONS_PER_REF * scale))
        self.piles = max(1, round(PILES_PER_REF * scale))
        self.parking = max(1, round(PARKING_PER_REF * scale))
        self.parks = max(1, round(scale))
        self.schools = max(1, round(scale))

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


def plan_sizes(
    households: int = 3500,
    microgrids: int = 287,
    grids: int | None = None,
    zones: int | None = None,
) -> SynthSizes:
    """The exact counts :func:`synth_layers` produces for these arguments."""
    return SynthSizes(households, microgrids, grids, zones)


# ---------------------------------------------------------------------------
# helpers


def _hilbert_key(x: np.ndarray, y: np.ndarray, order: int = 16) -> np.ndarray:
    """Position of each point along a Hilbert curve over the points' extent."""
    n = 1 << order
    span = max(float(np.ptp(x)) if len(x) else 0.0, float(np.ptp(y)) if len(y) else 0.0, 1e-9)
    xi = ((x - x.min()) / span * (n - 1)).astype(np.int64)
    yi = ((y - y.min()) / span * (n - 1)).astype(np.int64)
    d = np.zeros(len(x), dtype=np.int64)
    s = n // 2
    while s > 0:
        rx = (xi & s) > 0
        ry = (yi & s) > 0
        d += s * s * ((3 * rx.astype(np.int64)) ^ ry.astype(np.int64))
        flip = (~ry) & rx
        xi = np.where(flip, n - 1 - xi, xi)
        yi = np.where(flip, n - 1 - yi, yi)
        swap = ~ry
        xi, yi = np.where(swap, yi, xi), np.where(swap, xi, yi)
        s //= 2
    return d


def _csr(n: int, a: np.ndarray, b: np.ndarray) -> sparse.csr_matrix:
    """Symmetric adjacency matrix from undirected pairs."""
    data = np.ones(2 * len(a), dtype=np.int8)
    m = sparse.coo_matrix((data, (np.r_[a, b], np.r_[b, a])), shape=(n, n)).tocsr()
    m.sum_duplicates()
    m.sort_indices()
    return m


def grow_regions(
    k: int,
    x: np.ndarray,
    y: np.ndarray,
    adjacency: sparse.csr_matrix,
    weight: np.ndarray | None = None,
) -> np.ndarray:
    """Split a graph into exactly ``k`` contiguous regions of balanced weight.

    Seeds are spread along a Hilbert curve over the nodes with positive weight;
    then the lightest region that can still grow takes its nearest unassigned
    neighbour (distance to the region's seed), until no region can grow. Nodes
    not reachable from any seed (disconnected pieces) join the region with the
    nearest seed. Deterministic: ties break on node index.

    Parameters
    ----------
    k
        Number of regions (at most the number of nodes with positive weight).
    x, y
        Node positions (metres).
    adjacency
        Symmetric CSR adjacency matrix.
    weight
        Node weights (default 1); zero-weight nodes are never seeds.

    Returns
    -------
    numpy.ndarray
        Region index (0..k-1) of every node, regions numbered along the curve.
    """
    n = len(x)
    w = np.ones(n) if weight is None else np.asarray(weight, dtype=float)
    heavy = np.flatnonzero(w > 0)
    k = int(min(k, len(heavy)))
    order = heavy[np.argsort(_hilbert_key(x[heavy], y[heavy]), kind="stable")]
    seeds = order[((np.arange(k) + 0.5) * len(order) / k).astype(np.int64)]
    label = np.full(n, -1, dtype=np.int64)
    indptr, indices = adjacency.indptr, adjacency.indices
    xs, ys = x.tolist(), y.tolist()
    sx, sy = x[seeds].tolist(), y[seeds].tolist()
    size = [0.0] * k
    fronts: list[list[tuple[float, int]]] = [[] for _ in range(k)]
    glob: list[tuple[float, int]] = []
    wl = w.tolist()

    def push_neighbours(r: int, node: int) -> None:
        for nb in indices[indptr[node] : indptr[node + 1]].tolist():
            if label[nb] < 0:
                d = (xs[nb] - sx[r]) ** 2 + (ys[nb] - sy[r]) ** 2
                heapq.heappush(fronts[r], (d, nb))

    for r, s in enumerate(seeds.tolist()):
        label[s] = r
        size[r] = wl[s]
    for r, s in enumerate(seeds.tolist()):
        push_neighbours(r, s)
        heapq.heappush(glob, (size[r], r))
    while glob:
        sz, r = heapq.heappop(glob)
        if sz != size[r]:
            continue
        front = fronts[r]
        node = -1
        while front:
            _, cand = heapq.heappop(front)
            if label[cand] < 0:
                node = cand
                break
        if node < 0:
            continue  # this region is enclosed; it stops growing
        label[node] = r
        size[r] += wl[node]
        push_neighbours(r, node)
        heapq.heappush(glob, (size[r], r))
    left = np.flatnonzero(label < 0)
    if len(left):
        d2 = (x[left, None] - x[seeds][None, :]) ** 2 + (y[left, None] - y[seeds][None, :]) ** 2
        label[left] = np.argmin(d2, axis=1)
    return label


def _largest_remainder(total: int, weights: np.ndarray, minimum: int = 0) -> np.ndarray:
    """Integers summing to ``total``, proportional to ``weights``, each >= minimum."""
    n = len(weights)
    base = np.full(n, minimum, dtype=np.int64)
    rest = total - base.sum()
    if rest < 0:
        raise SynthError(f"cannot split {total} into {n} parts of at least {minimum}")
    share = weights / weights.sum() * rest
    out = base + np.floor(share).astype(np.int64)
    short = total - out.sum()
    if short:
        frac = share - np.floor(share)
        out[np.argsort(-frac, kind="stable")[:short]] += 1
    return out


def _str(arr: pa.Array) -> pd.api.extensions.ExtensionArray:
    """A pyarrow string array as a pandas ``str`` array (no Python objects)."""
    return pd.array(arr, dtype="str")


def _num_str(values: np.ndarray, width: int = 0) -> pa.Array:
    """Integers as decimal strings, zero-padded to ``width``."""
    out = pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())
    return pc.utf8_lpad(out, width, "0") if width else out


def _names(rng: np.random.Generator, n: int) -> pd.api.extensions.ExtensionArray:
    """Fictional Chinese names: surname + one or two given-name characters."""
    sur = pc.take(pa.array(SURNAMES), rng.integers(0, len(SURNAMES), n))
    given = pa.array(GIVEN_CHARS)
    g1 = pc.take(given, rng.integers(0, len(GIVEN_CHARS), n))
    g2 = pc.take(given, rng.integers(0, len(GIVEN_CHARS), n))
    two = rng.random(n) < 0.7
    g2 = pc.if_else(pa.array(two), g2, pa.scalar(""))
    return _str(pc.binary_join_element_wise(sur, g1, g2, ""))


def _phones(rng: np.random.Generator, n: int) -> pd.api.extensions.ExtensionArray:
    """Fictional mobile numbers: 1[3-9]x prefix + 8 digits (11 digits)."""
    pre = pc.take(pa.array(PHONE_PREFIXES), rng.integers(0, len(PHONE_PREFIXES), n))
    rest = _num_str(rng.integers(0, 100_000_000, n), 8)
    return _str(pc.binary_join_element_wise(pre, rest, ""))


def _street_names(stems: list[str], suffix: str, main: np.ndarray, main_suffix: str) -> list[str]:
    """Distinct street names, one per lattice line.

    Stems are used in turn; when they run out they repeat with ordinals
    (建设一路, 建设二路, ...). Main roads of the first round get ``main_suffix``.
    """
    out = []
    for i, is_main in enumerate(main.tolist()):
        stem = stems[i % len(stems)]
        rnd = i // len(stems)
        if rnd == 0:
            out.append(stem + (main_suffix if is_main else suffix))
        else:
            num = _ORDINALS[rnd - 1] if rnd <= 10 else str(rnd)
            out.append(stem + num + suffix)
    return out


def _ids(prefix: str, n: int, width: int = 1) -> np.ndarray:
    w = max(width, len(str(n)))
    return np.array([f"{prefix}{i:0{w}d}" for i in range(1, n + 1)], dtype=object)


def _str_ids(prefix: str, n: int, width: int = 1) -> pd.api.extensions.ExtensionArray:
    """Like :func:`_ids`, vectorised for millions of rows."""
    w = max(width, len(str(n)))
    return _str(pc.binary_join_element_wise(prefix, _num_str(np.arange(1, n + 1), w), ""))


def _random_points_in(
    rng: np.random.Generator, polys: np.ndarray, tries: int = 16
) -> tuple[np.ndarray, np.ndarray]:
    """One random point inside each polygon (rejection sampling, vectorised).

    Polygons where no candidate lands get their point-on-surface.
    """
    n = len(polys)
    b = shapely.bounds(polys)
    ux = rng.random((n, tries))
    uy = rng.random((n, tries))
    cx = b[:, [0]] + ux * (b[:, [2]] - b[:, [0]])
    cy = b[:, [1]] + uy * (b[:, [3]] - b[:, [1]])
    inside = shapely.contains_xy(np.repeat(polys, tries).reshape(n, tries), cx, cy)
    first = np.argmax(inside, axis=1)
    ok = inside[np.arange(n), first]
    px = cx[np.arange(n), first]
    py = cy[np.arange(n), first]
    if (~ok).any():
        pos = shapely.point_on_surface(polys[~ok])
        px[~ok] = shapely.get_x(pos)
        py[~ok] = shapely.get_y(pos)
    return px, py


# ---------------------------------------------------------------------------
# street lattice


class _Lattice:
    """Nodes, edges and cells of the bent street lattice (metres)."""

    def __init__(self, rng: np.random.Generator, n_cells: int):
        mean_w, mean_h = 160.0, 125.0
        nx = max(4, math.ceil(math.sqrt(2.6 * n_cells * mean_h / mean_w)) + 2)
        ny = max(4, math.ceil(2.6 * n_cells / nx) + 2)
        self.nx, self.ny = nx, ny
        sx = rng.uniform(100, 220, nx)
        sy = rng.uniform(80, 170, ny)
        xs = np.r_[0.0, np.cumsum(sx)]
        ys = np.r_[0.0, np.cumsum(sy)]
        xs -= xs[-1] / 2
        ys -= ys[-1] / 2
        gx, gy = np.meshgrid(xs, ys)  # shape (ny+1, nx+1): [j, i]
        # smooth warp: a few long sine waves (wavelength 0.9-2 km, amplitude <= 45 m)
        wx = np.zeros_like(gx)
        wy = np.zeros_like(gy)
        for _ in range(3):
            lam = rng.uniform(900, 2000)
            amp = rng.uniform(15, 45)
            ang = rng.uniform(0, 2 * np.pi)
            ph = rng.uniform(0, 2 * np.pi)
            proj = (gx * np.cos(ang) + gy * np.sin(ang)) * 2 * np.pi / lam + ph
            wx += amp * np.sin(proj) * -np.sin(ang + 1.1)
            wy += amp * np.sin(proj) * np.cos(ang + 0.7)
        jx = np.clip(rng.normal(0, 4, gx.shape), -10, 10)
        jy = np.clip(rng.normal(0, 4, gy.shape), -10, 10)
        px, py = gx + wx + jx, gy + wy + jy
        theta = np.deg2rad(rng.uniform(12, 28) * rng.choice([-1, 1]))
        c, s = np.cos(theta), np.sin(theta)
        self.X = np.round(c * px - s * py, 2)
        self.Y = np.round(s * px + c * py, 2)
        # edges: horizontal h[j, i] (j in 0..ny, i in 0..nx-1), vertical v[j, i]
        self.hmid = self._mids(rng, self.X[:, :-1], self.Y[:, :-1], self.X[:, 1:], self.Y[:, 1:])
        self.vmid = self._mids(rng, self.X[:-1, :], self.Y[:-1, :], self.X[1:, :], self.Y[1:, :])

    @staticmethod
    def _mids(rng, x0, y0, x1, y1):
        mx, my = (x0 + x1) / 2, (y0 + y1) / 2
        dx, dy = x1 - x0, y1 - y0
        length = np.hypot(dx, dy)
        off = rng.uniform(-7, 7, x0.shape)
        return np.round(mx - dy / length * off, 2), np.round(my + dx / length * off, 2)

    def cell_polygons(self) -> np.ndarray:
        """Polygon of every cell, row-major (index j * nx + i)."""
        X, Y = self.X, self.Y
        hx, hy = self.hmid
        vx, vy = self.vmid

        def ring(C: np.ndarray, h: np.ndarray, v: np.ndarray) -> np.ndarray:
            # corners and edge mid-points of every cell, counter-clockwise, closed
            parts = [C[:-1, :-1], h[:-1, :], C[:-1, 1:], v[:, 1:]]
            parts += [C[1:, 1:], h[1:, :], C[1:, :-1], v[:, :-1], C[:-1, :-1]]
            return np.stack(parts, axis=-1)

        ring_x = ring(X, hx, vx)
        ring_y = ring(Y, hy, vy)
        coords = np.stack([ring_x, ring_y], axis=-1).reshape(-1, 9, 2)
        return shapely.polygons(coords)

    def edge_lines(self) -> tuple[np.ndarray, np.ndarray]:
        """Horizontal and vertical edge LineStrings (3 vertices each), row-major."""
        X, Y = self.X, self.Y
        hx, hy = self.hmid
        vx, vy = self.vmid
        h = np.stack(
            [np.stack([X[:, :-1], hx, X[:, 1:]], -1), np.stack([Y[:, :-1], hy, Y[:, 1:]], -1)], -1
        )
        v = np.stack(
            [np.stack([X[:-1, :], vx, X[1:, :]], -1), np.stack([Y[:-1, :], vy, Y[1:, :]], -1)], -1
        )
        return shapely.linestrings(h.reshape(-1, 3, 2)), shapely.linestrings(v.reshape(-1, 3, 2))


# ---------------------------------------------------------------------------
# the generator


def synth_layers(
    seed: int = DEFAULT_SEED,
    households: int = 3500,
    microgrids: int = 287,
    grids: int | None = None,
    zones: int | None = None,
    center: tuple[float, float] = (111.47, 35.64),
    progress: Progress | None = None,
) -> dict[str, gpd.GeoDataFrame]:
    """Generate a synthetic community (or city) as workspace layers.

    Parameters
    ----------
    seed
        Seed of ``numpy.random.default_rng``; same seed and sizes give
        identical layers.
    households
        Exact number of households (about 0.8 % of them live in gaps: the
        park lodge, a school dormitory, houses just outside the community).
    microgrids
        Exact number of micro-grids.
    grids, zones
        Exact numbers of grids and zones; default about 11 micro-grids per grid
        and 9 grids per zone. Communities: about 3 zones each (1 by default).
    center
        (lon, lat) of the town centre in WGS84.
    progress
        Optional callback receiving a short description of each stage.

    Returns
    -------
    dict[str, geopandas.GeoDataFrame]
        ``communities``, ``zones``, ``grids``, ``microgrids``, ``households``,
        ``service_stations``, ``charging_piles``, ``parking`` and ``roads``,
        all in EPSG:4326.

    Examples
    --------
    >>> layers = synth_layers(seed=1, households=500, microgrids=40)
    >>> len(layers["microgrids"]), len(layers["households"])
    (40, 500)
    """
    say = progress or (lambda _msg: None)
    sz = SynthSizes(households, microgrids, grids, zones)
    rng = np.random.default_rng(seed)
    M = sz.microgrids

    # -- 1. street lattice and outline ---------------------------------------
    say("streets and blocks")
    mean_per_cell = 3.0
    n_special = sz.parks + sz.schools
    n_cells = max(2, math.ceil(M / mean_per_cell)) + n_special
    lat = _Lattice(rng, n_cells)
    nx, ny = lat.nx, lat.ny
    cells = lat.cell_polygons()
    cc = shapely.centroid(cells)
    ccx, ccy = shapely.get_x(cc), shapely.get_y(cc)
    ang = np.arctan2(ccy, ccx)
    wob = 1.0
    for kf, amp in ((2, 0.18), (3, 0.12), (5, 0.07)):
        wob = wob + amp * np.sin(kf * ang + rng.uniform(0, 2 * np.pi))
    score = np.hypot(ccx, ccy) / wob
    chosen = np.zeros(nx * ny, dtype=bool)
    chosen[np.argsort(score, kind="stable")[:n_cells]] = True
    # keep the largest 4-connected piece
    grid_sel = chosen.reshape(ny, nx)
    jj, ii = np.nonzero(grid_sel)
    idx = jj * nx + ii
    pos = {int(c): k for k, c in enumerate(idx)}
    nb_a, nb_b = [], []
    for c in idx.tolist():
        j, i = divmod(c, nx)
        if i + 1 < nx and grid_sel[j, i + 1]:
            nb_a.append(pos[c])
            nb_b.append(pos[c + 1])
        if j + 1 < ny and grid_sel[j + 1, i]:
            nb_a.append(pos[c])
            nb_b.append(pos[c + nx])
    ncomp, comp = connected_components(
        _csr(len(idx), np.array(nb_a, int), np.array(nb_b, int)), directed=False
    )
    if ncomp > 1:
        keep = np.bincount(comp).argmax()
        chosen[idx[comp != keep]] = False
        grid_sel = chosen.reshape(ny, nx)

    # -- 2. merge some neighbouring cells into larger blocks ------------------
    # edge removal: vertical edge v[j, i+1] between cells (j,i),(j,i+1);
    # horizontal edge h[j+1, i] between cells (j,i),(j+1,i)
    h_removed = np.zeros((ny + 1, nx), dtype=bool)
    v_removed = np.zeros((ny, nx + 1), dtype=bool)
    block_of = np.arange(nx * ny)
    cand = []
    for c in np.flatnonzero(chosen).tolist():
        j, i = divmod(c, nx)
        if i + 1 < nx and chosen[c + 1]:
            cand.append((c, c + 1, 0))
        if j + 1 < ny and chosen[c + nx]:
            cand.append((c, c + nx, 1))
    n_merge = round(0.12 * int(chosen.sum()))
    merged = np.zeros(nx * ny, dtype=bool)
    for t in rng.permutation(len(cand)).tolist():
        if n_merge <= 0:
            break
        a, b, kind = cand[t]
        if merged[a] or merged[b]:
            continue
        j, i = divmod(a, nx)
        if kind == 0:
            v_removed[j, i + 1] = True
        else:
            h_removed[j + 1, i] = True
        merged[a] = merged[b] = True
        block_of[b] = a
        n_merge -= 1

    # road segments: edges next to at least one chosen cell, minus removed ones
    ch = grid_sel
    h_used = np.zeros((ny + 1, nx), dtype=bool)
    h_used[:-1, :] |= ch
    h_used[1:, :] |= ch
    v_used = np.zeros((ny, nx + 1), dtype=bool)
    v_used[:, :-1] |= ch
    v_used[:, 1:] |= ch
    h_keep = h_used & ~h_removed
    v_keep = v_used & ~v_removed
    h_lines, v_lines = lat.edge_lines()
    # node ids for connectivity: node (j, i) -> j * (nx+1) + i
    hj, hi = np.nonzero(h_keep)
    vj, vi = np.nonzero(v_keep)
    ea = np.r_[hj * (nx + 1) + hi, vj * (nx + 1) + vi]
    eb = np.r_[hj * (nx + 1) + hi + 1, (vj + 1) * (nx + 1) + vi]
    ncomp, comp = connected_components(_csr((nx + 1) * (ny + 1), ea, eb), directed=False)
    if ncomp > 1:  # a dropped street cut the network: put dropped streets back
        sizes = np.bincount(comp[np.r_[ea, eb]], minlength=ncomp)
        if (sizes > 0).sum() > 1:
            h_keep = h_used
            v_keep = v_used
            hj, hi = np.nonzero(h_keep)
            vj, vi = np.nonzero(v_keep)
    road_geoms = np.r_[h_lines.reshape(ny + 1, nx)[h_keep], v_lines.reshape(ny, nx + 1)[v_keep]]
    # name the lattice lines that carry streets, in order (so the first stems are used)
    h_lines_used, h_rank = np.unique(hj, return_inverse=True)
    v_lines_used, v_rank = np.unique(vi, return_inverse=True)
    h_main = np.arange(len(h_lines_used)) % 4 == 2
    v_main = np.arange(len(v_lines_used)) % 4 == 1
    street_h = np.array(_street_names(EW_STEMS, "路", h_main, "大道"), dtype=object)
    street_v = np.array(_street_names(NS_STEMS, "街", v_main, "街"), dtype=object)
    road_names = np.r_[street_h[h_rank], street_v[v_rank]]
    road_kind = np.where(np.r_[h_main[h_rank], v_main[v_rank]], "主干路", "支路").astype(object)

    # blocks: chosen cells, merged pairs unioned
    chosen_idx = np.flatnonzero(chosen)
    roots = block_of[chosen_idx]
    root_ids, block_idx_of_cell = np.unique(roots, return_inverse=True)
    n_blocks = len(root_ids)
    block_polys = np.empty(n_blocks, dtype=object)
    single = np.bincount(block_idx_of_cell, minlength=n_blocks) == 1
    block_polys[block_idx_of_cell[single[block_idx_of_cell]]] = cells[
        chosen_idx[single[block_idx_of_cell]]
    ]
    for b in np.flatnonzero(~single).tolist():
        members = cells[chosen_idx[block_idx_of_cell == b]]
        block_polys[b] = shapely.coverage_union_all(members)
    block_polys = shapely.normalize(shapely.make_valid(block_polys))
    block_area = shapely.area(block_polys)

    # which cells neighbour only chosen cells (for interior schools)
    interior = np.zeros(nx * ny, dtype=bool)
    pad = np.pad(grid_sel, 1)
    inner = pad[1:-1, 1:-1] & pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:]
    interior[:] = inner.ravel()
    block_interior = np.zeros(n_blocks, dtype=bool)
    np.logical_or.at(block_interior, block_idx_of_cell, interior[chosen_idx])
    block_interior &= single  # simple shapes for schools

    # -- 3. parks and schools, micro-grid seeds per block ---------------------
    order = rng.permutation(n_blocks)
    is_school = np.zeros(n_blocks, dtype=bool)
    cand_s = [b for b in order.tolist() if block_interior[b]]
    is_school[cand_s[: sz.schools]] = True
    is_park = np.zeros(n_blocks, dtype=bool)
    cand_p = [b for b in order[::-1].tolist() if not is_school[b]]
    is_park[cand_p[: sz.parks]] = True
    regular = np.flatnonzero(~is_school & ~is_park)
    if len(regular) > M:
        # fewer micro-grids than blocks (tiny runs): turn extra blocks into parks
        extra = regular[np.argsort(block_area[regular], kind="stable")[: len(regular) - M]]
        is_park[extra] = True
        regular = np.flatnonzero(~is_school & ~is_park)
    k_per_block = np.zeros(n_blocks, dtype=np.int64)
    k_per_block[regular] = _largest_remainder(M, block_area[regular], minimum=1)

    say("micro-grids (Voronoi in blocks)")
    cell_geoms: list = []
    cell_block: list[int] = []
    voronoi_edges: list = []
    for b in regular.tolist():
        poly = block_polys[b]
        k = int(k_per_block[b])
        if k == 1:
            cell_geoms.append(poly)
            cell_block.append(b)
            continue
        px, py = _random_points_in(rng, np.repeat(np.array([poly], dtype=object), k), tries=24)
        pts = shapely.multipoints(np.c_[px, py])
        cells_b = None
        for _ in range(2):  # Lloyd relaxation for even micro-grids
            vor = shapely.get_parts(shapely.voronoi_polygons(pts, extend_to=poly, ordered=True))
            cells_b = shapely.intersection(vor, poly)
            cen = shapely.centroid(cells_b)
            ok = ~shapely.is_empty(cen)
            if ok.sum() < k:
                break
            pts = shapely.multipoints(cen)
        vor = shapely.get_parts(shapely.voronoi_polygons(pts, extend_to=poly, ordered=True))
        cells_b = shapely.intersection(vor, poly)
        edges = shapely.voronoi_polygons(pts, extend_to=poly, only_edges=True)
        voronoi_edges.append(shapely.intersection(edges, poly))
        cell_geoms.extend(cells_b.tolist())
        cell_block.extend([b] * len(cells_b))
    cell_geoms_a = np.array(cell_geoms, dtype=object)

    say("noding streets and micro-grid edges")
    lines = np.r_[road_geoms, np.array(voronoi_edges, dtype=object)]
    noded = shapely.unary_union(lines, grid_size=GRID_SIZE_M)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    rep = shapely.point_on_surface(faces)
    # label faces: a micro-grid cell, a park/school block, or an enclosed hole
    face_cell = np.full(len(faces), -1, dtype=np.int64)
    tree = shapely.STRtree(cell_geoms_a)
    fi, ci = tree.query(rep, predicate="within")
    first = np.unique(fi, return_index=True)
    face_cell[first[0]] = ci[first[1]]
    face_block = np.full(len(faces), -1, dtype=np.int64)
    btree = shapely.STRtree(block_polys)
    fi, bi = btree.query(rep, predicate="within")
    first = np.unique(fi, return_index=True)
    face_block[first[0]] = bi[first[1]]
    # faces in a regular block missed by the cell test (rounding): nearest cell
    miss = np.flatnonzero(
        (face_cell < 0)
        & (face_block >= 0)
        & ~is_park[np.maximum(face_block, 0)]
        & ~is_school[np.maximum(face_block, 0)]
    )
    if len(miss):
        _, near = tree.query_nearest(rep[miss], return_distance=False, all_matches=False)
        face_cell[miss] = near
    n_cells_mg = len(cell_geoms_a)
    if n_cells_mg != M:
        raise SynthError(f"internal: made {n_cells_mg} micro-grid cells instead of {M}")
    mg_geom = _dissolve(faces, face_cell, n_cells_mg)
    if shapely.is_empty(mg_geom).any():
        raise SynthError("internal: a micro-grid lost its area while noding; try another seed=")
    park_blocks = np.flatnonzero(is_park)
    school_blocks = np.flatnonzero(is_school)
    park_face_label = np.full(len(faces), -1, dtype=np.int64)
    in_park = (face_cell < 0) & (face_block >= 0) & is_park[np.maximum(face_block, 0)]
    park_pos = np.full(n_blocks, -1, dtype=np.int64)
    park_pos[park_blocks] = np.arange(len(park_blocks))
    park_face_label[in_park] = park_pos[face_block[in_park]]
    park_geom = _dissolve(faces, park_face_label, len(park_blocks))
    school_geom = block_polys[school_blocks]

    # -- 4. hierarchy: grids, zones, communities ------------------------------
    say("grids, zones and communities")
    units = np.r_[mg_geom, park_geom]  # park units join a grid but are no micro-grid
    n_units = len(units)
    weight = np.r_[np.ones(M), np.zeros(len(park_geom))]
    ua, ub = _shared_edges(units)
    adj = _csr(n_units, ua, ub)
    uc = shapely.centroid(units)
    ux, uy = shapely.get_x(uc), shapely.get_y(uc)
    unit_grid = grow_regions(sz.grids, ux, uy, adj, weight)
    G = int(unit_grid.max()) + 1
    gx = np.bincount(unit_grid, ux * np.maximum(weight, 1e-6), G) / np.bincount(
        unit_grid, np.maximum(weight, 1e-6), G
    )
    gy = np.bincount(unit_grid, uy * np.maximum(weight, 1e-6), G) / np.bincount(
        unit_grid, np.maximum(weight, 1e-6), G
    )
    gpairs = _parent_pairs(ua, ub, unit_grid)
    grid_zone = grow_regions(sz.zones, gx, gy, _csr(G, *gpairs))
    Z = int(grid_zone.max()) + 1
    zx = np.bincount(grid_zone, gx, Z) / np.bincount(grid_zone, None, Z)
    zy = np.bincount(grid_zone, gy, Z) / np.bincount(grid_zone, None, Z)
    zpairs = _parent_pairs(*gpairs, grid_zone)
    zone_comm = grow_regions(sz.communities, zx, zy, _csr(Z, *zpairs))
    C = int(zone_comm.max()) + 1

    # order ids along the hierarchy: community, zone, grid, micro-grid
    mg_grid = unit_grid[:M]
    mg_hkey = _hilbert_key(ux[:M], uy[:M])
    z_order = np.lexsort((np.arange(Z), zone_comm))
    zone_rank = np.empty(Z, np.int64)
    zone_rank[z_order] = np.arange(Z)
    g_order = np.lexsort((np.arange(G), zone_rank[grid_zone]))
    grid_rank = np.empty(G, np.int64)
    grid_rank[g_order] = np.arange(G)
    m_order = np.lexsort((mg_hkey, grid_rank[mg_grid]))
    mg_rank = np.empty(M, np.int64)
    mg_rank[m_order] = np.arange(M)
    comm_ids = _ids("C", C)
    zone_ids = _ids("Z", Z)
    grid_ids = _ids("G", G, 2)
    mg_ids = _ids("M", M, 3)

    grid_geom = _dissolve(units, unit_grid, G)
    zone_geom = _dissolve(grid_geom, grid_zone, Z)
    comm_geom = _dissolve(zone_geom, zone_comm, C)

    # -- 5. households in buildings -------------------------------------------
    say("buildings and households")
    n_gap = min(households, max(3, round(households * GAP_SHARE))) if households >= 50 else 0
    n_reg = households - n_gap
    mg_area = shapely.area(mg_geom)
    base = min(3, n_reg // M)
    w_hh = mg_area * rng.lognormal(0, 0.35, M)
    hh_per_mg = base + rng.multinomial(n_reg - base * M, w_hh / w_hh.sum())
    # gap sites: parks, schools, cells just outside the community
    outside_cells = _outside_cells(grid_sel, nx, ny)
    out_pick = outside_cells[rng.permutation(len(outside_cells))[: max(1, sz.parks)]]
    gap_sites = np.r_[park_geom, school_geom, cells[out_pick]]
    gap_w = np.r_[np.full(len(park_geom), 0.4 / max(1, len(park_geom))),
                  np.full(len(school_geom), 0.3 / max(1, len(school_geom))),
                  np.full(len(out_pick), 0.3 / max(1, len(out_pick)))]  # fmt: skip
    # one household at least in the first park, school and outside site, the rest at random
    firsts = np.cumsum([0, len(park_geom), len(school_geom)])
    firsts = firsts[np.r_[len(park_geom), len(school_geom), len(out_pick)] > 0][:n_gap]
    hh_per_gap = np.zeros(len(gap_sites), dtype=np.int64)
    hh_per_gap[firsts] = 1
    hh_per_gap += rng.multinomial(n_gap - len(firsts), gap_w / gap_w.sum())
    site_geom = np.r_[mg_geom, gap_sites]
    site_hh = np.r_[hh_per_mg, hh_per_gap]
    # buildings: about 30 households each (at least one per site with households)
    site_nb = np.where(site_hh > 0, np.maximum(1, np.round(site_hh / 30)).astype(np.int64), 0)
    n_b = int(site_nb.sum())
    b_site = np.repeat(np.arange(len(site_geom)), site_nb)
    b_hh = _split_evenly(site_hh, site_nb)
    inset = shapely.buffer(site_geom, -6.0)
    inset = np.where(shapely.is_empty(inset) | (shapely.area(inset) < 4.0), site_geom, inset)
    bx, by = _random_points_in(rng, inset[b_site])
    tower = (rng.random(n_b) < (0.12 if households / M > 30 else 0.0)) & (b_hh > 40)
    floors = np.where(tower, rng.integers(11, 19, n_b), rng.choice([5, 6, 6, 6, 7], n_b))
    doors = 2
    units_b = np.maximum(rng.integers(2, 5, n_b), -(-b_hh // (floors * doors)))
    cap = units_b * floors * doors
    # street of each building: nearest road segment; building numbers per street
    rtree = shapely.STRtree(road_geoms)
    _, near_road = rtree.query_nearest(
        shapely.points(bx, by), return_distance=False, all_matches=False
    )
    b_street = road_names[near_road]
    b_key = _hilbert_key(bx, by)
    bdf = pd.DataFrame({"street": b_street, "key": b_key, "i": np.arange(n_b)})
    bdf = bdf.sort_values(["street", "key", "i"], kind="stable")
    bdf["no"] = bdf.groupby("street", sort=False).cumcount() + 1
    b_no = bdf.sort_values("i")["no"].to_numpy()
    # rooms: a random subset of each building's slots
    slot_b = np.repeat(np.arange(n_b), cap)
    slot_k = np.arange(len(slot_b)) - np.repeat(np.cumsum(cap) - cap, cap)
    key = rng.random(len(slot_b))
    o = np.lexsort((key, slot_b))
    rank = np.empty(len(o), np.int64)
    rank[o] = np.arange(len(o)) - np.repeat(np.cumsum(cap) - cap, cap)
    take = rank < b_hh[slot_b]
    h_b = slot_b[take]
    h_slot = slot_k[take]
    per_unit = floors[h_b] * doors
    h_unit = h_slot // per_unit + 1
    h_floor = (h_slot % per_unit) // doors + 1
    h_door = h_slot % doors + 1
    H = len(h_b)
    if H != households:
        raise SynthError(f"internal: placed {H} households instead of {households}")
    address = pc.binary_join_element_wise(
        pc.take(pa.array(b_street.astype(str)), h_b),
        _num_str(b_no[h_b]),
        "号楼",
        _num_str(h_unit),
        "单元",
        _num_str(h_floor * 100 + h_door),
        "室",
        "",
    )
    jitter = rng.uniform(-1.5, 1.5, (H, 2))
    hx = bx[h_b] + jitter[:, 0]
    hy = by[h_b] + jitter[:, 1]
    residents = rng.choice(np.arange(1, 7), H, p=[0.16, 0.32, 0.26, 0.14, 0.08, 0.04])
    p_old = np.clip(rng.beta(4.66, 15.34, n_b)[h_b] + np.where(residents <= 2, 0.08, -0.05), 0, 1)
    elderly = rng.binomial(residents, p_old)
    lives_alone = residents == 1
    has_ev = rng.random(H) < 0.25
    hh_site = b_site[h_b]
    # sort households by micro-grid id then address for readable ids
    site_rank = np.r_[mg_rank, M + np.arange(len(gap_sites))]
    ho = np.lexsort((h_slot, b_no[h_b], site_rank[hh_site]))

    # -- 6. facilities ---------------------------------------------------------
    say("service stations, charging piles, parking")
    stations = _facility_points(rng, mg_geom, mg_rank, sz.stations)
    piles = _facility_points(rng, mg_geom, mg_rank, sz.piles)
    parks_pts = _facility_points(rng, mg_geom, mg_rank, sz.parking)
    _, st_road = rtree.query_nearest(stations, return_distance=False, all_matches=False)
    st_names = _dedupe([f"{s}党群服务驿站" for s in road_names[st_road]])
    staff_on = np.zeros(sz.stations, dtype=bool)
    staff_on[rng.permutation(sz.stations)[: sz.stations // 2]] = True
    pile_kind = PILE_KINDS[rng.choice(4, sz.piles, p=[0.45, 0.2, 0.15, 0.2])]
    pile_ports = np.where(
        pile_kind == "电动车", rng.integers(4, 11, sz.piles),
        np.where(pile_kind == "电动轮椅", rng.integers(1, 5, sz.piles), rng.integers(1, 5, sz.piles)),
    )  # fmt: skip
    pile_kw = np.select(
        [pile_kind == "电动车", pile_kind == "电动轮椅", pile_kind == "汽车快充"],
        [1.5, 0.5, rng.choice([60.0, 120.0], sz.piles)],
        7.0,
    )
    pile_status = np.array(["正常", "故障", "建设中"], dtype=object)[
        rng.choice(3, sz.piles, p=[0.85, 0.1, 0.05])
    ]
    park_kind = PARKING_KINDS[rng.choice(4, sz.parking, p=[0.4, 0.2, 0.3, 0.1])]
    park_spaces = np.where(
        park_kind == "路边停车位",
        rng.integers(10, 41, sz.parking),
        rng.integers(30, 201, sz.parking),
    )

    # -- 7. to WGS84 and GeoDataFrames ---------------------------------------
    say("assembling layers")
    to_deg = _to_degrees(center)
    comm_gdf = gpd.GeoDataFrame(
        {
            "community_id": comm_ids,
            "name": np.array(
                ["城南社区(合成)"] if C == 1 else [f"第{i}社区(合成)" for i in range(1, C + 1)],
                dtype=object,
            ),
        },
        geometry=to_deg(comm_geom),
        crs=CRS,
    )
    zone_gdf = gpd.GeoDataFrame(
        {
            "zone_id": zone_ids,
            "name": np.array(
                [ZONE_NAMES[r % 6] if Z <= 6 else f"第{r + 1}片区" for r in range(Z)], dtype=object
            ),
            "community_id": comm_ids[zone_comm[z_order]],
        },
        geometry=to_deg(zone_geom[z_order]),
        crs=CRS,
    )
    grid_gdf = gpd.GeoDataFrame(
        {
            "grid_id": grid_ids,
            "name": np.array([f"第{r + 1}网格" for r in range(G)], dtype=object),
            "zone_id": zone_ids[zone_rank[grid_zone[g_order]]],
            "staff_name": _names(rng, G),
            "staff_phone": _phones(rng, G),
        },
        geometry=to_deg(grid_geom[g_order]),
        crs=CRS,
    )
    mg_grid_sorted = grid_ids[grid_rank[mg_grid[m_order]]]
    seq = pd.Series(mg_grid_sorted).groupby(mg_grid_sorted, sort=False).cumcount() + 1
    mg_gdf = gpd.GeoDataFrame(
        {
            "microgrid_id": mg_ids,
            "name": (
                pd.Series(grid_gdf["name"].to_numpy()[grid_rank[mg_grid[m_order]]])
                + "第"
                + seq.astype(str)
                + "微网格"
            ).to_numpy(object),
            "grid_id": mg_grid_sorted,
            "leader_name": _names(rng, M),
            "leader_phone": _phones(rng, M),
        },
        geometry=to_deg(mg_geom[m_order]),
        crs=CRS,
    )
    hh_gdf = gpd.GeoDataFrame(
        {
            "household_id": _str_ids("H", H, 6),
            "address": _str(pc.take(address, ho)),
            "head_name": _names(rng, H),
            "phone": _phones(rng, H),
            "residents": residents[ho].astype(np.int64),
            "elderly": elderly[ho].astype(np.int64),
            "lives_alone": lives_alone[ho],
            "has_ev": has_ev[ho],
        },
        geometry=to_deg(shapely.points(hx[ho], hy[ho])),
        crs=CRS,
    )
    st_gdf = gpd.GeoDataFrame(
        {
            "station_id": _ids("S", sz.stations, 2),
            "name": np.array(st_names, dtype=object),
            "kind": np.full(sz.stations, "党群服务驿站", dtype=object),
            "open_hours": np.full(sz.stations, "08:00-21:00", dtype=object),
            "staff_on_site": staff_on,
        },
        geometry=to_deg(stations),
        crs=CRS,
    )
    pile_gdf = gpd.GeoDataFrame(
        {
            "pile_id": _ids("P", sz.piles, 3),
            "ports": pile_ports.astype(np.int64),
            "power_kw": pile_kw.astype(float),
            "kind": pile_kind,
            "status": pile_status,
        },
        geometry=to_deg(piles),
        crs=CRS,
    )
    park_gdf = gpd.GeoDataFrame(
        {
            "parking_id": _ids("K", sz.parking, 2),
            "spaces": park_spaces.astype(np.int64),
            "kind": park_kind,
        },
        geometry=to_deg(parks_pts),
        crs=CRS,
    )
    ro = np.lexsort((np.arange(len(road_geoms)), road_names))
    road_gdf = gpd.GeoDataFrame(
        {
            "road_id": _ids("R", len(road_geoms), 3),
            "name": road_names[ro],
            "kind": road_kind[ro],
        },
        geometry=to_deg(shapely.set_precision(road_geoms[ro], GRID_SIZE_M)),
        crs=CRS,
    )
    return {
        "communities": comm_gdf,
        "zones": zone_gdf,
        "grids": grid_gdf,
        "microgrids": mg_gdf,
        "households": hh_gdf,
        "service_stations": st_gdf,
        "charging_piles": pile_gdf,
        "parking": park_gdf,
        "roads": road_gdf,
    }


def _dissolve(geoms: np.ndarray, label: np.ndarray, n: int) -> np.ndarray:
    """Coverage union of ``geoms`` per label 0..n-1 (label -1 is dropped)."""
    out = np.empty(n, dtype=object)
    ok = label >= 0
    lab = label[ok]
    g = geoms[ok]
    o = np.argsort(lab, kind="stable")
    lab, g = lab[o], g[o]
    starts = np.searchsorted(lab, np.arange(n))
    ends = np.searchsorted(lab, np.arange(n), side="right")
    for r in range(n):
        part = g[starts[r] : ends[r]]
        if len(part) == 1:
            out[r] = part[0]
        elif len(part) == 0:
            out[r] = shapely.Polygon()
        else:
            out[r] = shapely.coverage_union_all(part)
    return out


def _shared_edges(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (a < b) of polygons sharing a boundary line (not just a point)."""
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="touches")
    keep = a < b
    a, b = a[keep], b[keep]
    line = shapely.relate_pattern(geoms[a], geoms[b], "F***1****")
    return a[line], b[line]


def _parent_pairs(
    a: np.ndarray, b: np.ndarray, parent: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    qa, qb = parent[a], parent[b]
    diff = qa != qb
    pairs = np.unique(np.c_[np.minimum(qa, qb)[diff], np.maximum(qa, qb)[diff]], axis=0)
    return pairs[:, 0], pairs[:, 1]


def _split_evenly(total: np.ndarray, parts: np.ndarray) -> np.ndarray:
    """Split each ``total[i]`` into ``parts[i]`` near-equal integers (flattened)."""
    owner = np.repeat(np.arange(len(total)), parts)
    k = np.arange(len(owner)) - np.repeat(np.cumsum(parts) - parts, parts)
    q = total[owner] // parts[owner]
    r = total[owner] % parts[owner]
    return q + (k < r)


def _outside_cells(grid_sel: np.ndarray, nx: int, ny: int) -> np.ndarray:
    """Unchosen lattice cells next to a chosen one (just outside the community)."""
    pad = np.pad(grid_sel, 1)
    near = pad[:-2, 1:-1] | pad[2:, 1:-1] | pad[1:-1, :-2] | pad[1:-1, 2:]
    out = near & ~grid_sel
    # not enclosed: reachable from the lattice border through unchosen cells
    free = ~grid_sel
    _, lab = connected_components(_grid_graph(free), directed=False)
    border = np.zeros_like(free)
    border[0, :] = border[-1, :] = True
    border[:, 0] = border[:, -1] = True
    outer = np.isin(lab.reshape(ny, nx), np.unique(lab.reshape(ny, nx)[border & free]))
    return np.flatnonzero((out & outer).ravel())


def _grid_graph(mask: np.ndarray) -> sparse.csr_matrix:
    ny, nx = mask.shape
    idx = np.arange(nx * ny).reshape(ny, nx)
    h = mask[:, :-1] & mask[:, 1:]
    v = mask[:-1, :] & mask[1:, :]
    a = np.r_[idx[:, :-1][h], idx[:-1, :][v]]
    b = np.r_[idx[:, 1:][h], idx[1:, :][v]]
    return _csr(nx * ny, a, b)


def _facility_points(
    rng: np.random.Generator, mg_geom: np.ndarray, mg_rank: np.ndarray, n: int
) -> np.ndarray:
    """``n`` points spread over the micro-grids (quantiles along the id order)."""
    M = len(mg_geom)
    by_rank = np.argsort(mg_rank)
    pos = ((np.arange(n) + rng.uniform(0.2, 0.8, n)) * M / n).astype(np.int64)
    pos = np.minimum(pos, M - 1)
    polys = shapely.buffer(mg_geom[by_rank[pos]], -4.0)
    polys = np.where(shapely.is_empty(polys), mg_geom[by_rank[pos]], polys)
    x, y = _random_points_in(rng, polys)
    return shapely.points(x, y)


def _dedupe(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for nm in names:
        k = seen.get(nm, 0) + 1
        seen[nm] = k
        out.append(nm if k == 1 else f"{nm}{_ORDINALS[(k - 1) % 10] if k <= 11 else k}站")
    return out


def _to_degrees(center: tuple[float, float]) -> Callable[[np.ndarray], np.ndarray]:
    """Local metres around ``center`` -> lon/lat degrees (equirectangular)."""
    lon0, lat0 = float(center[0]), float(center[1])
    kx = _M_PER_DEG_LON * math.cos(math.radians(lat0))
    ky = _M_PER_DEG_LAT

    def f(geoms: np.ndarray) -> np.ndarray:
        return shapely.transform(
            np.asarray(geoms, dtype=object),
            lambda c: np.c_[lon0 + c[:, 0] / kx, lat0 + c[:, 1] / ky],
        )

    return f


def synth_workspace(
    path: str | os.PathLike,
    seed: int = DEFAULT_SEED,
    households: int = 3500,
    microgrids: int = 287,
    grids: int | None = None,
    zones: int | None = None,
    center: tuple[float, float] = (111.47, 35.64),
    progress: Progress | None = None,
    then: Callable[[Path, dict[str, gpd.GeoDataFrame]], object] | None = None,
) -> Path:
    """Generate a synthetic workspace and write it atomically to ``path``.

    Layers already in the file are replaced; other layers are removed, so the
    result holds exactly the generated layers. See :func:`synth_layers`.

    ``then(path, layers)``, when given, runs on the written file with the
    generated layers: a higher room adds what it owns from the same town
    (:func:`gridmap.requests.synth.synth_sample_workspace` adds a year of
    resident requests this way; it is what ``gridmap synth`` writes).
    """
    from gridmap.workspace import store as io

    p = Path(path)
    if p.suffix.lower() != ".gpkg":
        raise SynthError("the output must be a GeoPackage file ending in .gpkg", file=str(p))
    layers = synth_layers(
        seed=seed,
        households=households,
        microgrids=microgrids,
        grids=grids,
        zones=zones,
        center=center,
        progress=progress,
    )
    old: list[str] = []
    if p.exists() and p.stat().st_size > 0:
        old = [n for n in io.list_layers(p) if n not in layers]
    if progress:
        progress("writing the GeoPackage")
    io.write_layers(p, layers, delete=old)
    if then is not None:
        then(p, layers)
    return p
