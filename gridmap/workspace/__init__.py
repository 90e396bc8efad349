"""The workspace: layer schema and the GeoPackage store (read, atomic write, locking)."""

from typing import TYPE_CHECKING, Any

from gridmap.workspace.cache import configure_numba_cache

configure_numba_cache()  # before anything imports numba: compiled kernels go to the user cache

if TYPE_CHECKING:
    from gridmap.workspace.store import (
        Workspace,
        load_workspace,
        read_layer,
        write_columns,
        write_layers,
    )

__all__ = ["Workspace", "load_workspace", "read_layer", "write_columns", "write_layers"]


def __getattr__(name: str) -> Any:
    # the store (geopandas, pyogrio) loads on first use: the SQLite-only paths stay light
    if name in __all__:
        from gridmap.workspace import store

        return getattr(store, name)
    raise AttributeError(f"module 'gridmap.workspace' has no attribute {name!r}")
