"""The FastAPI application: factory, lifespan and error handling.

``create_app(settings)`` builds the app; the workspace is loaded once when the
app starts (lifespan) and reloaded when the file changes on disk. Every
:class:`~gridmap.errors.GridmapError` becomes a JSON body
``{"error", "message", "layer", "ids", "file"}`` with the class's
``http_status``; parameter errors become 422 with the parameter named, and
anything unexpected a 500 without details (the details go to the server log).
No error body ever echoes the caller's address query or a phone number.
"""

from __future__ import annotations

import logging
import re
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import unquote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gridmap.api.auth import AuthenticationError, KeyStore, RateLimiter, TooManyRequestsError
from gridmap.api.deps import get_principal
from gridmap.api.guard import QUIET_QUERY_PATHS, Guard
from gridmap.api.settings import Settings
from gridmap.api.state import StateHolder
from gridmap.errors import GridmapError

log = logging.getLogger("gridmap.api")

_PHONE_RE = re.compile(r"(?<!\d)1\d{10}(?!\d)|(?<!\d)\d{7,}(?!\d)")

TAGS = [
    {"name": "OGC API - Features", "description": "Layers as OGC API - Features collections."},
    {"name": "lookup", "description": "Which grid owns an address or a coordinate."},
    {"name": "coverage", "description": "Households within reach of facilities (aggregates)."},
    {"name": "maps", "description": "Self-contained meeting maps (HTML)."},
    {"name": "service", "description": "Health and administration."},
]


_PLAIN = re.compile(r"^[A-Za-z0-9_.:,+\-]{1,64}$")


#: Parameters holding codes, not people: their ASCII values may be named in an error.
_CODE_PARAMS = {"crs", "f", "bbox-crs", "level", "distance", "lang", "basemap", "facility"}
_ASCII_CODE = re.compile(r"^[A-Za-z0-9:+=_.,\- ]{1,40}$")


def _scrub(text: str | None, request: Request) -> str | None:
    """Remove the caller's free-text input (an address, a name) and phone-like numbers.

    Messages are written not to repeat input; as a second line of defence, query
    values and path segments that are not plain identifiers or numbers
    (``grids``, ``G01``, ``500``) are replaced by an ellipsis, so an error never
    echoes an address that someone typed into a parameter.
    """
    if not text:
        return text
    values = [
        v
        for k, v in request.query_params.multi_items()
        if not (k in _CODE_PARAMS and _ASCII_CODE.match(v))
    ]
    values += [unquote(seg) for seg in request.url.path.split("/")]
    for value in sorted(values, key=len, reverse=True):
        if value and len(value) >= 2 and not _PLAIN.match(value):
            text = text.replace(value, "…")
    return _PHONE_RE.sub("…", text)


def error_body(exc: GridmapError, request: Request) -> dict:
    """JSON body of an error: class name, message, where (file name only)."""
    body = exc.to_dict()
    body["message"] = _scrub(body["message"], request)
    body["layer"] = _scrub(body["layer"], request)
    if body.get("ids"):
        body["ids"] = [_scrub(str(i), request) for i in body["ids"]]
    if body.get("file"):
        body["file"] = _scrub(Path(body["file"]).name, request)
    return body


def _json_error(status: int, body: dict, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content=body, headers=headers)


async def gridmap_error_handler(request: Request, exc: GridmapError) -> JSONResponse:
    headers = None
    if isinstance(exc, AuthenticationError):
        headers = {"WWW-Authenticate": 'ApiKey header="X-API-Key", Bearer'}
    if isinstance(exc, TooManyRequestsError):
        headers = {"Retry-After": str(exc.retry_after)}
    if exc.http_status >= 500:
        log.warning("%s on %s: %s", type(exc).__name__, request.url.path, exc)
    return _json_error(exc.http_status, error_body(exc, request), headers)


