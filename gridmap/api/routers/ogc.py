"""OGC API - Features (Part 1: core, geojson, oas30) over the workspace layers.

Feature ids are the layer's id column (``grid_id``, ``household_id``...).
Geometries are WGS84 longitude/latitude (CRS84). ``limit`` above the
configured maximum is capped, not refused; ``next``/``prev`` links are absolute.
"""

from __future__ import annotations

import json
import logging
import math
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

import geopandas as gpd
import numpy as np
import shapely
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from gridmap.api.access import can_list, deny, in_scope, visible_frame
from gridmap.api.deps import BadParameterError, PrincipalDep, SettingsDep, StateDep, public_base
from gridmap.api.oas30 import to_openapi30
from gridmap.api.state import Collection
from gridmap.coords.crs import nonfinite_geometries
from gridmap.errors import NotFoundError

router = APIRouter(tags=["OGC API - Features"])
_log = logging.getLogger("gridmap.api")

GEOJSON = "application/geo+json"
JSON = "application/json"
OPENAPI_MEDIA = "application/vnd.oai.openapi+json;version=3.0"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
F_VALUES = {"json", "geojson", "application/json", "application/geo+json"}


_B = "http://127.0.0.1:8000"
EX_LANDING = {
    "title": "gridmap",
    "description": "Community grid management (社区网格化管理)",
    "links": [
        {"href": f"{_B}/", "rel": "self", "type": JSON},
        {"href": f"{_B}/api", "rel": "service-desc", "type": OPENAPI_MEDIA},
        {"href": f"{_B}/docs", "rel": "service-doc", "type": "text/html"},
        {"href": f"{_B}/conformance", "rel": "conformance", "type": JSON},
        {"href": f"{_B}/collections", "rel": "data", "type": JSON},
    ],
}
EX_COLLECTION = {
    "id": "grids",
    "title": "Grids (网格)",
    "description": "Grid boundaries; staff contacts only for staff and admin keys.",
    "itemType": "feature",
    "crs": [CRS84],
    "extent": {"spatial": {"bbox": [[111.46, 35.63, 111.49, 35.65]], "crs": CRS84}},
    "links": [
        {"href": f"{_B}/collections/grids", "rel": "self", "type": JSON},
        {"href": f"{_B}/collections/grids/items", "rel": "items", "type": GEOJSON},
    ],
}
EX_FEATURE = {
    "type": "Feature",
    "id": "G01",
    "properties": {"grid_id": "G01", "name": "第1网格", "zone_id": "Z1"},
    "geometry": {
        "type": "Polygon",
        "coordinates": [[[111.47, 35.64], [111.471, 35.64], [111.471, 35.641], [111.47, 35.64]]],
    },
}
EX_ITEMS = {
    "type": "FeatureCollection",
    "features": [EX_FEATURE],
    "numberMatched": 26,
    "numberReturned": 1,
    "timeStamp": "2026-11-23T08:00:00Z",
    "links": [
        {"href": f"{_B}/collections/grids/items?limit=1&offset=0", "rel": "self", "type": GEOJSON},
        {"href": f"{_B}/collections/grids/items?limit=1&offset=1", "rel": "next", "type": GEOJSON},
    ],
}


def _example(example: dict, media: str = JSON, description: str = "OK") -> dict:
    return {200: {"description": description, "content": {media: {"example": example}}}}


class GeoJSONResponse(JSONResponse):
    media_type = GEOJSON


FParam = Annotated[
    str | None,
    Query(description="Output format; only JSON is served (json, geojson).", examples=["json"]),
]
CollectionId = Annotated[
    str,
    Path(
        alias="collectionId",
        description="Layer name, e.g. grids, microgrids, service_stations, grid_stats.",
        examples=["grids"],
    ),
]


def _check_f(f: str | None) -> None:
    if f is not None and f.lower() not in F_VALUES:
        raise BadParameterError("this f value is not served; use f=json (or leave it out)")


def _base(request: Request) -> str:
    return public_base(request)


def _link(href: str, rel: str, type_: str, title: str | None = None) -> dict:
    link = {"href": href, "rel": rel, "type": type_}
    if title:
        link["title"] = title
    return link


@router.get(
    "/",
    summary="Landing page",
    responses=_example(EX_LANDING, description="Links to the API, conformance and collections."),
)
def landing(request: Request, settings: SettingsDep, f: FParam = None) -> JSONResponse:
    """The OGC API landing page: links to `/api`, `/docs`, `/conformance`, `/collections`."""
    _check_f(f)
    base = _base(request)
    return JSONResponse(
        {
            "title": settings.title,
            "description": settings.description,
            "links": [
                _link(f"{base}/", "self", JSON, "this document"),
                _link(f"{base}/api", "service-desc", OPENAPI_MEDIA, "the API definition"),
                _link(f"{base}/docs", "service-doc", "text/html", "the API documentation"),
                _link(f"{base}/conformance", "conformance", JSON, "conformance classes"),
                _link(f"{base}/collections", "data", JSON, "the collections (layers)"),
            ],
        }
    )


