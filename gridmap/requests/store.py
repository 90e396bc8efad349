"""Transactional storage of requests and their events inside the workspace GeoPackage.

Unlike the other layers (rewritten as a whole, atomically, by
:func:`gridmap.workspace.store.write_layers`), requests arrive one at a time
from the API and the CLI. Each new request and each transition is one SQLite
transaction on the workspace file itself:

* the workspace writer lock (:func:`gridmap.workspace.store.workspace_lock`)
  is held for the transaction, so a whole-file rewrite (``gridmap import``,
  ``gridmap assign``) never replaces the file under a request being written,
  and a request written meanwhile is never lost in the copy;
* inside it, ``BEGIN IMMEDIATE`` with a busy timeout also serialises against
  any other SQLite writer (QGIS editing the file);
* the layers are registered in ``gpkg_contents`` / ``gpkg_geometry_columns``
  (``requests`` as a Point feature layer in EPSG:4326, ``request_events`` as an
  attributes table), so GDAL and QGIS read them like any other layer.

Timestamps are stored as GeoPackage DATETIME text in UTC (``...Z``).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import struct
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap.datasets import get_path
from gridmap.errors import WorkspaceBusyError, WorkspaceError
from gridmap.requests.model import (
    EVENT_COLUMNS,
    REQUEST_COLUMNS,
    REQUEST_EVENTS,
    REQUESTS,
    IllegalTransitionError,
    RequestError,
    RequestNotFoundError,
    Rules,
    check_year,
    format_time,
    load_rules,
    now_utc,
)
from gridmap.workspace.store import resolve_workspace, workspace_lock

#: Seconds a request write waits for other writers (lock file, then SQLite).
WRITE_TIMEOUT_S = float(os.environ.get("GRIDMAP_REQUEST_WRITE_TIMEOUT") or 60.0)
GEOM = "geom"
SRS_ID = 4326

_WGS84_DEF = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,'
    'AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,'
    'AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],'
    'AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]'
)


# ------------------------------------------------------------ GeoPackage geometry
def point_blob(lon: float | None, lat: float | None) -> bytes | None:
    """A GeoPackage geometry blob (header + little-endian WKB) for a WGS84 point."""
    if lon is None or lat is None or not (np.isfinite(lon) and np.isfinite(lat)):
        return None
    header = b"GP" + bytes([0, 0b00000001]) + struct.pack("<i", SRS_ID)
    return header + struct.pack("<BIdd", 1, 1, float(lon), float(lat))


def _blob_wkb(blob: bytes | None) -> bytes | None:
    if blob is None or len(blob) < 8 or blob[:2] != b"GP":
        return None
    flags = blob[3]
    env = (flags >> 1) & 0b111
    size = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}.get(env, 0)
    return bytes(blob[8 + size :])


def _blob_xy(blob: bytes | None) -> tuple[float, float] | None:
    """x/y of a point blob (None for NULL, empty or unreadable)."""
    wkb = _blob_wkb(blob)
    if not wkb:
        return None
    flags = blob[3]
    if flags & 0b10000:  # empty geometry
        return None
    g = shapely.from_wkb(wkb)
    if g is None or g.is_empty:
        return None
    b = g.bounds
    return (b[0], b[1])


def _st_bound(k: int):
    def f(blob):
        wkb = _blob_wkb(blob)
        if not wkb:
            return None
        g = shapely.from_wkb(wkb)
        return None if g.is_empty else g.bounds[k]

    return f


def _st_is_empty(blob):
    if blob is None:
        return None
    wkb = _blob_wkb(blob)
    if (blob[3] & 0b10000) or not wkb:
        return 1
    return int(shapely.from_wkb(wkb).is_empty)


def _register_functions(con: sqlite3.Connection) -> None:
    """The SQL functions GDAL's R-tree triggers call, so plain SQLite can write."""
    con.create_function("ST_IsEmpty", 1, _st_is_empty, deterministic=True)
    for k, name in enumerate(("ST_MinX", "ST_MinY", "ST_MaxX", "ST_MaxY")):
        con.create_function(name, 1, _st_bound(k), deterministic=True)


# ------------------------------------------------------------ connection + schema
def _connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path, timeout=WRITE_TIMEOUT_S, isolation_level=None)
    con.execute(f"PRAGMA busy_timeout = {int(WRITE_TIMEOUT_S * 1000)}")
    _register_functions(con)
    return con