async def validation_error_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    details = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "path", "header", "body")]
        details.append(
            {"parameter": ".".join(loc), "problem": _scrub(str(err.get("msg")), request)}
        )
    text = "; ".join(f"{d['parameter']}: {d['problem']}" for d in details) or "invalid request"
    body = {
        "error": "InvalidParameter",
        "message": f"bad parameter - {text}",
        "layer": None,
        "ids": None,
        "details": details,
    }
    return _json_error(422, body)


async def http_error_handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    names = {404: "NotFound", 405: "MethodNotAllowed"}
    # the path is not repeated: an address typed into a wrong URL must not come back
    message = {
        404: "no such endpoint. GET / lists the links.",
        405: "this endpoint does not answer that method (GET and HEAD are served).",
    }.get(exc.status_code, _scrub(str(exc.detail), request))
    body = {
        "error": names.get(exc.status_code, "HTTPError"),
        "message": message,
        "layer": None,
        "ids": None,
    }
    return _json_error(exc.status_code, body, getattr(exc, "headers", None))


async def unexpected_error_handler(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s", request.url.path)
    body = {
        "error": "InternalError",
        "message": "the server hit an unexpected error; the administrator can see it in the log",
        "layer": None,
        "ids": None,
    }
    return _json_error(500, body)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the gridmap HTTP service.

    Parameters
    ----------
    settings
        Service settings; by default read from ``GRIDMAP_*`` environment
        variables (:class:`~gridmap.api.settings.Settings`).

    Returns
    -------
    fastapi.FastAPI
        The app; run it with ``gridmap serve`` or any ASGI server
        (``uvicorn --factory gridmap.api:create_app``).
    """
    settings = settings or Settings()
    keys = KeyStore.from_settings(settings.keys_file, settings.api_keys, settings.key_secret)
    holder = StateHolder(
        settings.workspace,
        check_every_s=settings.reload_check_s,
        privacy_file=settings.privacy_file,
        cache_limits={
            "coverage": settings.cache_coverage,
            "map": settings.cache_maps,
            "address-registry": settings.cache_registries,
        },
    )
    _quiet_access_log()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        holder.load()
        yield

    app = FastAPI(
        title=settings.title,
        description=settings.description
        + "\n\nPublic data needs no key. Staff and admin send `X-API-Key: KEY` "
        "(or `Authorization: Bearer KEY`).",
        version=_version(),
        lifespan=lifespan,
        openapi_tags=TAGS,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        dependencies=[Depends(get_principal)],  # an unknown key is refused everywhere
    )
    app.state.settings = settings
    app.state.keys = keys
    app.state.holder = holder
    app.state.auth_failures = RateLimiter()
    app.state.key_rates = RateLimiter()
    app.add_exception_handler(GridmapError, gridmap_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)

    from gridmap.api.routers import coverage, health, locate, maps, ogc
    from gridmap.api.routers import requests as requests_router

    app.include_router(ogc.router)
    app.include_router(locate.router)
    app.include_router(coverage.router)
    app.include_router(maps.router)
    app.include_router(health.router)
    app.include_router(requests_router.router)
    app.add_middleware(
        Guard,
        max_in_flight=settings.max_in_flight,
        retry_after_s=settings.retry_after_s,
        allowed_hosts=settings.allowed_hosts,
        public_base_url=settings.public_base_url,
    )
    return app


class _DropQueryOfQuietPaths(logging.Filter):
    """Access-log filter: no query string for /locate (it carries addresses).

    :class:`~gridmap.api.guard.Guard` already clears the query before uvicorn
    writes the line; this also covers servers that format the line earlier.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path = args[2]
            base = path.split("?", 1)[0]
            if base in QUIET_QUERY_PATHS and "?" in path:
                record.args = (*args[:2], base, *args[3:])
        return True


def _quiet_access_log() -> None:
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _DropQueryOfQuietPaths) for f in logger.filters):
        logger.addFilter(_DropQueryOfQuietPaths())


def _version() -> str:
    try:
        from gridmap import __version__

        return __version__
    except ImportError:  # pragma: no cover
        return "0"
