"""The core join: polygon hierarchy, point assignment, the fast index, streaming and Dask."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gridmap.join.assign import assign_workspace
    from gridmap.join.core import AssignResult, Hierarchy, assign_points, build_hierarchy

__all__ = ["AssignResult", "Hierarchy", "assign_points", "assign_workspace", "build_hierarchy"]


def __getattr__(name: str) -> Any:
    # loaded on first use: the in-place assign (gridmap.join.inplace) runs without geopandas
    if name == "assign_workspace":
        from gridmap.join.assign import assign_workspace

        return assign_workspace
    if name in __all__:
        from gridmap.join import core

        return getattr(core, name)
    raise AttributeError(f"module 'gridmap.join' has no attribute {name!r}")
