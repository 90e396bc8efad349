"""The gridmap HTTP service (FastAPI): OGC API - Features, lookup, coverage, maps.

Start it with ``gridmap serve [WORKSPACE] --keys keys.toml`` or build the app
in code with :func:`create_app`. Make an API key with
``python -m gridmap.api.auth --role staff --grids G01``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gridmap.api.app import create_app
    from gridmap.api.settings import Settings

__all__ = ["Settings", "create_app"]


def __getattr__(name: str):
    # imported lazily so that 'python -m gridmap.api.auth' does not import the app first
    if name == "create_app":
        from gridmap.api.app import create_app

        return create_app
    if name == "Settings":
        from gridmap.api.settings import Settings

        return Settings
    raise AttributeError(name)
