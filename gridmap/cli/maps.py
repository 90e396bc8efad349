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
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Write the self-contained meeting map (one HTML file) and print a short summary.

    The HTML inlines Leaflet and all data: it opens without internet (only the
    basemap tiles need a network; use --basemap none for none at all). Households
    appear only as counts; names and phones only with --include-personal.

    Example: gridmap map community.gpkg --out maps/community.html --png maps/community.png
    """
    from gridmap.analysis.summary import summarise_workspace
    from gridmap.maps.builder import (
        check_basemap,
        prepare_map,
        render_html,
        warn_personal,
        write_html,
    )
    from gridmap.maps.i18n import check_lang
    from gridmap.workspace import store as io

    check_lang(lang)
    check_basemap(basemap, lang)  # fail before the work on a bad basemap / missing key
    path = io.resolve_workspace(workspace)
    target = out if out is not None else Path("maps") / f"{path.stem}.html"
    with progress() as bar:
        bar.add_task("building the map", total=None)
        ctx = prepare_map(path, lang=lang, distance=distance)
        html_text = render_html(
            ctx,
            title=title,
            basemap=basemap,
            indicator=indicator,
            include_personal=include_personal,
        )
        written = write_html(target, html_text)
        picture = None
        if png is not None:
            from gridmap.maps.static import write_png

            picture = write_png(png, ctx, title=title, indicator=indicator)
    if include_personal:
        warn_personal()
    summary = summarise_workspace(ctx.workspace, ctx.households_assignment)
    if fmt is Fmt.json:
        doc = summary.to_dict()
        doc.update(map=str(written), png=str(picture) if picture else None, notes=ctx.notes)
        print_json(doc)
        return
    from gridmap.cli.render import print_map_written, print_summary

    print_map_written(written, picture, basemap, ctx.notes, console, err_console)
    print_summary(summary, console)