@contextlib.contextmanager
def transaction(workspace, *, sample_ok: bool = False) -> Iterator[sqlite3.Connection]:
    """One write transaction on the workspace: writer lock, then ``BEGIN IMMEDIATE``.

    Commits when the block ends, rolls back on any exception. The request
    tables are created (and registered with the GeoPackage) on first use.
    The packaged sample is refused unless ``sample_ok`` (its generator).
    """
    p = resolve_workspace(workspace)
    if not sample_ok and p.resolve() == get_path("community").resolve():
        raise RequestError(
            "the packaged sample workspace is read-only: make your own copy with "
            "'gridmap synth community.gpkg' (or copy the file) and name it",
            file=str(p),
        )
    with workspace_lock(p, timeout=WRITE_TIMEOUT_S):
        con = _connect(p)
        try:
            try:
                con.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise WorkspaceBusyError(
                    f"the workspace stayed locked by another program ({exc}); try again",
                    file=str(p),
                ) from exc
            try:
                _ensure_schema(con)
                yield con
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            raise WorkspaceError(f"cannot write the requests ({exc})", file=str(p)) from exc
        finally:
            con.close()


def _has_table(con: sqlite3.Connection, name: str) -> bool:
    row = con.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)
    ).fetchone()
    return row is not None


def _columns(con: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]


def _ensure_schema(con: sqlite3.Connection) -> None:
    """Create the two tables and their GeoPackage registrations where missing."""
    if not _has_table(con, "gpkg_contents"):
        raise WorkspaceError("the workspace is not a GeoPackage (no gpkg_contents table)")
    have_srs = con.execute(
        "SELECT 1 FROM gpkg_spatial_ref_sys WHERE srs_id = ?", (SRS_ID,)
    ).fetchone()
    if not have_srs:
        con.execute(
            "INSERT INTO gpkg_spatial_ref_sys (srs_name, srs_id, organization, "
            "organization_coordsys_id, definition) VALUES (?, ?, 'EPSG', 4326, ?)",
            ("WGS 84 geodetic", SRS_ID, _WGS84_DEF),
        )
    now = format_time(now_utc())
    if not _has_table(con, REQUESTS):
        cols = ", ".join(f'"{c}" {t}' for c, t in REQUEST_COLUMNS.items() if c != "request_id")
        con.execute(
            f'CREATE TABLE "{REQUESTS}" (fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, '
            f'"{GEOM}" POINT, "request_id" TEXT NOT NULL UNIQUE, {cols})'
        )
        con.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, "
            "last_change, srs_id) VALUES (?, 'features', ?, ?, ?, ?)",
            (REQUESTS, REQUESTS, "resident requests (诉求)", now, SRS_ID),
        )
        con.execute(
            "INSERT INTO gpkg_geometry_columns (table_name, column_name, geometry_type_name, "
            "srs_id, z, m) VALUES (?, ?, 'POINT', ?, 0, 0)",
            (REQUESTS, GEOM, SRS_ID),
        )
    else:
        have = set(_columns(con, REQUESTS))
        for c, t in REQUEST_COLUMNS.items():
            if c not in have:
                con.execute(f'ALTER TABLE "{REQUESTS}" ADD COLUMN "{c}" {t}')
    if not _has_table(con, REQUEST_EVENTS):
        cols = ", ".join(f'"{c}" {t}' for c, t in EVENT_COLUMNS.items())
        con.execute(
            f'CREATE TABLE "{REQUEST_EVENTS}" (fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, '
            f"{cols})"
        )
        con.execute(
            f'CREATE INDEX "idx_{REQUEST_EVENTS}_request_id" ON "{REQUEST_EVENTS}" (request_id)'
        )
        con.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, "
            "last_change) VALUES (?, 'attributes', ?, ?, ?)",
            (REQUEST_EVENTS, REQUEST_EVENTS, "status changes of the requests", now),
        )
    else:
        have = set(_columns(con, REQUEST_EVENTS))
        for c, t in EVENT_COLUMNS.items():
            if c not in have:
                con.execute(f'ALTER TABLE "{REQUEST_EVENTS}" ADD COLUMN "{c}" {t}')


def _touch(con: sqlite3.Connection, lon: float | None = None, lat: float | None = None) -> None:
    """Update gpkg_contents: last_change of both tables and the requests extent."""
    now = format_time(now_utc())
    con.execute(
        "UPDATE gpkg_contents SET last_change = ? WHERE table_name IN (?, ?)",
        (now, REQUESTS, REQUEST_EVENTS),
    )
    if lon is not None and lat is not None:
        con.execute(
            "UPDATE gpkg_contents SET min_x = min(coalesce(min_x, ?), ?), "
            "max_x = max(coalesce(max_x, ?), ?), min_y = min(coalesce(min_y, ?), ?), "
            "max_y = max(coalesce(max_y, ?), ?) WHERE table_name = ?",
            (lon, lon, lon, lon, lat, lat, lat, lat, REQUESTS),
        )


