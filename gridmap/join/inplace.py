"""``gridmap assign`` in place, straight from and into the GeoPackage's SQLite tables.

The general path (:func:`gridmap.join.core._assign_workspace`) reads every layer
into GeoDataFrames. A workspace that is assigned again and again mostly has the
same polygons each time, so this path keeps what it derived from them in a
cache next to the workspace (``<workspace>.gridmap-index/chain-<key>.npz``,
keyed by a hash of the polygon tables' raw rows) and then only:

1. reads each point layer's geometry blobs in one piece
   (:func:`gridmap.workspace.sqlite.read_blobs`) and decodes x/y at array speed;
2. asks the exact cell index of each level (:mod:`gridmap.join.index`) and
   follows the parent chain as integer codes;
3. writes the seven result columns with SQL, one transaction for all layers,
   rows whose values did not change untouched
   (:func:`gridmap.workspace.sqlite.update_columns`).

The answers are those of the general path: the chain (parents from the id
columns, else from geometry) and the indexes are built by the general code on
a cache miss, and the join follows the same rules (docs/design.md). Anything
this path does not handle (a layer in another CRS, a table without an integer
fid, a column that must be rewritten, an unreadable cache) returns ``None``
and the caller takes the general path.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gridmap.join.result import AssignResult, LayerAssignment
from gridmap.workspace import sqlite as gsql
from gridmap.workspace.schema import (
    LAYERS,
    POINT_LAYERS,
    POLYGON_LEVELS,
    RESULT_COLUMNS,
)

__all__ = [
    "Chain",
    "CodedJoin",
    "assign_in_place",
    "coded_join_for",
    "join_codes",
    "join_hierarchy_codes",
    "polygon_key",
]

#: Bump when the cache layout or the rules change: old cache files are ignored.
CHAIN_VERSION = 1
WGS84 = "EPSG:4326"


@dataclass
class Chain:
    """What the join needs from the polygon layers, as integer codes.

    For each level, ``vocab[level]`` holds every id that can appear in that
    level's column (the layer's own ids and the parent ids its children name);
    a point's value at a level is a code into it (-1: none).

    Attributes
    ----------
    levels
        Levels present (non-empty), finest first.
    vocab
        Level -> sorted array of ids (str).
    rank_code
        Level -> code of each polygon rank of that level's cell index.
    parent
        Level -> parent code of each code of ``vocab[level]`` (-1: the chain
        says nothing, so the point is joined at the parent level itself).
    index_keys
        Level -> the cell index cache key (:func:`gridmap.join.index.layer_key`).
    """

    levels: list[str]
    vocab: dict[str, np.ndarray]
    rank_code: dict[str, np.ndarray]
    parent: dict[str, np.ndarray]
    index_keys: dict[str, str]
    #: the cache file holding the prepared nearest-micro-grid data
    nearest_file: Path | None = None
    #: that data, once loaded (or built when the cache could not be written)
    nearest_data: Any | None = None
    #: level -> cell index already in memory (built on a cache miss)
    indexes: dict[str, Any] = field(default_factory=dict)

    # -- building (cache miss: the general code decides) -------------------------
    @classmethod
    def from_hierarchy(cls, hierarchy: Any, locators: Mapping[str, Any]) -> Chain:
        """The chain of a :class:`~gridmap.join.core.Hierarchy` and its cell indexes (kept)."""
        from gridmap.join.index import layer_key

        levels = list(hierarchy.levels)
        words: dict[str, set[str]] = {lv: set() for lv in POLYGON_LEVELS}
        for lv in levels:
            words[lv].update(str(v) for v in locators[lv].ids)
        for i, lv in enumerate(POLYGON_LEVELS[:-1]):
            mapping = hierarchy.parents.get(lv, {})
            words[lv].update(k for k in mapping if k is not None)
            words[POLYGON_LEVELS[i + 1]].update(v for v in mapping.values() if v is not None)
        vocab = {lv: np.array(sorted(words[lv]), dtype=str) for lv in POLYGON_LEVELS}
        rank_code = {
            lv: _codes(vocab[lv], np.asarray(locators[lv].ids, dtype=str)) for lv in levels
        }
        parent: dict[str, np.ndarray] = {}
        for i, lv in enumerate(POLYGON_LEVELS[:-1]):
            mapping = hierarchy.parents.get(lv)
            if not mapping:
                continue
            pv = vocab[POLYGON_LEVELS[i + 1]]
            names = [mapping.get(str(v)) for v in vocab[lv]]
            known = np.array([v is not None for v in names], dtype=bool)
            codes = np.full(len(names), -1, dtype=np.int32)
            if known.any():
                codes[known] = _codes(pv, np.array([v for v in names if v is not None], dtype=str))
            parent[lv] = codes
        keys = {lv: layer_key(hierarchy.polygons[lv], LAYERS[lv].id_column) for lv in levels}
        # the indexes are kept, used as they are (the cache folder may not be writable)
        return cls(levels, vocab, rank_code, parent, keys, indexes=dict(locators))

    # -- the cache file ----------------------------------------------------------------
    def save(self, path: Path, nearest: Any | None) -> None:
        """Write the chain (and the prepared nearest-polygon data) to ``path`` atomically."""
        import shapely

        arrays: dict[str, np.ndarray] = {}
        for lv in POLYGON_LEVELS:
            arrays[f"vocab_{lv}"] = self.vocab[lv]
        for lv, a in self.rank_code.items():
            arrays[f"rank_{lv}"] = a
        for lv, a in self.parent.items():
            arrays[f"parent_{lv}"] = a
        meta: dict[str, Any] = {
            "version": CHAIN_VERSION,
            "levels": self.levels,
            "index_keys": self.index_keys,
            "nearest": nearest is not None,
        }
        if nearest is not None:
            blobs = list(shapely.to_wkb(nearest.geoms))
            arrays["near_wkb"] = np.frombuffer(b"".join(blobs), dtype=np.uint8)
            arrays["near_start"] = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
            arrays["near_ids"] = np.array(["" if v is None else v for v in nearest.ids], dtype=str)
            arrays["near_none"] = np.array([v is None for v in nearest.ids], dtype=bool)
            meta["epsg"] = nearest.epsg
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, meta=np.array(json.dumps(meta)), **arrays)  # type: ignore[arg-type]
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Chain | None:
        """Read a chain written by :meth:`save` (None when it is not usable)."""
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                if meta.get("version") != CHAIN_VERSION:
                    return None
                levels = list(meta["levels"])
                vocab = {lv: z[f"vocab_{lv}"] for lv in POLYGON_LEVELS}
                rank = {lv: z[f"rank_{lv}"] for lv in levels}
                parent = {
                    lv: z[f"parent_{lv}"] for lv in POLYGON_LEVELS if f"parent_{lv}" in z.files
                }
                has_near = bool(meta.get("nearest"))
        except (OSError, ValueError, KeyError):
            return None  # a damaged or old cache only costs a rebuild
        return cls(
            levels, vocab, rank, parent, dict(meta["index_keys"]), path if has_near else None
        )

    def nearest(self) -> Any | None:
        """The prepared nearest-micro-grid data (loaded on first use)."""
        if self.nearest_data is not None:
            return self.nearest_data
        if self.nearest_file is None:
            return None
        import shapely

        from gridmap.join.nearest import NearestPolygons

        with np.load(self.nearest_file, allow_pickle=False) as z:
            raw = z["near_wkb"].tobytes()
            starts = z["near_start"]
            ids = z["near_ids"].astype(object)
            ids[z["near_none"]] = None
            epsg = int(json.loads(str(z["meta"]))["epsg"])
        blobs = [raw[a:b] for a, b in itertools.pairwise(starts)]
        geoms = shapely.from_wkb(blobs) if blobs else np.empty(0, dtype=object)
        self.nearest_data = NearestPolygons(epsg, np.asarray(geoms, dtype=object), ids)
        return self.nearest_data


def _codes(vocab: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Positions of ``values`` in the sorted ``vocab`` (all present)."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int32)
    pos = np.searchsorted(vocab, values)
    return pos.astype(np.int32)


# ---------------------------------------------------------------------------------------
# the polygon tables' key
# ---------------------------------------------------------------------------------------


_q = gsql._q


def _columns(con: sqlite3.Connection, table: str) -> dict[str, str]:
    return {str(r[1]).lower(): str(r[1]) for r in con.execute(f"PRAGMA table_info({_q(table)})")}


def polygon_key(con: sqlite3.Connection, cat: Mapping[str, gsql.TableInfo]) -> str | None:
    """Hash of the raw rows (id, parent id, geometry) of the polygon layers.

    None when a polygon layer is not a plain WGS84 feature table: the general
    path then reads (and reprojects) it.
    """
    from gridmap.join.index import FORMAT_VERSION, MAX_DEPTH

    h = hashlib.blake2b(digest_size=12)
    h.update(f"chain{CHAIN_VERSION}|index{FORMAT_VERSION}|{MAX_DEPTH}".encode())
    for level in POLYGON_LEVELS:
        info = cat.get(level)
        h.update(f"|{level}:".encode())
        if info is None:
            h.update(b"absent")
            continue
        if info.kind != "features" or not info.registered or info.geometry_column is None:
            return None
        if gsql.srs_definition(con, info.srs_id) != WGS84:
            return None
        cols = _columns(con, info.name)
        spec = LAYERS[level]
        picks = [cols.get(spec.id_column.lower())]
        if spec.parent_id_column is not None:
            picks.append(cols.get(spec.parent_id_column.lower()))
        h.update(repr([info.name, info.geometry_column, *picks]).encode())
        sel = ", ".join(_q(c) if c else "NULL" for c in picks)
        for row in con.execute(
            f"SELECT {sel}, {_q(info.geometry_column)} FROM {_q(info.name)} ORDER BY rowid"
        ):
            *vals, geom = row
            h.update(repr(vals).encode())
            h.update(b"\x00" if geom is None else bytes(geom))
            h.update(b"\x01")
    return h.hexdigest()


# ---------------------------------------------------------------------------------------
# the join on codes
# ---------------------------------------------------------------------------------------


class _Locators:
    """Level -> vocabulary codes of the covering polygon (cell index loaded on first use)."""

    def __init__(self, chain: Chain, cache_dir: Path | None) -> None:
        """``cache_dir``: where the indexes not in ``chain.indexes`` are (None: all are)."""
        self.chain = chain
        self.cache_dir = cache_dir
        self._index: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._warming: threading.Thread | None = None

    def index(self, level: str) -> Any:
        with self._lock:
            if level not in self._index and level in self.chain.indexes:
                self._index[level] = self.chain.indexes[level]
            if level not in self._index:
                from gridmap.join.index import CellIndex

                if self.cache_dir is None:
                    raise KeyError(f"no cell index for {level}")
                key = self.chain.index_keys[level]
                self._index[level] = CellIndex.load(self.cache_dir / f"{level}-{key}.npz")
            return self._index[level]

    def warm_up(self) -> None:
        """Load the finest index and numba's kernels in a thread (overlaps reading points)."""

        def work() -> None:
            with contextlib.suppress(Exception):  # a failure here shows again in the query
                self.index(self.chain.levels[0]).warm_up()

        self._warming = threading.Thread(target=work, name="gridmap-kernels", daemon=True)
        self._warming.start()

    def wait(self) -> None:
        if self._warming is not None:
            self._warming.join()
            self._warming = None

    def __call__(self, level: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if len(x) == 0:
            return np.zeros(0, dtype=np.int32)
        self.wait()  # (numba's first load must not race the query's)
        ranks = self.index(level).query_ranks(x, y)
        out = np.full(len(ranks), -1, dtype=np.int32)
        hit = ranks >= 0
        out[hit] = self.chain.rank_code[level][ranks[hit]]
        return out


def join_codes(
    x: np.ndarray, y: np.ndarray, chain: Chain, locate: Any
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The core join as codes: level -> code per point, and the finest owner's level number.

    The rules of :func:`gridmap.join.core.assign_arrays`, on integers.
    """
    n = len(x)
    codes = {lv: np.full(n, -1, dtype=np.int32) for lv in POLYGON_LEVELS}
    level = np.full(n, -1, dtype=np.int8)
    present = set(chain.levels)
    remaining = np.isfinite(x) & np.isfinite(y)
    for lv in chain.levels:  # finest owner
        if not remaining.any():
            break
        idx = np.flatnonzero(remaining)
        found = locate(lv, x[idx], y[idx])
        hit = found >= 0
        codes[lv][idx[hit]] = found[hit]
        level[idx[hit]] = POLYGON_LEVELS.index(lv)
        remaining[idx[hit]] = False
    # parents by chain; a broken chain falls back to the point's own join
    for i, lv in enumerate(POLYGON_LEVELS[:-1]):
        plv = POLYGON_LEVELS[i + 1]
        have = (codes[lv] >= 0) & (codes[plv] < 0)
        if not have.any():
            continue
        idx = np.flatnonzero(have)
        parent = chain.parent.get(lv)
        vals = parent[codes[lv][idx]] if parent is not None else np.full(len(idx), -1, np.int32)
        codes[plv][idx] = vals
        broken = idx[vals < 0]
        if len(broken) and plv in present:
            codes[plv][broken] = locate(plv, x[broken], y[broken])
    # a chain broken below a level: points owned at a finer level are joined directly
    owned_finer = np.zeros(n, dtype=bool)
    for i, lv in enumerate(POLYGON_LEVELS[:-1]):
        owned_finer |= level == i
        plv = POLYGON_LEVELS[i + 1]
        if plv not in present:
            continue
        orphan = owned_finer & (codes[plv] < 0) & (codes[lv] < 0)
        if orphan.any():
            idx = np.flatnonzero(orphan)
            codes[plv][idx] = locate(plv, x[idx], y[idx])
    return codes, level


def _coded_result(
    codes: Mapping[str, np.ndarray],
    level: np.ndarray,
    chain: Chain,
    near_id: np.ndarray,
    near_m: np.ndarray,
    outside: np.ndarray,
) -> gsql.CodedColumns:
    """The seven result columns as one code per point and the distinct rows."""
    n = len(level)
    cols = [*(codes[lv] for lv in POLYGON_LEVELS), level]
    radix = [int(a.max(initial=-1)) + 2 for a in cols]  # values -1..max shifted to 0..max+1
    key = np.zeros(n, dtype=np.int64)
    if float(np.prod(radix, dtype=float)) < 2.0**62:  # one mixed-radix key (the usual case)
        for arr, r in zip(cols, radix, strict=True):
            key = key * r + (arr.astype(np.int64) + 1)
    else:  # huge vocabularies: re-factorise after each column so the key never overflows
        for arr, r in zip(cols, radix, strict=True):
            key = key * r + (arr.astype(np.int64) + 1)
            _, key = np.unique(key, return_inverse=True)
            key = key.astype(np.int64)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    inverse = inverse.astype(np.int64)
    columns = []
    for lv in POLYGON_LEVELS:
        c = codes[lv][first]
        names = np.full(len(c), None, dtype=object)
        names[c >= 0] = chain.vocab[lv][c[c >= 0]].astype(object)
        columns.append(names.tolist())
    lvl = np.array([None, *POLYGON_LEVELS], dtype=object)[level[first].astype(np.int64) + 1]
    none = [None] * len(first)
    rows: list[tuple[Any, ...]] = list(zip(*columns, lvl.tolist(), none, none, strict=True))
    out_idx = np.flatnonzero(outside)
    if len(out_idx):  # each point outside every micro-grid has its own nearest/distance
        base = len(rows)
        dist = [None if not np.isfinite(d) else float(d) for d in near_m[out_idx]]
        for j, (i, nid, d) in enumerate(zip(out_idx, near_id[out_idx], dist, strict=True)):
            rows.append((*rows[inverse[i]][:5], nid, d))
            inverse[i] = base + j
    kinds = ("text",) * 6 + ("real",)
    return gsql.CodedColumns(tuple(RESULT_COLUMNS), kinds, inverse, rows)


# ---------------------------------------------------------------------------------------
# the whole command
# ---------------------------------------------------------------------------------------


def _point_xy(buf: bytes, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x/y of each feature (a point on the surface for polygons), NaN without geometry."""
    x, y, other = gsql.blobs_to_xy(buf, lengths)
    if other.any():  # parking lots drawn as polygons, damaged blobs
        import shapely

        ends = np.cumsum(lengths)
        starts = ends - lengths
        idx = np.flatnonzero(other)
        wkb = [gsql.gpkg_blob_to_wkb(buf[int(starts[i]) : int(ends[i])]) for i in idx]
        geoms = np.empty(len(idx), dtype=object)
        for j, w in enumerate(wkb):
            try:
                geoms[j] = None if w is None else shapely.from_wkb(w)
            except Exception:
                geoms[j] = None
        from gridmap.join.core import geometry_xy  # the general path's rule, one source

        x[idx], y[idx] = geometry_xy(geoms)
    return x, y


def _ids_at(
    con: sqlite3.Connection, info: gsql.TableInfo, fids: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """The normalised ids of some rows of a point layer (row numbers where it has no id column)."""
    from gridmap.policy.ids import normalise_id

    if len(rows) == 0:
        return np.empty(0, dtype=object)
    col = _columns(con, info.name).get(LAYERS[info.name].id_column.lower())
    if col is None:
        return np.array([str(int(r)) for r in rows], dtype=object)
    fid = gsql.fid_column(con, info.name)
    want = fids[rows]
    found: dict[int, Any] = {}
    for k in range(0, len(want), 50_000):
        part = want[k : k + 50_000]
        con.execute("DROP TABLE IF EXISTS temp._gm_want")
        con.execute("CREATE TEMP TABLE _gm_want (fid INTEGER PRIMARY KEY)")
        con.executemany("INSERT INTO temp._gm_want VALUES (?)", ((int(f),) for f in part))
        found.update(
            con.execute(
                f"SELECT {_q(fid)}, {_q(col)} FROM {_q(info.name)} "
                f"WHERE {_q(fid)} IN (SELECT fid FROM temp._gm_want)"
            ).fetchall()
        )
    con.execute("DROP TABLE IF EXISTS temp._gm_want")
    out = np.empty(len(rows), dtype=object)
    for j, f in enumerate(want):
        v = normalise_id(found.get(int(f)))
        out[j] = "None" if v is None else v  # (the general path shows a missing id so)
    return out


def _point_count(
    con: sqlite3.Connection, cat: Mapping[str, gsql.TableInfo], names: Sequence[str]
) -> int:
    """About how many points the layers hold (fid range: no table scan)."""
    total = 0
    for name in names:
        fid = gsql.fid_column(con, cat[name].name)
        edges = gsql.fid_range(con, cat[name].name, fid)
        if edges is not None:
            total += edges[1] - edges[0] + 1
    return total


def _load_chain(path: Path, cache_dir: Path, key: str) -> Chain:
    """The cached chain of ``key``, or build it with the general code (and cache it)."""
    target = cache_dir / f"chain-{key}.npz"
    chain = Chain.load(target) if target.exists() else None
    if chain is not None and all(
        (cache_dir / f"{lv}-{chain.index_keys[lv]}.npz").exists() for lv in chain.levels
    ):
        return chain
    from gridmap.join.core import build_hierarchy
    from gridmap.join.index import locators_for
    from gridmap.join.nearest import NearestPolygons
    from gridmap.workspace.store import load_workspace

    cols: dict[str, Sequence[str] | None] = {
        lv: [LAYERS[lv].id_column]
        + ([str(LAYERS[lv].parent_id_column)] if LAYERS[lv].parent else [])
        for lv in POLYGON_LEVELS
    }
    ws = load_workspace(path, list(POLYGON_LEVELS), columns=cols)
    hierarchy = build_hierarchy(ws.layers)
    locators = locators_for(hierarchy, cache_dir=cache_dir)
    chain = Chain.from_hierarchy(hierarchy, locators)
    near = None
    if "microgrids" in hierarchy.polygons:
        near = NearestPolygons.from_frame(hierarchy.polygons["microgrids"], "microgrid_id")
    chain.nearest_data = near
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        for old in cache_dir.glob("chain-*.npz"):
            old.unlink(missing_ok=True)
        chain.save(target, near)
    except OSError:  # a read-only folder: the next run builds the chain again
        pass
    return chain


def join_hierarchy_codes(
    x: np.ndarray,
    y: np.ndarray,
    hierarchy: Any,
    locators: Mapping[str, Any],
    chain: Chain | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray, Chain]:
    """:func:`join_codes` for a hierarchy and its cell indexes already in memory.

    Returns the codes per level, the finest owner's level number and the chain
    (``chain.vocab[level][code]`` is the id); pass that chain back to join
    another point layer without deriving it again.
    """
    if chain is None:
        chain = Chain.from_hierarchy(hierarchy, locators)
    locate = _Locators(chain, None)
    codes, level = join_codes(np.asarray(x, float), np.asarray(y, float), chain, locate)
    return codes, level, chain


@dataclass
class CodedJoin:
    """A workspace's polygon chain and cell indexes, ready to join points as codes.

    Made by :func:`coded_join_for` from the GeoPackage's own tables (the
    cached chain of ``gridmap assign``), without reading the polygon layers.
    (Loading numba in a thread meanwhile, as the in-place assign does, was
    tried for coverage: it competed with the layer reads and gained nothing.)
    """

    chain: Chain
    locate: _Locators
    #: (size, mtime) of the workspace file when the chain was read
    signature: tuple[int, int]

    def join(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        """Layer -> code per point into ``chain.vocab[layer]`` (-1: none), the core join's rules."""
        codes, _ = join_codes(np.asarray(x, float), np.asarray(y, float), self.chain, self.locate)
        return codes


def coded_join_for(path: Path, layer: str, min_points: int = 0) -> CodedJoin | None:
    """The coded join of a workspace's polygons, for a point layer of at least ``min_points``.

    None where the in-place rules do not apply (a polygon or the point layer
    not a WGS84 feature table, no polygons, fewer points): the caller then
    joins GeoDataFrames with :func:`gridmap.join.core.assign_points`.
    """
    from gridmap.join.index import cache_dir_for
    from gridmap.workspace.store import file_signature

    gsql.recover_journal(path)
    signature = file_signature(path)
    try:
        con = sqlite3.connect(gsql._uri(path, "ro"), uri=True)
    except sqlite3.Error:
        return None
    try:
        try:
            cat = gsql.catalog(con)
        except sqlite3.DatabaseError:
            return None
        info = cat.get(layer)
        if info is None or info.kind != "features" or not info.registered:
            return None
        if gsql.srs_definition(con, info.srs_id) != WGS84:
            return None
        if min_points and _point_count(con, cat, [layer]) < min_points:
            return None
        key = polygon_key(con, cat)
    finally:
        con.close()
    if key is None:
        return None
    cache_dir = cache_dir_for(path)
    chain = _load_chain(path, cache_dir, key)
    if not chain.levels:
        return None
    return CodedJoin(chain, _Locators(chain, cache_dir), signature)


def assign_in_place(path: Path, layers: Sequence[str] | None = None) -> AssignResult | None:
    """Assign every point layer of ``path`` in place (the caller holds the writer lock).

    Returns None when this path does not apply (see the module docstring);
    nothing has been written then.
    """
    from gridmap.join.index import cache_dir_for

    gsql.recover_journal(path)
    con = sqlite3.connect(gsql._uri(path, "ro"), uri=True)
    try:
        try:
            cat = gsql.catalog(con)
        except sqlite3.DatabaseError:
            return None  # the general path says what is wrong with the file
        if not any(lv in cat for lv in POLYGON_LEVELS):
            return None
        names = [n for n in (layers or POINT_LAYERS) if n in cat]
        for name in names:
            info = cat[name]
            if info.kind != "features" or not info.registered or info.geometry_column is None:
                return None
            if gsql.srs_definition(con, info.srs_id) != WGS84:
                return None
        key = polygon_key(con, cat)
        if key is None:
            return None
        cache_dir = cache_dir_for(path)
        chain = _load_chain(path, cache_dir, key)
        if not chain.levels:
            return None  # no polygons at all: the general path raises the error
        locate = _Locators(chain, cache_dir)
        from gridmap.join.index import SMALL_BATCH

        if _point_count(con, cat, names) >= SMALL_BATCH:
            locate.warm_up()  # numba loads while the points are read
        updates: dict[str, tuple[np.ndarray, gsql.CodedColumns]] = {}
        summaries: dict[str, LayerAssignment] = {}
        for name in names:
            info = cat[name]
            try:
                fids, buf, lengths = gsql.read_blobs(con, info.name, str(info.geometry_column))
            except gsql.NeedsRewrite:
                return None
            x, y = _point_xy(buf, lengths)
            del buf
            codes, level = join_codes(x, y, chain, locate)
            finite = np.isfinite(x) & np.isfinite(y)
            outside = level != 0  # not in a micro-grid (the finest level is number 0)
            near_id = np.full(len(x), None, dtype=object)
            near_m = np.full(len(x), np.nan)
            need = outside & finite
            if need.any() and "microgrids" in chain.levels:
                nearest = chain.nearest()
                if nearest is not None:
                    near_id[need], near_m[need] = nearest.query(x[need], y[need])
            updates[name] = (fids, _coded_result(codes, level, chain, near_id, near_m, outside))
            by_level = {
                lv: int(np.count_nonzero(level == i)) for i, lv in enumerate(POLYGON_LEVELS)
            }
            by_level["none"] = int(np.count_nonzero(level < 0))
            out_rows = np.flatnonzero(outside)
            no_geom_rows = np.flatnonzero(~finite)
            ids = _ids_at(con, info, fids, np.union1d(out_rows, no_geom_rows))
            lookup = dict(zip(np.union1d(out_rows, no_geom_rows).tolist(), ids, strict=True))
            lvl_names = np.array([None, *POLYGON_LEVELS], dtype=object)
            summaries[name] = LayerAssignment(
                name,
                len(x),
                by_level,
                [str(lookup[int(r)]) for r in no_geom_rows],
                unassigned_ids=np.array([lookup[int(r)] for r in out_rows], dtype=object),
                unassigned_levels=lvl_names[level[out_rows].astype(np.int64) + 1],
                nearest_ids=near_id[out_rows],
                nearest_m=near_m[out_rows],
            )
    finally:
        con.close()
    from gridmap.workspace.files import remove_stale_temp_files

    remove_stale_temp_files(path)  # copies left by killed writers (the lock is held)
    try:
        gsql.update_columns(path, updates)
    except gsql.NeedsRewrite:
        return None  # nothing was written (one transaction): the general path rewrites the layer
    except (sqlite3.DatabaseError, OSError) as exc:
        from gridmap.workspace.files import column_update_error

        err = column_update_error(exc, path)
        if err is exc:
            raise
        raise err from exc

    def frames() -> dict[str, Any]:
        from gridmap.workspace.store import read_layer

        return {name: read_layer(path, name) for name in names}

    return AssignResult(workspace=path, written_to=path, layers=summaries, _load_frames=frames)
