"""The GeoPackage as the SQLite database it is: catalogue, in-place column updates.

A GeoPackage is one SQLite file. :func:`catalog` lists its feature layers from
``gpkg_geometry_columns`` (so a table that QGIS added -- ``layer_styles`` --, a
view, a trigger or a damaged ``gpkg_contents`` neither hides a layer nor shows
up as one). :func:`update_columns` writes a few columns of one or more layers
inside a single SQLite transaction -- ``ALTER TABLE ... ADD COLUMN`` where a
column is new, then one ``UPDATE ... FROM`` a temporary table keyed by fid --
instead of rewriting every geometry into a copy of the file. SQLite's rollback
journal makes the transaction atomic: a writer killed at any moment leaves the
old content (the journal is rolled back by the next read-write open, see
:func:`recover_journal`) or the new one.

Fault injection for the crash tests: ``$GRIDMAP_CRASH_AT`` names a step at
which the writer kills itself with SIGKILL (see :func:`crash_point`).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sqlite3
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import numpy as np

from gridmap.errors import WorkspaceError
from gridmap.policy.jsonsafe import is_pandas_missing

if TYPE_CHECKING:
    import pandas as pd

#: Environment variable naming the write step at which a writer kills itself
#: (crash tests only). Steps: ``temp-partial``, ``temp-complete``, ``replaced``
#: (copy-and-rename writes), ``update-mid``, ``update-committed`` (in-place).
CRASH_ENV = "GRIDMAP_CRASH_AT"
CRASH_STEPS = ("temp-partial", "temp-complete", "replaced", "update-mid", "update-committed")


def crash_point(step: str) -> None:
    """Kill this process with SIGKILL when ``$GRIDMAP_CRASH_AT`` names ``step``.

    Used by the crash tests to stop a writer at an exact point instead of at a
    random moment. Does nothing unless the variable is set.
    """
    if os.environ.get(CRASH_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True)
class TableInfo:
    """One user table of a GeoPackage as gridmap sees it."""

    name: str
    #: "features" (has a geometry column) or "attributes" (registered, no geometry)
    kind: str
    geometry_column: str | None = None
    srs_id: int | None = None
    #: registered in gpkg_contents (GDAL only reads registered layers as layers)
    registered: bool = True


def _uri(path: str | os.PathLike, mode: str) -> str:
    return f"file:{quote(str(Path(path).resolve()))}?mode={mode}"


def connect_ro(path: str | os.PathLike) -> sqlite3.Connection:
    """A read-only SQLite connection (after rolling back a crashed writer's journal)."""
    recover_journal(path)
    return sqlite3.connect(_uri(path, "ro"), uri=True)


def recover_journal(path: str | os.PathLike) -> bool:
    """Roll back the journal a killed writer left next to ``path``, if there is one.

    SQLite rolls a *hot* journal back on the first read-write open; a
    read-only reader (GDAL's read mode, ``ogrinfo``) cannot and fails with
    "attempt to write a readonly database". Opening read-write for one read is
    enough, and is harmless when the journal is not hot (a live writer holds its
    lock: SQLite then leaves it alone). Returns True when a journal was found.
    """
    journal = Path(str(path) + "-journal")
    try:
        if journal.stat().st_size == 0:
            return False
    except OSError:
        return False
    try:
        con = sqlite3.connect(_uri(path, "rw"), uri=True, timeout=30)
        try:
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise WorkspaceError(
            "a gridmap command was stopped while it wrote this workspace and left "
            f"'{journal.name}' next to it; SQLite needs write access once to roll the "
            f"unfinished change back ({exc}). Run any gridmap command on it as a user "
            "who may write the file and its folder.",
            file=str(path),
        ) from exc
    return True


def catalog(con: sqlite3.Connection) -> dict[str, TableInfo]:
    """Layers of an open GeoPackage: feature tables, then registered attribute tables.

    A feature layer is a real table listed in ``gpkg_geometry_columns``, whether
    or not ``gpkg_contents`` still registers it. Views, and tables nobody
    registered (``layer_styles`` written by hand, ``create table audit(x)``) are
    not layers; registered attribute tables are returned with kind
    ``"attributes"``.
    """
    tables = {
        str(r[0]).lower(): str(r[0])
        for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    if "gpkg_geometry_columns" not in tables or "gpkg_contents" not in tables:
        raise sqlite3.DatabaseError("no gpkg_geometry_columns/gpkg_contents: not a GeoPackage")
    contents = [
        (str(r[0]), str(r[1] or ""))
        for r in con.execute("SELECT table_name, data_type FROM gpkg_contents ORDER BY rowid")
    ]
    registered = {name.lower() for name, _ in contents}
    geom: dict = {}
    for t, c, srs in con.execute(
        "SELECT table_name, column_name, srs_id FROM gpkg_geometry_columns ORDER BY rowid"
    ):
        geom.setdefault(str(t).lower(), (str(c), None if srs is None else int(srs)))
    out: dict[str, TableInfo] = {}
    order = [name for name, _ in contents] + [tables.get(t, t) for t in geom if t not in registered]
    kinds = {name.lower(): kind for name, kind in contents}
    for name in order:
        key = name.lower()
        if key not in tables or tables[key] in out:
            continue  # registered but missing, or a view
        real = tables[key]
        if key in geom:
            col, srs = geom[key]
            out[real] = TableInfo(real, "features", col, srs, key in registered)
        elif kinds.get(key) == "attributes":
            out[real] = TableInfo(real, "attributes", None, None, True)
    return out


def srs_definition(con: sqlite3.Connection, srs_id: int | None) -> str | None:
    """The CRS of ``srs_id`` as an authority code or WKT (None when unknown)."""
    if srs_id is None:
        return None
    row = con.execute(
        "SELECT organization, organization_coordsys_id, definition FROM gpkg_spatial_ref_sys "
        "WHERE srs_id = ?",
        (srs_id,),
    ).fetchone()
    if row is None:
        return None
    org, code, definition = row
    if org and str(org).upper() == "EPSG" and code:
        return f"EPSG:{int(code)}"
    if definition and str(definition).strip().lower() not in ("", "undefined"):
        return str(definition)
    return None


_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


def gpkg_blob_to_wkb(blob: bytes | None) -> bytes | None:
    """The WKB inside a GeoPackage geometry blob (None for null or empty)."""
    if blob is None or len(blob) < 8 or blob[:2] != b"GP":
        return None
    flags = blob[3]
    if flags & 0x10:
        return None
    return bytes(blob[8 + _ENVELOPE_BYTES.get((flags >> 1) & 7, 0) :])


def blobs_to_xy(buf: bytes, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x and y of concatenated GeoPackage point blobs, without decoding them one by one.

    Parameters
    ----------
    buf
        The blobs one after the other.
    lengths
        Length of each blob in ``buf`` (0 for a null geometry).

    Returns
    -------
    x, y, other
        Float arrays (NaN for a null or empty geometry) and a boolean array
        marking the blobs that are not plain points (a polygon, an extended or
        damaged blob): their x/y are NaN here and the caller decodes them.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    n = len(lengths)
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    other = np.zeros(n, dtype=bool)
    if n == 0 or not len(buf):
        return x, y, other
    data = np.frombuffer(buf, dtype=np.uint8)
    if _fixed_points(data, lengths, x, y):
        return x, y, other
    ends = np.cumsum(lengths)
    start = ends - lengths
    idx = np.flatnonzero(lengths > 0)
    start, size = start[idx], lengths[idx]
    short = size < 8
    other[idx[short]] = True  # not a GeoPackage blob: the caller decides
    idx, start, size = idx[~short], start[~short], size[~short]
    magic = (data[start] == ord("G")) & (data[start + 1] == ord("P"))
    flags = data[start + 3]
    table = np.array([_ENVELOPE_BYTES.get(k, -1) for k in range(8)], dtype=np.int64)
    env = table[(flags >> 1) & 7]
    empty = (flags & 0x10) != 0
    extended = (flags & 0x20) != 0
    ok = magic & (env >= 0) & ~extended
    other[idx[~ok]] = True
    wkb = start + 8 + np.maximum(env, 0)
    cand = ok & ~empty & (size >= (wkb - start) + 21)  # byte order, type, x, y
    other[idx[ok & ~empty & ~cand]] = True  # (an empty geometry has no position: NaN)
    sel = np.flatnonzero(cand)
    if len(sel):
        w = wkb[sel]
        order = data[w]
        little = order == 1
        tb = np.ascontiguousarray(data[w[:, None] + np.arange(1, 5)])
        t = np.where(little, tb.view("<u4").ravel(), tb.view(">u4").ravel()).astype(np.int64)
        # a Point: ISO 1/1001/2001/3001 or EWKB Z/M flags (an EWKB SRID would shift x)
        is_point = ((t & 0x0FFFFFFF) % 1000 == 1) & ((t & 0x20000000) == 0) & (order <= 1)
        xb = np.ascontiguousarray(data[w[:, None] + np.arange(5, 13)])
        yb = np.ascontiguousarray(data[w[:, None] + np.arange(13, 21)])
        xs = np.where(little, xb.view("<f8").ravel(), xb.view(">f8").ravel())
        ys = np.where(little, yb.view("<f8").ravel(), yb.view(">f8").ravel())
        rows = idx[sel]
        x[rows[is_point]] = xs[is_point]
        y[rows[is_point]] = ys[is_point]
        other[rows[~is_point]] = True
    return x, y, other


def _fixed_points(data: np.ndarray, lengths: np.ndarray, x: np.ndarray, y: np.ndarray) -> bool:
    """The usual layer (every blob a little-endian 2-D point of one layout) at array speed."""
    n, size = len(lengths), int(lengths[0])
    if size < 29 or not (lengths == size).all() or len(data) != n * size:
        return False
    rows = data.reshape(n, size)
    flags = rows[:, 3]
    if not (flags == flags[0]).all() or (flags[0] & 0x31) != 0x01:  # LE header, not empty
        return False
    env = _ENVELOPE_BYTES.get((int(flags[0]) >> 1) & 7)
    if env is None or size != 8 + env + 21 or not (rows[:, :2] == (71, 80)).all():
        return False
    xy = _wkb_point_rows(rows[:, 8 + env :])
    if xy is None:
        return False
    x[:], y[:] = xy
    return True


def _wkb_point_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """x/y of an (n, 21) byte matrix of little-endian 2-D WKB points; None if one is not."""
    if rows.shape[1] != 21 or not (rows[:, 0] == 1).all():
        return None
    t = np.ascontiguousarray(rows[:, 1:5]).view("<u4").ravel()
    if not (t == 1).all():
        return None
    x = np.ascontiguousarray(rows[:, 5:13]).view("<f8").ravel()
    y = np.ascontiguousarray(rows[:, 13:21]).view("<f8").ravel()
    return x, y


def wkb_points_xy(wkb: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """x/y of a column of WKB points (an Arrow binary array, as GDAL's Arrow reader gives).

    Returns ``(x, y, missing)`` -- NaN x/y where the geometry is null (``missing``)
    and, as GEOS reads it, where it is ``POINT EMPTY`` (both NaN) -- when every
    value is a null or a little-endian 2-D WKB point; None otherwise (a polygon, a
    3-D point, big-endian WKB): the caller then decodes the column with shapely.
    """
    import pyarrow as pa

    arr = wkb.combine_chunks() if isinstance(wkb, pa.ChunkedArray) else wkb
    if not (pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type)):
        arr = arr.storage if isinstance(arr, pa.ExtensionArray) else arr
    if not (pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type)):
        return None
    n = len(arr)
    missing = arr.is_null().to_numpy(zero_copy_only=False)
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    if n == 0 or missing.all():
        return x, y, missing
    width = "<i8" if pa.types.is_large_binary(arr.type) else "<i4"
    _, offsets, data = arr.buffers()[:3]
    offsets = np.frombuffer(offsets, dtype=width)[arr.offset : arr.offset + n + 1]
    sizes = np.diff(offsets)
    present = ~missing
    if not (sizes[present] == 21).all():
        return None
    body = np.frombuffer(data, dtype=np.uint8)
    starts = offsets[:-1][present].astype(np.int64)
    if present.all() and len(starts) and int(offsets[-1] - offsets[0]) == 21 * n:
        rows = body[int(offsets[0]) : int(offsets[-1])].reshape(n, 21)
    else:
        rows = body[starts[:, None] + np.arange(21)]
    xy = _wkb_point_rows(rows)
    if xy is None:
        return None
    x[present], y[present] = xy
    return x, y, missing


#: Rows per query when a layer's blobs are read in one piece (keeps each piece far
#: below SQLite's 1 GB limit on one value).
_CONCAT_ROWS = 2_000_000


def read_blobs(
    con: sqlite3.Connection, table: str, column: str
) -> tuple[np.ndarray, bytes, np.ndarray]:
    """The fids and the blobs of one column of a table, in fid order, concatenated.

    SQLite concatenates the blobs itself (``group_concat``, in pieces of
    :data:`_CONCAT_ROWS` rows), which is several times faster than fetching
    a million rows one by one; the lengths say where each blob ends (0 for NULL).

    Returns
    -------
    fids, buf, lengths
    """
    fid = fid_column(con, table)
    q, c, f = _q(table), _q(column), _q(fid)
    lo_hi = fid_range(con, table, fid)
    if lo_hi is None:
        return np.empty(0, np.int64), b"", np.empty(0, np.int64)
    utf8 = str(con.execute("PRAGMA encoding").fetchone()[0]).upper() == "UTF-8"
    fids_parts, bufs, len_parts = [], [], []
    old = con.text_factory
    con.text_factory = bytes  # the concatenated blobs come back as raw bytes
    try:
        lo, top = int(lo_hi[0]), int(lo_hi[1])
        while lo <= top:
            args = (lo, lo + _CONCAT_ROWS - 1)
            lo += _CONCAT_ROWS
            where = f"FROM {q} WHERE {f} BETWEEN ? AND ?"
            part = fid_range(con, table, fid, *args)
            if part is None:
                continue
            first, last = part
            # (a scan of a rowid range visits the rows in fid order)
            blob, lmin, lmax = con.execute(
                "SELECT "
                + (f"group_concat({c}, ''), " if utf8 else "NULL, ")
                + f"min(length({c})), max(length({c})) {where}",
                args,
            ).fetchone()
            n = last - first + 1
            if lmin is not None and lmin == lmax and blob is not None and len(blob) == n * lmin:
                # the usual layer: blobs of one size fill every fid of the range, so
                # there are no gaps and no NULLs
                part_f = np.arange(first, last + 1, dtype=np.int64)
                part_l = np.full(n, int(lmin), dtype=np.int64)
            else:
                rows = con.execute(
                    f"SELECT {f}, coalesce(length({c}), 0) {where} ORDER BY {f}", args
                ).fetchall()
                part_f = np.array([r[0] for r in rows], dtype=np.int64)
                part_l = np.array([r[1] for r in rows], dtype=np.int64)
            if blob is None or len(blob) != int(part_l.sum()):
                # not UTF-8 (group_concat would transcode) or not byte-exact: row by row
                vals = con.execute(f"SELECT {c} {where} ORDER BY {f}", args).fetchall()
                blob = b"".join(v[0] for v in vals if isinstance(v[0], bytes))
            fids_parts.append(part_f)
            len_parts.append(part_l)
            bufs.append(blob)
    finally:
        con.text_factory = old
    if not fids_parts:
        return np.empty(0, np.int64), b"", np.empty(0, np.int64)
    return np.concatenate(fids_parts), b"".join(bufs), np.concatenate(len_parts)


def _st_is_empty(blob):
    if blob is None:
        return None
    if len(blob) < 8 or blob[:2] != b"GP":
        return 0
    return 1 if blob[3] & 0x10 else 0


def _bounds(blob):
    if blob is None or len(blob) < 8 or blob[:2] != b"GP" or blob[3] & 0x10:
        return None
    flags = blob[3]
    env = (flags >> 1) & 7
    if env:
        order = "<" if flags & 1 else ">"
        minx, maxx, miny, maxy = struct.unpack(order + "4d", blob[8:40])
        return minx, miny, maxx, maxy
    import shapely

    g = shapely.from_wkb(gpkg_blob_to_wkb(blob))
    return None if g is None or g.is_empty else g.bounds


def register_gpkg_functions(con: sqlite3.Connection) -> None:
    """Register the ``ST_*`` functions GDAL's R-tree triggers call.

    GDAL creates triggers such as ``rtree_<t>_<geom>_update5`` that mention
    ``ST_IsEmpty`` and ``ST_MinX``; plain SQLite cannot even prepare an UPDATE
    on the table without them. They are only evaluated when a geometry or a fid
    changes, which :func:`update_columns` never does.
    """
    con.create_function("ST_IsEmpty", 1, _st_is_empty, deterministic=True)
    for i, name in enumerate(("ST_MinX", "ST_MinY", "ST_MaxX", "ST_MaxY")):

        def f(blob, i=i):
            b = _bounds(blob)
            return None if b is None else b[i]

        con.create_function(name, 1, f, deterministic=True)


def _q(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _sql_kind(declared: str) -> str:
    t = (declared or "").upper()
    if "INT" in t or t == "BOOLEAN":
        return "integer"
    if any(k in t for k in ("REAL", "FLOA", "DOUB")):
        return "real"
    if any(k in t for k in ("TEXT", "CHAR", "CLOB")):
        return "text"
    return "other"


def _value_kind(s: pd.Series) -> str:
    import pandas as pd

    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_integer_dtype(s):
        return "integer"
    if pd.api.types.is_float_dtype(s):
        return "real"
    return "text"


@dataclass(frozen=True)
class CodedColumns:
    """Column values given as one code per feature and the distinct rows.

    The join produces few distinct value rows (one per owner chain): passing
    them coded spares the writer from factorising millions of values again.

    Attributes
    ----------
    columns
        Column names, in the order of each row.
    kinds
        ``"text"``, ``"real"`` or ``"integer"`` per column (the SQL type used
        when the column is created).
    codes
        One int per feature: the position of its row in ``rows``.
    rows
        The distinct value rows (Python str/int/float/None).
    """

    columns: tuple[str, ...]
    kinds: tuple[str, ...]
    codes: np.ndarray
    rows: list[tuple[Any, ...]]


class NeedsRewrite(Exception):
    """The columns cannot be updated in place (the caller rewrites the layer)."""


def _fixed_width_json(values: np.ndarray) -> str:
    """A JSON array of non-negative ints, built without a Python loop per value."""
    v = np.asarray(values, dtype=np.int64)
    if len(v) == 0:
        return "[]"
    width = max(1, len(str(int(v.max()))))
    digits = np.full((len(v), width + 1), ord(" "), dtype=np.uint8)
    rest = v.copy()
    for pos in range(width - 1, -1, -1):
        d = (rest % 10).astype(np.uint8) + ord("0")
        # leading zeros become spaces (JSON forbids them; whitespace is allowed)
        lead = (rest == 0) & (np.arange(width)[pos] != width - 1)
        digits[:, pos] = np.where(lead, ord(" "), d)
        rest //= 10
    digits[:, width] = ord(",")
    body = digits.tobytes()[:-1].decode("ascii")
    return "[" + body + "]"


@contextlib.contextmanager
def write_connection(path: str | os.PathLike) -> Iterator[sqlite3.Connection]:
    """A read-write connection in autocommit mode with GDAL's trigger functions."""
    recover_journal(path)
    con = sqlite3.connect(_uri(path, "rw"), uri=True, isolation_level=None, timeout=30)
    try:
        register_gpkg_functions(con)
        if os.environ.get(CRASH_ENV):
            # crash tests: a tiny page cache makes SQLite spill changed pages into the
            # file before the commit, so a kill mid-transaction really needs the journal
            con.execute("PRAGMA cache_size = -64")
        else:
            con.execute("PRAGMA cache_size = -65536")  # 64 MiB
        yield con
    finally:
        con.close()


def update_columns(
    path: str | os.PathLike,
    updates: Mapping[str, tuple[np.ndarray, pd.DataFrame | CodedColumns]],
    *,
    drop: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, int]:
    """Set columns of GeoPackage layers in place, all layers in one transaction.

    Parameters
    ----------
    path
        The GeoPackage (the caller holds the workspace's writer lock).
    updates
        Layer name -> (fids, values): ``values`` (a DataFrame, or
        :class:`CodedColumns`) has one row per fid, its columns are created when missing (TEXT for strings, REAL for floats,
        INTEGER for integers and booleans) and overwritten where present.
        Only rows whose values differ are rewritten.
    drop
        Layer name -> columns that ``values`` does not set and that must not
        keep an old value: they are set to NULL.

    Returns
    -------
    dict
        Layer name -> number of rows whose values changed.

    Raises
    ------
    NeedsRewrite
        When an existing column of the same name has an incompatible type and
        cannot be dropped (an index, view or trigger uses it): the caller falls
        back to rewriting the layer.
    """
    changed: dict[str, int] = {}
    with write_connection(path) as con:
        con.execute("BEGIN IMMEDIATE")
        try:
            cat = catalog(con)
            for n, (layer, (fids, values)) in enumerate(updates.items()):
                info = cat.get(layer)
                if info is None:
                    raise WorkspaceError("the layer is not in the workspace", layer=layer)
                coded = values if isinstance(values, CodedColumns) else _coded(values)
                nulls = [c for c in (drop or {}).get(layer, ()) if c not in coded.columns]
                changed[layer] = _update_layer(con, info, np.asarray(fids), coded, nulls)
                if n == 0:
                    crash_point("update-mid")
            con.execute(
                "UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
                f"WHERE lower(table_name) IN ({','.join('?' * len(updates))})",
                [str(k).lower() for k in updates],
            )
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                con.execute("ROLLBACK")
            raise
        crash_point("update-committed")
    return changed


def _update_layer(
    con: sqlite3.Connection,
    info: TableInfo,
    fids: np.ndarray,
    values: CodedColumns,
    nulls: Sequence[str],
) -> int:
    table = info.name
    existing = {
        str(r[1]).lower(): (str(r[1]), str(r[2] or ""))
        for r in con.execute(f"PRAGMA table_info({_q(table)})")
    }
    cols = list(values.columns)
    for col, want in zip(cols, values.kinds, strict=True):
        have = existing.get(str(col).lower())
        if have is not None and have[0] != col:
            raise NeedsRewrite(f"column {have[0]} differs from {col} in case only")
        if have is not None and _sql_kind(have[1]) not in (want, "other"):
            try:
                con.execute(f"ALTER TABLE {_q(table)} DROP COLUMN {_q(col)}")
            except sqlite3.OperationalError as exc:
                raise NeedsRewrite(str(exc)) from exc
            have = None
        if have is None:
            decl = {"integer": "INTEGER", "real": "REAL", "text": "TEXT"}[want]
            con.execute(f"ALTER TABLE {_q(table)} ADD COLUMN {_q(col)} {decl}")
    nulls = [existing[c.lower()][0] for c in nulls if c.lower() in existing]
    if len(fids) == 0:
        return 0
    # distinct value rows (few: one per owner chain) and, per feature, the row's code
    codes, distinct = values.codes, values.rows
    fid_col = fid_column(con, table)
    with _idle_fid_triggers(con, table, fid_col):
        runs = _runs(np.asarray(fids, dtype=np.int64), np.asarray(codes, dtype=np.int64))
        if runs is not None:
            return _update_runs(con, table, fid_col, cols, nulls, distinct, *runs)
        return _update_joined(con, table, fid_col, cols, nulls, fids, codes, distinct)


@contextlib.contextmanager
def _idle_fid_triggers(con: sqlite3.Connection, table: str, fid_col: str) -> Iterator[None]:
    """Set aside, for the caller's UPDATE, the R-tree triggers that only act when a fid changes.

    GDAL's ``rtree_<t>_<g>_update4/5`` triggers are ``AFTER UPDATE ON`` the
    whole table with ``WHEN OLD.fid != NEW.fid``: an update of other columns never
    satisfies them, yet SQLite still runs their test on every row (about a third
    of the cost of a million-row update). They are dropped and created again
    from their own SQL inside the caller's transaction, so a crash leaves them as
    they were. Any other trigger (a user's audit trigger) is left to fire.
    """
    f = re.escape(fid_col)
    pattern = re.compile(
        r"\bAFTER\s+UPDATE\s+ON\s+[\"`\[]?" + re.escape(table) + r"[\"`\]]?\s+WHEN\s+"
        r"OLD\.[\"`\[]?" + f + r"[\"`\]]?\s*!=\s*NEW\.[\"`\[]?" + f + r"[\"`\]]?\s+AND\s",
        re.IGNORECASE,
    )
    rows = con.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? "
        "AND name LIKE 'rtree\\_%' ESCAPE '\\'",
        (table,),
    ).fetchall()
    idle = [(str(n), str(q)) for n, q in rows if q and pattern.search(str(q))]
    for name, _ in idle:
        con.execute(f"DROP TRIGGER {_q(name)}")
    yield
    for _, sql in idle:
        con.execute(sql)


def _update_joined(
    con: sqlite3.Connection,
    table: str,
    fid_col: str,
    cols: Sequence[str],
    nulls: Sequence[str],
    fids: np.ndarray,
    codes: np.ndarray,
    distinct: Sequence[tuple],
) -> int:
    """Set the values from temporary tables (fid -> code -> values), changed rows only."""
    con.execute("DROP TABLE IF EXISTS temp._gm_vals")
    con.execute("DROP TABLE IF EXISTS temp._gm_code")
    con.execute("DROP TABLE IF EXISTS temp._gm_fid")
    cnames = [f"c{i}" for i in range(len(cols))]
    con.execute(
        f"CREATE TEMP TABLE _gm_vals (code INTEGER PRIMARY KEY{''.join(', ' + c for c in cnames)})"
    )
    con.executemany(
        f"INSERT INTO temp._gm_vals VALUES ({','.join('?' * (len(cols) + 1))})",
        [(i, *row) for i, row in enumerate(distinct)],
    )
    con.execute("CREATE TEMP TABLE _gm_code (pos INTEGER PRIMARY KEY, code INTEGER)")
    con.execute(
        "INSERT INTO temp._gm_code SELECT key, value FROM json_each(?)",
        (_fixed_width_json(codes),),
    )
    fids = fids.astype(np.int64)
    contiguous = bool(len(fids)) and bool(np.all(fids == fids[0] + np.arange(len(fids))))
    if contiguous:
        source = (
            f"(SELECT c.pos + {int(fids[0])} AS fid, v.* FROM temp._gm_code c "
            "JOIN temp._gm_vals v ON v.code = c.code)"
        )
    else:
        if fids.min() < 0:
            raise NeedsRewrite("negative fids")
        con.execute("CREATE TEMP TABLE _gm_fid (pos INTEGER PRIMARY KEY, fid INTEGER)")
        con.execute(
            "INSERT INTO temp._gm_fid SELECT key, value FROM json_each(?)",
            (_fixed_width_json(fids),),
        )
        source = (
            "(SELECT f.fid AS fid, v.* FROM temp._gm_fid f JOIN temp._gm_code c ON c.pos = f.pos "
            "JOIN temp._gm_vals v ON v.code = c.code)"
        )
    sets = [f"{_q(c)} = u.{n}" for c, n in zip(cols, cnames, strict=True)]
    sets += [f"{_q(c)} = NULL" for c in nulls]
    differs = [f"t.{_q(c)} IS NOT u.{n}" for c, n in zip(cols, cnames, strict=True)]
    differs += [f"t.{_q(c)} IS NOT NULL" for c in nulls]
    cur = con.execute(
        f"UPDATE {_q(table)} AS t SET {', '.join(sets)} FROM {source} AS u "
        f"WHERE t.{_q(fid_col)} = u.fid AND ({' OR '.join(differs)})"
    )
    n = cur.rowcount
    for t in ("_gm_vals", "_gm_code", "_gm_fid"):
        con.execute(f"DROP TABLE IF EXISTS temp.{t}")
    return int(n)


#: Runs of consecutive fids with equal values are written one UPDATE each when there
#: are at most this share of them (layers saved in address or building order).
RUN_SHARE = 0.25


def _runs(fids: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(first fid, last fid, code) of each run of consecutive fids with one code, or None
    when there are too many runs for that to pay (a layer in random order)."""
    n = len(fids)
    if n < 2:
        return None
    order = np.argsort(fids, kind="stable")
    f, c = fids[order], codes[order]
    breaks = np.flatnonzero((c[1:] != c[:-1]) | (f[1:] != f[:-1] + 1)) + 1
    if len(breaks) + 1 > RUN_SHARE * n:
        return None
    starts = np.concatenate(([0], breaks))
    ends = np.concatenate((breaks - 1, [n - 1]))
    return f[starts], f[ends], c[starts]


def _update_runs(
    con: sqlite3.Connection,
    table: str,
    fid_col: str,
    cols: Sequence[str],
    nulls: Sequence[str],
    distinct: Sequence[tuple],
    lo: np.ndarray,
    hi: np.ndarray,
    code: np.ndarray,
) -> int:
    """Set the values run by run: ``WHERE fid BETWEEN lo AND hi``, changed rows only."""
    sets = [f"{_q(c)} = ?" for c in cols] + [f"{_q(c)} = NULL" for c in nulls]
    differs = [f"{_q(c)} IS NOT ?" for c in cols] + [f"{_q(c)} IS NOT NULL" for c in nulls]
    sql = (
        f"UPDATE {_q(table)} SET {', '.join(sets)} WHERE {_q(fid_col)} BETWEEN ? AND ? "
        f"AND ({' OR '.join(differs)})"
    )
    cur = con.executemany(  # (rowcount sums the statements' rows, triggers' rows left out)
        sql,
        (
            (*distinct[k], a, b, *distinct[k])
            for k, a, b in zip(code.tolist(), lo.tolist(), hi.tolist(), strict=True)
        ),
    )
    return int(cur.rowcount)


def fid_range(
    con: sqlite3.Connection, table: str, fid: str, lo: int | None = None, hi: int | None = None
) -> tuple[int, int] | None:
    """The smallest and largest fid of ``table`` (between ``lo`` and ``hi`` when given).

    None when there is no row (in that range).

    Two statements, not one: SQLite answers a lone ``min()`` or ``max()`` of the
    primary key from the B-tree's edge, but ``SELECT min(fid), max(fid)``
    scans the whole table.
    """
    where = (
        ""
        if lo is None
        else f" WHERE {_q(fid)} BETWEEN {int(lo)} AND {int(lo if hi is None else hi)}"
    )
    first = con.execute(f"SELECT min({_q(fid)}) FROM {_q(table)}{where}").fetchone()[0]
    if first is None:
        return None
    last = con.execute(f"SELECT max({_q(fid)}) FROM {_q(table)}{where}").fetchone()[0]
    return int(first), int(last)


def fid_column(con: sqlite3.Connection, table: str) -> str:
    """The integer primary key (feature id) column of ``table``."""
    for r in con.execute(f"PRAGMA table_info({_q(table)})"):
        if int(r[5]) == 1 and "INT" in str(r[2]).upper():
            return str(r[1])
    raise NeedsRewrite("the table has no integer primary key (fid)")


def _coded(values: pd.DataFrame) -> CodedColumns:
    """A DataFrame of values as :class:`CodedColumns`."""
    if len(values) == 0:
        codes, rows = np.zeros(0, dtype=np.int64), list[tuple]()
    else:
        codes, rows = _factorize_rows(values)
    cols = tuple(str(c) for c in values.columns)
    return CodedColumns(cols, tuple(_value_kind(values[c]) for c in values.columns), codes, rows)


def _factorize_rows(values: pd.DataFrame) -> tuple[np.ndarray, list[tuple]]:
    """Codes of each row and the distinct rows (as Python values SQLite can bind)."""
    import pandas as pd

    if values.shape[1] == 0:
        return np.zeros(len(values), dtype=np.int64), [()]
    keys = []
    for col in values.columns:
        c, _ = pd.factorize(values[col], use_na_sentinel=True)
        keys.append(c.astype(np.int64) + 1)
    combined = keys[0]
    for k in keys[1:]:
        combined = combined * (int(k.max()) + 1) + k
        combined, _ = pd.factorize(combined)
        combined = combined.astype(np.int64)
    codes, first = np.unique(combined, return_index=True)
    inverse = np.searchsorted(codes, combined)
    rows = values.iloc[first]
    distinct = [tuple(_bindable(v) for v in row) for row in rows.itertuples(index=False, name=None)]
    return inverse.astype(np.int64), distinct


def _bindable(v):
    if v is None:
        return None
    if isinstance(v, float) and np.isnan(v):
        return None
    if is_pandas_missing(v):
        return None
    if isinstance(v, np.generic):
        v = v.item()
        if isinstance(v, float) and np.isnan(v):
            return None
    if isinstance(v, (str, int, float, bytes)):
        return v
    return str(v)


def user_triggers(con: sqlite3.Connection, table: str) -> list[tuple[str, str]]:
    """(name, SQL) of the triggers on ``table`` that GDAL did not create."""
    out = []
    for name, sql in con.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND lower(tbl_name) = lower(?)",
        (table,),
    ):
        n = str(name)
        if n.startswith(f"rtree_{table}_") or n.startswith("trigger_") or n.startswith("gpkg_"):
            continue
        if sql:
            out.append((n, str(sql)))
    return out


def user_indexes(con: sqlite3.Connection, table: str) -> list[tuple[str, str]]:
    """(name, SQL) of the explicit indexes on ``table``."""
    return [
        (str(n), str(s))
        for n, s in con.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND lower(tbl_name) = "
            "lower(?) AND sql IS NOT NULL",
            (table,),
        )
    ]
