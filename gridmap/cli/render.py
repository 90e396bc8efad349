"""All terminal output of the command line: rich tables and lines, nothing else.

The library returns results (dataclasses, DataFrames); the commands in
:mod:`gridmap.cli` hand them to the printers here. Heavy modules (pandas, the
library) are imported inside the printers so that importing this module stays
cheap. User text (names, ids, file names) is escaped: it is never rich markup.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gridmap.cli.options import flag_text

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

    from gridmap.analysis.coverage import CoverageResult
    from gridmap.analysis.summary import WorkspaceSummary
    from gridmap.checks.validation import ValidationReport
    from gridmap.ingest.importer import ImportReport
    from gridmap.join.result import AssignResult
    from gridmap.lookup.matching import LocateResult

LEVEL_LABELS = {
    "microgrids": "micro-grid",
    "grids": "grid only",
    "zones": "zone only",
    "communities": "community only",
    "none": "outside all",
}


def _cell(v) -> str:
    """Text of a table cell: missing values (None, NaN, pd.NA, NaT) are blank."""
    from gridmap.policy.jsonsafe import is_pandas_missing

    if v is None or (isinstance(v, float) and math.isnan(v)) or is_pandas_missing(v):
        return ""
    return str(v)


def print_assign_summary(result: AssignResult, console: Console, max_rows: int = 20) -> None:
    """Print per-layer counts by level and the points outside every micro-grid."""
    from gridmap.workspace.schema import NEAREST_COLUMN, NEAREST_DIST_COLUMN, POINT_LAYERS

    if not result.layers:
        console.print(
            escape(
                f"{result.workspace} has no point layer ({', '.join(POINT_LAYERS)}): "
                "nothing was assigned. Import one with 'gridmap import households FILE'."
            ),
            style="yellow",
        )
        return
    table = Table(title=escape(f"assign: {result.written_to or result.workspace}"))
    table.add_column("layer", no_wrap=True, min_width=16)
    table.add_column("points", justify="right")
    for label in LEVEL_LABELS.values():
        table.add_column(label, justify="right")
    for name, la in result.layers.items():
        table.add_row(
            escape(name), str(la.total), *[str(la.by_level.get(k, 0)) for k in LEVEL_LABELS]
        )
    console.print(table)
    for name, la in result.layers.items():
        if la.no_geometry:
            console.print(
                f"[yellow]{name}: {len(la.no_geometry)} features without geometry:[/] "
                + ", ".join(la.no_geometry[:10])
            )
        if la.n_unassigned:
            title = f"{name}: {la.n_unassigned} not inside any micro-grid"
            if all(v is None for v in la.nearest_ids) and la.in_microgrid == 0:
                title += " (the workspace has no micro-grids)"
            t = Table(title=escape(title))
            cols = ("id", "assigned_level", NEAREST_COLUMN, NEAREST_DIST_COLUMN)
            for col in cols:
                t.add_column(col)
            for rec in la.unassigned_records(limit=max_rows):
                t.add_row(*[escape(_cell(rec[c])) for c in cols])
            if la.n_unassigned > max_rows:
                t.caption = f"... and {la.n_unassigned - max_rows} more (use --format json)"
            console.print(t)


def print_report(report: ValidationReport, console, max_rows: int = 20) -> None:
    """Print findings grouped by layer and severity as rich tables."""
    from gridmap.checks.validation import Finding

    for c in report.changes:
        console.print(
            f"[green]fixed[/] {escape(f'{c.layer} {c.id}: {c.action} — {c.detail}')}",
            highlight=False,
        )
    for layer, cols in getattr(report, "private_columns", {}).items():
        console.print(
            f"[blue]info[/] {escape(layer)}: private (staff/admin only): {escape(', '.join(cols))}",
            highlight=False,
        )
    if not report.findings:
        console.print(f"[green]no problems found[/] in {escape(str(report.workspace))}")
        return
    groups: dict[tuple[str, str], list[Finding]] = {}
    for f in report.findings:
        groups.setdefault((f.layer or "-", f.severity), []).append(f)
    for (layer, sev), items in groups.items():
        colour = "red" if sev == "error" else "yellow"
        t = Table(
            title=f"[{colour}]{escape(layer)}: {len(items)} {sev}(s)[/]", title_justify="left"
        )
        t.add_column("code")
        t.add_column("id(s)")
        t.add_column("message")
        t.add_column("lon, lat")
        shown: dict[str, int] = {}
        hidden = 0
        for f in items:
            shown[f.code] = shown.get(f.code, 0) + 1
            if shown[f.code] > max_rows:
                hidden += 1
                continue
            loc = f"{f.lon:.6f}, {f.lat:.6f}" if f.lon is not None and f.lat is not None else ""
            # ids and messages carry user text (column names, ids): not rich markup
            t.add_row(f.code, escape(", ".join(f.ids[:4])), escape(flag_text(f.message)), loc)
        if hidden:
            t.caption = f"... {hidden} more (at most {max_rows} per code shown; use --format json)"
        console.print(t)
    console.print(
        f"{len(report.errors)} error(s), {len(report.warnings)} warning(s) in "
        f"{escape(str(report.workspace))} "
        f"(areas below {report.tolerance_m2} m² ignored)"
    )


def print_coverage(
    result: CoverageResult,
    level: str,
    console,
    *,
    checks: pd.DataFrame | None = None,
    sites: gpd.GeoDataFrame | None = None,
    out=None,
    max_rows: int = 60,
) -> None:
    """Print a coverage result as rich tables (headline, one level, failures, sites, notes)."""
    from gridmap.analysis.coverage import LEVELS, coverage_summary_frame
    from gridmap.policy.jsonsafe import json_records, json_scalar

    t = result.totals()

    def pct(v):
        return (
            "n/a"
            if v is None or (isinstance(v, float) and not math.isfinite(v))
            else f"{100 * v:.1f} %"
        )

    def num(v):
        v = json_scalar(v)
        if v is None:
            return "n/a"
        return f"{v:g}" if isinstance(v, float) else str(v)

    console.print(
        f"[bold]{escape(result.facility)}[/]: {t['covered']} of {t['households']} households within "
        f"{result.radius_m:g} m ({pct(t['share'])}), {result.distance} distance, "
        f"{result.facilities} facilities. Residents {pct(t['share_residents'])}, "
        f"elderly {pct(t['share_elderly'])}."
    )
    df = coverage_summary_frame(result, level)
    id_col = LEVELS[level][1]
    table = Table(title=f"coverage by {level}")
    for col in (
        id_col,
        "name",
        "households",
        "covered",
        "share",
        "share_residents",
        "share_elderly",
    ):
        table.add_column(col, justify="left" if col in (id_col, "name") else "right")
    for rec in json_records(df)[:max_rows]:
        table.add_row(
            escape(str(rec[id_col])),
            escape(str(rec["name"] or "")),
            num(rec["households"]),
            num(rec["covered"]),
            pct(rec["share"]),
            pct(rec["share_residents"]),
            pct(rec["share_elderly"]),
        )
    if len(df) > max_rows:
        table.caption = f"... and {len(df) - max_rows} more (use --format json or --out)"
    console.print(table)
    if checks is not None:
        failed = checks[checks["passed"].map(lambda v: v is False)]
        na = checks[checks["passed"].map(lambda v: v is None)]
        ft = Table(
            title=f"standards: {len(failed)} failures, {len(na)} n/a, of {len(checks)} checks"
        )
        for col in ("grid_id", "rule_id", "value", "threshold"):
            ft.add_column(col)
        for rec in json_records(failed)[:max_rows]:
            ft.add_row(
                escape(str(rec["grid_id"])),
                escape(str(rec["rule_id"])),
                num(rec["value"]),
                escape(str(rec["threshold"])),
            )
        console.print(ft)
    if sites is not None:
        st = Table(
            title=f"proposed sites ({sites.attrs.get('method')}, gap {100 * sites.attrs.get('gap', 0):.1f} %)"
        )
        for col in ("rank", "candidate", "newly_covered", "lon", "lat"):
            st.add_column(col)
        for r, g in zip(sites.itertuples(index=False), sites.geometry, strict=True):
            st.add_row(
                str(r.rank),
                escape(str(r.candidate)),
                f"{r.newly_covered:g}",
                f"{g.x:.6f}",
                f"{g.y:.6f}",
            )
        console.print(st)
    for note in result.notes + (sites.attrs.get("notes", []) if sites is not None else []):
        console.print(f"[yellow]note:[/] {escape(flag_text(str(note)))}", highlight=False)
    if out is not None:
        console.print(f"written: {escape(str(out))}")


def _grid_label(grid_id, name) -> str:
    """The grid's name when short (it is what people know), else its id."""
    if isinstance(name, str) and name and len(name) <= 6:
        return name
    return str(grid_id)