def ensure_layers(workspace) -> Path:
    """Create the empty ``requests`` layer and ``request_events`` table if missing."""
    p = resolve_workspace(workspace)
    with transaction(p):
        pass
    return p


# ------------------------------------------------------------ writing
def _value(v):
    if v is None:
        return None
    if isinstance(v, datetime):
        return format_time(v)
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return None if np.isnan(v) else float(v)
    if isinstance(v, float) and np.isnan(v):
        return None
    if isinstance(v, (list, dict)):
        return json.dumps(v, ensure_ascii=False)
    return v


def next_request_id(con: sqlite3.Connection, received_at: datetime, rules: Rules) -> str:
    """A new id ``RYYYY-MM-DD-NNN`` (local date of receipt, sequence of the day).

    The dashes keep ids from looking like phone numbers (long digit runs are
    scrubbed from API error messages).
    """
    day = received_at.astimezone(rules.tz).strftime("%Y-%m-%d")
    prefix = f"R{day}-"
    n = con.execute(
        f'SELECT count(*) FROM "{REQUESTS}" WHERE request_id LIKE ?', (prefix + "%",)
    ).fetchone()[0]
    while True:
        n += 1
        rid = f"{prefix}{n:03d}"
        if not con.execute(f'SELECT 1 FROM "{REQUESTS}" WHERE request_id = ?', (rid,)).fetchone():
            return rid


def insert_request(
    con: sqlite3.Connection,
    record: Mapping,
    events: list[Mapping],
    *,
    rules: Rules,
    lon: float | None = None,
    lat: float | None = None,
) -> str:
    """Insert one request and its events inside an open :func:`transaction`.

    ``record`` maps :data:`REQUEST_COLUMNS` names to values (datetimes are
    stored as UTC text); a missing ``request_id`` gets a new one. Raises
    :class:`RequestError` when the id exists already.
    """
    rec = {k: record.get(k) for k in REQUEST_COLUMNS if k in record}
    rid = rec.get("request_id")
    if not rid:
        rid = next_request_id(con, record["received_at"], rules)
        rec["request_id"] = rid
    elif con.execute(f'SELECT 1 FROM "{REQUESTS}" WHERE request_id = ?', (rid,)).fetchone():
        raise RequestError(f"request {rid} exists already", ids=[str(rid)], layer=REQUESTS)
    cols = [GEOM, *rec]
    vals = [point_blob(lon, lat), *(_value(v) for v in rec.values())]
    marks = ", ".join("?" * len(cols))
    con.execute(
        f'INSERT INTO "{REQUESTS}" ({", ".join(f"{c!r}".replace(chr(39), chr(34)) for c in cols)}) '
        f"VALUES ({marks})",
        vals,
    )
    for ev in events:
        _insert_event(con, {**ev, "request_id": rid})
    _touch(con, lon, lat)
    return str(rid)


def _insert_event(con: sqlite3.Connection, ev: Mapping) -> None:
    cols = [c for c in EVENT_COLUMNS if c in ev]
    con.execute(
        f'INSERT INTO "{REQUEST_EVENTS}" ({", ".join(chr(34) + c + chr(34) for c in cols)}) '
        f"VALUES ({', '.join('?' * len(cols))})",
        [_value(ev[c]) for c in cols],
    )


def add_request(
    workspace,
    record: Mapping,
    *,
    lon: float | None = None,
    lat: float | None = None,
    actor_role: str = "staff",
    note: str | None = None,
    rules: Rules | str | None = None,
    authorize: Callable[[dict], None] | None = None,
) -> str:
    """Store one new request (status ``received``) and its first event, in one transaction.

    Parameters
    ----------
    workspace
        Workspace GeoPackage.
    record
        Column -> value (see :data:`gridmap.requests.model.REQUEST_COLUMNS`);
        ``received_at`` is required.
    lon, lat
        WGS84 position (optional).
    authorize
        Called with the record before it is written; raise to refuse.

    Returns
    -------
    str
        The request id.
    """
    rules = load_rules(rules)
    if authorize is not None:
        authorize(dict(record))
    rec = dict(record)
    rec.setdefault("status", "received")
    with transaction(workspace) as con:
        return insert_request(
            con,
            rec,
            [
                {
                    "at": rec["received_at"],
                    "from_status": None,
                    "to_status": "received",
                    "actor_role": actor_role,
                    "note": note,
                    "due_at": rec.get("due_at"),
                }
            ],
            rules=rules,
            lon=lon,
            lat=lat,
        )


