"""A fast exact point-in-polygon index: which polygon of a layer covers each point.

Same answers as :func:`gridmap.join.core.reference_locator` (shapely STRtree with
``intersects``) on every point, several times faster on large batches.

Design
------
* A quadtree of square cells over the layer's extent, stored as flat arrays
  (a province-sized extent only grows the tree where there are edges). Cells are
  split while more than ``max_edges`` polygon edges touch them. A dense table
  of "tiles" (the nodes at a fixed shallow depth) lets a query skip the top of
  the tree.
* Every leaf keeps a *base* answer: the smallest-ranked polygon that covers the
  whole cell (no edge of it touches the cell), decided once at build time, and
  the short list of *candidate* polygons whose edges touch the cell and whose
  rank is smaller than the base. A point in a leaf without candidates is
  answered without any test.
* Candidates are tested in id order (smallest id wins) with a crossing-number
  test over the polygon's rings, compiled with numba and run in parallel over
  the points. Orientation signs use Shewchuk's error-bounded filter on float64
  coordinates: when the sign is certain the answer is exact (a point exactly
  on an edge or a vertex is covered); when it is not certain (a point within
  rounding distance of an edge line) the point is handed to shapely, so the
  answer is always the reference's.
* Invalid or non-polygonal geometries are never tested by the compiled code:
  points that reach them go to shapely as well.
* Large batches are queried in a spatially sorted order (a counting sort on a
  coarse grid), which cuts cache misses about 3x on random input; answers come
  back in input order. The tree is built level by level, in parallel over
  cells.

Build an index once per layer (:func:`build_index`); :func:`locators_for`
builds or loads one per level of a :class:`~gridmap.join.core.Hierarchy` and caches
it on disk next to the workspace (keyed by a hash of the layer's ids and
geometries, so a changed layer gets a new index).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from gridmap.errors import GridmapError
from gridmap.policy.ids import normalise_id, normalise_ids

if TYPE_CHECKING:
    import geopandas as gpd

# The compiled kernels (numba) live in gridmap.join.kernels and load on first use:
# reading an index from the cache, and the few-point queries, need no compiler.

#: Bump when the on-disk layout changes; old cache files are then ignored.
FORMAT_VERSION = 5
#: Resolution of the integer point coordinates (cells never get smaller than
#: extent / 2**MAX_DEPTH).
MAX_DEPTH = 24
#: Batches at least this large are queried in a spatially sorted order.
SORT_THRESHOLD = 20_000
#: Smaller batches are answered by shapely (the reference itself) while the compiled
#: kernels are not loaded yet: loading numba costs more than these few points.
SMALL_BATCH = 50_000
#: The quadtree stops splitting before it exceeds this many nodes per polygon edge.
NODE_BUDGET_PER_EDGE = 8
#: Polygons with more edges than this get horizontal slabs (about SLAB_EDGES edges each)
#: so that a point-in-polygon test reads a few edges, not the whole ring.
SLAB_MIN_EDGES = 64
SLAB_EDGES = 8

_ARRAYS = (
    "child0",
    "node_depth",
    "leaf_of",
    "leaf_base",
    "cand_start",
    "cand",
    "poly_start",
    "edges",
    "poly_kind",
    "tile_node",
    "pbox",
    "wild",
    "slab0",
    "nslab",
    "slab_h",
    "slab_start",
    "slab_edge",
)


_KERNELS = "gridmap.join.kernels"


def _kernels() -> Any:
    """The compiled kernels (imports numba; compiled once, then loaded from its cache)."""
    from gridmap.join import kernels

    return kernels


# ----------------------------------------------------------------------------
# the index
# ----------------------------------------------------------------------------


@dataclass
class CellIndex:
    """An exact cell index over one polygon layer; call it like a locator.

    ``index(x, y)`` returns an object array of ids (None where no polygon
    covers the point), exactly like :func:`gridmap.join.core.reference_locator`.
    """

    ids: np.ndarray  # polygon ids in rank (string) order
    x0: float
    y0: float
    scale: float
    depth: int
    tile_shift: int
    tiles_per_side: int
    arrays: dict[str, np.ndarray]
    geoms: np.ndarray | None = None  # rank order; needed only for unsure points
    build_seconds: float = 0.0
    _fallback: object = None

    # -- queries ---------------------------------------------------------------
    def query_ranks(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Rank (position in :attr:`ids`) of the covering polygon, -1 for none."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        y = np.ascontiguousarray(y, dtype=np.float64)
        n = len(x)
        if n == 0:
            return np.empty(0, dtype=np.int32)
        if n < SMALL_BATCH and self.geoms is not None and _KERNELS not in sys.modules:
            return self._shapely_ranks(x, y)
        return self._kernel_ranks(x, y, sort=n >= SORT_THRESHOLD)

    def warm_up(self) -> None:
        """Load the compiled kernels now (from numba's cache; compiled on a first run).

        The in-place assign calls it in a thread while it reads the points, so
        that loading numba overlaps the reading.
        """
        one = np.zeros(1, dtype=np.float64)
        self._kernel_ranks(one + self.x0, one + self.y0, sort=True)

    def _kernel_ranks(self, x: np.ndarray, y: np.ndarray, *, sort: bool) -> np.ndarray:
        n = len(x)
        out = np.empty(n, dtype=np.int32)
        unsure = np.empty(n, dtype=np.bool_)
        a = self.arrays
        order = None
        if sort:
            order = _kernels()._spatial_order(x, y, self.x0, self.y0, self.scale, self.depth, 8)
            x = x[order]
            y = y[order]
        _kernels()._query(
            x,
            y,
            self.x0,
            self.y0,
            self.scale,
            self.depth,
            self.tile_shift,
            self.tiles_per_side,
            a["tile_node"],
            a["child0"],
            a["node_depth"],
            a["leaf_of"],
            a["leaf_base"],
            a["cand_start"],
            a["cand"],
            a["poly_start"],
            a["edges"],
            a["poly_kind"],
            a["pbox"],
            a["slab0"],
            a["nslab"],
            a["slab_h"],
            a["slab_start"],
            a["slab_edge"],
            out,
            unsure,
        )
        if unsure.any():
            idx = np.flatnonzero(unsure)
            out[idx] = self._shapely_ranks(x[idx], y[idx])
        if len(a["wild"]):  # polygons with non-finite vertices: the reference's answer
            out = self._with_wild(x, y, out)
        if order is not None:
            res = np.empty_like(out)
            res[order] = out
            return res
        return out

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        ranks = self.query_ranks(x, y)
        res = np.full(len(ranks), None, dtype=object)
        hit = ranks >= 0
        res[hit] = self.ids[ranks[hit]]
        return res

    def locate_one(self, x: float, y: float) -> str | None:
        """Id of the polygon covering one point (None if none)."""
        return self(np.array([x]), np.array([y]))[0]

    def _with_wild(self, x: np.ndarray, y: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Let the polygons kept out of the tree (non-finite vertices) win where smaller."""
        wild = self.arrays["wild"]
        if self.geoms is None:
            raise GridmapError("the index was loaded without geometries; rebuild it")
        ok = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
        pi, ti = shapely.STRtree(self.geoms[wild]).query(
            shapely.points(x[ok], y[ok]), predicate="intersects"
        )
        if len(pi):
            best = np.full(len(ok), np.iinfo(np.int32).max, dtype=np.int64)
            np.minimum.at(best, pi, wild[ti])
            cur = out[ok].astype(np.int64)
            cur[cur < 0] = np.iinfo(np.int32).max
            win = best < cur
            out[ok[win]] = best[win]
        return out

    def _shapely_ranks(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The reference answer (STRtree + intersects) for a few hard points."""
        if self._fallback is None:
            if self.geoms is None:
                raise GridmapError("the index was loaded without geometries; rebuild it")
            self._fallback = shapely.STRtree(self.geoms)
        tree: shapely.STRtree = self._fallback  # type: ignore[assignment]
        pi, ti = tree.query(shapely.points(x, y), predicate="intersects")
        best = np.full(len(x), np.iinfo(np.int32).max, dtype=np.int64)
        np.minimum.at(best, pi, ti)  # tree items are in rank order
        best[best == np.iinfo(np.int32).max] = -1
        return best.astype(np.int32)

    # -- stats -----------------------------------------------------------------
    @property
    def n_leaves(self) -> int:
        return len(self.arrays["leaf_base"])

    @property
    def n_nodes(self) -> int:
        return len(self.arrays["child0"])

    @property
    def nbytes(self) -> int:
        return int(sum(v.nbytes for v in self.arrays.values()))

    # -- persistence -------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the index to ``path`` (an ``.npz`` file) atomically."""
        from gridmap.workspace.store import atomic_write_file

        meta = {
            "version": FORMAT_VERSION,
            "x0": self.x0,
            "y0": self.y0,
            "scale": self.scale,
            "depth": self.depth,
            "tile_shift": self.tile_shift,
            "tiles_per_side": self.tiles_per_side,
        }

        blobs = list(shapely.to_wkb(self.geoms)) if self.geoms is not None else []
        wkb = np.frombuffer(b"".join(blobs), dtype=np.uint8)
        wkb_start = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.savez(
                    fh,
                    meta=np.array(json.dumps(meta)),
                    ids=np.array([str(i) for i in self.ids], dtype=str),
                    wkb=wkb,
                    wkb_start=wkb_start,
                    **self.arrays,  # type: ignore[arg-type]
                )

        return atomic_write_file(Path(path), write)

    @classmethod
    def load(cls, path: str | os.PathLike) -> CellIndex:
        """Read an index written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("version") != FORMAT_VERSION:
                raise GridmapError(f"index cache {path} has an old format; it will be rebuilt")
            arrays = {k: z[k] for k in _ARRAYS}
            ids = z["ids"].astype(object)
            raw = z["wkb"].tobytes()
            starts = z["wkb_start"]
        blobs = [raw[a:b] for a, b in itertools.pairwise(starts)]
        geoms = shapely.from_wkb(blobs) if blobs else None
        return cls(
            ids=ids,
            x0=meta["x0"],
            y0=meta["y0"],
            scale=meta["scale"],
            depth=meta["depth"],
            tile_shift=meta["tile_shift"],
            tiles_per_side=meta["tiles_per_side"],
            arrays=arrays,
            geoms=geoms,
        )


def _edges(geoms: np.ndarray) -> tuple[np.ndarray, ...]:
    """All ring/line segments of each geometry, grouped by geometry.

    Returns (geom index per edge, x1, y1, x2, y2). Points become zero-length
    segments so that cells holding them are tested (by shapely).
    """
    tid0 = shapely.get_type_id(geoms)
    if len(geoms) and (tid0 == 3).all() and (shapely.get_num_interior_rings(geoms) == 0).all():
        # common case, simple polygons without holes: one closed ring each
        coords, gidx = shapely.get_coordinates(geoms, return_index=True)
        same = gidx[1:] == gidx[:-1]
        return (
            gidx[:-1][same].astype(np.int64),
            coords[:-1, 0][same],
            coords[:-1, 1][same],
            coords[1:, 0][same],
            coords[1:, 1][same],
        )
    parts, pidx = shapely.get_parts(geoms, return_index=True)
    # nested collections: flatten until no collection is left
    for _ in range(4):
        coll = shapely.get_type_id(parts) == 7
        if not coll.any():
            break
        sub, sidx = shapely.get_parts(parts[coll], return_index=True)
        parts = np.concatenate([parts[~coll], sub])
        pidx = np.concatenate([pidx[~coll], pidx[coll][sidx]])
        order = np.argsort(pidx, kind="stable")
        parts, pidx = parts[order], pidx[order]
    tid = shapely.get_type_id(parts)
    lines: list[np.ndarray] = []
    lidx: list[np.ndarray] = []
    poly = tid == 3
    if poly.any():
        rings, ridx = shapely.get_rings(parts[poly], return_index=True)
        lines.append(rings)
        lidx.append(np.flatnonzero(poly)[ridx])
    lin = (tid == 1) | (tid == 2)
    if lin.any():
        lines.append(parts[lin])
        lidx.append(np.flatnonzero(lin))
    pt = tid == 0
    if pt.any():
        c = shapely.get_coordinates(parts[pt])
        lines.append(shapely.linestrings(np.stack([c, c], axis=1)))
        lidx.append(np.flatnonzero(pt))
    if not lines:
        e = np.empty(0)
        return np.empty(0, dtype=np.int64), e, e, e, e
    all_lines = np.concatenate(lines)
    part_of_line = np.concatenate(lidx)
    order = np.argsort(part_of_line, kind="stable")
    all_lines, part_of_line = all_lines[order], part_of_line[order]
    coords, cidx = shapely.get_coordinates(all_lines, return_index=True)
    same = cidx[1:] == cidx[:-1]
    geom_of_edge = pidx[part_of_line[cidx[:-1][same]]]
    x1 = coords[:-1, 0][same]
    y1 = coords[:-1, 1][same]
    x2 = coords[1:, 0][same]
    y2 = coords[1:, 1][same]
    return geom_of_edge.astype(np.int64), x1, y1, x2, y2


def build_index(
    polygons: gpd.GeoDataFrame,
    id_column: str,
    *,
    max_edges: int = 32,
    max_depth: int = MAX_DEPTH,
) -> CellIndex:
    """Build the exact cell index of one polygon layer.

    Parameters
    ----------
    polygons
        The layer (EPSG:4326 like the reference; any CRS works as long as the
        query points use the same one).
    id_column
        Id column; ids compare as strings, the smallest covering id wins.
    max_edges
        Split a cell while more edges than this touch it.
    max_depth
        Deepest level of the tree (cells never get smaller than extent / 2**max_depth).

    Returns
    -------
    CellIndex
        Callable ``(x, y) -> object array of ids``.
    """
    import time

    t0 = time.perf_counter()
    if id_column not in polygons.columns:
        from gridmap.errors import SchemaError

        raise SchemaError(
            f"the id column '{id_column}' is missing", file=polygons.attrs.get("file")
        )
    geoms = np.asarray(polygons.geometry.values)
    ids = normalise_ids(polygons[id_column])
    valid = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms)) & np.array(
        [i is not None for i in ids], dtype=bool
    )
    geoms, ids = geoms[valid], ids[valid]
    order = np.argsort(ids.astype(str), kind="stable")
    geoms, ids = geoms[order], ids[order]
    npoly = len(ids)
    tid = shapely.get_type_id(geoms)
    kind = np.where(((tid == 3) | (tid == 6)) & shapely.is_valid(geoms), 0, 1).astype(np.int8)
    # a NaN or infinite vertex would poison the extent (every answer None): such
    # polygons stay out of the tree and are asked of shapely for every point
    coords, coord_geom = shapely.get_coordinates(geoms, return_index=True)
    wild = np.zeros(npoly, dtype=bool)
    wild[coord_geom[~np.isfinite(coords).all(axis=1)]] = True
    kind[wild] = 1
    geom_of_edge, ex1, ey1, ex2, ey2 = _edges(np.where(wild, shapely.Polygon(), geoms))
    # one row per edge (x1, y1, x2, y2): a polygon's edges are contiguous in memory
    edges = np.ascontiguousarray(np.column_stack([ex1, ey1, ex2, ey2]).reshape(-1, 4))
    poly_start = np.searchsorted(geom_of_edge, np.arange(npoly + 1)).astype(np.int64)
    nedge = len(geom_of_edge)

    if nedge:
        minx = min(ex1.min(), ex2.min())
        maxx = max(ex1.max(), ex2.max())
        miny = min(ey1.min(), ey2.min())
        maxy = max(ey1.max(), ey2.max())
    else:
        minx = miny = 0.0
        maxx = maxy = 1.0
    span = max(maxx - minx, maxy - miny)
    pad = span * 0.01 + 1e-9 * max(1.0, abs(minx), abs(miny))
    x0, y0 = float(minx - pad), float(miny - pad)
    width = float(span + 2 * pad)
    depth = int(max_depth)
    scale = float(2**depth / width)
    margin = width / 2**depth * 1e-3  # absorbs the rounding of point -> cell
    # node budget: normal layers use about 0.15 nodes per edge; edges that no split
    # separates (identical polygons under different ids) would otherwise double the
    # cells at every level down to max_depth and exhaust memory
    max_nodes = NODE_BUDGET_PER_EDGE * nedge + 4096
    pbox = _poly_boxes(poly_start, ex1, ey1, ex2, ey2)
    slabs = _kernels()._build_slabs(poly_start, edges, pbox, SLAB_MIN_EDGES, SLAB_EDGES)

    # level 0: the root holds every edge
    child0_levels: list[np.ndarray] = []
    depth_levels: list[np.ndarray] = []
    leafmark_levels: list[np.ndarray] = []
    leaf_base_parts: list[np.ndarray] = []
    leaf_cand_start: list[np.ndarray] = []
    leaf_cand_parts: list[np.ndarray] = []
    cx = np.zeros(1, dtype=np.int64)
    cy = np.zeros(1, dtype=np.int64)
    base = np.full(1, -1, dtype=np.int64)
    cell_start = np.array([0, nedge], dtype=np.int64)
    pair_edge = np.arange(nedge, dtype=np.int64)
    node_offset = 0
    leaf_count = 0
    cand_count = 0
    d = 0
    while True:
        ncell = len(cx)
        (split, leaf_cells, lcs, lcand, ccx, ccy, cbase, child_start, child_edge, un_c, un_r) = (
            _kernels()._build_level(
                cell_start, pair_edge, cx, cy, base, d, depth, max_edges, x0, y0, width, margin,
                geom_of_edge, poly_start, edges, kind, max_nodes - node_offset - ncell,
                pbox, *slabs,
            )
        )  # fmt: skip
        if len(un_c):  # invalid geometries or unsure centres: ask shapely
            w = width / 2 ** (d + 1)
            px = x0 + (ccx[un_c] + 0.5) * w
            py = y0 + (ccy[un_c] + 0.5) * w
            inside = shapely.intersects(geoms[un_r], shapely.points(px, py))
            for c, r in zip(un_c[inside], un_r[inside], strict=True):
                if cbase[c] < 0 or r < cbase[c]:
                    cbase[c] = r
        nsplit = len(ccx) // 4
        child0 = np.full(ncell, -1, dtype=np.int64)
        next_offset = node_offset + ncell
        child0[split] = next_offset + 4 * np.arange(nsplit)
        leafmark = np.full(ncell, -1, dtype=np.int64)
        leafmark[leaf_cells] = leaf_count + np.arange(len(leaf_cells))
        child0_levels.append(child0)
        depth_levels.append(np.full(ncell, d, dtype=np.int8))
        leafmark_levels.append(leafmark)
        leaf_base_parts.append(base[leaf_cells])
        leaf_cand_start.append(lcs[:-1] + cand_count)
        leaf_cand_parts.append(lcand)
        cand_count += len(lcand)
        leaf_count += len(leaf_cells)
        node_offset = next_offset
        if nsplit == 0:
            break
        cx, cy, base = ccx, ccy, cbase
        cell_start, pair_edge = child_start, child_edge
        d += 1

    child0_all = np.concatenate(child0_levels).astype(np.int32)
    node_depth = np.concatenate(depth_levels).astype(np.int8)
    leaf_of = np.concatenate(leafmark_levels).astype(np.int32)
    leaf_base = np.concatenate(leaf_base_parts).astype(np.int32)
    cand_rank = np.concatenate(leaf_cand_parts).astype(np.int32)
    cand_start = np.concatenate([*leaf_cand_start, [cand_count]]).astype(np.int64)
    tree_depth = int(node_depth.max())
    tile_depth = min(tree_depth, 10)
    tile_shift = depth - tile_depth
    tiles_per_side = 1 << tile_depth
    tile_node = _kernels()._tile_table(tiles_per_side, tile_shift, child0_all, node_depth, depth)
    arrays = {
        "child0": child0_all,
        "node_depth": node_depth,
        "leaf_of": leaf_of,
        "leaf_base": leaf_base,
        "cand_start": cand_start,
        "cand": cand_rank,
        "poly_start": poly_start,
        "edges": edges,
        "poly_kind": kind,
        "tile_node": tile_node,
        "pbox": pbox,
        "slab0": slabs[0],
        "nslab": slabs[1],
        "slab_h": slabs[2],
        "slab_start": slabs[3],
        "slab_edge": slabs[4],
        "wild": np.flatnonzero(wild).astype(np.int32),
    }
    return CellIndex(
        ids=ids,
        x0=x0,
        y0=y0,
        scale=scale,
        depth=depth,
        tile_shift=tile_shift,
        tiles_per_side=tiles_per_side,
        arrays=arrays,
        geoms=geoms,
        build_seconds=time.perf_counter() - t0,
    )


def _poly_boxes(poly_start, ex1, ey1, ex2, ey2) -> np.ndarray:
    """Exact bounding box (minx, miny, maxx, maxy) of each polygon's edges."""
    n = len(poly_start) - 1
    box = np.empty((n, 4))
    box[:, :2] = np.inf
    box[:, 2:] = -np.inf
    has = np.diff(poly_start) > 0
    if has.any() and len(ex1):
        starts = poly_start[:-1][has]
        box[has, 0] = np.minimum.reduceat(np.minimum(ex1, ex2), starts)
        box[has, 1] = np.minimum.reduceat(np.minimum(ey1, ey2), starts)
        box[has, 2] = np.maximum.reduceat(np.maximum(ex1, ex2), starts)
        box[has, 3] = np.maximum.reduceat(np.maximum(ey1, ey2), starts)
    return box


def layer_key(polygons: gpd.GeoDataFrame, id_column: str) -> str:
    """Content hash of a layer's ids and geometries (the cache key)."""
    h = hashlib.sha1(f"v{FORMAT_VERSION}|{MAX_DEPTH}|".encode())
    for v in polygons[id_column]:
        sid = normalise_id(v)
        # a null id (dropped from the index) must not hash like the id "None"
        h.update(b"\x01" if sid is None else sid.encode() + b"\x00")
    geoms = np.asarray(polygons.geometry.values)
    present = ~shapely.is_missing(geoms)
    h.update(present.tobytes())
    for b in shapely.to_wkb(geoms[present]):
        h.update(b)
    return h.hexdigest()[:20]


def cached_index(
    polygons: gpd.GeoDataFrame, id_column: str, cache_dir: str | os.PathLike | None, level: str
) -> CellIndex:
    """Load the index of a layer from ``cache_dir`` or build (and store) it."""
    if cache_dir is None:
        return build_index(polygons, id_column)
    cache = Path(cache_dir)
    key = layer_key(polygons, id_column)
    target = cache / f"{level}-{key}.npz"
    if target.exists():
        try:
            return CellIndex.load(target)
        except Exception:  # any unreadable cache (truncated, zero bytes, bad CRC,
            pass  # old format) only costs a rebuild below
    index = build_index(polygons, id_column)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        for old in cache.glob(f"{level}-*.npz"):
            old.unlink(missing_ok=True)
        index.save(target)
    except OSError:
        pass  # a read-only location only costs the rebuild next time
    return index


def cache_dir_for(workspace: str | os.PathLike) -> Path:
    """The index cache directory of a workspace: ``<workspace>.gridmap-index/``."""
    p = Path(workspace)
    return p.with_name(p.name + ".gridmap-index")


def locators_for(hierarchy, cache_dir=None, signature=None) -> dict[str, CellIndex]:
    """One exact cell index per level of a hierarchy, as locators.

    Parameters
    ----------
    hierarchy
        A :class:`gridmap.join.core.Hierarchy`.
    cache_dir
        Directory to keep built indexes in (see :func:`cache_dir_for`); None
        builds them in memory only.
    signature
        Accepted for the contract; the cache is keyed by the layer content, so
        a rewritten workspace with the same polygons reuses its index.

    Returns
    -------
    dict
        Level -> :class:`CellIndex` (callable ``(x, y) -> ids``).
    """
    from gridmap.workspace.schema import LAYERS

    return {
        level: cached_index(gdf, LAYERS[level].id_column, cache_dir, level)
        for level, gdf in hierarchy.polygons.items()
    }


def cached_locators(hierarchy, cache_dir) -> dict[str, CellIndex] | None:
    """:func:`locators_for`, but only from indexes already in ``cache_dir`` (None otherwise).

    For readers that should not build (seconds on a large layer) or replace the
    cache ``gridmap assign`` keeps, e.g. ``gridmap validate`` on the polygons it
    found usable: a different set of polygons has a different key.
    """
    from gridmap.workspace.schema import LAYERS

    out: dict[str, CellIndex] = {}
    for level, gdf in hierarchy.polygons.items():
        target = Path(cache_dir) / f"{level}-{layer_key(gdf, LAYERS[level].id_column)}.npz"
        if not target.exists():
            return None
        try:
            out[level] = CellIndex.load(target)
        except Exception:  # an unreadable cache: the caller uses the reference
            return None
    return out


def set_threads(n: int | None) -> int:
    """Use ``n`` threads for queries (None: all cores). Returns the number set."""
    import numba

    _kernels()
    most = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
    n = most if n is None else max(1, min(int(n), most))
    numba.set_num_threads(n)
    return n
