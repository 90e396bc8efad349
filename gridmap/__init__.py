"""gridmap: community grid management (社区网格化管理) in Python.

The library is organised one module per concern:

* :mod:`gridmap.io` - the GeoPackage workspace (read, atomic write)
* :mod:`gridmap.crs` - WGS84 / EPSG / GCJ-02 / BD-09 conversions
* :mod:`gridmap.join` - the core join (points -> micro-grid/grid/zone/community)
* :mod:`gridmap.validation`, :mod:`gridmap.importer`, :mod:`gridmap.synth`,
  :mod:`gridmap.coverage`, :mod:`gridmap.lookup`, :mod:`gridmap.maps`,
  :mod:`gridmap.api`
"""

from gridmap.errors import GridmapError
from gridmap.io import load_workspace, read_layer, write_layers
from gridmap.join import assign_points, assign_workspace, build_hierarchy
from gridmap.lookup import locate

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
