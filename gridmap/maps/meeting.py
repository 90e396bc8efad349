"""The main job in one call: the meeting map written to disk, with its picture and summary.

``gridmap map`` is a thin layer over :func:`write_meeting_map`; a notebook can
call it the same way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gridmap.analysis.summary import WorkspaceSummary, summarise_workspace
from gridmap.maps.builder import (
    MapContext,
    check_basemap,
    prepare_map,
    render_html,
    warn_personal,
    write_html,
)
from gridmap.maps.i18n import check_lang
from gridmap.workspace import store as io

__all__ = ["MeetingMap", "default_map_path", "write_meeting_map"]


@dataclass
class MeetingMap:
    """What :func:`write_meeting_map` wrote, and the figures behind it."""

    html: Path
    png: Path | None
    context: MapContext
    summary: WorkspaceSummary

    def to_dict(self) -> dict:
        """JSON-ready form: the workspace summary, the files written and the notes."""
        doc = self.summary.to_dict()
        doc.update(
            map=str(self.html), png=str(self.png) if self.png else None, notes=self.context.notes
        )
        return doc


def default_map_path(workspace: str | os.PathLike | None) -> Path:
    """``maps/<workspace name>.html`` (relative to the current folder)."""
    return Path("maps") / f"{io.resolve_workspace(workspace).stem}.html"


def write_meeting_map(
    workspace: str | os.PathLike | None,
    out: str | os.PathLike | None = None,
    *,
    title: str | None = None,
    basemap: str = "amap",
    lang: str = "zh",
    indicator: str | None = None,
    include_personal: bool = False,
    png: str | os.PathLike | None = None,
    distance: str = "auto",
    extent: tuple[float, float, float, float] | None = None,
) -> MeetingMap:
    """Build the self-contained meeting map, write it atomically, and summarise the workspace.

    Parameters
    ----------
    workspace
        Workspace path (default: ``$GRIDMAP_WORKSPACE`` or the packaged sample).
    out
        HTML file to write (default: :func:`default_map_path`).
    title, basemap, lang, indicator, include_personal, distance
        As :func:`gridmap.maps.build_map`. The basemap and language are
        checked before any work. ``include_personal=True`` warns with
        :class:`gridmap.maps.builder.PersonalDataWarning`.
    png
        Also write a static picture there (:func:`gridmap.maps.static.write_png`).
    extent
        Saved frame (WGS84 ``minx, miny, maxx, maxy``) the map opens and prints at.

    Returns
    -------
    MeetingMap
    """
    check_lang(lang)
    check_basemap(basemap, lang)  # fail before the work on a bad basemap / missing key
    path = io.resolve_workspace(workspace)
    target = Path(out) if out is not None else default_map_path(path)
    ctx = prepare_map(path, lang=lang, distance=distance)
    from gridmap.maps.requests_layer import request_overlays  # resident requests, aggregated

    html_text = render_html(
        ctx,
        title=title,
        basemap=basemap,
        indicator=indicator,
        include_personal=include_personal,
        extent=extent,
        overlays=request_overlays(ctx.workspace, lang=lang),
    )
    written = write_html(target, html_text)
    picture = None
    if png is not None:
        from gridmap.maps.static import write_png

        picture = write_png(png, ctx, title=title, indicator=indicator)
    if include_personal:
        warn_personal()
    summary = summarise_workspace(ctx.workspace, ctx.households_assignment)
    return MeetingMap(written, picture, ctx, summary)
