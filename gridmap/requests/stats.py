"""Request KPIs per grid, zone, community, worker or category, and the planning view.

Definitions (see docs/requests.md for the sources). The cohort is the
requests *received* between ``date_from`` and ``date_to`` (local dates,
inclusive); everything is counted as of ``as_of`` (default: the end of
``date_to`` or now, whichever is earlier):

* ``received``: requests in the cohort;
* ``closed``: of those, closed (核查结案) by ``as_of``;
* ``closure_rate`` 办结率 = closed / received;
* ``due`` 应办结: requests whose original due time has passed by ``as_of``, or
  that are closed by then; ``deferred`` 延期: those of ``due`` deferred at least once;
* ``closed_on_time`` 按期办结: of ``due`` not deferred, closed by their due time;
* ``on_time_rate`` 按期办结率 = closed_on_time / (due − deferred);
* ``overdue_open``: not closed by ``as_of`` and past their (possibly deferred) due time;
* ``median_hours_to_dispatch``: median hours from received to the first
  dispatch (分流: dispatched or escalated), of requests dispatched by ``as_of``;
* ``median_hours_to_close``: median hours from received to closed;
* ``rework`` 返工: requests returned for rework at least once;
* ``escalated`` 上报社区: requests escalated to the community at least once.

Rates and medians are None where the denominator is 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import geopandas as gpd
import numpy as np
import pandas as pd

from gridmap.errors import GridmapError
from gridmap.requests.model import Rules, load_rules, now_utc
from gridmap.workspace.schema import ASSIGN_COLUMNS, GRIDS, HOUSEHOLDS, LAYERS, MICROGRIDS

BY_LEVELS = ("grid", "zone", "community", "microgrid", "worker", "category")
ROW_KEYS = (
    "name",
    "received",
    "closed",
    "closure_rate",
    "closed_on_time",
    "on_time_rate",
    "overdue_open",
    "median_hours_to_dispatch",
    "median_hours_to_close",
    "rework",
    "escalated",
)
#: Smallest count of requests shown for one micro-grid on shared maps (smaller: suppressed).
MIN_COUNT = 5


class StatsError(GridmapError):
    """Bad parameters for request statistics."""

    http_status = 422


@dataclass(frozen=True)
class Window:
    """The reporting window: local dates and the moment things are counted at."""

    date_from: date | None
    date_to: date | None
    as_of: datetime


def make_window(
    date_from: date | str | None,
    date_to: date | str | None,
    *,
    as_of: datetime | None = None,
    rules: Rules | None = None,
) -> Window:
    """Parse ``--from``/``--to`` (YYYY-MM-DD) and fix ``as_of``."""
    rules = load_rules(rules)

    def d(v, what):
        if v is None or v == "":
            return None
        if isinstance(v, date):
            return v
        try:
            return date.fromisoformat(str(v))
        except ValueError:
            raise StatsError(f"{what} must be a date like 2026-01-31, got '{v}'") from None

    f, t = d(date_from, "date_from"), d(date_to, "date_to")
    if f and t and f > t:
        raise StatsError(f"date_from {f} is after date_to {t}")
    now = now_utc()
    if as_of is None:
        as_of = now
        if t is not None:
            end = datetime.combine(t + timedelta(days=1), time(0), tzinfo=rules.tz)
            as_of = min(now, end)
    return Window(f, t, as_of)


def request_facts(
    requests: pd.DataFrame, events: pd.DataFrame, window: Window, rules: Rules | None = None
) -> pd.DataFrame:
    """One row per request of the cohort with the flags and durations the KPIs count."""
    rules = load_rules(rules)
    req = pd.DataFrame(requests).copy()
    tz = rules.tz
    local_day = req["received_at"].dt.tz_convert(tz).dt.date
    keep = pd.Series(True, index=req.index)
    if window.date_from is not None:
        keep &= local_day >= window.date_from
    if window.date_to is not None:
        keep &= local_day <= window.date_to
    req = req[keep]
    as_of = pd.Timestamp(window.as_of)
    ev = events[events["at"] <= as_of] if len(events) else events
    ev = ev[ev["request_id"].isin(req["request_id"])] if len(ev) else ev

    def first(to_states) -> pd.Series:
        sub = ev[ev["to_status"].isin(to_states)]
        return sub.groupby("request_id")["at"].min()

    def any_of(state) -> pd.Index:
        return pd.Index(ev.loc[ev["to_status"] == state, "request_id"].unique())

    first_received = (
        ev[ev["to_status"] == "received"].sort_values("at").drop_duplicates("request_id")
    )
    orig_due = first_received.set_index("request_id")["due_at"]
    rid = req["request_id"]
    out = pd.DataFrame({"request_id": rid.to_numpy()}, index=req.index)
    for c in (*ASSIGN_COLUMNS, "category", "review"):
        out[c] = req[c].to_numpy() if c in req.columns else None
    out["received_at"] = req["received_at"]
    due0 = _lookup(rid, orig_due)
    due0 = due0.where(due0.notna(), req["due_at"])
    closed_at = req["closed_at"].where(req["closed_at"] <= as_of)
    out["closed"] = closed_at.notna()
    out["deferred"] = rid.isin(any_of("deferred"))
    out["due"] = (due0 <= as_of) | out["closed"]
    out["closed_on_time"] = out["due"] & ~out["deferred"] & out["closed"] & (closed_at <= due0)
    out["overdue_open"] = ~out["closed"] & (req["due_at"] < as_of)
    dispatched = _lookup(rid, first(["dispatched", "escalated"]))
    out["hours_to_dispatch"] = (dispatched - req["received_at"]).dt.total_seconds() / 3600
    out["hours_to_close"] = (closed_at - req["received_at"]).dt.total_seconds() / 3600
    out["rework"] = rid.isin(any_of("returned"))
    esc_flag = req["escalated"].fillna(0).astype(int) == 1 if "escalated" in req else False
    out["escalated"] = rid.isin(any_of("escalated")) | esc_flag
    return out


def _lookup(keys: pd.Series, values: pd.Series) -> pd.Series:
    """``values[key]`` for each key as UTC datetimes (NaT where missing)."""
    if values.empty:
        return pd.Series(pd.NaT, index=keys.index, dtype="datetime64[us, UTC]")
    values = values[~values.index.duplicated()]
    got = values.reindex(keys.to_numpy())
    return pd.Series(pd.to_datetime(got.to_numpy(), utc=True), index=keys.index)


def _median(s: pd.Series) -> float | None:
    s = s.dropna()
    return None if s.empty else round(float(s.median()), 2)


def _rate(num: int, den: int) -> float | None:
    return None if den == 0 else round(num / den, 4)


def kpis(facts: pd.DataFrame) -> dict:
    """The KPI row of a group of requests (see the module docstring)."""
    received = len(facts)
    closed = int(facts["closed"].sum())
    due = int(facts["due"].sum())
    deferred = int((facts["due"] & facts["deferred"]).sum())
    on_time = int(facts["closed_on_time"].sum())
    return {
        "received": received,
        "closed": closed,
        "closure_rate": _rate(closed, received),
        "closed_on_time": on_time,
        "on_time_rate": _rate(on_time, due - deferred),
        "overdue_open": int(facts["overdue_open"].sum()),
        "median_hours_to_dispatch": _median(facts["hours_to_dispatch"]),
        "median_hours_to_close": _median(facts["hours_to_close"]),
        "rework": int(facts["rework"].sum()),
        "escalated": int(facts["escalated"].sum()),
    }


def _names(layers: dict, level: str) -> dict[str, str]:
    gdf = layers.get(level)
    idc = LAYERS[level].id_column
    if gdf is None or "name" not in gdf.columns:
        return {}
    return {
        str(k): (None if pd.isna(v) else str(v)) for k, v in zip(gdf[idc], gdf["name"], strict=True)
    }


def _worker_of_grid(layers: dict) -> dict[str, tuple[str, str]]:
    """grid id -> (worker id, worker name): staff_id if present, else the staff name."""
    grids = layers.get(GRIDS)
    if grids is None or "staff_name" not in grids.columns:
        return {}
    ids = grids["staff_id"] if "staff_id" in grids.columns else grids["staff_name"]
    out = {}
    for g, wid, name in zip(grids["grid_id"], ids, grids["staff_name"], strict=True):
        if pd.notna(name) and str(name).strip():
            out[str(g)] = (str(wid if pd.notna(wid) else name), str(name))
    return out


def request_stats(
    requests: pd.DataFrame,
    events: pd.DataFrame,
    *,
    by: str = "grid",
    date_from: date | str | None = None,
    date_to: date | str | None = None,
    as_of: datetime | None = None,
    layers: dict | None = None,
    rules: Rules | str | None = None,
    lang: str = "zh",
) -> dict:
    """Request KPIs grouped by ``by``, in the shape of ``gridmap requests stats --format json``.

    Parameters
    ----------
    requests, events
        From :func:`gridmap.requests.store.read_requests` (``with_events=True``).
    by
        ``grid``, ``zone``, ``community``, ``microgrid``, ``worker`` or ``category``.
    date_from, date_to
        Local dates (inclusive) of receipt; None for open-ended.
    as_of
        Count as of this moment (default: end of ``date_to`` or now).
    layers
        Workspace layers for the names (grids, zones, ...), optional.

    Returns
    -------
    dict
        ``{"by", "from", "to", "rows": [{"<level>_id", "name", "received", ...}], "review"}``;
        a row with a null id holds requests no polygon of that level owns.
    """
    if by not in BY_LEVELS:
        raise StatsError(f"by must be one of {', '.join(BY_LEVELS)}, got '{by}'")
    rules = load_rules(rules)
    window = make_window(date_from, date_to, as_of=as_of, rules=rules)
    facts = request_facts(requests, events, window, rules)
    layers = layers or {}
    key = f"{by}_id"
    if by == "category":
        facts[key] = facts["category"]
        names = {c.code: c.label(lang) for c in rules.categories.values()}
    elif by == "worker":
        workers = _worker_of_grid(layers)
        facts[key] = facts["grid_id"].map(lambda g: workers.get(g, (None, None))[0])
        names = {w: n for w, n in workers.values()}
    else:
        level = {
            "grid": "grids",
            "zone": "zones",
            "community": "communities",
            "microgrid": "microgrids",
        }[by]
        facts[key] = facts[LAYERS[level].id_column]
        names = _names(layers, level)
    facts[key] = facts[key].astype(object).where(facts[key].notna(), None)
    rows = []
    ids = sorted({v for v in facts[key] if v is not None}, key=str)
    groups = {k: g for k, g in facts.groupby(key, dropna=True)}
    for gid in ids:
        rows.append({key: gid, "name": names.get(gid), **kpis(groups[gid])})
    nulls = facts[facts[key].isna()]
    if len(nulls):
        rows.append({key: None, "name": None, **kpis(nulls)})
    return {
        "by": by,
        "from": window.date_from.isoformat() if window.date_from else None,
        "to": window.date_to.isoformat() if window.date_to else None,
        "rows": rows,
        "review": int((facts["review"].fillna(0).astype(int) == 1).sum()),
    }


def workspace_stats(
    workspace=None,
    *,
    by: str = "grid",
    date_from=None,
    date_to=None,
    as_of: datetime | None = None,
    rules: Rules | str | None = None,
    lang: str = "zh",
) -> dict:
    """:func:`request_stats` for a workspace on disk (requests, events and names read from it)."""
    from gridmap.requests.store import read_requests
    from gridmap.workspace import store as io

    req, ev = read_requests(workspace, with_events=True)
    layers = io.load_workspace(
        workspace, layers=["grids", "zones", "communities", "microgrids"]
    ).layers
    return request_stats(
        req,
        ev,
        by=by,
        date_from=date_from,
        date_to=date_to,
        as_of=as_of,
        layers=layers,
        rules=rules,
        lang=lang,
    )


# ---------------------------------------------------------------- planning view
def grid_request_layer(
    layers: dict,
    requests: pd.DataFrame,
    events: pd.DataFrame,
    *,
    date_from=None,
    date_to=None,
    as_of: datetime | None = None,
    min_count: int = MIN_COUNT,
    rules: Rules | str | None = None,
    lang: str = "zh",
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The requests layer of the meeting map: aggregates only, never a request.

    Returns
    -------
    (grids, microgrids)
        ``grids``: every grid with ``received``, ``closed``, ``closure_rate``,
        ``overdue_open``, ``on_time_rate``, ``requests_per_100_households``,
        ``parking_requests``, ``charging_requests`` and ``category_mix`` (a
        ``{label: count}`` dict). ``microgrids``: every micro-grid with
        ``requests`` (count) where at least ``min_count`` requests fell in it,
        else None (suppressed, so a single resident's request cannot be
        singled out). No position, text or person of any request.
    """
    rules = load_rules(rules)
    window = make_window(date_from, date_to, as_of=as_of, rules=rules)
    facts = request_facts(requests, events, window, rules)
    grids = layers.get(GRIDS)
    if grids is None:
        raise StatsError("the workspace has no grids layer for the requests map layer")
    base = grids[["grid_id", "name", "geometry"]].copy()
    households = layers.get(HOUSEHOLDS)
    hh_count: dict[str, int] = {}
    if households is not None and len(households):
        if "grid_id" in households.columns and households["grid_id"].notna().all():
            hh_count = households["grid_id"].value_counts().to_dict()
        else:
            from gridmap.join.core import assign_points, build_hierarchy

            gid = assign_points(households, build_hierarchy(layers), nearest=False)["grid_id"]
            hh_count = gid.value_counts().to_dict()
    groups = {k: g for k, g in facts.groupby("grid_id", dropna=True)}
    label = {c.code: c.label(lang) for c in rules.categories.values()}
    recs = []
    for gid in base["grid_id"]:
        g = groups.get(gid)
        k = kpis(g) if g is not None else kpis(facts.iloc[0:0])
        n_hh = int(hh_count.get(gid, 0))
        mix = {}
        if g is not None:
            counts = g["category"].map(lambda c: label.get(c, c)).value_counts()
            mix = {str(a): int(b) for a, b in counts.items()}
        recs.append(
            {
                "received": k["received"],
                "closed": k["closed"],
                "closure_rate": k["closure_rate"],
                "on_time_rate": k["on_time_rate"],
                "overdue_open": k["overdue_open"],
                "households": n_hh,
                "requests_per_100_households": None
                if n_hh == 0
                else round(100 * k["received"] / n_hh, 2),
                "parking_requests": 0 if g is None else int((g["category"] == "parking").sum()),
                "charging_requests": 0 if g is None else int((g["category"] == "charging").sum()),
                "category_mix": mix,
            }
        )
    out = gpd.GeoDataFrame(
        pd.concat([base.reset_index(drop=True), pd.DataFrame(recs)], axis=1),
        geometry="geometry",
        crs=grids.crs,
    )
    micro = layers.get(MICROGRIDS)
    if micro is None:
        mg = gpd.GeoDataFrame({"microgrid_id": [], "requests": []}, geometry=[], crs=grids.crs)
    else:
        counts = facts["microgrid_id"].value_counts()
        mg = micro[["microgrid_id", "name", "geometry"]].copy().reset_index(drop=True)
        n = mg["microgrid_id"].map(counts).fillna(0).astype(int)
        mg["requests"] = pd.Series([int(v) if v >= min_count else None for v in n], dtype=object)
        mg["suppressed"] = (n > 0) & (n < min_count)
    out.attrs["min_count"] = min_count
    return out, mg


