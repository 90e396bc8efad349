"""The workspace: layer schema and the GeoPackage store (read, atomic write, locking)."""

from gridmap.workspace.cache import configure_numba_cache

configure_numba_cache()  # before anything imports numba: compiled kernels go to the user cache

from gridmap.workspace.store import (  # noqa: E402
    Workspace,
    load_workspace,
    read_layer,
    write_columns,
    write_layers,
)

__all__ = ["Workspace", "load_workspace", "read_layer", "write_columns", "write_layers"]