@router.get(
    "/conformance",
    summary="Conformance classes",
    responses=_example({"conformsTo": CONFORMANCE}),
)
def conformance(f: FParam = None) -> JSONResponse:
    """The OGC API - Features conformance classes this service implements."""
    _check_f(f)
    return JSONResponse({"conformsTo": CONFORMANCE})


@router.get("/api", summary="The API definition (OpenAPI)")
def api_definition(request: Request, f: FParam = None) -> JSONResponse:
    """This API's OpenAPI 3.0 document (`/openapi.json` has FastAPI's 3.1 version)."""
    _check_f(f)
    app = request.app
    doc = getattr(app.state, "openapi30", None)
    if doc is None:
        doc = app.state.openapi30 = to_openapi30(app.openapi())
    return JSONResponse(doc, media_type=OPENAPI_MEDIA)


def _collection_doc(col: Collection, base: str) -> dict:
    href = f"{base}/collections/{col.name}"
    doc = {
        "id": col.name,
        "title": col.title,
        "description": col.description,
        "itemType": "feature",
        "crs": [CRS84],
        "links": [
            _link(href, "self", JSON, "this collection"),
            _link(f"{href}/items", "items", GEOJSON, "the features"),
        ],
    }
    bbox = col.bbox
    if bbox:
        doc["extent"] = {"spatial": {"bbox": [bbox], "crs": CRS84}}
    return doc


@router.get(
    "/collections",
    summary="The collections (layers) you may read",
    responses=_example({"links": [], "collections": [EX_COLLECTION]}),
)
def collections(
    request: Request, state: StateDep, principal: PrincipalDep, f: FParam = None
) -> JSONResponse:
    """Layers served as collections. Households appear only for staff and admin keys."""
    _check_f(f)
    base = _base(request)
    cols = [_collection_doc(c, base) for c in state.collections.values() if can_list(c, principal)]
    return JSONResponse(
        {
            "links": [_link(f"{base}/collections", "self", JSON, "this document")],
            "collections": cols,
        }
    )


@router.get(
    "/collections/{collectionId}",
    summary="One collection's metadata",
    responses=_example(EX_COLLECTION),
)
def collection(
    request: Request,
    state: StateDep,
    principal: PrincipalDep,
    collection_id: CollectionId,
    f: FParam = None,
) -> JSONResponse:
    """Title, extent and links of one collection."""
    _check_f(f)
    col = state.collection(collection_id)
    if not can_list(col, principal):
        raise deny(col, principal)
    return JSONResponse(_collection_doc(col, _base(request)))


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """Parse ``minx,miny,maxx,maxy`` (or the 6-number 3D form) in CRS84."""
    parts = [p.strip() for p in text.split(",")]
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        nums = []
    if len(nums) not in (4, 6) or not all(math.isfinite(v) for v in nums):
        raise BadParameterError("bbox must be 4 numbers 'minlon,minlat,maxlon,maxlat'")
    if len(nums) == 6:
        nums = [nums[0], nums[1], nums[3], nums[4]]
    x0, y0, x1, y1 = nums
    if not (-180 <= x0 <= 180 and -180 <= x1 <= 180 and -90 <= y0 <= 90 and -90 <= y1 <= 90):
        raise BadParameterError(
            "bbox is outside longitude -180..180 / latitude -90..90; "
            "give WGS84 degrees as minlon,minlat,maxlon,maxlat"
        )
    if y0 > y1 or x0 > x1:
        raise BadParameterError(
            "bbox minimum is larger than its maximum; order is minlon,minlat,maxlon,maxlat"
        )
    return x0, y0, x1, y1


