"""The meeting map: one self-contained, private HTML file (and a static PNG).

Use :func:`build_map` for the HTML text, :func:`write_map` to write it
atomically, :func:`gridmap.maps.static.write_png` for a picture.
"""

from __future__ import annotations

from gridmap.maps.builder import (
    BASEMAPS,
    MapContext,
    Overlay,
    build_map,
    prepare_map,
    render_html,
    write_html,
    write_map,
)

__all__ = [
    "BASEMAPS",
    "MapContext",
    "Overlay",
    "build_map",
    "prepare_map",
    "render_html",
    "write_html",
    "write_map",
]
