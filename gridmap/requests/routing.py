"""Routing a request to the micro-grid, grid, zone and community that own it.

* A coordinate is answered by the core join (:func:`gridmap.join.core.assign_arrays`):
  the finest level whose polygon covers the point owns it, so a request
  outside every micro-grid keeps its grid (or zone, community) and the finer
  ids stay empty.
* An address is answered by the lookup (:func:`gridmap.lookup.matching.locate`);
  its statuses stand: ``ambiguous`` or ``not_found`` sends the request to the
  review queue (``review = 1``) with the lookup's candidates, never a guess.
* With both, the coordinate decides (a point picked on a phone map is what the
  worker saw); the address is kept as text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gridmap.coords.crs import parse_crs, to_wgs84
from gridmap.errors import CoordinateError
from gridmap.join.core import Hierarchy, assign_arrays, build_hierarchy
from gridmap.workspace.schema import ASSIGN_COLUMNS, POLYGON_LEVELS


@dataclass
class Route:
    """Where a request belongs."""

    located_by: str  # coordinate | address | ambiguous | not_found | none
    microgrid_id: str | None = None
    grid_id: str | None = None
    zone_id: str | None = None
    community_id: str | None = None
    assigned_level: str | None = None
    review: bool = False
    candidates: list[dict] = field(default_factory=list)
    lon: float | None = None  # WGS84
    lat: float | None = None
    message: str = ""

    @property
    def owner(self) -> dict[str, str | None]:
        return {c: getattr(self, c) for c in ASSIGN_COLUMNS}

    def columns(self) -> dict:
        """The request columns this route fills."""
        return {
            **self.owner,
            "located_by": self.located_by,
            "assigned_level": self.assigned_level,
            "review": int(self.review),
            "candidates": self.candidates or None,
        }


class RequestRouter:
    """Routes requests against one workspace (hierarchy and address registry built once).

    Parameters
    ----------
    workspace
        Workspace path or a loaded :class:`~gridmap.workspace.store.Workspace`.
    """

    def __init__(self, workspace=None) -> None:
        from gridmap.workspace import store as io

        if isinstance(workspace, io.Workspace):
            self.workspace = workspace
        else:
            self.workspace = io.load_workspace(workspace, layers=list(POLYGON_LEVELS))
        self._hierarchy: Hierarchy | None = None
        self._registry = None

    @property
    def hierarchy(self) -> Hierarchy:
        if self._hierarchy is None:
            self._hierarchy = build_hierarchy(self.workspace.layers)
        return self._hierarchy

    @property
    def registry(self):
        if self._registry is None:
            from gridmap.lookup.matching import AddressRegistry, registry_for

            if "households" in self.workspace.layers:  # loaded in memory (synthetic layers)
                self._registry = AddressRegistry.from_workspace(self.workspace)
            else:  # on disk: the lookup's registry, cached per file version
                self._registry = registry_for(self.workspace.path, addresses=True)
        return self._registry

    def by_coordinate(self, lon: float, lat: float, crs: str | int = "wgs84") -> Route:
        """Owner of a coordinate (any CRS gridmap knows, incl. ``gcj02`` and ``bd09``)."""
        cs = parse_crs(crs)
        try:
            fx, fy = float(lon), float(lat)
        except (TypeError, ValueError) as exc:
            raise CoordinateError(f"coordinates must be numbers, got {lon!r}, {lat!r}") from exc
        if not (np.isfinite(fx) and np.isfinite(fy)):
            raise CoordinateError(f"coordinates must be finite numbers, got {lon}, {lat}")
        if cs.is_geographic and (abs(fy) > 90 or abs(fx) > 180):
            raise CoordinateError(f"lon={fx} lat={fy} is outside the range of longitude/latitude")
        wx, wy = to_wgs84(fx, fy, cs)
        return self.by_wgs84(np.array([float(wx)]), np.array([float(wy)]))[0]

    def by_wgs84(self, x: np.ndarray, y: np.ndarray) -> list[Route]:
        """Owners of many WGS84 points at once (the core join on arrays)."""
        out, level = assign_arrays(np.asarray(x, float), np.asarray(y, float), self.hierarchy)
        routes = []
        for k in range(len(x)):
            owner = {c: out[c][k] for c in ASSIGN_COLUMNS}
            lv = level[k]
            routes.append(
                Route(
                    located_by="coordinate",
                    assigned_level=lv,
                    lon=float(x[k]),
                    lat=float(y[k]),
                    review=lv is None,
                    message="" if lv else "no grid owns this place: check the coordinates",
                    **owner,
                )
            )
        return routes

    def by_address(self, address: str) -> Route:
        """Owner of an address by the lookup; ambiguous/not found go to review."""
        from gridmap.lookup.matching import locate

        res = locate(address, registry=self.registry)
        cands = [
            {k: c.get(k) for k in ("score", "matched_address", *ASSIGN_COLUMNS) if k in c}
            for c in (res.candidates or [])
            if isinstance(c, dict)
        ]
        if res.status != "ok":
            return Route(
                located_by=res.status if res.status in ("ambiguous", "not_found") else "not_found",
                review=True,
                candidates=cands,
                message=res.message,
            )
        level = next(
            (lv for lv, c in zip(POLYGON_LEVELS, ASSIGN_COLUMNS, strict=True) if getattr(res, c)),
            None,
        )
        return Route(
            located_by="address",
            assigned_level=level,
            microgrid_id=res.microgrid_id,
            grid_id=res.grid_id,
            zone_id=res.zone_id,
            community_id=res.community_id,
            review=level is None,
        )

    def route(
        self,
        *,
        address: str | None = None,
        lon: float | None = None,
        lat: float | None = None,
        crs: str | int = "wgs84",
    ) -> Route:
        """Route by coordinate when given, else by address; neither: review."""
        if lon is not None and lat is not None:
            return self.by_coordinate(lon, lat, crs)
        if address is not None and str(address).strip():
            return self.by_address(str(address))
        return Route(located_by="none", review=True, message="no address and no coordinate")


# ---------------------------------------------------------------- for the service
_ROUTERS: dict[str, tuple[tuple, RequestRouter]] = {}
_ROUTERS_LOCK = __import__("threading").Lock()
#: Layers a router needs: the polygons, the address registry, the stations.
ROUTER_LAYERS = (*POLYGON_LEVELS, "households", "service_stations")


def content_key(path) -> tuple:
    """What the routing depends on: ``gpkg_contents.last_change`` of every other layer.

    Writing requests changes the file but not this key, so a long-running
    service keeps its router (hierarchy and address registry) across them.
    """
    import sqlite3

    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        rows = con.execute(
            "SELECT table_name, last_change FROM gpkg_contents "
            "WHERE table_name NOT IN ('requests', 'request_events') ORDER BY table_name"
        ).fetchall()
    finally:
        con.close()
    return tuple(rows)


def router_for(workspace) -> RequestRouter:
    """A router for a workspace on disk, cached until a non-request layer changes."""
    from gridmap.workspace import store as io

    p = io.resolve_workspace(workspace)
    key = content_key(p)
    name = str(p.resolve())
    with _ROUTERS_LOCK:
        hit = _ROUTERS.get(name)
        if hit is not None and hit[0] == key:
            return hit[1]
        # read under the writer lock: request writers cannot change the file meanwhile
        with io.workspace_lock(p):
            ws = io.load_workspace(p, layers=list(ROUTER_LAYERS))
        router = RequestRouter(ws)
        router.hierarchy  # noqa: B018 - build now, not in the first request
        _ROUTERS[name] = (key, router)
        return router


def place_context(router: RequestRouter, route: Route) -> dict:
    """Names of the owners, the grid worker and the nearest service station of a route.

    The station is the nearest to the request's position, or (located by
    address) to the owning micro-grid's (else grid's) representative point.
    The grid worker is personal data: callers decide who may see it.
    """
    import pyproj
    import shapely

    from gridmap.coords.crs import metric_crs_for

    ws = router.workspace
    out: dict = {"names": {}, "grid_worker": None, "nearest_station": None}
    for level, col in zip(POLYGON_LEVELS, ASSIGN_COLUMNS, strict=True):
        gid = getattr(route, col)
        layer = ws.get(level)
        name = None
        if gid is not None and layer is not None and "name" in layer.columns:
            hit = layer.loc[layer[col] == gid, "name"]
            name = None if hit.empty else str(hit.iloc[0])
        out["names"][level] = name
    grids = ws.get("grids")
    if route.grid_id and grids is not None:
        row = grids[grids["grid_id"] == route.grid_id]
        if len(row):
            r = row.iloc[0]
            out["grid_worker"] = {
                "name": r.get("staff_name") if "staff_name" in row.columns else None,
                "phone": r.get("staff_phone") if "staff_phone" in row.columns else None,
            }
    pt = None
    if route.lon is not None and route.lat is not None:
        pt = shapely.Point(route.lon, route.lat)
    else:
        for level, col in (("microgrids", "microgrid_id"), ("grids", "grid_id")):
            gid = getattr(route, col)
            layer = ws.get(level)
            if gid and layer is not None:
                hit = layer[layer[col] == gid]
                if len(hit):
                    pt = hit.geometry.iloc[0].representative_point()
                    break
    stations = ws.get("service_stations")
    if pt is not None and stations is not None and len(stations):
        metric = metric_crs_for(stations)
        tr = pyproj.Transformer.from_crs(4326, metric, always_xy=True)
        sx, sy = tr.transform(stations.geometry.x.to_numpy(), stations.geometry.y.to_numpy())
        px, py = tr.transform(pt.x, pt.y)
        d = np.hypot(np.asarray(sx) - px, np.asarray(sy) - py)
        k = int(np.argmin(d))
        s = stations.iloc[k]
        out["nearest_station"] = {
            "station_id": s["station_id"],
            "name": s.get("name"),
            "open_hours": s.get("open_hours") if "open_hours" in stations.columns else None,
            "distance_m": round(float(d[k]), 1),
        }
    return out


def route_to_grid(router: RequestRouter, grid_id: str) -> Route:
    """A route naming a grid directly (a reviewer's decision): its zone and community follow."""
    from gridmap.requests.model import RequestError

    grids = router.workspace.get("grids")
    if grids is None or grid_id not in set(grids["grid_id"]):
        raise RequestError(f"there is no grid {grid_id} in the workspace")
    h = router.hierarchy
    zone = h.parent_of("grids", grid_id)
    community = h.parent_of("zones", zone)
    return Route(
        located_by="manual",
        grid_id=grid_id,
        zone_id=zone,
        community_id=community,
        assigned_level="grids",
    )