def workspace_request_layer(workspace=None, **kwargs) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """:func:`grid_request_layer` for a workspace (path or loaded Workspace)."""
    from gridmap.requests.store import has_requests, read_requests
    from gridmap.workspace import store as io

    ws = workspace if isinstance(workspace, io.Workspace) else io.load_workspace(workspace)
    if not has_requests(ws.path):
        raise StatsError("the workspace has no requests layer", file=str(ws.path))
    req, ev = read_requests(ws.path, with_events=True)
    return grid_request_layer(ws.layers, req, ev, **kwargs)


def _np_none(v):
    if isinstance(v, float) and np.isnan(v):
        return None
    return v


# ---------------------------------------------------------------- work lists
def list_requests(
    requests: pd.DataFrame,
    *,
    grids: set[str] | frozenset[str] | None = None,
    grid: str | None = None,
    status: str | None = None,
    overdue: bool = False,
    review: bool | None = None,
    as_of: datetime | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Requests as a work list: overdue open ones first (most overdue first).

    Then the other open ones by due time, then closed ones, newest first.
    ``grids`` restricts to a set of grids (a staff key's scope); ``grid``,
    ``status``, ``overdue`` and ``review`` filter. Adds ``overdue`` (bool) and
    ``hours_overdue``.
    """
    from gridmap.requests.model import STATUSES

    if status is not None and status not in STATUSES:
        raise StatsError(f"status must be one of {', '.join(STATUSES)}, got '{status}'")
    as_of = pd.Timestamp(as_of or now_utc())
    df = pd.DataFrame(requests).copy()
    if grids is not None:
        df = df[df["grid_id"].isin(list(grids))]
    if grid is not None:
        df = df[df["grid_id"] == grid]
    if status is not None:
        df = df[df["status"] == status]
    is_open = df["status"] != "closed"
    df["overdue"] = is_open & (df["due_at"] < as_of)
    df["hours_overdue"] = (
        ((as_of - df["due_at"]).dt.total_seconds() / 3600).where(df["overdue"]).round(1)
    )
    if overdue:
        df = df[df["overdue"]]
    if review is not None:
        df = df[(df["review"] == 1) == review]
    group = np.where(df["overdue"], 0, np.where(df["status"] != "closed", 1, 2))
    df["_g"] = group
    epoch = pd.Timestamp(0, tz="UTC")
    due_s = (pd.to_datetime(df["due_at"], utc=True) - epoch).dt.total_seconds()
    rec_s = (pd.to_datetime(df["received_at"], utc=True) - epoch).dt.total_seconds()
    late = df["hours_overdue"].astype(float).fillna(0).to_numpy()
    df["_k"] = np.where(
        group == 0,
        -late,
        np.where(group == 1, due_s.fillna(0).to_numpy(), -rec_s.fillna(0).to_numpy()),
    )
    df = df.sort_values(["_g", "_k", "request_id"], kind="stable").drop(columns=["_g", "_k"])
    if limit is not None:
        df = df.head(limit)
    return df