def get_request(con: sqlite3.Connection, request_id: str) -> dict:
    cur = con.execute(f'SELECT * FROM "{REQUESTS}" WHERE request_id = ?', (request_id,))
    row = cur.fetchone()
    if row is None:
        raise RequestNotFoundError(
            f"there is no request {request_id}", ids=[str(request_id)], layer=REQUESTS
        )
    rec = dict(zip([d[0] for d in cur.description], row, strict=True))
    xy = _blob_xy(rec.pop(GEOM, None))
    rec["lon"], rec["lat"] = xy if xy else (None, None)
    return rec


def move_request(
    workspace,
    request_id: str,
    to_status: str,
    *,
    note: str | None = None,
    due_at: datetime | None = None,
    at: datetime | None = None,
    actor_role: str = "staff",
    rules: Rules | str | None = None,
    authorize: Callable[[dict], None] | None = None,
) -> dict:
    """Move a request to ``to_status`` (one transaction: the row and one event).

    Parameters
    ----------
    request_id, to_status
        The request and its new status.
    note
        What was done; required for ``deferred`` (the reason) and ``returned``.
    due_at
        The new due time; required for ``deferred`` and later than ``at``.
    at
        When (default: now).
    actor_role
        Who moved it (``grid_staff``, ``community``, ``cli``...), kept in the event.
    authorize
        Called with the current request row inside the transaction; raise to
        refuse (e.g. the caller's key does not cover the request's grid).

    Returns
    -------
    dict
        The request row after the move.

    Raises
    ------
    RequestNotFoundError, IllegalTransitionError, RequestError
    """
    check_year("due_at", due_at)
    check_year("at", at)
    rules = load_rules(rules)
    at = at or now_utc()
    with transaction(workspace) as con:
        cur = get_request(con, request_id)
        if authorize is not None:
            authorize(cur)
        rules.check_transition(request_id, cur["status"], to_status)
        changes: dict = {"status": to_status}
        if to_status == "deferred":
            if not note or not str(note).strip():
                raise RequestError(
                    f"request {request_id}: a deferral needs a reason (note)", ids=[request_id]
                )
            if due_at is None:
                raise RequestError(
                    f"request {request_id}: a deferral needs the new due time (due_at)",
                    ids=[request_id],
                )
            if due_at <= at:
                raise RequestError(
                    f"request {request_id}: the new due time must be later than now",
                    ids=[request_id],
                )
            changes["due_at"] = due_at
        elif due_at is not None:
            raise RequestError(
                f"request {request_id}: due_at is only given when deferring", ids=[request_id]
            )
        if to_status == "returned" and not (note and str(note).strip()):
            raise IllegalTransitionError(
                f"request {request_id}: returning it for rework needs a note saying why",
                ids=[request_id],
            )
        if to_status == "closed":
            changes["closed_at"] = at
        if to_status == "escalated":
            changes["escalated"] = 1
        sets = ", ".join(f'"{c}" = ?' for c in changes)
        con.execute(
            f'UPDATE "{REQUESTS}" SET {sets} WHERE request_id = ?',
            [*(_value(v) for v in changes.values()), request_id],
        )
        _insert_event(
            con,
            {
                "request_id": request_id,
                "at": at,
                "from_status": cur["status"],
                "to_status": to_status,
                "actor_role": actor_role,
                "note": note,
                "due_at": changes.get("due_at"),
            },
        )
        _touch(con)
        return get_request(con, request_id)


# ------------------------------------------------------------ reading
_TIME_COLUMNS = ("received_at", "due_at", "closed_at")


def _read_only(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=WRITE_TIMEOUT_S)
    con.execute(f"PRAGMA busy_timeout = {int(WRITE_TIMEOUT_S * 1000)}")
    return con


def has_requests(workspace) -> bool:
    """True when the workspace has the ``requests`` layer."""
    p = resolve_workspace(workspace)
    con = _read_only(p)
    try:
        return _has_table(con, REQUESTS)
    finally:
        con.close()


