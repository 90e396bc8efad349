"""FastAPI dependencies shared by the routers: the current state and the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from gridmap.api.auth import (
    ANONYMOUS,
    AuthenticationError,
    KeyStore,
    PermissionDeniedError,
    Principal,
    RateLimiter,
    TooManyRequestsError,
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


def client_address(request: Request) -> str:
    """The caller's address (as the server sees it; behind a proxy see uvicorn's
    ``--proxy-headers`` and ``--forwarded-allow-ips``)."""
    client = request.client
    return client.host if client else "unknown"


async def get_principal(request: Request) -> Principal:
    """Who is calling. A key costs a dictionary look-up and at most one fast hash.

    Failed keys are rate-limited per client address (429 with Retry-After
    once a burst is used up: every request carrying a key from that address
    waits, so keys cannot be guessed online); keys may have their own request
    rate (``rate_per_s`` in the key file, or ``GRIDMAP_KEY_RATE_PER_S``).
    """
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    store: KeyStore = request.app.state.keys
    settings: Settings = request.app.state.settings
    key = key_from_headers(request.headers)
    if not key:
        principal = ANONYMOUS
    else:
        failures: RateLimiter = request.app.state.auth_failures
        addr = client_address(request)
        rate = settings.auth_failures_per_min / 60.0
        wait = failures.waiting(addr, rate, settings.auth_failures_burst)
        if wait > 0:
            raise TooManyRequestsError(
                "too many invalid API keys from your address; retry later", retry_after=wait
            )
        try:
            principal = store.authenticate(key)
        except AuthenticationError:
            failures.take(addr, rate, settings.auth_failures_burst)
            raise
        per_s = principal.rate_per_s or settings.key_rate_per_s
        if per_s:
            limiter: RateLimiter = request.app.state.key_rates
            wait = limiter.take(
                f"{principal.role}:{principal.name}", per_s, settings.key_rate_burst
            )
            if wait > 0:
                raise TooManyRequestsError(
                    "this API key has used up its request rate; retry later", retry_after=wait
                )
    request.state.principal = principal
    return principal


def public_base(request: Request) -> str:
    """Base URL for links: the configured public URL, else the (trusted) request host.

    The Host header has been checked by :class:`gridmap.api.guard.Guard`.
    """
    settings: Settings = request.app.state.settings
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/")
    return str(request.base_url).rstrip("/")


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
