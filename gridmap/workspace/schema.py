"""The workspace schema: layer names, id columns, required and optional columns.

These names are fixed by docs/design.md; other modules import them from here instead
of repeating string literals.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LayerSpec:
    """Description of one workspace layer."""

    name: str
    id_column: str
    geometry: tuple[str, ...]
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    parent: str | None = None  # name of the parent polygon layer
    personal: tuple[str, ...] = field(default=())  # columns holding personal data

    @property
    def parent_id_column(self) -> str | None:
        return LAYERS[self.parent].id_column if self.parent else None

    @property
    def is_polygon_layer(self) -> bool:
        return self.geometry == POLYGON


POLYGON = ("Polygon", "MultiPolygon")
POINT = ("Point",)

COMMUNITIES = "communities"
ZONES = "zones"
GRIDS = "grids"
MICROGRIDS = "microgrids"
HOUSEHOLDS = "households"
CHARGING_PILES = "charging_piles"
PARKING = "parking"
SERVICE_STATIONS = "service_stations"
ROADS = "roads"

LAYERS: dict[str, LayerSpec] = {
    COMMUNITIES: LayerSpec(COMMUNITIES, "community_id", POLYGON, ("community_id", "name")),
    ZONES: LayerSpec(
        ZONES, "zone_id", POLYGON, ("zone_id", "name"), ("community_id",), parent=COMMUNITIES
    ),
    GRIDS: LayerSpec(
        GRIDS,
        "grid_id",
        POLYGON,
        ("grid_id", "name"),
        ("zone_id", "staff_name", "staff_phone"),
        parent=ZONES,
        personal=("staff_name", "staff_phone"),
    ),
    MICROGRIDS: LayerSpec(
        MICROGRIDS,
        "microgrid_id",
        POLYGON,
        ("microgrid_id", "name"),
        ("grid_id", "leader_name", "leader_phone"),
        parent=GRIDS,
        personal=("leader_name", "leader_phone"),
    ),
    HOUSEHOLDS: LayerSpec(
        HOUSEHOLDS,
        "household_id",
        POINT,
        ("household_id",),
        ("address", "residents", "elderly", "lives_alone", "has_ev"),
        personal=("address", "name", "head_name", "phone", "contact_phone", "resident_name"),
    ),
    CHARGING_PILES: LayerSpec(
        CHARGING_PILES, "pile_id", POINT, ("pile_id",), ("ports", "power_kw", "kind", "status")
    ),
    PARKING: LayerSpec(
        PARKING,
        "parking_id",
        ("Point", "Polygon", "MultiPolygon"),
        ("parking_id",),
        ("spaces", "kind"),
    ),
    SERVICE_STATIONS: LayerSpec(
        SERVICE_STATIONS,
        "station_id",
        POINT,
        ("station_id", "name"),
        ("kind", "open_hours", "staff_on_site"),
    ),
    # Street centre-lines for walking distances; ids are numbered on import when absent.
    ROADS: LayerSpec(
        ROADS, "road_id", ("LineString", "MultiLineString"), ("road_id",), ("name", "kind")
    ),
}

#: Polygon layers from finest to coarsest: the order the core join asks them in.
POLYGON_LEVELS: tuple[str, ...] = (MICROGRIDS, GRIDS, ZONES, COMMUNITIES)

#: Point layers that ``gridmap assign`` writes ids onto.
POINT_LAYERS: tuple[str, ...] = (HOUSEHOLDS, CHARGING_PILES, PARKING, SERVICE_STATIONS)

#: Facility layers used in coverage analyses.
FACILITY_LAYERS: tuple[str, ...] = (SERVICE_STATIONS, CHARGING_PILES, PARKING)

#: The id columns the core join writes, finest first.
ASSIGN_COLUMNS: tuple[str, ...] = tuple(LAYERS[name].id_column for name in POLYGON_LEVELS)
#: Extra columns written by the join besides the four id columns: the finest
#: owning level, and for points outside every micro-grid the nearest one and
#: its distance in metres.
LEVEL_COLUMN = "assigned_level"
NEAREST_COLUMN = "nearest_microgrid_id"
NEAREST_DIST_COLUMN = "nearest_microgrid_m"
RESULT_COLUMNS: tuple[str, ...] = (
    *ASSIGN_COLUMNS,
    LEVEL_COLUMN,
    NEAREST_COLUMN,
    NEAREST_DIST_COLUMN,
)
