"""A static picture of the meeting map for slides (matplotlib, no basemap).

Grid choropleth of the chosen indicator, micro-grid, zone and community
outlines, grid names, facilities (charging piles sized by ports, parking by
spaces), households beyond service-station reach, and a legend. Chinese text
needs a CJK font: Noto Sans CJK (Debian ``fonts-noto-cjk``) or any other CJK
font matplotlib knows; without one a clear error says what to install.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from gridmap.errors import GridmapError
from gridmap.maps.builder import (
    FACILITY_COLORS,
    MapContext,
    _facility_label,
    _headline,
    _indicator_spec,
    _text,
)
from gridmap.maps.i18n import tr
from gridmap.workspace import store as io
from gridmap.workspace.schema import (
    CHARGING_PILES,
    COMMUNITIES,
    GRIDS,
    MICROGRIDS,
    PARKING,
    SERVICE_STATIONS,
    ZONES,
)

#: Above these counts the picture draws thinner outlines and smaller markers.
CROWDED_POLYGONS = 3000
CROWDED_POINTS = 400

CJK_FONT_PREFERENCE = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "Noto Sans SC",
    "WenQuanYi Zen Hei",
    "SimHei",
)


def find_cjk_font() -> str:
    """Name of an installed font that has Chinese glyphs (Noto Sans CJK SC first).

    Raises
    ------
    GridmapError
        When matplotlib knows no CJK font.
    """
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    for cand in CJK_FONT_PREFERENCE:
        if cand in names:
            return cand
    for name in sorted(names):
        if "CJK" in name or "Hei" in name or "Song" in name:
            return name
    raise GridmapError(
        "no Chinese (CJK) font found for the picture. Install one, e.g. "
        "'sudo apt-get install fonts-noto-cjk', then delete matplotlib's font cache "
        "(~/.cache/matplotlib) and run again; or use lang=en"
    )


#: Grid labels longer than this are cut with an ellipsis in the picture.
LABEL_MAX_CHARS = 14


def _nice_length(m: float) -> float:
    """A round scale-bar length (1, 2 or 5 times a power of ten) not above ``m`` metres."""
    if m <= 0 or not np.isfinite(m):
        return 0.0
    e = 10 ** np.floor(np.log10(m))
    for f in (5, 2, 1):
        if f * e <= m:
            return float(f * e)
    return float(e)


def _furniture(fig, ax, ctx: MapContext, lang: str) -> None:
    """Scale bar, north arrow, date and data source (what a printed map needs)."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    lat = (y0 + y1) / 2
    m_per_deg = 111_320 * max(np.cos(np.radians(lat)), 0.1)
    length = _nice_length((x1 - x0) * m_per_deg / 5)
    if length > 0:
        bx = x0 + 0.03 * (x1 - x0)
        by = y0 + 0.04 * (y1 - y0)
        dx = length / m_per_deg
        ax.plot([bx, bx + dx], [by, by], color="#222", lw=3, solid_capstyle="butt", zorder=10)
        ax.plot([bx, bx], [by, by + 0.008 * (y1 - y0)], color="#222", lw=1.5, zorder=10)
        ax.plot([bx + dx, bx + dx], [by, by + 0.008 * (y1 - y0)], color="#222", lw=1.5, zorder=10)
        label = (
            f"{length / 1000:g} {tr('km', lang)}"
            if length >= 1000
            else f"{length:g} {tr('m', lang)}"
        )
        ax.text(
            bx + dx / 2,
            by + 0.012 * (y1 - y0),
            label,
            ha="center",
            va="bottom",
            fontsize=8,
            zorder=10,
        )
    ax.annotate(
        "",
        xy=(0.97, 0.97),
        xytext=(0.97, 0.89),
        xycoords="axes fraction",
        arrowprops={"facecolor": "#222", "edgecolor": "#222", "width": 3, "headwidth": 11},
    )
    ax.text(
        0.97,
        0.86,
        tr("north", lang),
        transform=ax.transAxes,
        ha="center",
        va="top",
        fontsize=10,
        fontweight="bold",
    )
    source = ctx.workspace.path.name if getattr(ctx.workspace, "path", None) else "gridmap"
    meta = f"{tr('map_date', lang, date=date.today().isoformat())}   {tr('data_source', lang, source=source)}"
    fig.text(0.98, 0.975, meta, fontsize=8, color="#333", ha="right", va="top")


