"""``/requests``: resident requests (诉求) - log, move along, list, statistics, the phone page.

* ``POST /requests`` (staff, admin): log a request; it is routed to its grid
  and a staff key may only log requests inside its grids (an unclear address
  with no candidate inside another grid goes to the review queue).
* ``PATCH /requests/{id}``: a transition, by staff of the owning grid; while a
  request is ``escalated`` it belongs to the community (admin keys).
* ``GET /requests`` (staff: their grids; admin: all): the work list, overdue
  first, with the allowed next statuses of each request.
* ``GET /requests/stats`` (anyone): aggregates only - counts, rates, medians;
  never a request's text, position or person. ``by=worker`` needs a key.
* ``GET /requests/where`` (staff, admin): owner, grid worker and nearest
  service station of an address or a coordinate (the phone page uses it).
* ``POST /requests/{id}/route`` (staff into their grids, admin): settle a
  request of the review queue (a grid, or a clearer address or coordinate).
* ``GET /requests/categories`` (anyone): the categories and their time limits.
* ``GET /worker``: the grid worker's phone page (self-contained HTML).

Writes are one SQLite transaction each in the workspace GeoPackage
(:mod:`gridmap.requests.store`), safe against concurrent writers.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from gridmap.api.auth import AuthenticationError, PermissionDeniedError, Principal
from gridmap.api.deps import BadParameterError, PrincipalDep
from gridmap.requests.api_shapes import records
from gridmap.requests.model import STATUSES, load_rules

router = APIRouter(tags=["requests"])

#: Columns of a request anyone with a key to its grid sees (no person unless in scope).
LIST_COLUMNS = (
    "request_id",
    "received_at",
    "status",
    "category",
    "summary",
    "address",
    "located_by",
    "microgrid_id",
    "grid_id",
    "zone_id",
    "community_id",
    "review",
    "due_at",
    "closed_at",
    "escalated",
    "urgent",
    "overdue",
    "hours_overdue",
    "lon",
    "lat",
)
PERSON_COLUMNS = ("resident_name", "resident_phone")


def _workspace(request: Request):
    return request.app.state.holder.path


def _need_key(principal: Principal, what: str) -> None:
    if principal.is_admin or principal.is_staff:
        return
    if not principal.authenticated:
        raise AuthenticationError(f"{what} needs a staff or admin API key (X-API-Key header)")
    raise PermissionDeniedError(
        f"{what} needs a staff or admin key; your key's role is {principal.role}"
    )


def _actor(principal: Principal) -> str:
    return "community" if principal.is_admin else "grid_staff"


class NewRequest(BaseModel):
    """A request as a grid worker logs it."""

    category: str = Field(..., description="Category code or label (停车, parking ...).")
    summary: str | None = Field(None, max_length=2000, description="What the resident asks for.")
    address: str | None = Field(None, max_length=300, description="Address as written.")
    lon: float | None = Field(None, description="Longitude (or easting) of the place.")
    lat: float | None = Field(None, description="Latitude (or northing).")
    crs: str = Field(
        "wgs84", description="wgs84 (browser), gcj02 (Amap/Tencent/WeChat), bd09, EPSG."
    )
    resident_name: str | None = Field(None, max_length=100)
    resident_phone: str | None = Field(None, max_length=40)
    received_at: datetime | None = Field(None, description="Default: now.")


class Move(BaseModel):
    """A transition of a request."""

    to: Literal[STATUSES] = Field(..., description="New status.")  # type: ignore[valid-type]
    note: str | None = Field(None, max_length=2000, description="What was done / why.")
    due_at: datetime | None = Field(None, description="New due time (deferred only).")


def _scope_error(grid_id: str | None) -> PermissionDeniedError:
    where = f"grid {grid_id}" if grid_id else "no grid of yours"
    return PermissionDeniedError(
        f"the place is in {where}: your key may only log and move requests inside its grids"
    )


@router.post("/requests", status_code=201, summary="Log a resident request (staff)")
def create_request(body: NewRequest, request: Request, principal: PrincipalDep) -> JSONResponse:
    """Route a new request to its grid and store it (one transaction)."""
    _need_key(principal, "logging a request")
    from gridmap.requests.intake import log_request
    from gridmap.requests.routing import router_for

    ws = _workspace(request)
    rt = router_for(ws)

    def authorize(rec: dict) -> None:
        if principal.is_admin:
            return
        gid = rec.get("grid_id")
        if gid is not None:
            if gid not in principal.grids:
                raise _scope_error(gid)
            return
        cands = {c.get("grid_id") for c in (rec.get("candidates") or [])} - {None}
        if cands and not cands & set(principal.grids):
            raise _scope_error(None)

    row = log_request(
        ws,
        category=body.category,
        summary=body.summary,
        address=body.address,
        lon=body.lon,
        lat=body.lat,
        crs=body.crs,
        received_at=body.received_at,
        resident_name=body.resident_name,
        resident_phone=body.resident_phone,
        actor_role=_actor(principal),
        router=rt,
        authorize=authorize,
    )
    out = {
        k: row.get(k)
        for k in (
            "request_id",
            "status",
            "category",
            "microgrid_id",
            "grid_id",
            "zone_id",
            "community_id",
            "assigned_level",
            "located_by",
            "review",
            "due_at",
        )
    }
    out["due_at"] = row["due_at"].isoformat() if row.get("due_at") else None
    out["candidates"] = [
        {k: c.get(k) for k in ("score", "microgrid_id", "grid_id")}
        for c in (row.get("candidates") or [])
    ]
    return JSONResponse(status_code=201, content=out)


@router.patch("/requests/{request_id}", summary="Move a request along (staff of its grid)")
def move(request_id: str, body: Move, request: Request, principal: PrincipalDep) -> dict:
    """One transition; illegal ones are refused (409) naming the allowed next statuses."""
    _need_key(principal, "moving a request")
    from gridmap.requests.store import move_request

    def authorize(cur: dict) -> None:
        if principal.is_admin:
            return
        if cur.get("grid_id") not in principal.grids:
            raise PermissionDeniedError(
                f"request {request_id} is not in your grids: only the staff of its grid may move it"
            )
        if cur.get("status") == "escalated":
            raise PermissionDeniedError(
                f"request {request_id} was escalated to the community: the community "
                "(an admin key) moves it now"
            )

    row = move_request(
        _workspace(request),
        request_id,
        body.to,
        note=body.note,
        due_at=body.due_at,
        actor_role=_actor(principal),
        authorize=authorize,
    )
    return _shape_one(row, principal, request)


#: Derived per-answer values, not stored columns: always shown with a row.
DERIVED = ("overdue", "hours_overdue", "lon", "lat")


def _columns_for(principal: Principal, request: Request) -> list[str]:
    """The request columns ``principal`` may see (the privacy policy decides).

    Only rows inside the principal's grids are ever returned, so a staff key
    gets the policy's staff columns (text, address, person) for all of them.
    """
    from gridmap.policy.privacy import REQUESTS, policy_for_workspace

    policy = policy_for_workspace(_workspace(request))
    stored = [c for c in (*LIST_COLUMNS, *PERSON_COLUMNS, "candidates") if c not in DERIVED]
    visible = policy.visible_columns(REQUESTS, stored, principal.policy_role)
    return [*visible, *DERIVED]


class Reroute(BaseModel):
    """Where a request of the review queue belongs (one of grid_id, address, lon/lat)."""

    grid_id: str | None = Field(None, max_length=64)
    address: str | None = Field(None, max_length=300)
    lon: float | None = None
    lat: float | None = None
    crs: str = "wgs84"
    note: str | None = Field(None, max_length=2000)


@router.post("/requests/{request_id}/route", summary="Settle a request of the review queue")
def reroute(request_id: str, body: Reroute, request: Request, principal: PrincipalDep) -> dict:
    """Give a request its owner: admin anywhere; staff into their own grids only."""
    _need_key(principal, "routing a request")
    from gridmap.requests.routing import route_to_grid, router_for
    from gridmap.requests.store import set_owner

    given = [body.grid_id is not None, body.address is not None, body.lon is not None]
    if sum(given) != 1 or ((body.lon is None) != (body.lat is None)):
        raise BadParameterError("give exactly one of grid_id, address or lon and lat")
    rt = router_for(_workspace(request))
    if body.grid_id is not None:
        route = route_to_grid(rt, body.grid_id)
    else:
        route = rt.route(address=body.address, lon=body.lon, lat=body.lat, crs=body.crs)
    if route.review:
        raise BadParameterError(
            f"request {request_id}: the place is still not clear ({route.located_by}); nothing changed"
        )

    def authorize(cur: dict) -> None:
        if principal.is_admin:
            return
        if route.grid_id not in principal.grids:
            raise _scope_error(route.grid_id)
        if cur.get("grid_id") is not None and cur.get("grid_id") not in principal.grids:
            raise PermissionDeniedError(f"request {request_id} is not in your grids")

    row = set_owner(
        _workspace(request),
        request_id,
        {**route.owner, "assigned_level": route.assigned_level},
        located_by=route.located_by,
        lon=route.lon,
        lat=route.lat,
        note=body.note,
        actor_role=_actor(principal),
        authorize=authorize,
    )
    return _shape_one(row, principal, request)


def _shape_one(row: dict, principal: Principal, request: Request) -> dict:
    import pandas as pd

    frame = pd.DataFrame([row])
    for c in ("received_at", "due_at", "closed_at"):
        frame[c] = pd.to_datetime(frame[c], utc=True, format="ISO8601")
    rec = records(frame, _columns_for(principal, request))[0]
    rules = load_rules()
    rec["allowed_next"] = list(rules.allowed_next(rec["status"]))
    return rec


@router.get("/requests", summary="The work list of your grids, overdue first (staff)")
def list_endpoint(
    request: Request,
    principal: PrincipalDep,
    status: Annotated[str | None, Query(description="Only this status.")] = None,
    grid: Annotated[str | None, Query(description="Only this grid.")] = None,
    overdue: Annotated[bool, Query(description="Only overdue open requests.")] = False,
    review: Annotated[
        bool | None, Query(description="Only (true) / without (false) the review queue.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
) -> dict:
    _need_key(principal, "the request list")
    if status is not None and status not in STATUSES:
        raise BadParameterError(f"status must be one of {', '.join(STATUSES)}")
    from gridmap.requests.stats import list_requests
    from gridmap.requests.store import read_requests

    req = read_requests(_workspace(request))
    req["lon"] = req.geometry.x.where(req.geometry.notna())
    req["lat"] = req.geometry.y.where(req.geometry.notna())
    scope = None if principal.is_admin else frozenset(principal.grids)
    df = list_requests(
        req, grids=scope, grid=grid, status=status, overdue=overdue, review=review, limit=limit
    )
    rows = records(df, _columns_for(principal, request))
    rules = load_rules()
    for r in rows:
        r["allowed_next"] = [
            s
            for s in rules.allowed_next(r["status"])
            if principal.is_admin or r["status"] != "escalated"
        ]
        if isinstance(r.get("candidates"), str):
            r["candidates"] = json.loads(r["candidates"])
    return {"count": len(rows), "rows": rows}


@router.get("/requests/stats", summary="Request KPIs per grid, zone, community or category")
def stats_endpoint(
    request: Request,
    principal: PrincipalDep,
    by: Annotated[
        Literal["grid", "zone", "community", "microgrid", "category", "worker"], Query()
    ] = "grid",
    date_from: Annotated[str | None, Query(alias="from", description="YYYY-MM-DD")] = None,
    date_to: Annotated[str | None, Query(alias="to", description="YYYY-MM-DD")] = None,
) -> dict:
    """Aggregates only (anyone): the shape of ``gridmap requests stats --format json``."""
    if by == "worker":
        _need_key(principal, "statistics by grid worker (names are personal)")
    if by == "microgrid":
        # a few requests in one micro-grid could single out a household
        _need_key(principal, "statistics per micro-grid")
    from gridmap.requests.routing import router_for
    from gridmap.requests.stats import request_stats
    from gridmap.requests.store import read_requests

    ws = _workspace(request)
    req, ev = read_requests(ws, with_events=True)
    layers = router_for(ws).workspace.layers
    return request_stats(req, ev, by=by, date_from=date_from, date_to=date_to, layers=layers)


@router.get("/requests/categories", summary="Request categories and their time limits")
def categories() -> dict:
    rules = load_rules()
    return {
        "categories": [
            {
                "code": c.code,
                "zh": c.zh,
                "en": c.en,
                "close_hours": c.close_hours,
                "urgent": c.urgent,
                "source": c.source,
            }
            for c in rules.categories.values()
        ],
        "statuses": list(STATUSES),
        "transitions": {k: list(v) for k, v in rules.transitions.items()},
    }


@router.get("/requests/where", summary="Owner, grid worker and nearest station of a place (staff)")
async def where(
    request: Request,
    principal: PrincipalDep,
    address: Annotated[str | None, Query(max_length=300)] = None,
    lon: float | None = None,
    lat: float | None = None,
    crs: Annotated[
        str, Query(description="wgs84 (browser), gcj02 (map SDKs), bd09, EPSG")
    ] = "wgs84",
) -> dict:
    _need_key(principal, "looking up a place for a request")
    if address is None and (lon is None or lat is None):
        raise BadParameterError("give an address, or lon and lat")
    from gridmap.requests.routing import place_context, router_for

    def run() -> dict:
        rt = router_for(_workspace(request))
        route = rt.route(address=address, lon=lon, lat=lat, crs=crs)
        ctx = place_context(rt, route)
        out = {
            **route.owner,
            "assigned_level": route.assigned_level,
            "located_by": route.located_by,
            "review": route.review,
            "message": route.message,
            "lon": route.lon,
            "lat": route.lat,
            "names": ctx["names"],
            "nearest_station": ctx["nearest_station"],
            "in_your_grids": principal.is_admin or route.grid_id in principal.grids,
            "candidates": [
                {k: c.get(k) for k in ("score", "microgrid_id", "grid_id")}
                for c in route.candidates
            ],
        }
        # the grid worker of the grid that owns the answer: the case is handed to them
        out["grid_worker"] = ctx["grid_worker"] if route.grid_id else None
        return out

    return await run_in_threadpool(run)


@router.get("/worker", include_in_schema=False, response_class=HTMLResponse)
def worker_page(lang: Literal["zh", "en"] = "zh") -> HTMLResponse:
    """The grid worker's phone page (self-contained: no CDN, no external file)."""
    from gridmap.requests.page import worker_page_html

    return HTMLResponse(worker_page_html(lang), headers={"Cache-Control": "no-store"})
