"""Health, identity and administration endpoints."""

from __future__ import annotations

from fastapi import APIRouter, Request

from gridmap.api.deps import AdminDep, PrincipalDep, StateDep

router = APIRouter(tags=["service"])


def _status(request: Request, state) -> dict:
    holder = request.app.state.holder
    return {
        "status": "degraded" if holder.last_error else "ok",
        "workspace": holder.path.name,
        "signature": list(state.signature),
        "loaded_at": state.loaded_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "reloads": holder.reloads,
        "collections": len(state.collections),
        "last_error": holder.last_error,
    }


@router.get(
    "/healthz",
    summary="Liveness and workspace status",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "status": "ok",
                        "workspace": "community.gpkg",
                        "signature": [1234567, 1763900000000000000],
                        "loaded_at": "2026-11-23T08:00:00Z",
                        "reloads": 1,
                        "collections": 10,
                        "last_error": None,
                    }
                }
            }
        }
    },
)
def healthz(request: Request, state: StateDep) -> dict:
    """`ok` when the workspace is loaded; `degraded` when a reload failed (the last good
    copy is still served)."""
    return _status(request, state)


@router.get("/whoami", summary="The role and grids of your API key")
def whoami(principal: PrincipalDep) -> dict:
    """Which role the `X-API-Key` header gives you (anonymous without one)."""
    return {"role": principal.role, "name": principal.name, "grids": sorted(principal.grids)}


@router.post("/admin/reload", summary="Reload the workspace now (admin)")
def reload(request: Request, _admin: AdminDep) -> dict:
    """Re-read the workspace file now. Changes are also picked up automatically within
    `GRIDMAP_RELOAD_CHECK_S` seconds (default 1)."""
    state = request.app.state.holder.load()
    return _status(request, state)
