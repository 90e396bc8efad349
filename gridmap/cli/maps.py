"""Command ``map``: the self-contained meeting map."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gridmap.cli.options import (
    Fmt,
    FormatOpt,
    WorkspaceArg,
    console,
    err_console,
    print_json,
    progress,
)

#: What the CLI says for the library's PersonalDataWarning (it names the flag).
PERSONAL_WARNING = (
    "warning: --include-personal puts grid-worker and micro-grid-leader names and phone "
    "numbers into the map; do not share the file outside the office."
)


def map_(
    workspace: WorkspaceArg = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="HTML file to write (default: maps/<workspace name>.html)."
        ),
    ] = None,
    title: Annotated[str | None, typer.Option(help="Map title (default: community name).")] = None,
    basemap: Annotated[
        str,
        typer.Option(
            help="amap (GCJ-02, works in China; layers are shifted to match), osm, "
            "tianditu (key in $GRIDMAP_TIANDITU_KEY) or none."
        ),
    ] = "amap",
    lang: Annotated[str, typer.Option(help="zh (Simplified Chinese) or en.")] = "zh",
    indicator: Annotated[
        str | None,
        typer.Option(
            help="Per-grid indicator for the choropleth (default: service-station coverage)."
        ),
    ] = None,
    include_personal: Annotated[
        bool,
        typer.Option(
            "--include-personal",
            help="Put grid-worker / leader names and phones in popups (internal use only).",
        ),
    ] = False,
    png: Annotated[
        Path | None,
        typer.Option(help="Also write a static picture for slides (matplotlib, CJK font)."),
    ] = None,
    distance: Annotated[
        str,
        typer.Option(
            help="Coverage distance: auto (network when roads exist), euclidean, network."
        ),
    ] = "auto",
    extent: Annotated[
        str | None,
        typer.Option(
            help="Frame to open and print at, WGS84 'minx,miny,maxx,maxy' (the same for every "
            "map of a meeting)."
        ),
    ] = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Write the self-contained meeting map (one HTML file) and print a short summary.

    The HTML inlines Leaflet and all data: it opens without internet (only the
    basemap tiles need a network; use --basemap none for none at all). Households
    appear only as counts; names and phones only with --include-personal.

    Example: gridmap map community.gpkg --out maps/community.html --png maps/community.png
    """
    import warnings

    from gridmap.errors import GridmapError
    from gridmap.maps.builder import PersonalDataWarning, StraightLineWarning
    from gridmap.maps.meeting import write_meeting_map

    frame = None
    if extent is not None:
        try:
            frame = tuple(float(v) for v in extent.split(","))
        except ValueError:
            frame = ()
        if len(frame) != 4:
            raise GridmapError(
                f"--extent must be four numbers minx,miny,maxx,maxy (WGS84), got '{extent}'"
            )

    with warnings.catch_warnings(record=True) as caught, progress() as bar:
        warnings.simplefilter("always", PersonalDataWarning)
        bar.add_task("building the map", total=None)
        made = write_meeting_map(
            workspace,
            out,
            title=title,
            basemap=basemap,
            lang=lang,
            indicator=indicator,
            include_personal=include_personal,
            png=png,
            distance=distance,
            extent=frame,
        )
    for w in caught:
        if issubclass(w.category, PersonalDataWarning):
            err_console.print(PERSONAL_WARNING, highlight=False, markup=False, soft_wrap=True)
        elif issubclass(w.category, StraightLineWarning):
            continue  # also a note of the map, printed below (and in the JSON)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if fmt is Fmt.json:
        print_json(made.to_dict())
        return
    from gridmap.cli.render import print_map_written, print_summary

    print_map_written(made.html, made.png, basemap, made.context.notes, console, err_console)
    print_summary(made.summary, console)
