"""The gridmap HTTP service (FastAPI): OGC API - Features, lookup, coverage, maps.

Start it with ``gridmap serve [WORKSPACE] --keys keys.toml`` or build the app
in code with :func:`create_app`.
"""

from gridmap.api.app import create_app
from gridmap.api.settings import Settings

__all__ = ["Settings", "create_app"]
