"""Data behind the map's panels: the finding, the standards panel, the grid table, warnings.

Everything here is aggregated per grid (or per micro-grid, street, building);
no function returns a household's own record. The builder puts the results in
the map's embedded JSON; ``assets/map.js`` draws them.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridmap.maps.i18n import tr

#: A facility coverage share at or above this everywhere says nothing new on the map.
FULL_SHARE = 0.999

_SHARE_COL = re.compile(r"^(?:coverage_share_(\w+?)_(\d+(?:\.\d+)?)m|cover_(\w+))$")
_ACCESS_COL = re.compile(r"^access_2sfca_(\w+?)_(\d+(?:\.\d+)?)m$")

#: What one unit of a facility's capacity is called, for 2SFCA figures in plain words.
_UNIT_KEY = {"parking": "unit_spaces", "charging_piles": "unit_ports"}


@dataclass
class Finding:
    """The indicator the default view leads with, and why (for the title panel)."""

    column: str
    reason: str


def _fmt_num(v: float) -> str:
    if abs(v) >= 10 or float(v).is_integer():
        return f"{v:,.0f}"
    return f"{v:.2g}"


def _pct(v) -> str:
    return "—" if v is None or pd.isna(v) else f"{100 * float(v):.0f}%"


def is_share_column(col: str) -> bool:
    """True for columns holding a 0..1 share (shown in per cent)."""
    return bool(_SHARE_COL.match(col)) or col.endswith("_share")


def show_value(col: str, v) -> str:
    """A figure as people read it: per cent for shares, plain number otherwise."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)) or pd.isna(v):
        return "—"
    return _pct(v) if is_share_column(col) else _fmt_num(float(v))


def plain_label(col: str, lang: str, walking: bool, facility_label) -> str:
    """The indicator in plain words ("步行300米内有停车场的住户占比")."""
    m = _SHARE_COL.match(col)
    if m:
        fac = m.group(1) or m.group(3)
        dist = m.group(2)
        if dist is None:
            return tr("plain_cover_any", lang, facility=facility_label(fac, lang))
        key = "plain_cover_walk" if walking else "plain_cover_line"
        return tr(key, lang, facility=facility_label(fac, lang), dist=dist)
    m = _ACCESS_COL.match(col)
    if m:
        fac, dist = m.group(1), m.group(2)
        unit_key = _UNIT_KEY.get(fac)
        unit = tr(unit_key, lang) if unit_key else facility_label(fac, lang)
        who = tr("per_ev_household" if fac == "charging_piles" else "per_household", lang)
        key = "plain_access_walk" if walking else "plain_access_line"
        return tr(key, lang, unit=unit, who=who, dist=dist)
    key = f"ind_{col}"
    try:
        return tr(key, lang)
    except KeyError:
        return col


def threshold_words(rule, col: str, lang: str) -> str:
    """'应不少于 85%' / 'at least 85%', '应在 300–500 之间' / 'between 300 and 500'."""
    lo = None if rule.min is None else show_value(col, rule.min)
    hi = None if rule.max is None else show_value(col, rule.max)
    if lo is not None and hi is not None:
        return tr("thr_between", lang, lo=lo, hi=hi)
    if lo is not None:
        return tr("thr_min", lang, v=lo)
    return tr("thr_max", lang, v=hi)


def rule_label(rule, col: str, lang: str, walking: bool, facility_label) -> str:
    """The rule as a sentence: what is measured and the bound it must meet."""
    what = plain_label(col, lang, walking, facility_label)
    if rule.indicator == "microgrids_in_range_share":
        lo = "" if rule.range_min is None else _fmt_num(rule.range_min)
        hi = "" if rule.range_max is None else _fmt_num(rule.range_max)
        what = tr("plain_mg_range", lang, lo=lo, hi=hi)
    return f"{what} {threshold_words(rule, col, lang)}"


