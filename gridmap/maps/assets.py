"""Inline assets for the self-contained map: Leaflet from xstatic, gridmap's own JS/CSS.

Nothing is fetched at run time. Leaflet's CSS refers to ``images/*.png``; those
references are replaced with ``data:`` URIs so the file needs no side files.
The map does not use Leaflet's default marker icon at all (service stations are
DivIcons, other points are circle markers), but the icon CSS is inlined anyway
so that nothing points at a missing file.
"""

from __future__ import annotations

import base64
import functools
import re
from pathlib import Path

from gridmap.errors import GridmapError

ASSET_DIR = Path(__file__).resolve().parent / "assets"


def _leaflet_dir() -> Path:
    try:
        import xstatic.pkg.leaflet as xl
    except ImportError as exc:  # pragma: no cover - dependency of the package
        raise GridmapError(
            "the package xstatic-leaflet is missing; reinstall gridmap "
            "('pip install -e .' or 'make demo') to get the inlined Leaflet files"
        ) from exc
    return Path(xl.BASE_DIR)


@functools.cache
def leaflet_js() -> str:
    """Minified Leaflet 1.9 JavaScript (from xstatic-leaflet)."""
    text = (_leaflet_dir() / "leaflet.js").read_text(encoding="utf-8")
    # the source-map comment would make devtools request a file; drop it
    return re.sub(r"//# sourceMappingURL=\S+", "", text)


@functools.cache
def leaflet_css() -> str:
    """Leaflet CSS with every ``url(images/...)`` turned into a data URI."""
    base = _leaflet_dir()
    css = (base / "leaflet.css").read_text(encoding="utf-8")

    def repl(m: re.Match) -> str:
        rel = m.group(1).strip("'\"")
        path = base / rel
        if not path.exists():
            return "url(data:,)"
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"url(data:image/png;base64,{data})"

    return re.sub(r"url\(([^)]+)\)", repl, css)


@functools.cache
def own_asset(name: str) -> str:
    """gridmap's own map JavaScript or CSS (``gridmap/maps/assets/NAME``)."""
    path = ASSET_DIR / name
    if not path.exists():
        raise GridmapError(f"map asset '{name}' is missing from the installation", file=str(path))
    return path.read_text(encoding="utf-8")


EXTERNAL_REF = re.compile(
    r"<script[^>]+src\s*=\s*[\"']?(?:https?:)?//|<link[^>]+href\s*=\s*[\"']?(?:https?:)?//"
    r"|@import\s+(?:url\()?[\"']?(?:https?:)?//",
    re.IGNORECASE,
)


def external_references(html: str) -> list[str]:
    """Return the ``<script src>``/``<link href>``/``@import`` that load from the network."""
    return [html[m.start() : m.start() + 160] for m in EXTERNAL_REF.finditer(html)]


def _markercluster_dir() -> Path:
    try:
        import xstatic.pkg.leaflet_markercluster as xm
    except ImportError as exc:  # pragma: no cover - dependency of the package
        raise GridmapError(
            "the package xstatic-leaflet-markercluster is missing; reinstall gridmap "
            "('pip install -e .') to get the inlined marker-cluster files"
        ) from exc
    return Path(xm.BASE_DIR)


@functools.cache
def markercluster_js() -> str:
    """Leaflet.markercluster JavaScript (from xstatic-leaflet-markercluster)."""
    text = (_markercluster_dir() / "leaflet.markercluster.js").read_text(encoding="utf-8")
    return re.sub(r"//# sourceMappingURL=\S+", "", text)


@functools.cache
def markercluster_css() -> str:
    """Leaflet.markercluster CSS (both files; no external references)."""
    base = _markercluster_dir()
    return "\n".join(
        (base / n).read_text(encoding="utf-8")
        for n in ("MarkerCluster.css", "MarkerCluster.Default.css")
    )
