"""``/locate``: which micro-grid, grid, zone and community own an address or a point.

Who gets what (docs/api.md, "Lookup by role"):

* anonymous and ``public`` keys, by address: the owning **grid** (with its
  zone and community, ids and names) and ``status`` ``ok`` or ``not_found``;
  ``microgrid_id`` is null, ``match_level`` is ``grid`` and ``score`` null, so
  the answer is the same for a registered flat and its unregistered neighbour:
  it never says whether a household exists. By coordinate: the four owners
  (micro-grids are public boundaries) and the status. Never contacts.
* staff keys: the match detail (level, score, candidates); the matched
  address and candidates' addresses only inside their grids; contacts by the
  one rule of :func:`gridmap.policy.privacy.may_see_contact`: the grid worker
  of the grid that owns the answer, the micro-grid leader only inside their
  grids.
* admin: everything.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Query

from gridmap.api.auth import Principal
from gridmap.api.deps import BadParameterError, PrincipalDep, StateDep
from gridmap.api.inputs import crs_param
from gridmap.api.state import WorkspaceState
from gridmap.policy.privacy import GRID_WORKER, MICROGRID_LEADER, may_see_contact
from gridmap.workspace.schema import ASSIGN_COLUMNS, LAYERS, POLYGON_LEVELS

router = APIRouter(tags=["lookup"])

PUBLIC_KEYS = ("status", "match_level", "score")
CANDIDATE_KEYS = ("score", *ASSIGN_COLUMNS)

EXAMPLE = {
    "microgrid_id": "M001",
    "grid_id": "G01",
    "zone_id": "Z1",
    "community_id": "C1",
    "status": "ok",
    "match_level": "exact",
    "score": 100.0,
    "names": {"grid": "一网格", "microgrid": "微网格1", "zone": "东片区", "community": "示例社区"},
}


def _names(state: WorkspaceState, answer: dict) -> dict:
    out = {}
    for level in POLYGON_LEVELS:
        idc = LAYERS[level].id_column
        value = answer.get(idc)
        layer = state.workspace.get(level)
        key = level[:-1] if level != "communities" else "community"
        if value is None or layer is None or "name" not in layer.columns:
            out[key] = None
            continue
        col = state.collections.get(level)
        pos = col.position_of(str(value)) if col else None
        out[key] = None if pos is None else _plain(layer["name"].iloc[pos])
    return out


def _plain(v):
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "item"):
        v = v.item()
    return v


PUBLIC_ADDRESS_KEYS = ("grid_id", "zone_id", "community_id")


def _anonymous(answer: dict, state: WorkspaceState) -> dict:
    """The public answer: same keys whatever the match; by address only at grid level."""
    by_address = answer.get("kind") == "address"
    out = {k: answer.get(k) for k in ASSIGN_COLUMNS}
    if by_address:
        out["microgrid_id"] = None
        found = out.get("grid_id") is not None
        if not found:
            out.update(zone_id=None, community_id=None)
        out.update(
            status="ok" if found else "not_found",
            match_level="grid" if found else "none",
            score=None,
        )
    else:
        out.update({k: answer.get(k) for k in PUBLIC_KEYS})
    out["candidates"] = []
    out["names"] = _names(state, out)
    return out


def _grid_of_microgrid(state: WorkspaceState, microgrid_id) -> str | None:
    col = state.collections.get("microgrids")
    if col is None or microgrid_id is None or col.scope is None:
        return None
    pos = col.position_of(str(microgrid_id))
    return None if pos is None else col.scope[pos]


def shape_answer(answer: dict, principal: Principal, state: WorkspaceState) -> dict:
    """Cut a :meth:`LocateResult.to_dict` answer down to what ``principal`` may see."""
    if not (principal.is_admin or principal.is_staff):
        return _anonymous(answer, state)
    out = dict(answer)
    if principal.is_staff:
        gid = answer.get("grid_id")
        if not principal.may_see_grid(gid):
            for k in ("matched_address", "address", "household_id", "query", "parsed"):
                out.pop(k, None)
        cands = answer.get("candidates") or []
        out["candidates"] = [
            {k: v for k, v in c.items() if k not in ("grid_worker", "microgrid_leader")}
            if isinstance(c, dict) and principal.may_see_grid(c.get("grid_id"))
            else {k: c.get(k) for k in CANDIDATE_KEYS if isinstance(c, dict)}
            for c in cands
        ]
        role, scope = principal.policy_role, principal.grids
        if not may_see_contact(GRID_WORKER, role, scope, gid, answer_grid=gid):
            out["grid_worker"] = None
        leader_grid = _grid_of_microgrid(state, answer.get("microgrid_id"))
        if not may_see_contact(MICROGRID_LEADER, role, scope, leader_grid, answer_grid=gid):
            out["microgrid_leader"] = None
    out["names"] = _names(state, answer)
    return out


@router.get(
    "/locate",
    summary="Which grid owns an address or a coordinate",
    responses={200: {"content": {"application/json": {"example": EXAMPLE}}}},
)
def locate_endpoint(
    state: StateDep,
    principal: PrincipalDep,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="An address, e.g. 示例路1号楼1单元101室.",
            examples=["示例路1号楼1单元101室"],
        ),
    ] = None,
    lon: Annotated[
        float | None, Query(description="Longitude (or x in a projected crs).", examples=[111.4705])
    ] = None,
    lat: Annotated[
        float | None, Query(description="Latitude (or y in a projected crs).", examples=[35.6405])
    ] = None,
    crs: Annotated[
        str,
        Query(
            max_length=40,
            description="Coordinate system of lon/lat: wgs84, gcj02 (Amap/Tencent), bd09 "
            "(Baidu), cgcs2000 or the EPSG code of a geographic or projected CRS; "
            "anything else gets 422.",
            examples=["wgs84", "gcj02"],
        ),
    ] = "wgs84",
) -> dict:
    """Give `q` (an address) or `lon` and `lat` (with `crs`). The answer has the owning
    `microgrid_id`, `grid_id`, `zone_id`, `community_id` (null where none owns the place)
    and their names; with a staff key also the grid worker and leader contacts.

    Runs in the worker thread pool, so a slow lookup (a fuzzy match on a
    city-size registry) never holds up other requests.
    """
    if q is not None and (lon is not None or lat is not None):
        raise BadParameterError("give an address (q=...) or lon= and lat=, not both")
    if q is None and (lon is None or lat is None):
        raise BadParameterError("give an address (q=...) or both lon= and lat=")
    if q is None and not (math.isfinite(lon) and math.isfinite(lat)):
        raise BadParameterError("lon and lat must be finite numbers")
    from gridmap.lookup.matching import AddressRegistry, locate

    cs = crs_param(crs) if q is None else None

    registry = None
    if q is not None:
        registry = state.cached(
            "address-registry", lambda: AddressRegistry.from_workspace(state.workspace)
        )
    result = locate(
        q,
        lon=None if q is not None else lon,
        lat=None if q is not None else lat,
        crs=cs if cs is not None else "wgs84",
        workspace=state.workspace,
        registry=registry,
        include_contacts=principal.is_admin or principal.is_staff,
    )
    return shape_answer(result.to_dict(), principal, state)
