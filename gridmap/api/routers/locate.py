"""``/locate``: which micro-grid, grid, zone and community own an address or a point.

Anonymous and public callers get the owners (ids and names) and the match
quality only: no contacts, no matched household address, no candidates'
addresses. Staff keys also get the grid worker and micro-grid leader contacts,
and the matched address when it lies in one of their grids. Admin gets all.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Query

from gridmap.api.auth import Principal
from gridmap.api.deps import BadParameterError, PrincipalDep, StateDep
from gridmap.api.state import WorkspaceState
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


def shape_answer(answer: dict, principal: Principal, state: WorkspaceState) -> dict:
    """Cut a :meth:`LocateResult.to_dict` answer down to what ``principal`` may see."""
    if principal.is_admin:
        out = dict(answer)
    elif principal.is_staff:
        out = dict(answer)
        if not principal.may_see_grid(answer.get("grid_id")):
            for k in ("matched_address", "address", "household_id", "query", "parsed"):
                out.pop(k, None)
        cands = answer.get("candidates") or []
        out["candidates"] = [
            c
            if isinstance(c, dict) and principal.may_see_grid(c.get("grid_id"))
            else {k: c.get(k) for k in CANDIDATE_KEYS if isinstance(c, dict)}
            for c in cands
        ]
    else:
        out = {k: answer.get(k) for k in (*ASSIGN_COLUMNS, *PUBLIC_KEYS)}
        cands = answer.get("candidates") or []
        out["candidates"] = [
            {k: c.get(k) for k in CANDIDATE_KEYS} for c in cands if isinstance(c, dict)
        ]
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
            "(Baidu) or an EPSG code.",
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

    registry = None
    if q is not None:
        registry = state.cached(
            "address-registry", lambda: AddressRegistry.from_workspace(state.workspace)
        )
    result = locate(
        q,
        lon=None if q is not None else lon,
        lat=None if q is not None else lat,
        crs=crs,
        workspace=state.workspace,
        registry=registry,
        include_contacts=principal.is_admin or principal.is_staff,
    )
    return shape_answer(result.to_dict(), principal, state)
