"""The resident-requests layer of the meeting map: aggregates per grid and micro-grid only.

:func:`request_overlays` turns :func:`gridmap.requests.stats.grid_request_layer`
into map overlays (:class:`gridmap.maps.overlay.Overlay`):

* grids shaded by closure rate (办结率) in three bands (``[map] closure_bands`` of
  the rules file), with received, on-time rate, overdue, requests per 100
  households and the category mix in the popup;
* a bubble per grid sized by its overdue open requests;
* a bubble per grid sized by its parking and charging requests, to read against
  the parking and charging-pile coverage layers of the same map;
* micro-grids with at least ``min_count`` requests (fewer are suppressed).

Bubbles sit on the grid's representative point, never on a request. No
request's text, position or person reaches the map.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from gridmap.requests.model import Rules, load_rules

LABELS = {
    "zh": {
        "low": "诉求办结率 < {a}",
        "mid": "诉求办结率 {a}–{b}",
        "high": "诉求办结率 ≥ {b}",
        "overdue": "超期未办结诉求",
        "pc": "停车、充电诉求",
        "micro": "微网格诉求数（≥{n}件）",
        "grid": "网格",
        "received": "诉求数",
        "closure": "办结率",
        "on_time": "按期办结率",
        "overdue_n": "超期未办结",
        "per100": "每百户诉求",
        "mix": "类别构成",
        "parking": "停车诉求",
        "charging": "充电诉求",
        "micro_n": "诉求数",
        "microgrid": "微网格",
    },
    "en": {
        "low": "Requests closed < {a}",
        "mid": "Requests closed {a}–{b}",
        "high": "Requests closed ≥ {b}",
        "overdue": "Overdue open requests",
        "pc": "Parking and charging requests",
        "micro": "Requests per micro-grid (≥{n})",
        "grid": "Grid",
        "received": "Requests",
        "closure": "Closure rate",
        "on_time": "On-time rate",
        "overdue_n": "Overdue open",
        "per100": "Per 100 households",
        "mix": "Categories",
        "parking": "Parking requests",
        "charging": "Charging requests",
        "micro_n": "Requests",
        "microgrid": "Micro-grid",
    },
}


def _pct(v) -> str | None:
    return None if v is None or pd.isna(v) else f"{100 * float(v):.1f}%"


def request_overlays(
    workspace,
    *,
    lang: str = "zh",
    rules: Rules | str | None = None,
    date_from=None,
    date_to=None,
) -> list:
    """Map overlays of the requests in ``workspace`` (path or loaded Workspace).

    Returns an empty list when the workspace has no requests layer.
    """
    from gridmap.maps.overlay import Overlay
    from gridmap.requests.stats import grid_request_layer
    from gridmap.requests.store import has_requests, read_requests
    from gridmap.workspace import store as io

    rules = load_rules(rules)
    ws = workspace if isinstance(workspace, io.Workspace) else io.load_workspace(workspace)
    if not has_requests(ws.path) or ws.get("grids") is None:
        return []
    req, ev = read_requests(ws.path, with_events=True)
    if len(req) == 0:
        return []
    t = LABELS["zh" if lang == "zh" else "en"]
    grids, micro = grid_request_layer(
        ws.layers,
        req,
        ev,
        date_from=date_from,
        date_to=date_to,
        min_count=rules.map_min_count,
        rules=rules,
        lang=lang,
    )
    g = grids[grids["received"] > 0].copy()
    sep = " · "
    g["_grid"] = g["grid_id"].astype(str) + " " + g["name"].fillna("").astype(str)
    g["_closure"] = g["closure_rate"].map(_pct)
    g["_on_time"] = g["on_time_rate"].map(_pct)
    g["_mix"] = g["category_mix"].map(
        lambda m: sep.join(f"{k} {v}" for k, v in sorted(m.items(), key=lambda kv: -kv[1]))
    )
    popup = {
        "_grid": t["grid"],
        "received": t["received"],
        "_closure": t["closure"],
        "_on_time": t["on_time"],
        "overdue_open": t["overdue_n"],
        "requests_per_100_households": t["per100"],
        "_mix": t["mix"],
    }
    a, b = rules.closure_bands
    fa, fb = f"{100 * a:.0f}%", f"{100 * b:.0f}%"
    rate = g["closure_rate"].astype(float)
    out = []
    for key, mask, color in (
        ("requests_closure_low", rate < a, "#d73027"),
        ("requests_closure_mid", (rate >= a) & (rate < b), "#fdae61"),
        ("requests_closure_high", rate >= b, "#1a9850"),
    ):
        sub = g[mask]
        if len(sub):
            label = t[key.rsplit("_", 1)[1]].format(a=fa, b=fb)
            out.append(Overlay(key, label, _keep(sub, popup), color=color, popup_columns=popup))
    reps = g.copy()
    reps["geometry"] = reps.geometry.representative_point()
    od = reps[reps["overdue_open"] > 0]
    if len(od):
        out.append(
            Overlay(
                "requests_overdue",
                t["overdue"],
                _keep(od, {"_grid": 1, "overdue_open": 1}),
                color="#b2182b",
                popup_columns={"_grid": t["grid"], "overdue_open": t["overdue_n"]},
                size_column="overdue_open",
            )
        )
    reps["_pc"] = reps["parking_requests"] + reps["charging_requests"]
    pc = reps[reps["_pc"] > 0]
    if len(pc):
        out.append(
            Overlay(
                "requests_parking_charging",
                t["pc"],
                _keep(pc, {"_grid": 1, "parking_requests": 1, "charging_requests": 1, "_pc": 1}),
                color="#2166ac",
                popup_columns={
                    "_grid": t["grid"],
                    "parking_requests": t["parking"],
                    "charging_requests": t["charging"],
                },
                size_column="_pc",
            )
        )
    shown = micro[micro["requests"].notna()].copy()
    if len(shown):
        shown["_mg"] = (
            shown["microgrid_id"].astype(str) + " " + shown["name"].fillna("").astype(str)
        )
        out.append(
            Overlay(
                "requests_microgrids",
                t["micro"].format(n=rules.map_min_count),
                _keep(shown, {"_mg": 1, "requests": 1}),
                color="#6a3d9a",
                popup_columns={"_mg": t["microgrid"], "requests": t["micro_n"]},
            )
        )
    return out


def _keep(frame: gpd.GeoDataFrame, columns) -> gpd.GeoDataFrame:
    """Only the popup columns and the geometry (nothing else can reach the map)."""
    cols = [c for c in columns if c in frame.columns]
    return gpd.GeoDataFrame(frame[cols].copy(), geometry=frame.geometry.values, crs=frame.crs)
