"""``/coverage``: households within reach of a facility layer, as aggregates only."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from gridmap.api.deps import BadParameterError, SettingsDep, StateDep
from gridmap.api.inputs import radius_param
from gridmap.api.state import GRID_STATS
from gridmap.policy.jsonsafe import json_records, json_safe
from gridmap.policy.privacy import COVERAGE
from gridmap.workspace.schema import POLYGON_LEVELS, ROADS

router = APIRouter(tags=["coverage"])

LEVELS = ("community", "zone", "grid", "microgrid")

EXAMPLE = {
    "facility": "service_stations",
    "radius_m": 500.0,
    "distance": "euclidean",
    "households": 3500,
    "covered": 3120,
    "share": 0.891,
    "level": "grid",
    "by_level": [{"grid_id": "G01", "households": 140, "covered": 131, "share": 0.936}],
    "by_grid": [{"grid_id": "G01", "households": 140, "covered": 131, "share": 0.936}],
    "notes": [],
}


def _records(frame, policy) -> list[dict]:
    frame = policy.public_frame(COVERAGE, frame)
    return json_records(frame)


def _strip(record: dict, policy) -> dict:
    """Keep the keys of an aggregate record the privacy policy lets anyone see."""
    return policy.public_record(COVERAGE, record)


@router.get(
    "/coverage",
    summary="Share of households within reach of a facility layer",
    responses={200: {"content": {"application/json": {"example": EXAMPLE}}}},
)
def coverage_endpoint(
    state: StateDep,
    settings: SettingsDep,
    facility: Annotated[
        str,
        Query(
            max_length=64,
            description="Facility layer: service_stations, charging_piles or parking.",
            examples=["service_stations"],
        ),
    ],
    radius: Annotated[
        float | None,
        Query(
            gt=0,
            le=100_000,
            description="Reach in metres (default: the layer's standard, e.g. 500 m): a "
            "multiple of 50 between 50 and 5000 (configurable), or a standard's radius.",
            examples=[500],
        ),
    ] = None,
    level: Annotated[
        Literal["community", "zone", "grid", "microgrid"],
        Query(description="Level of the `by_level` breakdown.", examples=["grid"]),
    ] = "grid",
    distance: Annotated[
        Literal["auto", "euclidean", "network"],
        Query(description="Straight-line or along the road network (auto: network if roads)."),
    ] = "auto",
) -> dict:
    """Aggregates only (counts and shares per level): never individual households.

    Answers are cached per workspace version in a bounded LRU
    (``GRIDMAP_CACHE_COVERAGE``, 16); radii outside the allowed set get 422.
    """
    from gridmap.analysis.coverage import compute_coverage

    facilities = [
        n
        for n, c in state.collections.items()
        if n not in (*POLYGON_LEVELS, GRID_STATS, ROADS) and c.public_frame is not None
    ]
    if facility not in facilities:
        raise BadParameterError(
            "facility must be a facility layer of the workspace: " + ", ".join(facilities)
        )
    radius = radius_param(
        radius,
        settings.coverage_radius_min,
        settings.coverage_radius_max,
        settings.coverage_radius_step,
    )

    def run():
        res = compute_coverage(state.workspace, facility, radius, distance=distance)
        doc = json_safe(res.to_json())
        by_level = doc.pop("by_level", None) or {
            lv: _records(df, state.policy) for lv, df in (res.by_level or {}).items()
        }
        doc["by_grid"] = [_strip(r, state.policy) for r in doc.get("by_grid", [])]
        doc["by_level_all"] = {
            lv: [_strip(r, state.policy) for r in recs] for lv, recs in by_level.items()
        }
        return doc

    cached = state.cached(("coverage", facility, radius, distance), run)
    out = {k: v for k, v in cached.items() if k != "by_level_all"}
    out["level"] = level
    out["by_level"] = cached["by_level_all"].get(level, [])
    return out