def features_of(frame: gpd.GeoDataFrame, id_column: str) -> list[dict]:
    """GeoJSON features with ``id`` = the id column (nulls for missing values)."""
    if len(frame) == 0:
        return []
    page = frame.set_index(frame[id_column].rename(None), drop=False)
    bad = nonfinite_geometries(page.geometry.values)
    if bad.any():
        # JSON has no NaN: a stored NaN/infinite position would make the whole page a 500
        ids = [str(v) for v in page[id_column][bad]]
        _log.warning(
            "layer '%s': %d feature(s) with a NaN or infinite coordinate served without "
            "geometry (%s); run 'gridmap validate' and fix them",
            frame.attrs.get("layer", id_column),
            len(ids),
            ", ".join(ids[:10]),
        )
        page = page.set_geometry(page.geometry.where(~bad, None))
    return json.loads(page.to_json(na="null", drop_id=False))["features"]


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@router.get(
    "/collections/{collectionId}/items",
    summary="Features of a collection (GeoJSON, paged)",
    response_class=GeoJSONResponse,
    responses=_example(EX_ITEMS, GEOJSON, "A GeoJSON FeatureCollection with paging links."),
)
def items(
    request: Request,
    state: StateDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    collection_id: CollectionId,
    limit: Annotated[
        int | None,
        Query(
            ge=1,
            description="Page size (default 100). Values above the server maximum "
            "(10,000 unless configured) are capped.",
            examples=[100],
        ),
    ] = None,
    offset: Annotated[
        int, Query(ge=0, description="Features to skip (follow the 'next' link).", examples=[0])
    ] = 0,
    bbox: Annotated[
        str | None,
        Query(
            description="Only features intersecting minlon,minlat,maxlon,maxlat (WGS84).",
            examples=["111.47,35.64,111.472,35.642"],
        ),
    ] = None,
    bbox_crs: Annotated[
        str | None, Query(alias="bbox-crs", description="Only CRS84 is supported.")
    ] = None,
    f: FParam = None,
) -> GeoJSONResponse:
    """Features of one collection as a GeoJSON FeatureCollection with paging links."""
    _check_f(f)
    if bbox_crs is not None and bbox_crs != CRS84:
        raise BadParameterError(f"bbox-crs must be {CRS84} (WGS84 lon/lat)")
    col = state.collection(collection_id)
    frame = visible_frame(col, principal)
    limit = min(limit or settings.default_limit, settings.max_limit)
    if bbox is not None:
        x0, y0, x1, y1 = parse_bbox(bbox)
        hits = frame.sindex.query(shapely.box(x0, y0, x1, y1), predicate="intersects")
        frame = frame.iloc[np.sort(hits)]
    matched = len(frame)
    page = frame.iloc[offset : offset + limit] if offset < matched else frame.iloc[0:0]
    feats = features_of(page, col.id_column)
    base = _base(request)
    href = f"{base}/collections/{col.name}/items"
    params = {"limit": limit}
    if bbox is not None:
        params["bbox"] = bbox

    def url(off: int) -> str:
        return href + "?" + urlencode({**params, "offset": off})

    links = [
        _link(url(offset), "self", GEOJSON, "this page"),
        _link(f"{base}/collections/{col.name}", "collection", JSON, "the collection"),
    ]
    if offset + len(feats) < matched:
        links.append(_link(url(offset + len(feats)), "next", GEOJSON, "next page"))
    if offset > 0:
        links.append(_link(url(max(0, min(offset, matched) - limit)), "prev", GEOJSON, "previous"))
    return GeoJSONResponse(
        {
            "type": "FeatureCollection",
            "features": feats,
            "numberMatched": matched,
            "numberReturned": len(feats),
            "timeStamp": _timestamp(),
            "links": links,
        }
    )


@router.get(
    "/collections/{collectionId}/items/{featureId}",
    summary="One feature by id",
    response_class=GeoJSONResponse,
    responses=_example(EX_FEATURE, GEOJSON, "A GeoJSON Feature."),
)
def item(
    request: Request,
    state: StateDep,
    principal: PrincipalDep,
    collection_id: CollectionId,
    feature_id: Annotated[
        str, Path(alias="featureId", description="The feature's id.", examples=["G01"])
    ],
    f: FParam = None,
) -> GeoJSONResponse:
    """One feature; its id is the layer's id column (e.g. `grid_id`)."""
    _check_f(f)
    col = state.collection(collection_id)
    pos = col.position_of(feature_id)
    if pos is None:
        if col.public_frame is None and not principal.is_admin and not principal.is_staff:
            raise deny(col, principal)  # do not reveal which ids exist
        # the id is not echoed: it is whatever the caller typed into the URL
        raise NotFoundError(
            f"collection '{col.name}' has no feature with this {col.id_column}",
            layer=col.name,
        )
    if col.public_frame is None and not in_scope(col, principal)[pos]:
        raise deny(col, principal)
    frame = visible_frame(col, principal)
    row = frame.loc[[col.frame.index[pos]]]
    feat = features_of(row, col.id_column)[0]
    base = _base(request)
    feat["links"] = [
        _link(f"{base}/collections/{col.name}/items/{feature_id}", "self", GEOJSON),
        _link(f"{base}/collections/{col.name}", "collection", JSON),
    ]
    return GeoJSONResponse(feat)
