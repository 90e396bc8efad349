"""Synthetic resident requests for the sample workspace: about a year of them.

Seeded and deterministic: the same layers and seed give the same requests.
Each request comes from a synthetic household (its point, or only its address
for about one in five), with a realistic category mix, times drawn around the
category's time limit, and a full event history (received → dispatched →
in_progress → answered → closed, with some returned for rework, deferred or
escalated to the community). Requests whose history would end after the
snapshot time stay open, so the newest ones are still being handled; a few
with an unknown building wait in the review queue. All names, phones and texts
are invented.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from gridmap.requests.model import Rules, load_rules
from gridmap.requests.routing import RequestRouter, Route

#: The sample year (local time): 2025-12-01 to the snapshot 2026-11-30 18:00.
YEAR_START = datetime(2025, 12, 1)
SNAPSHOT = datetime(2026, 11, 30, 18, 0)
#: Requests per household per year in the sample (326 requests in 3,500 households).
PER_HOUSEHOLD = 330 / 3500
#: At most this many requests for city-size synthetic workspaces.
MAX_REQUESTS = 10_000
#: Above this many households no address registry is built (city-size runs): every request
#: is located by its coordinate, and the few meant for the review queue get no lookup.
ADDRESS_LOOKUP_MAX = 50_000

#: Category -> (share of requests, winter factor, summary templates).
MIX: dict[str, tuple[float, float, tuple[str, ...]]] = {
    "utilities": (
        0.17,
        2.5,
        (
            "{b}号楼暖气不热",
            "{b}号楼{u}单元停水",
            "{b}号楼楼道灯不亮",
            "家里水管漏水",
            "电表跳闸无人处理",
        ),
    ),
    "property": (
        0.19,
        1.0,
        ("{b}号楼电梯故障", "物业费收费有疑问", "{b}号楼单元门禁损坏", "小区绿化无人修剪"),
    ),
    "parking": (
        0.14,
        1.0,
        (
            "小区车位不够，晚上停不下",
            "消防通道被占用停车",
            "外来车辆长期占用车位",
            "希望增加停车位",
        ),
    ),
    "charging": (
        0.08,
        0.8,
        ("充电桩数量不够", "电动轮椅没有地方充电", "{b}号楼附近想装充电桩", "充电桩损坏"),
    ),
    "elderly": (
        0.10,
        1.2,
        ("独居老人需要上门探访", "老人助餐服务咨询", "帮老人代缴水费", "申请居家养老服务"),
    ),
    "sanitation": (
        0.12,
        0.8,
        ("{b}号楼垃圾没有及时清运", "楼道堆放杂物", "下水道堵塞有异味", "小区有流浪狗"),
    ),
    "dispute": (
        0.08,
        1.0,
        ("楼上漏水邻里纠纷", "{b}号楼噪音扰民", "公共区域占用纠纷", "宠物扰邻"),
    ),
    "employment": (
        0.05,
        1.0,
        ("咨询灵活就业社保", "失业人员求职登记", "想参加职业技能培训"),
    ),
    "safety": (
        0.04,
        1.0,
        ("{b}号楼楼道电动车充电隐患", "井盖松动", "{b}号楼外墙脱落"),
    ),
    "other": (0.03, 1.0, ("咨询办事流程", "开具居住证明")),
}
DEFER_REASONS = ("需要协调物业和产权单位", "等待维修配件", "需要业主大会表决")
RETURN_NOTES = ("居民回访不满意，重新办理", "问题未彻底解决")


def _hours(rng: np.random.Generator, median: float, sigma: float = 0.7) -> float:
    return float(median * np.exp(rng.normal(0, sigma)))


def synth_requests(
    layers: dict,
    *,
    seed: int = 20240601,
    count: int | None = None,
    rules: Rules | str | None = None,
) -> tuple[list[dict], list[list[dict]], list[tuple[float | None, float | None]]]:
    """Generate requests from a synthetic workspace's layers.

    Returns
    -------
    (records, events, points)
        Per request: the ``requests`` row, its events (oldest first) and its
        WGS84 position (None, None when it was located by address only).
    """
    rules = load_rules(rules)
    tz = rules.tz
    rng = np.random.default_rng(seed + 17)
    hh = layers["households"].reset_index(drop=True)
    n = min(round(len(hh) * PER_HOUSEHOLD), MAX_REQUESTS) if count is None else int(count)
    if n == 0 or len(hh) == 0:
        return [], [], []
    from gridmap.datasets.synth import _names, _phones

    cats = list(MIX)
    shares = np.array([MIX[c][0] for c in cats])
    span_h = (SNAPSHOT - YEAR_START).total_seconds() / 3600
    # arrival times: winter (Dec-Feb) heavier for heating; sample by rejection per category
    picks = rng.choice(len(cats), size=n, p=shares / shares.sum())
    times: list[datetime] = []
    for k in range(n):
        winter = MIX[cats[picks[k]]][1]
        while True:
            t = YEAR_START + timedelta(hours=float(rng.uniform(0, span_h)))
            w = winter if t.month in (12, 1, 2) else 1.0
            if rng.uniform(0, max(winter, 1.0)) <= w:
                break
        hour = int(rng.choice([8, 9, 10, 11, 14, 15, 16, 17, 19, 20]))
        t = t.replace(hour=hour, minute=int(rng.integers(0, 60)), second=0, microsecond=0)
        times.append(t)
    order = np.argsort(np.array([t.timestamp() for t in times]), kind="stable")
    house = rng.integers(0, len(hh), n)
    by_address = rng.random(n) < 0.2
    review = np.zeros(n, dtype=bool)
    review[rng.choice(n, size=min(3, n), replace=False)] = True
    names = list(_names(rng, n))
    phones = list(_phones(rng, n))
    router = RequestRouter(_layers_workspace(layers))
    use_lookup = len(hh) <= ADDRESS_LOOKUP_MAX
    xs = np.array([hh.geometry.iloc[h].x for h in house])
    ys = np.array([hh.geometry.iloc[h].y for h in house])
    coord_routes = router.by_wgs84(xs, ys)
    records, histories, points = [], [], []
    day_seq: dict[str, int] = {}
    for k in order:
        cat = rules.categories.get(cats[picks[k]]) or rules.categories["other"]
        t0 = times[k].replace(tzinfo=tz)
        addr = str(hh["address"].iloc[house[k]]) if "address" in hh.columns else None
        bld = "1"
        unit = "1"
        if addr:
            import re

            m = re.search(r"(\d+)号楼(\d+)单元", addr)
            if m:
                bld, unit = m.group(1), m.group(2)
        templates = MIX[cat.code][2] if cat.code in MIX else ("咨询",)
        summary = templates[int(rng.integers(0, len(templates)))].format(b=bld, u=unit)
        if review[k]:
            addr = (addr.split("号楼")[0] if addr and "号楼" in addr else "人民路99") + "88号楼"
            route = (
                router.by_address(addr)
                if use_lookup
                else Route(located_by="not_found", review=True, message="synthetic")
            )
            point = (None, None)
        elif by_address[k] and addr and use_lookup:
            route = router.by_address(addr)
            point = (None, None)
        else:
            route = coord_routes[k]
            point = (float(xs[k]), float(ys[k]))
        due0 = rules.due_at(t0, cat)
        day = t0.strftime("%Y-%m-%d")
        day_seq[day] = day_seq.get(day, 0) + 1
        rid = f"R{day}-{day_seq[day]:03d}"
        snap = SNAPSHOT.replace(tzinfo=tz)
        events = [
            {
                "at": t0,
                "from_status": None,
                "to_status": "received",
                "actor_role": "grid_staff",
                "due_at": due0,
            }
        ]
        due, closed_at, escalated = due0, None, 0

        def step(at, to, role="grid_staff", note=None, new_due=None, events=events, snap=snap):
            if at > snap:
                return False
            events.append(
                {
                    "at": at,
                    "from_status": events[-1]["to_status"],
                    "to_status": to,
                    "actor_role": role,
                    "note": note,
                    "due_at": new_due,
                }
            )
            return True

        if not review[k]:
            limit_h = cat.close_hours
            disp_med = (
                rules.dispatch_minutes_urgent if cat.urgent else rules.dispatch_minutes
            ) / 60
            t = t0 + timedelta(hours=_hours(rng, disp_med * 0.6, 0.6))
            r = rng.random()
            go = True
            if r < 0.06:  # the grid cannot settle it: the community takes it over
                go = step(t, "escalated")
                escalated = 1 if go else 0
                t += timedelta(hours=_hours(rng, 4))
                go = go and step(t, "dispatched", "community")
            else:
                go = step(t, "dispatched")
            t += timedelta(hours=_hours(rng, 1.5))
            go = go and step(t, "in_progress")
            if go and rng.random() < 0.04:
                t += timedelta(hours=_hours(rng, limit_h * 0.3))
                new_due = max(due, t) + timedelta(days=7)
                go = step(
                    t,
                    "deferred",
                    note=DEFER_REASONS[int(rng.integers(0, len(DEFER_REASONS)))],
                    new_due=new_due,
                )
                if go:
                    due = new_due
                t += timedelta(hours=_hours(rng, 48))
                go = go and step(t, "in_progress")
            t += timedelta(hours=_hours(rng, limit_h * 0.35, 0.8))
            go = go and step(t, "answered")
            if go and rng.random() < 0.05:
                t += timedelta(hours=_hours(rng, 20))
                go = step(t, "returned", note=RETURN_NOTES[int(rng.integers(0, len(RETURN_NOTES)))])
                t += timedelta(hours=_hours(rng, 3))
                go = go and step(t, "in_progress")
                t += timedelta(hours=_hours(rng, limit_h * 0.2))
                go = go and step(t, "answered")
            t += timedelta(hours=_hours(rng, 8, 0.6))
            if go and step(t, "closed", note="回访满意"):
                closed_at = t
        status = events[-1]["to_status"]
        rec = {
            "request_id": rid,
            "received_at": t0,
            "status": status,
            "category": cat.code,
            "summary": summary,
            "address": addr if ((by_address[k] and use_lookup) or review[k]) else None,
            **route.columns(),
            "due_at": due,
            "closed_at": closed_at,
            "escalated": escalated,
            "urgent": int(cat.urgent),
            "source_row": None,
            "resident_name": names[k],
            "resident_phone": phones[k],
        }
        records.append(rec)
        histories.append(events)
        points.append(point)
    return records, histories, points


def _layers_workspace(layers: dict):
    from gridmap.workspace.store import Workspace

    return Workspace(path=Path("synthetic.gpkg"), layers=dict(layers))


def write_synth_requests(
    workspace, layers: dict, *, seed: int = 20240601, count: int | None = None
) -> int:
    """Generate requests for ``layers`` and store them in ``workspace`` (one transaction).

    Returns the number of requests written.
    """
    from gridmap.requests import store

    rules = load_rules()
    recs, hist, pts = synth_requests(layers, seed=seed, count=count, rules=rules)
    with store.transaction(workspace, sample_ok=True) as con:
        for rec, events, (x, y) in zip(recs, hist, pts, strict=True):
            store.insert_request(con, rec, events, rules=rules, lon=x, lat=y)
    return len(recs)


def synth_frames(layers: dict, *, seed: int = 20240601, count: int | None = None):
    """The synthetic requests and events as DataFrames (what the sample holds)."""
    recs, hist, pts = synth_requests(layers, seed=seed, count=count)
    req = pd.DataFrame(recs)
    ev = pd.DataFrame(
        [{**e, "request_id": r["request_id"]} for r, h in zip(recs, hist, strict=True) for e in h]
    )
    return req, ev, pts


def synth_sample_workspace(
    path: str | os.PathLike,
    seed: int = 20240601,
    households: int = 3500,
    microgrids: int = 287,
    grids: int | None = None,
    zones: int | None = None,
    center: tuple[float, float] = (111.47, 35.64),
    progress: Callable[[str], None] | None = None,
) -> Path:
    """The whole synthetic sample: the town's layers plus a year of resident requests.

    What ``gridmap synth`` writes and what ``gridmap/datasets/data/community.gpkg``
    holds with the defaults: :func:`gridmap.datasets.synth.synth_workspace` writes
    the layers, then :func:`write_synth_requests` adds the ``requests`` and
    ``request_events`` tables made from the same layers and seed. Returns the path.
    """
    from gridmap.datasets.synth import synth_workspace

    def add_requests(p: Path, layers: dict) -> None:
        if progress:
            progress("adding a year of resident requests")
        write_synth_requests(p, layers, seed=seed)

    return synth_workspace(
        path,
        seed=seed,
        households=households,
        microgrids=microgrids,
        grids=grids,
        zones=zones,
        center=center,
        progress=progress,
        then=add_requests,
    )
