"""The loaded workspace and what the service derives from it.

The service keeps one immutable :class:`WorkspaceState` and replaces it as a
whole when the workspace file changes on disk (its size or modification time,
:func:`gridmap.workspace.store.file_signature`). A request takes the current state once and
uses it to the end, so a reload in the middle of a request never mixes old and
new data. Only one thread reloads at a time; the others keep answering from the
old state meanwhile. If the new file cannot be read, the old state stays in
service and ``/healthz`` reports the problem.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from gridmap.errors import GridmapError, LayerNotFoundError
from gridmap.workspace.store import Workspace, file_signature, load_workspace, resolve_workspace
from gridmap.workspace.schema import (
    COMMUNITIES,
    FACILITY_LAYERS,
    GRIDS,
    HOUSEHOLDS,
    LAYERS,
    MICROGRIDS,
    PERSONAL_COLUMNS,
    POLYGON_LEVELS,
    ROADS,
    ZONES,
)

log = logging.getLogger("gridmap.api")

GRID_STATS = "grid_stats"
BOUNDARY_LAYERS = (COMMUNITIES, ZONES, GRIDS, MICROGRIDS)
PUBLIC_LAYERS = (*BOUNDARY_LAYERS, *FACILITY_LAYERS, ROADS)

#: Column names that look personal wherever they appear (besides PERSONAL_COLUMNS).
_PERSONAL_RE = re.compile(
    r"(phone|tel$|^tel|mobile|contact|leader|staff_name|head|owner|resident_name|person|"
    r"address|addr|id_?card|email|wechat|^staff$|manager|^qq|"
    r"姓名|名字|电话|手机|住址|地址|联系|身份证|户主|网格员|网格长|负责人|中心户|楼长|栋长|"
    r"管理员|书记|主任|监护人|微信|邮箱|业主|车主|房主|车牌|plate|birth|出生)",
    re.IGNORECASE,
)

TITLES = {
    COMMUNITIES: ("Communities (社区)", "Community boundaries."),
    ZONES: ("Zones (片区)", "Zone boundaries."),
    GRIDS: ("Grids (网格)", "Grid boundaries; staff contacts only for staff and admin keys."),
    MICROGRIDS: ("Micro-grids (微网格)", "Micro-grid boundaries; leader contacts only with a key."),
    HOUSEHOLDS: ("Households (居民户)", "Households: staff keys see their own grids only."),
    "service_stations": ("Service stations (党群服务驿站)", "Service stations."),
    "charging_piles": ("Charging piles (充电桩)", "Charging piles."),
    "parking": ("Parking (停车)", "Parking."),
    ROADS: ("Roads (道路)", "Road network."),
    GRID_STATS: ("Grid statistics (网格统计)", "Per-grid aggregates: counts, no people."),
}


def personal_columns(layer: str, columns) -> list[str]:
    """Columns of ``layer`` holding personal data (names, phones, addresses)."""
    out = []
    for c in columns:
        if c == "geometry":
            continue
        if c == "name" and layer != HOUSEHOLDS:
            continue  # the name of a grid, station...: not a person's name
        if c == LAYERS.get(layer, LAYERS[COMMUNITIES]).id_column and layer in LAYERS:
            continue
        if c in PERSONAL_COLUMNS or _PERSONAL_RE.search(str(c)):
            out.append(c)
    return out


@dataclass
class Collection:
    """One layer served as an OGC API - Features collection."""

    name: str
    id_column: str
    frame: gpd.GeoDataFrame  # full data (admin view)
    public_frame: gpd.GeoDataFrame | None  # None: not public
    personal: list[str]
    title: str
    description: str
    scope: np.ndarray | None = None  # grid id of each row, for staff scoping
    _index: dict[str, int] | None = field(default=None, repr=False)
    _bbox: list[float] | None = field(default=None, repr=False)

    @property
    def bbox(self) -> list[float] | None:
        """The layer's extent (lon/lat), computed once."""
        if self._bbox is None:
            self._bbox = self._extent() or []
        return self._bbox or None

    def _extent(self) -> list[float] | None:
        geoms = self.frame.geometry
        if len(geoms) == 0 or geoms.is_empty.all():
            return None
        b = geoms.total_bounds
        if not np.isfinite(b).all():
            return None
        return [float(v) for v in b]

    def position_of(self, fid: str) -> int | None:
        if self._index is None:
            ids = self.frame[self.id_column].tolist()
            idx: dict[str, int] = {}
            for pos, v in enumerate(ids):
                if v is not None and not (isinstance(v, float) and np.isnan(v)):
                    idx.setdefault(str(v), pos)
            self._index = idx
        return self._index.get(fid)


