"""gridmap: community grid management (社区网格化管理) in Python.

The package is organised in rooms, one per concern (``docs/architecture.md``):

* :mod:`gridmap.workspace` - the layer schema and the GeoPackage store
* :mod:`gridmap.coords` - WGS84 / EPSG / GCJ-02 / BD-09 conversions
* :mod:`gridmap.ingest` - office files into the workspace
* :mod:`gridmap.checks` - ``gridmap validate``
* :mod:`gridmap.join` - the core join (points -> micro-grid/grid/zone/community)
* :mod:`gridmap.analysis` - coverage, indicators, standards, siting
* :mod:`gridmap.lookup` - address and coordinate lookup
* :mod:`gridmap.maps` - the self-contained meeting map
* :mod:`gridmap.datasets` - the packaged sample workspace
* :mod:`gridmap.cli`, :mod:`gridmap.api` - the command line and the HTTP service
"""

from typing import TYPE_CHECKING, Any

from gridmap.errors import GridmapError

if TYPE_CHECKING:
    from gridmap.join import assign_points, assign_workspace, build_hierarchy
    from gridmap.lookup import locate
    from gridmap.workspace import load_workspace, read_layer, write_layers

__all__ = [
    "GridmapError",
    "assign_points",
    "assign_workspace",
    "build_hierarchy",
    "load_workspace",
    "locate",
    "read_layer",
    "write_layers",
]

__version__ = "0.1.0"

# The shortcuts load their room on first use, so that 'import gridmap' (and so
# 'gridmap --help') does not pay for geopandas.
_LAZY = {
    "assign_points": "gridmap.join",
    "assign_workspace": "gridmap.join",
    "build_hierarchy": "gridmap.join",
    "locate": "gridmap.lookup",
    "load_workspace": "gridmap.workspace",
    "read_layer": "gridmap.workspace",
    "write_layers": "gridmap.workspace",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gridmap' has no attribute {name!r}")