def read_requests(workspace, *, with_events: bool = False):
    """All requests as a GeoDataFrame (EPSG:4326, times as UTC datetimes).

    With ``with_events=True`` returns ``(requests, events)``, read in one
    SQLite read transaction so they agree with each other. A workspace without
    the layers gives empty frames with the right columns.
    """
    p = resolve_workspace(workspace)
    con = _read_only(p)
    try:
        con.execute("BEGIN")
        if _has_table(con, REQUESTS):
            cur = con.execute(f'SELECT * FROM "{REQUESTS}" ORDER BY fid')
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        else:
            names, rows = ["fid", GEOM, *REQUEST_COLUMNS], []
        if _has_table(con, REQUEST_EVENTS):
            ev = pd.read_sql_query(f'SELECT * FROM "{REQUEST_EVENTS}" ORDER BY fid', con)
        else:
            ev = pd.DataFrame(columns=["fid", *EVENT_COLUMNS])
        con.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        raise WorkspaceError(f"cannot read the requests ({exc})", file=str(p)) from exc
    finally:
        con.close()
    df = pd.DataFrame(rows, columns=names)
    for c in REQUEST_COLUMNS:
        if c not in df.columns:
            df[c] = None
    geoms = []
    for blob in df[GEOM]:
        xy = _blob_xy(blob)
        geoms.append(shapely.Point(*xy) if xy else None)
    df = df.drop(columns=[GEOM])
    for c in _TIME_COLUMNS:
        # a value edited outside gridmap that is not ISO 8601 reads as missing (NaT), never a crash
        df[c] = pd.to_datetime(df[c], utc=True, format="ISO8601", errors="coerce")
    for c in ("review", "escalated", "urgent"):
        df[c] = pd.to_numeric(df[c], errors="coerce").fillna(0).astype(int)
    from gridmap.policy.ids import normalise_id_columns

    normalise_id_columns(df, ["request_id", "microgrid_id", "grid_id", "zone_id", "community_id"])
    for c, kind in REQUEST_COLUMNS.items():
        if kind == "TEXT" and c in df.columns:
            df[c] = pd.Series(
                [None if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in df[c]],
                index=df.index,
                dtype=object,
            )
    df["source_row"] = pd.to_numeric(df["source_row"], errors="coerce").astype("Int64")
    gdf = gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"), crs="EPSG:4326")
    gdf.attrs["layer"] = REQUESTS
    gdf.attrs["file"] = str(p)
    for c in ("at", "due_at"):
        ev[c] = pd.to_datetime(ev[c], utc=True, format="ISO8601")
    if with_events:
        return gdf, ev
    return gdf


def set_owner(
    workspace,
    request_id: str,
    owner: Mapping,
    *,
    located_by: str,
    lon: float | None = None,
    lat: float | None = None,
    note: str | None = None,
    actor_role: str = "staff",
    at: datetime | None = None,
    authorize: Callable[[dict], None] | None = None,
) -> dict:
    """Give a request (typically from the review queue) its owners, in one transaction.

    ``owner`` maps ``microgrid_id``, ``grid_id``, ``zone_id``, ``community_id``
    and ``assigned_level`` to values. The status does not change; the change is
    recorded as an event from and to the current status with a note naming the
    new grid. Closed requests are not re-routed.
    """
    at = at or now_utc()
    with transaction(workspace) as con:
        cur = get_request(con, request_id)
        if authorize is not None:
            authorize(cur)
        if cur["status"] == "closed":
            raise IllegalTransitionError(
                f"request {request_id} is closed: its owner is not changed any more"
            )
        cols = ("microgrid_id", "grid_id", "zone_id", "community_id", "assigned_level")
        changes = {c: owner.get(c) for c in cols}
        changes.update(located_by=located_by, review=int(not owner.get("assigned_level")))
        sets = ", ".join(f'"{c}" = ?' for c in changes)
        vals = [_value(v) for v in changes.values()]
        if lon is not None and lat is not None:
            sets += f', "{GEOM}" = ?'
            vals.append(point_blob(lon, lat))
        con.execute(f'UPDATE "{REQUESTS}" SET {sets} WHERE request_id = ?', [*vals, request_id])
        where = owner.get("grid_id") or owner.get("zone_id") or owner.get("community_id")
        _insert_event(
            con,
            {
                "request_id": request_id,
                "at": at,
                "from_status": cur["status"],
                "to_status": cur["status"],
                "actor_role": actor_role,
                "note": f"routed to {where or 'no owner'} ({located_by})"
                + (f": {note}" if note else ""),
            },
        )
        _touch(con, lon, lat)
        return get_request(con, request_id)
