"""Where gridmap keeps derived files of its own: the user cache folder.

The numba kernels of the fast join are compiled on first use (about 20 s) and
cached. numba's default cache sits next to the installed sources, which is not
writable in a system or read-only install, so every run would compile again.
:func:`configure_numba_cache` points ``NUMBA_CACHE_DIR`` at the user cache
folder before numba is imported -- unless the user has set it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: Overrides the cache folder (default: the platform's user cache folder + ``gridmap``).
CACHE_ENV = "GRIDMAP_CACHE_DIR"


def user_cache_dir() -> Path:
    """The folder gridmap caches in.

    ``$GRIDMAP_CACHE_DIR``; else ``$XDG_CACHE_HOME/gridmap``; else the
    platform's user cache folder (``platformdirs``: ``~/.cache/gridmap`` on
    Linux, ``~/Library/Caches/gridmap`` on macOS, ``%LOCALAPPDATA%\\gridmap\\Cache``
    on Windows).
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg) / "gridmap"
    try:
        from platformdirs import user_cache_dir as _ucd
    except ImportError:  # pragma: no cover - platformdirs is a dependency
        return Path.home() / ".cache" / "gridmap"
    return Path(_ucd("gridmap", appauthor=False))


def configure_numba_cache() -> Path | None:
    """Set ``NUMBA_CACHE_DIR`` to ``<user cache>/numba`` unless the user set it.

    Must run before numba is imported (gridmap calls it when the package is
    imported). Returns the folder set, or None when left as it was.
    """
    if os.environ.get("NUMBA_CACHE_DIR") or "numba" in sys.modules:
        return None
    folder = user_cache_dir() / "numba"
    os.environ["NUMBA_CACHE_DIR"] = str(folder)
    return folder