def render_png(
    out_path: str | os.PathLike,
    ctx: MapContext,
    *,
    title: str | None = None,
    indicator: str | None = None,
    dpi: int = 150,
) -> Path:
    """Draw the map with matplotlib and write it atomically as PNG."""
    import matplotlib.pyplot as plt

    fig = draw_figure(ctx, title=title, indicator=indicator, dpi=dpi)

    def _save(tmp: Path) -> None:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.15)

    try:
        return io.atomic_write_file(out_path, _save)
    finally:
        plt.close(fig)


def draw_figure(
    ctx: MapContext, *, title: str | None = None, indicator: str | None = None, dpi: int = 150
):
    """The picture as a matplotlib Figure (the caller closes it).

    Choropleth, outlines, grid names, facilities, households beyond reach,
    legend, headline figures, scale bar, north arrow, date and data source.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    lang = ctx.lang
    font = find_cjk_font() if lang == "zh" else None
    ws = ctx.workspace
    rc = {
        "font.family": [font, "sans-serif"] if font else ["DejaVu Sans"],
        "axes.unicode_minus": False,
        # names are plain text: '$' in a grid or community name is not TeX math
        "text.parse_math": False,
    }
    with plt.rc_context(rc):
        fig, ax = plt.subplots(figsize=(12, 9), dpi=dpi)
        handles = []
        grids = ws.get(GRIDS)
        spec = _indicator_spec(ctx, indicator)
        if grids is not None and spec is not None:
            name, ind = spec
            vals = ctx.indicators[name] if ctx.indicators is not None else pd.Series(dtype=float)
            v = grids["grid_id"].astype(str).map(vals).astype(float)
            colors = []
            for x in v:
                if not np.isfinite(x):
                    colors.append(ind["nodata"])
                    continue
                k = int(np.searchsorted(ind["breaks"][1:], x, side="left"))
                colors.append(ind["colors"][min(k, len(ind["colors"]) - 1)])
            grids.plot(ax=ax, color=colors, alpha=0.75, linewidth=0)
            label = ind["label"]
            width = 11 if lang == "zh" else 24
            label = "\n".join(label[i : i + width] for i in range(0, len(label), width))
            handles.append(Patch(facecolor="none", edgecolor="none", label=label))
            for c, lab in zip(ind["colors"], ind["labels"], strict=True):
                handles.append(Patch(facecolor=c, alpha=0.75, label=lab))
        mg = ws.get(MICROGRIDS)
        if mg is not None and len(mg) <= CROWDED_POLYGONS:
            mg.boundary.plot(ax=ax, color="#41b6c4", linewidth=0.4)
            handles.append(Line2D([], [], color="#41b6c4", lw=0.8, label=tr("microgrids", lang)))
        if grids is not None:
            grids.boundary.plot(ax=ax, color="#253494", linewidth=1.2 if len(grids) <= 200 else 0.3)
            handles.append(Line2D([], [], color="#253494", lw=1.2, label=tr("grid_layer", lang)))
            if len(grids) <= 80:
                reps = grids.geometry.representative_point()
                for p, nm in zip(reps, grids.get("name", grids["grid_id"]), strict=True):
                    if p is not None and not p.is_empty:
                        label = _text(nm) or ""
                        if len(label) > LABEL_MAX_CHARS:  # a long name would swamp the picture
                            label = label[: LABEL_MAX_CHARS - 1] + "…"
                        ax.annotate(
                            label,
                            (p.x, p.y),
                            ha="center",
                            va="center",
                            fontsize=7,
                            color="#1a1a5e",
                            fontweight="bold",
                        )
        zones = ws.get(ZONES)
        if zones is not None:
            zones.boundary.plot(ax=ax, color="#c51b8a", linewidth=2 if len(zones) <= 30 else 0.7)
            handles.append(Line2D([], [], color="#c51b8a", lw=2, label=tr("zones", lang)))
        comm = ws.get(COMMUNITIES)
        if comm is not None:
            lw = 2.5 if len(comm) <= 5 else 1.0
            comm.boundary.plot(ax=ax, color="#7a0177", linewidth=lw, linestyle="--")
            handles.append(
                Line2D([], [], color="#7a0177", lw=2.5, ls="--", label=tr("communities", lang))
            )
        fc = ctx.coverage.get(SERVICE_STATIONS)
        hh = ws.get("households")
        if fc is not None and hh is not None:
            un = hh[~fc.covered.to_numpy()]
            if len(un):
                ax.scatter(
                    un.geometry.x, un.geometry.y, s=4, color="#e31a1c", alpha=0.6, linewidths=0
                )
                label = tr(
                    "hh_uncovered_walk" if fc.distance == "network" else "hh_uncovered",
                    lang,
                    dist=f"{fc.radius_m:.0f}",
                    facility=_facility_label(SERVICE_STATIONS, lang),
                )
                handles.append(
                    Line2D([], [], marker="o", ls="", color="#e31a1c", ms=4, label=label)
                )
        for fac, size_col, marker in (
            (PARKING, "spaces", "o"),
            (CHARGING_PILES, "ports", "o"),
            (SERVICE_STATIONS, None, "s"),
        ):
            f = ws.get(fac)
            if f is None or len(f) == 0:
                continue
            pts = f.geometry.representative_point()
            if size_col and size_col in f:
                n = pd.to_numeric(f[size_col], errors="coerce").fillna(1).clip(lower=1).to_numpy()
                sizes = 12 + 10 * np.sqrt(n)
            else:
                sizes = np.full(len(f), 70.0)
            crowded = len(f) > CROWDED_POINTS
            if crowded:  # a city: small dots, or they hide everything
                sizes = np.clip(sizes * 0.05, 1.0, 6.0)
            ax.scatter(
                pts.x,
                pts.y,
                s=sizes,
                marker=marker,
                color=FACILITY_COLORS[fac],
                edgecolors="white",
                linewidths=0 if crowded else 0.8,
                alpha=0.9,
                zorder=5,
            )
            handles.append(
                Line2D(
                    [],
                    [],
                    marker=marker,
                    ls="",
                    color=FACILITY_COLORS[fac],
                    ms=8,
                    label=tr(fac, lang),
                )
            )
        lat = np.nanmean(ax.get_ylim())
        ax.set_aspect(1 / max(np.cos(np.radians(lat)), 0.1))
        ax.set_axis_off()
        default = tr("title_default", lang)
        if comm is not None and len(comm) == 1 and "name" in comm and _text(comm["name"].iloc[0]):
            default = f"{_text(comm['name'].iloc[0])} · {default}"
        ax.set_title(title or default, fontsize=18, fontweight="bold", loc="left")
        figures = "   ".join(f"{h['label']} {h['value']}" for h in _headline(ctx))
        fig.text(0.02, 0.02, figures, fontsize=9, color="#333")
        ax.legend(
            handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False
        )
        fig.tight_layout()
        _furniture(fig, ax, ctx, lang)
    return fig


def write_png(
    out_path: str | os.PathLike,
    workspace,
    *,
    title: str | None = None,
    indicator: str | None = None,
    lang: str = "zh",
    dpi: int = 150,
) -> Path:
    """Write the static picture; ``workspace`` may be a path, a Workspace or a MapContext."""
    from gridmap.maps.builder import prepare_map

    ctx = workspace if isinstance(workspace, MapContext) else prepare_map(workspace, lang=lang)
    return render_png(out_path, ctx, title=title, indicator=indicator, dpi=dpi)