def standards_panel(
    results: pd.DataFrame,
    standards,
    lang: str,
    walking: dict[str, bool],
    grid_names: dict[str, str],
    facility_label,
    skipped: list[str] | None = None,
) -> dict:
    """Failing grids per rule, each with its figure and the bound in plain words.

    Parameters
    ----------
    results
        :func:`gridmap.analysis.standards.check_standards` output.
    standards
        The :class:`gridmap.analysis.standards.Standards` that produced it.
    walking
        Per facility layer: True when its figures are walking distances.
    grid_names
        grid_id -> display name.
    skipped
        Rule ids not checked (the city fast path), named in the panel.
    """
    rules_out = []
    by_rule = {r.id: r for r in standards.rules}
    failing_grids: set[str] = set()
    checked = results["grid_id"].astype(str).nunique() if len(results) else 0
    for rid, part in results.groupby("rule_id", sort=False):
        rule = by_rule.get(rid)
        if rule is None:
            continue
        col = rule.column(standards.radii, standards.default_radius)
        walk = walking.get(rule.facility or "", False)
        bad = part[part["passed"].map(lambda v: v is not None and not pd.isna(v) and not bool(v))]
        rows = []
        for r in bad.itertuples(index=False):
            gid = str(r.grid_id)
            failing_grids.add(gid)
            v = r.value
            num = None if v is None or pd.isna(v) else float(v)
            rows.append(
                {
                    "id": gid,
                    "name": grid_names.get(gid, gid),
                    "v": None if num is None else round(num, 6),
                    "value": show_value(col, num) if num is not None else tr("no_figure", lang),
                }
            )
        rules_out.append(
            {
                "id": rid,
                "text": rule_label(rule, col, lang, walk, facility_label),
                "threshold": threshold_words(rule, col, lang),
                "failing": rows,
                "n": len(rows),
            }
        )
    rules_out.sort(key=lambda r: -r["n"])
    return {
        "rules": rules_out,
        "grids_failing": len(failing_grids),
        "grids": int(checked),
        "skipped": list(skipped or []),
    }


def grid_table(
    indicators: pd.DataFrame,
    grid_ids: list[str],
    grid_names: dict[str, str],
    zone_of: dict[str, str],
    fails: dict[str, list[str]],
    lang: str,
    walking: dict[str, bool],
    facility_label,
) -> dict:
    """The grid table behind the CSV download: one row per grid, aggregates only."""
    cols = [c for c in indicators.columns if pd.api.types.is_numeric_dtype(indicators[c])]
    header = [tr("id", lang), tr("name", lang), tr("zone", lang)]

    def walk_of(c: str) -> bool:
        m = _SHARE_COL.match(c)
        if m:
            return walking.get(m.group(1) or m.group(3), False)
        m = _ACCESS_COL.match(c)
        return bool(m) and walking.get(m.group(1), False)

    header += [plain_label(c, lang, walk_of(c), facility_label) for c in cols]
    header.append(tr("failing", lang))
    ind = indicators[~indicators.index.duplicated()]
    vals = (
        ind.reindex(grid_ids)[cols].astype(float).to_numpy()
        if cols
        else np.zeros((len(grid_ids), 0))
    )
    vals = np.where(np.isfinite(vals), np.round(vals, 4), np.nan)
    rows = []
    for gid, vrow in zip(grid_ids, vals.tolist(), strict=True):
        row = [gid, grid_names.get(gid, gid), zone_of.get(gid, "")]
        row += [None if v != v else v for v in vrow]  # NaN -> empty cell
        row.append("；".join(fails.get(gid, [])))
        rows.append(row)
    return {"columns": header, "rows": rows}