@dataclass
class WorkspaceState:
    """Everything the service answers from, for one version of the workspace file."""

    workspace: Workspace
    signature: tuple[int, int]
    loaded_at: datetime
    collections: dict[str, Collection]
    _cache: dict = field(default_factory=dict, repr=False)
    _cache_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def collection(self, name: str) -> Collection:
        col = self.collections.get(name)
        if col is None:
            raise LayerNotFoundError(
                f"there is no collection '{name}'. GET /collections lists them.", layer=name
            )
        return col

    def peek(self, key):
        """The cached value for ``key``, or None if not computed yet."""
        return self._cache.get(key)

    def cached(self, key, make: Callable):
        """Compute ``make()`` once per state version (thread-safe) and keep it."""
        with self._cache_lock:
            if key in self._cache:
                return self._cache[key]
            lock = self._cache.setdefault(("lock", key), threading.Lock())
        with lock:
            with self._cache_lock:
                if key in self._cache:
                    return self._cache[key]
            value = make()
            with self._cache_lock:
                self._cache[key] = value
            return value


def _id_column(name: str, gdf: gpd.GeoDataFrame) -> str:
    if name in LAYERS and LAYERS[name].id_column in gdf.columns:
        return LAYERS[name].id_column
    for c in gdf.columns:
        if c.endswith("_id"):
            return c
    return "fid"


def _grid_of_points(ws: Workspace, points: gpd.GeoDataFrame) -> np.ndarray:
    """The grid that covers each point (the core join), for staff scoping."""
    from gridmap.join.core import assign_points, build_hierarchy

    polys = {lv: ws.layers[lv] for lv in POLYGON_LEVELS if lv in ws.layers}
    if GRIDS in polys:
        try:
            res = assign_points(points, build_hierarchy(polys), nearest=False)
            # np.array copies: pandas 3 hands out read-only views (copy-on-write)
            computed = np.array(res["grid_id"], dtype=object)
            if "grid_id" in points.columns:
                stored = np.array(points["grid_id"], dtype=object)
                missing = pd.isna(computed)
                computed[missing] = stored[missing]
                computed[pd.isna(computed)] = None
            return computed
        except GridmapError as exc:  # broken hierarchy: fall back to stored ids
            log.warning("cannot join households to grids (%s); using stored grid_id", exc)
    if "grid_id" in points.columns:
        return points["grid_id"].to_numpy(dtype=object)
    return np.full(len(points), None, dtype=object)


def _grid_of_microgrids(ws: Workspace, micro: gpd.GeoDataFrame) -> np.ndarray:
    """The grid of each micro-grid: its ``grid_id`` column, else the grid its area lies in."""
    stored = (
        np.array(micro["grid_id"], dtype=object)
        if "grid_id" in micro.columns
        else np.full(len(micro), None, dtype=object)
    )
    missing = pd.isna(stored)
    if missing.any() and GRIDS in ws.layers:
        reps = micro.loc[missing, ["geometry"]].copy()
        reps["geometry"] = reps.geometry.representative_point()
        stored[missing] = _grid_of_points(ws, reps)
    stored[pd.isna(stored)] = None
    return stored


def basic_grid_stats(ws: Workspace) -> gpd.GeoDataFrame:
    """Per-grid counts: households, residents, elderly, and facilities inside each grid."""
    from gridmap.join.core import assign_points, build_hierarchy

    grids = ws.require(GRIDS)
    cols = ["grid_id", "name"] + (["zone_id"] if "zone_id" in grids.columns else [])
    out = gpd.GeoDataFrame(grids[cols].copy(), geometry=grids.geometry.values, crs=grids.crs)
    polys = {lv: ws.layers[lv] for lv in POLYGON_LEVELS if lv in ws.layers}
    h = build_hierarchy(polys)
    for layer in (HOUSEHOLDS, *FACILITY_LAYERS):
        pts = ws.get(layer)
        label = "households" if layer == HOUSEHOLDS else layer
        if pts is None or len(pts) == 0:
            out[label] = 0
            continue
        gid = assign_points(pts, h, nearest=False)["grid_id"]
        frame = pd.DataFrame({"grid_id": gid.to_numpy(dtype=object)})
        for c in ("residents", "elderly", "spaces", "ports"):
            if c in pts.columns:
                frame[c] = pd.to_numeric(pts[c], errors="coerce").to_numpy()
        agg = frame.groupby("grid_id", dropna=True)
        counts = agg.size()
        out[label] = out["grid_id"].map(counts).fillna(0).astype(int)
        for c in frame.columns:
            if c == "grid_id":
                continue
            name = c if layer == HOUSEHOLDS else f"{layer}_{c}"
            out[name] = out["grid_id"].map(agg[c].sum()).fillna(0)
    return out


