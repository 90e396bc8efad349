"""FastAPI dependencies shared by the routers: the current state and the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from gridmap.api.auth import (
    AuthenticationError,
    KeyStore,
    PermissionDeniedError,
    Principal,
    key_from_headers,
)
from gridmap.api.settings import Settings
from gridmap.api.state import StateHolder, WorkspaceState
from gridmap.errors import GridmapError


class BadParameterError(GridmapError):
    """A query parameter is malformed or out of range."""

    http_status = 422


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_state(request: Request) -> WorkspaceState:
    """The current workspace state; file checks and reloads run off the event loop."""
    holder: StateHolder = request.app.state.holder
    state = holder.fresh()
    if state is not None:
        return state
    return await run_in_threadpool(holder.get)


async def get_principal(request: Request) -> Principal:
    """Who is calling; a key seen for the first time is verified (scrypt) off the loop."""
    store: KeyStore = request.app.state.keys
    key = key_from_headers(request.headers)
    principal = store.cached(key)
    if principal is None:
        principal = await run_in_threadpool(store.authenticate, key)
    request.state.principal = principal
    return principal


def require_admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if principal.is_admin:
        return principal
    if not principal.authenticated:
        raise AuthenticationError("this needs an admin API key (X-API-Key header)")
    raise PermissionDeniedError("this needs an admin key; your key's role is " + principal.role)


StateDep = Annotated[WorkspaceState, Depends(get_state)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
AdminDep = Annotated[Principal, Depends(require_admin)]