def finding(
    indicators: pd.DataFrame, coverage: dict, failing, lang: str, label_of
) -> Finding | None:
    """The indicator with the worst shortfall, else the most failed rule, else the widest spread.

    Parameters
    ----------
    indicators
        Per-grid indicators (index grid_id).
    coverage
        facility -> FacilityCoverage (community-wide share, radius, distance kind).
    failing
        Per-grid failed checks with a ``column`` (the indicator the rule reads), or None.
    label_of
        Readable label of a column.
    """
    numeric = [c for c in indicators.columns if pd.api.types.is_numeric_dtype(indicators[c])]
    filled = [c for c in numeric if indicators[c].notna().any()]
    # 1. facility coverage short of full somewhere: the lowest community-wide share
    best = None
    for fac, fc in coverage.items():
        col = None
        for cand in (f"coverage_share_{fac}_{_r(fc.radius_m)}m", f"cover_{fac}"):
            if cand in filled:
                col = cand
                break
        if col is None:
            continue
        vals = indicators[col].dropna()
        if fc.share >= FULL_SHARE and (len(vals) == 0 or vals.min() >= FULL_SHARE):
            continue
        spread = float(vals.max() - vals.min()) if len(vals) else 0.0
        key = (fc.share, -spread)
        if best is None or key < best[0]:
            best = (key, col, fc.share, vals)
    if best is not None:
        _, col, share, vals = best
        reason = tr(
            "finding_shortfall",
            lang,
            indicator=label_of(col),
            share=_pct(share),
            lo=_pct(vals.min()) if len(vals) else "—",
            hi=_pct(vals.max()) if len(vals) else "—",
        )
        return Finding(col, reason)
    # 2. the rule most grids fail (its figure varies between grids)
    if failing is not None and len(failing) and "column" in failing:
        counts = Counter(c for c in failing["column"] if c in filled)
        for col, n in counts.most_common():
            vals = indicators[col].dropna()
            if len(vals) and vals.max() > vals.min():
                n_grids = int(indicators[col].notna().sum())
                return Finding(
                    col,
                    tr("finding_rule", lang, indicator=label_of(col), n=n, total=n_grids),
                )
    # 3. the widest relative spread between grids
    spread_best = None
    for col in filled:
        vals = indicators[col].dropna().astype(float)
        vals = vals[np.isfinite(vals)]
        if len(vals) < 2 or vals.max() <= vals.min():
            continue
        mean = abs(float(vals.mean())) or 1.0
        cv = float(vals.std()) / mean
        if spread_best is None or cv > spread_best[0]:
            spread_best = (cv, col, vals)
    if spread_best is not None:
        _, col, vals = spread_best
        return Finding(
            col,
            tr(
                "finding_spread",
                lang,
                indicator=label_of(col),
                lo=show_value(col, vals.min()),
                hi=show_value(col, vals.max()),
            ),
        )
    return None


def _r(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


#: Validation codes and how the title panel names them.
_CODE_KEY = {
    "invalid_geometry": "v_invalid",
    "overlap": "v_overlap",
    "duplicate_id": "v_duplicate",
    "null_id": "v_null_id",
    "empty_geometry": "v_empty",
    "outside_parent": "v_outside_parent",
    "unknown_parent": "v_unknown_parent",
    "parent_mismatch": "v_parent_mismatch",
}


def validation_summary(findings: list, lang: str) -> dict | None:
    """One line for the title panel when validation found errors (None when clean)."""
    errors = [f for f in findings if getattr(f, "severity", "") == "error"]
    if not errors:
        return None
    counts = Counter(f.code for f in errors)
    parts = []
    for code, n in counts.most_common():
        key = _CODE_KEY.get(code)
        name = tr(key, lang) if key else code
        ids = [i for f in errors if f.code == code for i in f.ids][:3]
        parts.append(f"{name} {n}" + (f"（{'、'.join(ids)}）" if ids and lang == "zh" else ""))
        if ids and lang != "zh":
            parts[-1] += f" ({', '.join(ids)})"
    return {
        "n": len(errors),
        "text": tr("validation_warning", lang, n=len(errors), what="；".join(parts)),
    }


BUILDING_MIN_HOUSEHOLDS = 3


def building_index(
    addresses: pd.Series, x: np.ndarray, y: np.ndarray
) -> list[tuple[str, float, float, int]]:
    """Buildings found in household addresses: (street + building number, centre x, y, households).

    Only the street and building number are kept (never unit or room), and a
    building with fewer than :data:`BUILDING_MIN_HOUSEHOLDS` located households is
    left out, so no entry points at one household.
    """
    from gridmap.lookup.address import format_address, parse_address

    ok = np.isfinite(x) & np.isfinite(y) & addresses.notna().to_numpy()
    if not ok.any():
        return []
    addr = addresses[ok].astype(str).to_numpy()
    xs, ys = x[ok], y[ok]
    uniq, inv = np.unique(addr, return_inverse=True)
    keys = []
    for text in uniq:
        try:
            p = parse_address(text)
        except Exception:  # an unparsable address simply has no building
            keys.append(None)
            continue
        keys.append(format_address(p.street, p.building) if p.building and p.street else None)
    key_of = np.array(keys, dtype=object)[inv]
    frame = pd.DataFrame({"k": key_of, "x": xs, "y": ys}).dropna(subset=["k"])
    g = frame.groupby("k").agg(x=("x", "mean"), y=("y", "mean"), n=("x", "size"))
    g = g[g["n"] >= BUILDING_MIN_HOUSEHOLDS]
    return [(str(k), float(r.x), float(r.y), int(r.n)) for k, r in g.iterrows()]
