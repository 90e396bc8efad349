"""The extra-layer type of the meeting map (:class:`Overlay`), kept apart so that rooms
that make overlays (resident requests) need not import the map builder."""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd

__all__ = ["Overlay"]


@dataclass
class Overlay:
    """An extra layer for the map (e.g. resident requests aggregated per grid).

    Pass a list of these to :func:`render_html` (``overlays=``); each becomes one
    entry of the layer tree. Only the columns named in ``popup_columns`` reach
    the map, so keep personal columns out of it.

    Attributes
    ----------
    key
        Unique layer key (letters, digits, ``_``).
    label
        Name in the layer tree and legend, already in the map's language.
    gdf
        Points or (Multi)Polygons in EPSG:4326.
    color
        CSS colour of the markers / fills.
    popup_columns
        Columns shown in the popup, as ``{column: label}``.
    size_column
        Optional numeric column sizing point markers (e.g. a count).
    group
        Layer-tree group key (``grp_thematic``, ``grp_households``, ...).
    on
        Shown when the map opens.
    """

    key: str
    label: str
    gdf: gpd.GeoDataFrame
    color: str = "#6a3d9a"
    popup_columns: dict[str, str] = field(default_factory=dict)
    size_column: str | None = None
    group: str = "grp_thematic"
    on: bool = False
