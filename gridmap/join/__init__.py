"""The core join: polygon hierarchy, point assignment, the fast index, streaming and Dask."""

from gridmap.join.core import (
    AssignResult,
    Hierarchy,
    assign_points,
    assign_workspace,
    build_hierarchy,
)

__all__ = ["AssignResult", "Hierarchy", "assign_points", "assign_workspace", "build_hierarchy"]