def grid_stats(ws: Workspace) -> gpd.GeoDataFrame:
    """Per-grid aggregates from gridmap.analysis.coverage.grid_indicators; basic counts if it fails."""
    from gridmap.analysis.coverage import grid_indicators

    try:
        stats = grid_indicators(ws)
    except GridmapError as exc:
        log.warning("grid_indicators failed (%s); serving basic counts", exc)
        return basic_grid_stats(ws)
    return stats


def build_state(path: Path) -> WorkspaceState:
    """Load the workspace at ``path`` and prepare every collection."""
    sig = file_signature(path)
    ws = load_workspace(path)
    cols: dict[str, Collection] = {}
    for name, gdf in ws.layers.items():
        if gdf is None or "geometry" not in gdf:
            continue
        gdf = gdf.reset_index(drop=True)
        ws.layers[name] = gdf
        idc = _id_column(name, gdf)
        if idc == "fid" and "fid" not in gdf.columns:
            gdf = gdf.copy()
            gdf["fid"] = [str(i + 1) for i in range(len(gdf))]
        personal = personal_columns(name, gdf.columns)
        public = gdf.drop(columns=personal) if name in PUBLIC_LAYERS else None
        title, desc = TITLES.get(name, (name, f"Layer {name} (admin only)."))
        col = Collection(name, idc, gdf, public, personal, title, desc)
        if name in (HOUSEHOLDS, GRIDS, MICROGRIDS) or (personal and name not in PUBLIC_LAYERS):
            if name == GRIDS:
                col.scope = gdf["grid_id"].to_numpy(dtype=object)
            elif name == MICROGRIDS:
                col.scope = _grid_of_microgrids(ws, gdf)
            elif name == HOUSEHOLDS:
                col.scope = _grid_of_points(ws, gdf)
        cols[name] = col
    if GRIDS in ws.layers:
        stats = grid_stats(ws).reset_index(drop=True)
        stats = stats.drop(columns=personal_columns(GRID_STATS, stats.columns))
        title, desc = TITLES[GRID_STATS]
        cols[GRID_STATS] = Collection(GRID_STATS, "grid_id", stats, stats, [], title, desc)
    return WorkspaceState(ws, sig, datetime.now(UTC), cols)


class StateHolder:
    """Holds the current :class:`WorkspaceState` and swaps it when the file changes."""

    def __init__(self, workspace: str | Path | None, check_every_s: float = 1.0) -> None:
        self.path = resolve_workspace(workspace)
        self.check_every_s = check_every_s
        self._state: WorkspaceState | None = None
        self._lock = threading.Lock()
        self._last_check = 0.0
        self.last_error: str | None = None
        self.reloads = 0

    def load(self) -> WorkspaceState:
        """(Re)load now, replacing the state; raises if the workspace cannot be read."""
        with self._lock:
            state = build_state(self.path)
            self._state = state
            self.last_error = None
            self.reloads += 1
            self._last_check = time.monotonic()
            log.info("workspace loaded: %s signature %s", self.path, state.signature)
            return state

    def fresh(self) -> WorkspaceState | None:
        """The current state if no check of the file is due yet, else None (no I/O)."""
        state = self._state
        if state is not None and time.monotonic() - self._last_check < self.check_every_s:
            return state
        return None

    def get(self) -> WorkspaceState:
        """The current state, reloading first if the file changed (checked cheaply)."""
        state = self._state
        if state is None:
            return self.load()
        now = time.monotonic()
        if now - self._last_check < self.check_every_s:
            return state
        self._last_check = now
        try:
            sig = file_signature(self.path)
        except OSError as exc:
            self.last_error = f"workspace file unavailable ({exc.strerror}); serving the last copy"
            return state
        if sig == state.signature:
            return state
        if not self._lock.acquire(blocking=False):
            return state  # another request is reloading; answer from the old state
        try:
            new = build_state(self.path)
        except GridmapError as exc:
            self.last_error = f"reload failed, serving the last good copy: {exc}"
            log.warning("%s", self.last_error)
            return state
        except Exception as exc:  # a half-copied file, sqlite errors...
            self.last_error = f"reload failed, serving the last good copy: {type(exc).__name__}"
            log.exception("workspace reload failed")
            return state
        finally:
            self._lock.release()
        self._state = new
        self.last_error = None
        self.reloads += 1
        log.info("workspace reloaded: signature %s", new.signature)
        return new
