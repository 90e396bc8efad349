"""``/maps/{name}.html``: the self-contained meeting map, cached per workspace version.

``overview`` is the plain map; any numeric per-grid indicator of
``/collections/grid_stats`` can be named to colour the grids by it. Maps never
carry personal data unless an admin asks for ``personal=true``.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from gridmap.api.auth import AuthenticationError, PermissionDeniedError
from gridmap.api.deps import PrincipalDep, StateDep, public_base
from gridmap.api.state import GRID_STATS
from gridmap.errors import NotFoundError

router = APIRouter(tags=["maps"])
OVERVIEW = ("overview", "community")


def indicators(state) -> list[str]:
    """Numeric per-grid indicator columns a map can be coloured by."""
    col = state.collections.get(GRID_STATS)
    if col is None:
        return []
    frame = col.frame
    return [
        c
        for c in frame.columns
        if c != "geometry" and c != col.id_column and frame[c].dtype.kind in "biuf"
    ]


@router.get("/maps", summary="The maps this service can draw")
def list_maps(request: Request, state: StateDep) -> dict:
    """Map names: `overview` and one per grid indicator."""
    base = public_base(request)
    names = ["overview", *indicators(state)]
    return {"maps": [{"name": n, "href": f"{base}/maps/{n}.html"} for n in names]}


@router.get(
    "/maps/{name}.html",
    summary="A self-contained HTML meeting map",
    response_class=HTMLResponse,
    responses={200: {"content": {"text/html": {}}, "description": "One self-contained HTML file."}},
)
def map_html(
    request: Request,
    state: StateDep,
    principal: PrincipalDep,
    name: Annotated[
        str,
        Path(
            pattern=r"^[A-Za-z0-9_\-]{1,64}$",
            description="`overview`, or a grid indicator from `/maps`.",
            examples=["overview"],
        ),
    ],
    lang: Annotated[Literal["zh", "en"], Query(description="Map text language.")] = "zh",
    basemap: Annotated[
        Literal["amap", "osm", "tianditu", "none"], Query(description="Background tiles.")
    ] = "amap",
    personal: Annotated[
        bool, Query(description="Include staff/leader contacts (admin keys only).")
    ] = False,
) -> Response:
    """The meeting map as one HTML file that opens offline (only tiles need a network)."""
    if personal and not principal.is_admin:
        if not principal.authenticated:
            raise AuthenticationError("a map with personal data needs an admin API key")
        raise PermissionDeniedError("only admin keys may ask for maps with personal data")
    if name in OVERVIEW:
        indicator = None
    elif name in indicators(state):
        indicator = name
    else:
        raise NotFoundError(
            "there is no such map; GET /maps lists them (overview, "
            + ", ".join(indicators(state)[:8])
            + ")"
        )
    from gridmap.maps import build_map

    def make() -> tuple[bytes, str]:
        html = build_map(
            state.workspace,
            basemap=basemap,
            lang=lang,
            indicator=indicator,
            include_personal=personal,
        ).encode("utf-8")
        return html, hashlib.sha256(html).hexdigest()[:32]

    html, etag = state.cached(("map", name, lang, basemap, personal), make)
    etag = f'"{etag}"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache" if personal else "no-cache"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return HTMLResponse(html, headers=headers)