_LEVEL_TEXT = {"grids": "grid only", "zones": "zone only", "communities": "community only"}


def print_summary(summary: WorkspaceSummary, console: Console, *, show: int | None = None) -> None:
    """Print the summary as three compact rich tables.

    ``show`` households outside every micro-grid are listed by id (default
    :data:`gridmap.analysis.summary.SHOW_UNASSIGNED`).
    """
    import numpy as np
    import pandas as pd

    from gridmap.analysis.summary import COMPACT_GRIDS, SHOW_UNASSIGNED
    from gridmap.workspace.schema import (
        LEVEL_COLUMN,
        MICROGRIDS,
        NEAREST_COLUMN,
        NEAREST_DIST_COLUMN,
    )

    if show is None:
        show = SHOW_UNASSIGNED
    t = Table(title="layers", title_justify="left", show_edge=False, pad_edge=False)
    t.add_column("layer")
    t.add_column("features", justify="right")
    for name, n in summary.layer_counts.items():
        t.add_row(name, f"{n:,}")
    console.print(t)

    pg = summary.per_grid
    if len(pg):
        rows = pg
        caption = None
        if len(pg) > COMPACT_GRIDS:
            srt = pg.sort_values(["households", "grid_id"], ascending=[False, True])
            rows = pd.concat([srt.head(10), srt.tail(10)])
            h = pg["households"]
            caption = (
                f"{len(pg):,} grids; the 10 largest and 10 smallest shown. "
                f"min {h.min():,}, median {int(h.median()):,}, max {h.max():,}"
            )
        cols = 3 if len(rows) > 12 else 1
        t = Table(
            title=f"households per grid ({summary.households:,} households)",
            title_justify="left",
            caption=caption,
            show_edge=False,
            pad_edge=False,
        )
        for _ in range(cols):
            t.add_column("grid")
            t.add_column("households", justify="right")
        recs = [
            (escape(_grid_label(r.grid_id, r.name)), f"{r.households:,}")
            for r in rows.itertuples(index=False)
        ]
        height = -(-len(recs) // cols)
        for i in range(height):
            cells: list[str] = []
            for c in range(cols):
                k = c * height + i
                cells.extend(recs[k] if k < len(recs) else ("", ""))
            t.add_row(*cells)
        console.print(t)
        if summary.no_grid:
            console.print(f"[yellow]{summary.no_grid:,} households are in no grid at all.[/]")

    un = summary.unassigned
    if len(un) == 0:
        if summary.households == 0:
            console.print("The workspace has no households.")
        elif not summary.layer_counts.get(MICROGRIDS):
            console.print("The workspace has no micro-grids: households are counted per grid only.")
        else:
            console.print("Every household is inside a micro-grid.")
        return
    t = Table(
        title=f"{len(un):,} households not in any micro-grid (farthest first)",
        title_justify="left",
        show_edge=False,
        pad_edge=False,
    )
    for col in ("household", "owned by", "nearest micro-grid", "distance m"):
        t.add_column(col, justify="right" if col == "distance m" else "left")
    for r in un.head(show).itertuples(index=False):
        level = getattr(r, LEVEL_COLUMN)
        dist = getattr(r, NEAREST_DIST_COLUMN)
        t.add_row(
            escape(str(r.household_id)),
            _LEVEL_TEXT.get(level, "outside all") if not pd.isna(level) else "outside all",
            "" if pd.isna(getattr(r, NEAREST_COLUMN)) else escape(str(getattr(r, NEAREST_COLUMN))),
            "" if dist is None or (isinstance(dist, float) and np.isnan(dist)) else f"{dist:,.0f}",
        )
    if len(un) > show:
        t.caption = f"+{len(un) - show:,} more: gridmap assign --format json"
    console.print(t)


def print_layer_counts(title: str, counts: dict[str, int], console: Console) -> None:
    """Print a table of layers and their feature counts (``gridmap synth``)."""
    table = Table(title=title)
    table.add_column("layer")
    table.add_column("features", justify="right")
    for name, n in counts.items():
        table.add_row(name, f"{n:,}")
    console.print(table)


def print_stream_result(res: Any, console: Console) -> None:
    """Print a streamed or distributed join's row count and points per level."""
    console.print(f"{res.rows} points -> {res.written_to}")
    for lvl, n in sorted(res.by_level.items()):
        console.print(f"  {lvl}: {n}")


def print_import_report(rep: ImportReport, console: Console) -> None:
    """Print what an import did: rows, encoding, coordinates, renames, notes, skipped rows."""
    converted = rep.source_crs not in ("wgs84", "EPSG:4326")
    crs_text = f"{rep.source_crs} -> EPSG:4326" if converted else "WGS84 (no conversion)"
    if rep.crs_assumed:
        crs_text += (
            " [assumed: the table names no CRS; use --crs gcj02 for Amap/Tencent, bd09 for Baidu]"
        )
    console.print(
        f"imported {rep.imported} of {rep.rows_read} rows into layer '{rep.layer}' "
        f"of {rep.workspace}",
        markup=False,
    )
    if rep.encoding:
        console.print(f"encoding: {rep.encoding}", markup=False)
    console.print(f"coordinates: {crs_text}", markup=False)  # '[assumed: ...]' is not markup
    for old, new in rep.renamed.items():
        console.print(f"column '{old}' stored as '{new}'", markup=False)
    for note in rep.notes:
        console.print(f"note: {flag_text(str(note))}", markup=False)
    if rep.skipped:
        console.print(
            f"[yellow]skipped {rep.skipped_rows} rows[/] (numbered by {rep.row_numbering}); "
            f"list written to {escape(str(rep.report_path))}:"
        )
        for p in rep.skipped[:20]:
            console.print(f"  {flag_text(str(p))}", highlight=False, markup=False)
        if len(rep.skipped) > 20:
            console.print(f"  ... and {len(rep.skipped) - 20} more (see the report)")


def print_batch_summary(summary: dict[str, Any], console: Console) -> None:
    """Print one line for a batch lookup (``gridmap locate --batch``)."""
    console.print(
        f"wrote {summary['out']}: {summary['rows']} rows, {summary['ok']} ok, "
        f"{summary['ambiguous']} ambiguous, {summary['not_found']} not found"
        + (f", {summary['blank']} blank" if summary["blank"] else "")
        + f" ({summary['review']} marked for review)"
    )


def print_locate(result: LocateResult, console: Console) -> None:
    """Print a lookup answer: status, owners, contacts (staff use), candidates, warnings."""
    data = result.to_dict()
    style = {"ok": "green", "ambiguous": "yellow", "not_found": "red"}[result.status]
    console.print(
        f"[bold {style}]{result.status}[/] · match {result.match_level} · score {result.score:.0f}",
        highlight=False,
    )
    t = Table(show_header=False, box=None)
    for key, label in (
        ("matched_address", "matched address"),
        ("microgrid_id", "micro-grid"),
        ("grid_id", "grid"),
        ("zone_id", "zone"),
        ("community_id", "community"),
    ):
        t.add_row(label, str(data.get(key)) if data.get(key) is not None else "-")
    if result.grid_worker:
        gw = result.grid_worker
        t.add_row("grid worker", f"{gw.get('name') or '-'} {gw.get('phone') or ''}")
    if result.microgrid_leader:
        ml = result.microgrid_leader
        t.add_row("micro-grid leader", f"{ml.get('name') or '-'} {ml.get('phone') or ''}")
    if result.kind == "coordinate":
        t.add_row("WGS84", f"{result.lon}, {result.lat}")
        for lvl, d in result.boundary_m.items():
            t.add_row(f"to {lvl} boundary", f"{d} m")
        if result.nearest_station:
            ns = result.nearest_station
            t.add_row("nearest station", f"{ns['name']} ({ns['station_id']}), {ns['distance_m']} m")
    if result.nearest_microgrid and result.microgrid_id is None:
        nm = result.nearest_microgrid
        t.add_row("nearest micro-grid", f"{nm['microgrid_id']}, {nm['distance_m']} m")
    console.print(t)
    if result.candidates and result.status != "ok":
        ct = Table("candidate", "grid", "micro-grid", "level", "score", title="candidates")
        for c in result.candidates:
            ct.add_row(
                str(c.get("address") or c.get("street") or "-"),
                str(c.get("grid_id") or "-"),
                str(c.get("microgrid_id") or "-"),
                str(c.get("match_level") or c.get("relation") or "-"),
                str(c.get("score", "-")),
            )
        console.print(ct)
    for w in result.warnings:
        console.print(f"[yellow]warning:[/] {escape(flag_text(w))}", highlight=False)
    if result.message:
        console.print(escape(flag_text(result.message)), highlight=False)


def print_map_written(
    written: Any, picture: Any, basemap: str, notes: list[str], console: Console, err: Console
) -> None:
    """Print where the map (and picture) went; notes go to stderr."""
    size = written.stat().st_size
    console.print(
        f"[bold green]map written:[/] {escape(str(written))} ({size / 1e6:.2f} MB, basemap {basemap})"
    )
    if picture:
        console.print(f"[bold green]picture written:[/] {escape(str(picture))}")
    for note in notes:
        err.print(f"[yellow]note:[/] {escape(flag_text(str(note)))}", highlight=False)


@contextlib.contextmanager
def chunk_progress(total: int | None, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr counting rows of a streamed join; yields ``tick(n)``.

    Pass it as ``progress=`` to :func:`gridmap.join.stream.assign_file`.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


# ---------------------------------------------------------------- requests (诉求)
def print_ledger_report(report, console: Console, max_rows: int = 20) -> None:
    """Summary of a ledger import: stored, review queue, rows reported."""
    console.print(
        escape(
            f"{report.file}: {report.rows} rows ({report.encoding or 'xlsx'}): "
            f"{len(report.stored)} stored, {len(report.problems)} reported"
            + (f", {len(report.review)} in the review queue" if report.review else "")
        ),
        highlight=False,
    )
    if report.problems:
        t = Table("row", "编号", "problem", title="rows not stored")
        for p in report.problems[:max_rows]:
            t.add_row(str(p.row), escape(p.request_id or "-"), escape(p.message))
        if len(report.problems) > max_rows:
            t.caption = f"... and {len(report.problems) - max_rows} more (use --format json)"
        console.print(t)


def print_request_list(
    df: pd.DataFrame, columns: list[str], console: Console, tz: str = "Asia/Shanghai"
) -> None:
    """A work list of requests (overdue first); times in local time ``tz``."""
    import pandas as pd

    from gridmap.requests.api_shapes import plain

    if len(df) == 0:
        console.print("no requests match", highlight=False)
        return
    df = df.copy()
    for c in df.columns:
        if c.endswith("_at") and isinstance(df[c].dtype, pd.DatetimeTZDtype):
            df[c] = df[c].dt.tz_convert(tz).dt.strftime("%Y-%m-%d %H:%M")

    t = Table(title=f"{len(df)} requests")
    cols = [c for c in columns if c in df.columns and c not in ("candidates",)]
    for c in cols:
        t.add_column(c, overflow="fold")
    for rec in df[cols].to_dict(orient="records"):
        cells = []
        for c in cols:
            v = plain(rec[c])
            if c == "overdue":
                v = "overdue" if v else ""
            cells.append(escape(_cell(v)))
        t.add_row(*cells, style="red" if rec.get("overdue") else None)
    console.print(t)


def print_request_stats(result: dict, console: Console) -> None:
    """The KPI table of ``gridmap requests stats``."""
    by = result["by"]
    key = f"{by}_id"
    span = f"{result['from'] or '…'} – {result['to'] or '…'}"
    t = Table(title=escape(f"requests by {by}, received {span}"))
    heads = [
        (key, key),
        ("name", "name"),
        ("received", "received"),
        ("closed", "closed"),
        ("closure_rate", "办结率"),
        ("closed_on_time", "on time"),
        ("on_time_rate", "按期办结率"),
        ("overdue_open", "overdue"),
        ("median_hours_to_dispatch", "h to dispatch"),
        ("median_hours_to_close", "h to close"),
        ("rework", "返工"),
        ("escalated", "上报"),
    ]
    for _, label in heads:
        t.add_column(label, justify="right" if label not in (key, "name") else "left")
    for row in result["rows"]:
        cells = []
        for k, _ in heads:
            v = row.get(k)
            if k.endswith("_rate"):
                cells.append("-" if v is None else f"{100 * v:.1f}%")
            elif v is None:
                cells.append("(none)" if k == key else "-")
            else:
                cells.append(escape(str(v)))
        t.add_row(*cells)
    tot_r = sum(r["received"] for r in result["rows"])
    tot_c = sum(r["closed"] for r in result["rows"])
    t.caption = (
        f"total {tot_r} received, {tot_c} closed"
        + (f" ({100 * tot_c / tot_r:.1f}%)" if tot_r else "")
        + (f"; {result['review']} in the review queue" if result["review"] else "")
    )
    console.print(t)


def print_division(result: Any, written: dict[str, Any], console: Console) -> None:
    """Before/after figures of a re-division proposal and the grids outside the band."""
    s = result.summary()
    b, a = s["before"], s["after"]
    t = Table(title=f"households {s['band'][0]}-{s['band'][1]} per grid, within {s['within']}")
    t.add_column("")
    t.add_column("grids", justify="right")
    t.add_column("in band", justify="right")
    t.add_column("households min-max", justify="right")
    t.add_column("compactness (mean 4πA/P²)", justify="right")
    for label, x in (("today", b), ("proposal", a)):
        t.add_row(
            label,
            str(x["grids"]),
            str(x["in_band"]),
            f"{x['households_min']}-{x['households_max']}",
            f"{x['compactness_mean']}",
        )
    console.print(t)
    console.print(
        f"micro-grids moved: {s['microgrids_moved']} of {s['microgrids']} ({s['seconds']} s, {s['method']})"
    )
    for o in s["out_of_band"]:
        console.print(
            escape(f"  {o['grid_id']}: {o['households']} households — {o['reason']}"),
            highlight=False,
        )
    for n in s["notes"]:
        console.print(escape(f"note: {flag_text(str(n))}"), highlight=False)
    for k, v in written.items():
        console.print(escape(f"{k}: {v}"), highlight=False)


def print_codes(result: Any, console: Console, *, written: bool, workspace: Any) -> None:
    """The generated grid codes, and where they were written."""
    t = Table(title=f"{result.scheme.title}")
    for c in ("grid_id", "community_id", "sequence", "code"):
        t.add_column(c)
    for r in result.table.itertuples():
        t.add_row(escape(str(r.grid_id)), escape(str(r.community_id)), str(r.sequence), r.code)
    console.print(t)
    for n in result.notes:
        console.print(escape(f"note: {flag_text(str(n))}"), highlight=False)
    where = f"column '{result.column}' of grids in {workspace}" if written else "nothing (dry run)"
    console.print(escape(f"written: {where}"), highlight=False)
