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
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from gridmap.errors import GridmapError, LayerNotFoundError
from gridmap.policy import privacy
from gridmap.policy.privacy import STAFF, PrivacyPolicy
from gridmap.workspace.schema import (
    COMMUNITIES,
    GRIDS,
    HOUSEHOLDS,
    LAYERS,
    MICROGRIDS,
    POLYGON_LEVELS,
    ROADS,
    ZONES,
)
from gridmap.workspace.store import Workspace, file_signature, load_workspace, resolve_workspace

log = logging.getLogger("gridmap.api")

GRID_STATS = privacy.GRID_STATS
#: Workspace layers whose rows anyone may read under the default policy.
PUBLIC_LAYERS = tuple(
    n for n in privacy.DEFAULT.rules if privacy.DEFAULT.rows_public(n) and n in LAYERS
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


@dataclass
class Collection:
    """One layer served as an OGC API - Features collection."""

    name: str
    id_column: str
    frame: gpd.GeoDataFrame  # full data (admin view)
    public_frame: gpd.GeoDataFrame | None  # None: rows not public
    personal: list[str]  # columns staff see for rows inside their grids only
    title: str
    description: str
    staff_frame: gpd.GeoDataFrame | None = None  # the columns a staff key may see
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


#: Default size bounds of the per-state caches, by kind (the first item of a cache key).
CACHE_LIMITS = {"coverage": 16, "map": 8, "address-registry": 2}
DEFAULT_CACHE_LIMIT = 32


class BoundedCache:
    """Thread-safe LRU caches, one per kind of value, each with a size bound.

    A value is computed once even when several requests ask for it at the same
    time (the others wait for the first); the per-key locks are dropped when
    the computation ends, so nothing grows with the number of distinct keys.
    """

    def __init__(self, limits: dict[str, int] | None = None) -> None:
        self.limits = {**CACHE_LIMITS, **(limits or {})}
        self._data: dict[str, OrderedDict] = {}
        self._locks: dict = {}
        self._lock = threading.Lock()

    @staticmethod
    def _kind(key) -> str:
        return str(key[0] if isinstance(key, tuple) and key else key)

    def peek(self, key):
        """The cached value for ``key``, or None if not computed (or evicted)."""
        with self._lock:
            return self._data.get(self._kind(key), {}).get(key)

    def sizes(self) -> dict[str, int]:
        """Number of entries per kind."""
        with self._lock:
            return {k: len(v) for k, v in self._data.items()}

    def get(self, key, make: Callable):
        kind = self._kind(key)
        with self._lock:
            bucket = self._data.setdefault(kind, OrderedDict())
            if key in bucket:
                bucket.move_to_end(key)
                return bucket[key]
            entry = self._locks.get(key)
            if entry is None:
                entry = self._locks[key] = [threading.Lock(), 0]
            entry[1] += 1
        try:
            with entry[0]:
                with self._lock:
                    if key in bucket:
                        bucket.move_to_end(key)
                        return bucket[key]
                value = make()
                with self._lock:
                    bucket[key] = value
                    limit = self.limits.get(kind, DEFAULT_CACHE_LIMIT)
                    while len(bucket) > max(1, limit):
                        bucket.popitem(last=False)
                return value
        finally:
            with self._lock:
                entry[1] -= 1
                if entry[1] == 0 and self._locks.get(key) is entry:
                    del self._locks[key]


@dataclass
class WorkspaceState:
    """Everything the service answers from, for one version of the workspace file."""

    workspace: Workspace
    signature: tuple[int, int]
    loaded_at: datetime
    collections: dict[str, Collection]
    policy: PrivacyPolicy = privacy.DEFAULT
    cache: BoundedCache = field(default_factory=BoundedCache, repr=False)

    def collection(self, name: str) -> Collection:
        col = self.collections.get(name)
        if col is None:
            # the name is not echoed: it is whatever the caller typed into the URL
            raise LayerNotFoundError("there is no such collection. GET /collections lists them.")
        return col

    def peek(self, key):
        """The cached value for ``key``, or None if not computed yet."""
        return self.cache.peek(key)

    def cached(self, key, make: Callable):
        """Compute ``make()`` once per state version (thread-safe); keep it in a bounded LRU."""
        return self.cache.get(key, make)


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


def grid_stats(ws: Workspace) -> gpd.GeoDataFrame:
    """Per-grid aggregates: :func:`gridmap.analysis.indicators.grid_indicators`."""
    from gridmap.analysis.indicators import grid_indicators

    return grid_indicators(ws)


def build_state(
    path: Path,
    policy: PrivacyPolicy | None = None,
    cache_limits: dict[str, int] | None = None,
) -> WorkspaceState:
    """Load the workspace at ``path`` and prepare every collection.

    ``policy`` decides the columns each role sees (default: the workspace's
    :func:`~gridmap.policy.privacy.policy_for_workspace`).
    """
    sig = file_signature(path)
    policy = policy if policy is not None else privacy.policy_for_workspace(path)
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
        staff_only = policy.staff_only_columns(name, gdf)
        public = policy.public_frame(name, gdf) if policy.rows_public(name) else None
        staff = gdf[policy.visible_columns(name, gdf, STAFF)]
        title, desc = TITLES.get(name, (name, f"Layer {name} (admin only)."))
        col = Collection(name, idc, gdf, public, staff_only, title, desc, staff_frame=staff)
        if name == GRIDS and "grid_id" in gdf.columns:
            col.scope = gdf["grid_id"].to_numpy(dtype=object)
        elif name == MICROGRIDS:
            col.scope = _grid_of_microgrids(ws, gdf)
        elif name in policy.rules and (public is None or staff_only) and name not in POLYGON_LEVELS:
            # a layer the policy does not list stays admin-only: no staff scope
            geom_types = set(gdf.geometry.geom_type.dropna().unique())
            if geom_types <= {"Point"}:
                col.scope = _grid_of_points(ws, gdf)
        cols[name] = col
    if GRIDS in ws.layers:
        stats = grid_stats(ws).reset_index(drop=True)
        stats = policy.public_frame(GRID_STATS, stats)
        title, desc = TITLES[GRID_STATS]
        cols[GRID_STATS] = Collection(
            GRID_STATS, "grid_id", stats, stats, [], title, desc, staff_frame=stats
        )
    return WorkspaceState(
        ws, sig, datetime.now(UTC), cols, policy=policy, cache=BoundedCache(cache_limits)
    )


class StateHolder:
    """Holds the current :class:`WorkspaceState` and swaps it when the file changes."""

    def __init__(
        self,
        workspace: str | Path | None,
        check_every_s: float = 1.0,
        *,
        privacy_file: str | Path | None = None,
        cache_limits: dict[str, int] | None = None,
    ) -> None:
        self.path = resolve_workspace(workspace)
        self.check_every_s = check_every_s
        self.privacy_file = (
            Path(privacy_file) if privacy_file else privacy.settings_path_for(self.path)
        )
        self.cache_limits = cache_limits
        self._state: WorkspaceState | None = None
        self._privacy_sig: tuple[int, int] | None = None
        self._lock = threading.Lock()
        self._last_check = 0.0
        self.last_error: str | None = None
        self.reloads = 0

    def _privacy_signature(self) -> tuple[int, int] | None:
        try:
            st = self.privacy_file.stat()
        except OSError:
            return None
        return (st.st_size, st.st_mtime_ns)

    def _build(self) -> WorkspaceState:
        sig = self._privacy_signature()
        policy = privacy.load_policy(self.privacy_file if sig is not None else None)
        state = build_state(self.path, policy, self.cache_limits)
        self._privacy_sig = sig
        return state

    def load(self) -> WorkspaceState:
        """(Re)load now, replacing the state; raises if the workspace cannot be read."""
        with self._lock:
            state = self._build()
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
        if sig == state.signature and self._privacy_signature() == self._privacy_sig:
            return state
        if not self._lock.acquire(blocking=False):
            return state  # another request is reloading; answer from the old state
        try:
            new = self._build()
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
