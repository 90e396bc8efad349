"""Resident requests (gridmap.requests): ledger import, routing, the state machine, KPIs.

References are independent of the code under test: the core join and the
address lookup for routing (as the issue demands), a plain per-request Python
computation over the layers read back with GDAL (pyogrio) for the KPIs, and
``ogrinfo`` for the GeoPackage registration.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest

from gridmap.join.core import assign_points, build_hierarchy
from gridmap.lookup.matching import locate
from gridmap.requests import store
from gridmap.requests.intake import import_ledger, log_request
from gridmap.requests.model import (
    IllegalTransitionError,
    RequestError,
    load_rules,
    parse_time,
)
from gridmap.requests.stats import list_requests, request_stats
from gridmap.workspace import store as io

GRIDMAP = [sys.executable, "-m", "gridmap"]
X0, Y0, D = 111.47, 35.64, 0.001
HEADER = "编号,受理时间,类别,诉求内容,地址,经度,纬度,状态,办结时间,姓名,电话"


def ledger_rows() -> tuple[list[str], dict[int, str]]:
    """Ledger lines (title row first) and the spreadsheet rows expected to be refused."""
    lines = ["城南社区诉求台账（2026年3月）", HEADER]
    good = [
        # inside M01, by coordinate
        f"A01,2026-03-01 09:30,停车,车位不够,,{X0 + 0.5 * D},{Y0 + 0.5 * D},已办结,2026-03-03 10:00,张三,13800000001",
        # in grid G4 but no micro-grid (gap): keeps the grid
        f"A02,2026/3/2 8:05,水电暖,暖气不热,,{X0 + 3.5 * D},{Y0 + 1.5 * D},办理中,,李四,13800000002",
        # outside everything: review queue
        f"A03,2026-03-02 10:00,物业,电梯坏了,,{X0 + 10 * D},{Y0 + 10 * D},,,王五,13800000003",
        # by exact address
        "A04,2026年3月3日 14:20,养老,老人助餐,西南街6号楼1单元106室,,,已办结,2026-03-04 09:00,赵六,13800000004",
        # unknown building: not found -> review, never guessed
        "A05,2026-03-04 11:00,环境卫生,垃圾清运,西南街99号楼,,,,,孙七,13800000005",
        # by address, in grid G1
        "A06,2026-03-05 16:45,邻里纠纷,噪音,西南街2号楼1单元102室,,,已反馈,,周八,13800000006",
        # no id: one is made
        f",2026-03-06 09:00,充电,充电桩不够,,{X0 + 2.5 * D},{Y0 + 0.5 * D},,,吴九,13800000007",
    ]
    bad = {
        # spreadsheet row -> a word the message must contain
        10: "受理时间",  # not a date
        11: "status",  # unknown status
        12: "办结时间",  # closed without a closing time
        13: "category",  # unknown category
        14: "twice",  # duplicate 编号
        15: "经度",  # only one coordinate
    }
    bad_lines = [
        "B01,yesterday,停车,x,西南街1号楼1单元101室,,,,,甲,1",
        "B02,2026-03-07 09:00,停车,x,西南街1号楼1单元101室,,,飞走了,,乙,2",
        "B03,2026-03-07 09:00,停车,x,西南街1号楼1单元101室,,,已办结,,丙,3",
        "B04,2026-03-07 09:00,天气,x,西南街1号楼1单元101室,,,,,丁,4",
        "A01,2026-03-07 09:00,停车,x,西南街1号楼1单元101室,,,,,戊,5",
        f"B06,2026-03-07 09:00,停车,x,,{X0},,,,己,6",
    ]
    return lines + good + bad_lines, bad


def write_gbk_ledger(path: Path) -> tuple[Path, dict[int, str]]:
    lines, bad = ledger_rows()
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))
    return path, bad


@pytest.fixture
def ws(tiny_workspace: Path) -> Path:
    return tiny_workspace


# ------------------------------------------------------------------ ledger import
def test_gbk_ledger_every_row_stored_or_reported_in_order(ws, tmp_path):
    ledger, bad = write_gbk_ledger(tmp_path / "台账.csv")
    # with bad rows and no skip_bad_rows: nothing is written
    with pytest.raises(RequestError, match="nothing was stored") as err:
        import_ledger(ws, ledger)
    assert "row 10" in str(err.value)
    assert len(store.read_requests(ws)) == 0
    report = import_ledger(ws, ledger, skip_bad_rows=True)
    assert report.encoding == "gb18030"
    n_rows = len(ledger_rows()[0]) - 2  # minus title and header
    assert report.rows == n_rows
    assert len(report.stored) + len(report.problems) == n_rows
    assert {p.row for p in report.problems} == set(bad)
    for p in report.problems:
        assert bad[p.row].lower() in p.message.lower(), p
    req = store.read_requests(ws)
    assert len(req) == len(report.stored) == 7
    # ledger order is kept: fid order == spreadsheet row order
    assert list(req["source_row"]) == sorted(req["source_row"]) == [3, 4, 5, 6, 7, 8, 9]
    assert list(req["request_id"][:6]) == ["A01", "A02", "A03", "A04", "A05", "A06"]
    assert req["request_id"].iloc[6].startswith("R2026-03-06-")
    assert req.loc[0, "summary"] == "车位不够" and req.loc[0, "resident_name"] == "张三"
    assert list(req["status"]) == [
        "closed",
        "in_progress",
        "received",
        "closed",
        "received",
        "answered",
        "received",
    ]
    # an import again stores nothing twice: every row is reported
    again = import_ledger(ws, ledger, skip_bad_rows=True)
    assert len(again.stored) == 1  # the row without 编号 gets a new id
    assert len(again.problems) == n_rows - 1
    assert all("already" in p.message or p.row in bad for p in again.problems)


def test_ledger_utf8_bom_and_xlsx(ws, tmp_path):
    lines, _ = ledger_rows()
    good = lines[:9]
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\n".join(good).encode("utf-8-sig"))
    rep = import_ledger(ws, bom)
    assert rep.encoding == "utf-8-sig" and len(rep.stored) == 7
    import openpyxl

    wb = openpyxl.Workbook()
    sh = wb.active
    sh.append(["诉求台账"])
    sh.append(HEADER.split(","))
    sh.append(["X01", "2026-04-01 09:00", "停车", "车位", None, X0 + 0.5 * D, Y0 + 0.5 * D])
    sh.append(["X02", "2026-04-01 10:00", "物业", "门禁", "西南街6号楼1单元106室"])
    xlsx = tmp_path / "台账.xlsx"
    wb.save(xlsx)
    rep = import_ledger(ws, xlsx)
    assert [r for r, _ in rep.stored] == [3, 4] and not rep.problems


# ------------------------------------------------------------------ routing
def test_routing_agrees_with_core_join_and_lookup(ws, tmp_path):
    ledger, _ = write_gbk_ledger(tmp_path / "l.csv")
    import_ledger(ws, ledger, skip_bad_rows=True)
    log_request(ws, category="停车", lon=X0 + 1.0 * D, lat=Y0 + 0.5 * D)  # shared edge
    # a GCJ-02 position (from a map SDK) is converted before the join
    from gridmap.coords.crs import wgs84_to_gcj02

    gx, gy = wgs84_to_gcj02(X0 + 2.5 * D, Y0 + 1.5 * D)
    log_request(ws, category="充电", lon=float(gx), lat=float(gy), crs="gcj02")
    req = store.read_requests(ws)
    layers = io.load_workspace(ws).layers
    h = build_hierarchy(layers)
    pts = req[req["located_by"] == "coordinate"]
    assert len(pts) == 6
    ref = assign_points(pts, h, nearest=False)
    for c in ("microgrid_id", "grid_id", "zone_id", "community_id"):
        assert list(pts[c]) == [None if pd.isna(v) else v for v in ref[c]], c
    # outside every micro-grid keeps the finest owning level; outside all: review
    gap = req[req["request_id"] == "A02"].iloc[0]
    assert gap["microgrid_id"] is None and gap["grid_id"] == "G4" and gap["zone_id"] == "Z2"
    assert gap["assigned_level"] == "grids" and gap["review"] == 0
    out = req[req["request_id"] == "A03"].iloc[0]
    assert out["grid_id"] is None and out["review"] == 1
    # the shared edge M01|M03 goes to the smallest id; GCJ-02 lands in M06
    assert list(pts["microgrid_id"].iloc[-2:]) == ["M01", "M06"]
    by_addr = req[req["address"].notna()]
    assert len(by_addr) == 3
    for _, r in by_addr.iterrows():
        res = locate(r["address"], workspace=ws)
        if res.status == "ok":
            assert r["located_by"] == "address" and r["review"] == 0
            assert (r["microgrid_id"], r["grid_id"]) == (res.microgrid_id, res.grid_id)
        else:
            assert r["located_by"] == res.status and r["review"] == 1
            assert r["grid_id"] is None  # never guessed
    assert list(list_requests(req, review=True)["request_id"]) == ["A03", "A05"] or set(
        list_requests(req, review=True)["request_id"]
    ) == {"A03", "A05"}


def test_ambiguous_address_goes_to_review_with_candidates(tmp_path):
    import geopandas as gpd
    from conftest import tiny_layers
    from shapely.geometry import Point

    layers = tiny_layers()
    hh = layers["households"]
    # two households of 西南街7号楼 in different grids, no room given -> ambiguous
    extra = gpd.GeoDataFrame(
        {
            "household_id": ["H7", "H8"],
            "address": ["西南街7号楼1单元101室", "西南街7号楼1单元102室"],
        },
        geometry=[Point(X0 + 0.5 * D, Y0 + 0.5 * D), Point(X0 + 3.2 * D, Y0 + 0.2 * D)],
        crs=4326,
    )
    layers["households"] = pd.concat([hh, extra], ignore_index=True)
    path = tmp_path / "amb.gpkg"
    io.write_layers(path, layers)
    row = log_request(path, category="物业", address="西南街7号楼")
    assert row["located_by"] == "ambiguous" and row["review"] == 1
    assert row["grid_id"] is None
    grids = {c["grid_id"] for c in row["candidates"]}
    assert grids == {"G1", "G4"}
    stored = store.read_requests(path).iloc[0]
    assert {c["grid_id"] for c in json.loads(stored["candidates"])} == {"G1", "G4"}


# ------------------------------------------------------------------ state machine
def test_transitions_enforced_and_every_one_is_an_event(ws):
    row = log_request(ws, category="停车", lon=X0 + 0.5 * D, lat=Y0 + 0.5 * D)
    rid = row["request_id"]
    with pytest.raises(IllegalTransitionError) as err:
        store.move_request(ws, rid, "closed")
    msg = str(err.value)
    assert rid in msg and "received" in msg and "allowed next: dispatched, escalated" in msg
    with pytest.raises(IllegalTransitionError, match="'flying' is not a status"):
        store.move_request(ws, rid, "flying")
    t = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
    store.move_request(ws, rid, "dispatched", at=t)
    store.move_request(ws, rid, "in_progress", at=t + timedelta(hours=1))
    with pytest.raises(RequestError, match="reason"):
        store.move_request(ws, rid, "deferred", due_at=t + timedelta(days=9))
    with pytest.raises(RequestError, match="new due time"):
        store.move_request(ws, rid, "deferred", note="等待配件")
    store.move_request(
        ws,
        rid,
        "deferred",
        note="等待配件",
        due_at=t + timedelta(days=9),
        at=t + timedelta(hours=2),
    )
    store.move_request(ws, rid, "answered", at=t + timedelta(days=2))
    with pytest.raises(IllegalTransitionError, match="needs a note"):
        store.move_request(ws, rid, "returned")
    store.move_request(ws, rid, "returned", note="回访不满意", at=t + timedelta(days=3))
    store.move_request(ws, rid, "in_progress", at=t + timedelta(days=3, hours=1))
    store.move_request(ws, rid, "escalated", at=t + timedelta(days=4))
    store.move_request(ws, rid, "answered", at=t + timedelta(days=5))
    final = store.move_request(ws, rid, "closed", at=t + timedelta(days=6))
    assert final["status"] == "closed" and final["escalated"] == 1
    assert final["closed_at"].startswith("2026-03-07T01:00")
    with pytest.raises(IllegalTransitionError, match="none: the request is closed"):
        store.move_request(ws, rid, "returned", note="x")
    req, ev = store.read_requests(ws, with_events=True)
    chain = ev[ev["request_id"] == rid]
    assert list(chain["to_status"]) == [
        "received",
        "dispatched",
        "in_progress",
        "deferred",
        "answered",
        "returned",
        "in_progress",
        "escalated",
        "answered",
        "closed",
    ]
    assert list(chain["from_status"].iloc[1:]) == list(chain["to_status"].iloc[:-1])
    assert req.iloc[0]["due_at"] == pd.Timestamp(t + timedelta(days=9))


def test_move_unknown_request_and_cli_errors_are_one_line(ws):
    with pytest.raises(RequestError, match="no request R1"):
        store.move_request(ws, "R1", "dispatched")
    row = log_request(ws, category="停车", lon=X0 + 0.5 * D, lat=Y0 + 0.5 * D)
    res = subprocess.run(
        [*GRIDMAP, "requests", "move", row["request_id"], "--to", "closed", "-w", str(ws)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "allowed next: dispatched, escalated" in lines[0]
    assert row["request_id"] in lines[0]
    # nothing changed
    assert store.read_requests(ws).iloc[0]["status"] == "received"


def test_packaged_sample_is_not_written(sample_workspace):
    with pytest.raises(RequestError, match="read-only"):
        log_request(sample_workspace, category="停车", lon=111.47, lat=35.64)


# ------------------------------------------------------------------ GeoPackage
def test_gdal_reads_the_layers(ws):
    log_request(ws, category="停车", lon=X0 + 0.5 * D, lat=Y0 + 0.5 * D, summary="车位")
    log_request(ws, category="物业", address="西南街6号楼1单元106室")
    info = subprocess.run(
        ["ogrinfo", "-ro", "-so", str(ws), "requests"], capture_output=True, text=True, check=True
    )
    assert "Geometry: Point" in info.stdout and "Feature Count: 2" in info.stdout
    assert "EPSG" in info.stdout and "4326" in info.stdout
    info = subprocess.run(
        ["ogrinfo", "-ro", "-so", str(ws), "request_events"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Feature Count: 2" in info.stdout
    gdf = pyogrio.read_dataframe(ws, layer="requests")
    assert gdf.crs.to_epsg() == 4326
    assert gdf.geometry.iloc[0].x == pytest.approx(X0 + 0.5 * D)
    assert gdf.geometry.iloc[1] is None  # located by address only
    con = sqlite3.connect(ws)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    # a whole-file rewrite by another command keeps the requests
    res = subprocess.run([*GRIDMAP, "assign", str(ws)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert len(store.read_requests(ws)) == 2


# ------------------------------------------------------------------ KPIs
def independent_kpis(req: pd.DataFrame, ev: pd.DataFrame, key: str, as_of, day_from, day_to):
    """Plain per-request computation of the KPIs (docs/requests.md definitions)."""
    tz = "Asia/Shanghai"
    out: dict = {}
    for _, r in req.iterrows():
        day = pd.Timestamp(r["received_at"]).tz_convert(tz).date()
        if day < day_from or day > day_to:
            continue
        e = ev[(ev["request_id"] == r["request_id"]) & (ev["at"] <= as_of)].sort_values("at")
        g = out.setdefault(
            r[key] if pd.notna(r[key]) else None,
            {
                "received": 0,
                "closed": 0,
                "due": 0,
                "deferred": 0,
                "on_time": 0,
                "overdue": 0,
                "disp": [],
                "close": [],
                "rework": 0,
                "esc": 0,
            },
        )
        g["received"] += 1
        recv = e[e["to_status"] == "received"]
        due0 = (
            recv["due_at"].iloc[0]
            if len(recv) and pd.notna(recv["due_at"].iloc[0])
            else r["due_at"]
        )
        closed = pd.notna(r["closed_at"]) and r["closed_at"] <= as_of
        deferred = (e["to_status"] == "deferred").any()
        is_due = due0 <= as_of or closed
        g["closed"] += closed
        if is_due:
            g["due"] += 1
            if deferred:
                g["deferred"] += 1
            elif closed and r["closed_at"] <= due0:
                g["on_time"] += 1
        if not closed and r["due_at"] < as_of:
            g["overdue"] += 1
        d = e[e["to_status"].isin(["dispatched", "escalated"])]
        if len(d):
            g["disp"].append((d["at"].iloc[0] - r["received_at"]).total_seconds() / 3600)
        if closed:
            g["close"].append((r["closed_at"] - r["received_at"]).total_seconds() / 3600)
        g["rework"] += (e["to_status"] == "returned").any()
        g["esc"] += (e["to_status"] == "escalated").any() or r["escalated"] == 1
    return out


def compare(result: dict, ref: dict, key: str) -> None:
    rows = {r[key]: r for r in result["rows"]}
    assert set(rows) == set(ref)
    for k, g in ref.items():
        r = rows[k]
        assert r["received"] == g["received"]
        assert r["closed"] == g["closed"]
        assert r["closed_on_time"] == g["on_time"]
        assert r["overdue_open"] == g["overdue"]
        assert r["rework"] == g["rework"] and r["escalated"] == g["esc"]
        den = g["due"] - g["deferred"]
        assert r["on_time_rate"] == (
            None if den == 0 else pytest.approx(g["on_time"] / den, abs=1e-4)
        )
        assert r["closure_rate"] == pytest.approx(g["closed"] / g["received"], abs=1e-4)
        for col, vals in (
            ("median_hours_to_dispatch", g["disp"]),
            ("median_hours_to_close", g["close"]),
        ):
            assert r[col] == (None if not vals else pytest.approx(float(np.median(vals)), abs=0.01))


def read_back_with_gdal(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    req = pyogrio.read_dataframe(path, layer="requests", datetime_as_string=True)
    ev = pyogrio.read_dataframe(path, layer="request_events", datetime_as_string=True)
    for c in ("received_at", "due_at", "closed_at"):
        req[c] = pd.to_datetime(req[c], utc=True, format="ISO8601")
    for c in ("at", "due_at"):
        ev[c] = pd.to_datetime(ev[c], utc=True, format="ISO8601")
    return pd.DataFrame(req), pd.DataFrame(ev)


@pytest.mark.parametrize("by", ["grid", "category", "zone"])
def test_stats_equal_an_independent_computation(sample_copy, by):
    from datetime import date

    req, ev = read_back_with_gdal(sample_copy)
    assert len(req) == 330 and (req["status"] == "closed").mean() > 0.97
    as_of = pd.Timestamp("2026-11-30T12:00:00Z")
    d0, d1 = date(2026, 1, 1), date(2026, 11, 30)
    mine, mine_ev = store.read_requests(sample_copy, with_events=True)
    result = request_stats(
        mine, mine_ev, by=by, date_from=d0, date_to=d1, as_of=as_of.to_pydatetime()
    )
    assert set(result) == {"by", "from", "to", "rows", "review"}
    assert result["from"] == "2026-01-01" and result["to"] == "2026-11-30"
    key = f"{by}_id"
    assert all(
        list(r)
        == [
            key,
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
        ]
        for r in result["rows"]
    )
    col = "category" if by == "category" else key
    compare(result, independent_kpis(req, ev, col, as_of, d0, d1), key)
    # the sample shows real-looking figures: some rework, escalations, deferrals, on-time < 100 %
    tot = {k: sum(r[k] for r in result["rows"]) for k in ("rework", "escalated", "received")}
    assert tot["rework"] > 0 and tot["escalated"] > 0


def test_stats_from_the_ledger(ws, tmp_path):
    """KPIs computed straight from the ledger's columns (owners by the core join / lookup)."""
    ledger, _ = write_gbk_ledger(tmp_path / "l.csv")
    import_ledger(ws, ledger, skip_bad_rows=True)
    req, ev = store.read_requests(ws, with_events=True)
    as_of = datetime(2026, 3, 10, tzinfo=UTC)
    res = request_stats(req, ev, by="grid", as_of=as_of)
    lines, _ = ledger_rows()
    table = pd.DataFrame([line.split(",") for line in lines[2:9]], columns=HEADER.split(","))
    rules = load_rules()
    layers = io.load_workspace(ws).layers
    h = build_hierarchy(layers)
    owners = []
    for _, r in table.iterrows():
        if r["经度"]:
            import geopandas as gpd
            from shapely.geometry import Point

            p = gpd.GeoDataFrame(geometry=[Point(float(r["经度"]), float(r["纬度"]))], crs=4326)
            owners.append(assign_points(p, h, nearest=False)["grid_id"].iloc[0])
        else:
            res_l = locate(r["地址"], workspace=ws)
            owners.append(res_l.grid_id if res_l.status == "ok" else None)
    owners = [None if pd.isna(o) else o for o in owners]
    table["grid"] = pd.Series([o or "-" for o in owners], dtype=object)
    tz = rules.tz
    table["recv"] = [pd.Timestamp(parse_time(v, tz)) for v in table["受理时间"]]
    table["closed_t"] = [
        pd.Timestamp(parse_time(v, tz)) if v else pd.NaT for v in table["办结时间"]
    ]
    table["limit_h"] = [rules.category(c).close_hours for c in table["类别"]]
    rows = {r["grid_id"]: r for r in res["rows"]}
    assert set(rows) == set(owners)
    for g, sub in table.groupby("grid"):
        r = rows[None if g == "-" else g]
        done = sub[sub["状态"] == "已办结"]
        assert r["received"] == len(sub)
        assert r["closed"] == len(done)
        on_time = (
            done["closed_t"] <= done["recv"] + pd.to_timedelta(done["limit_h"], unit="h")
        ).sum()
        assert r["closed_on_time"] == on_time
        hours = ((done["closed_t"] - done["recv"]).dt.total_seconds() / 3600).tolist()
        assert r["median_hours_to_close"] == (
            None if not hours else pytest.approx(np.median(hours), abs=0.01)
        )
    assert res["review"] == 2
    # an empty window: no rows; rates are null where the denominator is 0
    empty = request_stats(req, ev, by="grid", date_from="2027-01-01", date_to="2027-01-31")
    assert empty["rows"] == [] and empty["review"] == 0
    opened = request_stats(
        req[req["status"] != "closed"], ev, by="grid", as_of=datetime(2026, 3, 2, 12, tzinfo=UTC)
    )
    assert all(r["closure_rate"] == 0.0 for r in opened["rows"])
    assert any(r["on_time_rate"] is None for r in opened["rows"])


def test_cli_stats_json_and_out(sample_copy, tmp_path):
    res = subprocess.run(
        [
            *GRIDMAP,
            "requests",
            "stats",
            str(sample_copy),
            "--by",
            "grid",
            "--format",
            "json",
            "--out",
            str(tmp_path / "s.xlsx"),
        ],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert set(doc) == {"by", "from", "to", "rows", "review"}
    assert doc["by"] == "grid" and doc["from"] is None and doc["review"] == 3
    assert sum(r["received"] for r in doc["rows"]) == 330
    xl = pd.read_excel(tmp_path / "s.xlsx")
    assert list(xl["grid_id"].dropna()) == [r["grid_id"] for r in doc["rows"] if r["grid_id"]]
    res = subprocess.run(
        [*GRIDMAP, "requests", "list", str(sample_copy), "--format", "json", "--limit", "5"],
        capture_output=True,
        text=True,
    )
    rows = json.loads(res.stdout)["rows"]
    assert rows[0]["overdue"] is True
    assert all("resident_name" not in r and "resident_phone" not in r for r in rows)


def test_workspace_with_requests_loads_and_validates(ws):
    """Regression: request_events (no geometry) broke load_workspace; address-only
    requests (no point, allowed by the schema) were empty_geometry errors in validate."""
    from gridmap.checks.validation import validate

    log_request(ws, category="物业", address="西南街6号楼1单元106室")
    log_request(ws, category="停车", lon=X0 + 0.5 * D, lat=Y0 + 0.5 * D)
    loaded = io.load_workspace(ws)
    assert len(loaded.layers["request_events"]) == 2
    assert "geometry" not in loaded.layers["request_events"].columns
    rep = validate(ws)
    assert not [f for f in rep.findings if f.layer in ("requests", "request_events")]


def test_every_sample_request_is_routed_like_the_join_and_the_lookup(sample_copy):
    req = store.read_requests(sample_copy)
    layers = io.load_workspace(sample_copy).layers
    pts = req[req["located_by"] == "coordinate"]
    ref = assign_points(pts, build_hierarchy(layers), nearest=False)
    for c in ("microgrid_id", "grid_id", "zone_id", "community_id"):
        assert list(pts[c]) == [None if pd.isna(v) else v for v in ref[c]], c
    by_addr = req[req["located_by"] != "coordinate"]
    assert len(by_addr) > 50
    for _, r in by_addr.iterrows():
        res = locate(r["address"], workspace=sample_copy)
        if res.status == "ok":
            assert r["located_by"] == "address" and r["grid_id"] == res.grid_id
            assert r["microgrid_id"] == res.microgrid_id
        else:
            assert r["review"] == 1 and r["grid_id"] is None


def test_review_queue_is_resolved_by_a_reviewer(ws, tmp_path):
    row = log_request(ws, category="物业", address="西南街99号楼")
    rid = row["request_id"]
    assert row["review"] == 1
    res = subprocess.run(
        [*GRIDMAP, "requests", "route", rid, "--address", "西南街99号楼", "-w", str(ws)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2 and "nothing changed" in res.stderr
    res = subprocess.run(
        [*GRIDMAP, "requests", "route", rid, "--grid", "G3", "-w", str(ws), "--format", "json"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["grid_id"] == "G3"
    req, ev = store.read_requests(ws, with_events=True)
    r = req[req["request_id"] == rid].iloc[0]
    assert (r["grid_id"], r["zone_id"], r["community_id"]) == ("G3", "Z2", "C1")
    assert r["review"] == 0 and r["located_by"] == "manual" and r["status"] == "received"
    last = ev[ev["request_id"] == rid].iloc[-1]
    assert last["from_status"] == last["to_status"] == "received" and "G3" in last["note"]
    # by a coordinate the worker picked afterwards
    row2 = log_request(ws, category="物业", address="西南街98号楼")
    routed = store.set_owner(
        ws, row2["request_id"], {"grid_id": "G1", "assigned_level": "grids"}, located_by="manual"
    )
    assert routed["grid_id"] == "G1"


def test_cli_on_a_workspace_without_requests(ws):
    """Regression: 'requests list' crashed on an empty work list (pandas DatetimeArray negation)."""
    res = subprocess.run([*GRIDMAP, "requests", "list", str(ws)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "no requests" in res.stdout
    res = subprocess.run(
        [*GRIDMAP, "requests", "list", str(ws), "--format", "json"], capture_output=True, text=True
    )
    assert json.loads(res.stdout) == {"rows": []}
    res = subprocess.run(
        [*GRIDMAP, "requests", "stats", str(ws), "--format", "json"], capture_output=True, text=True
    )
    assert json.loads(res.stdout)["rows"] == []


def test_implausible_years_are_refused_and_a_bad_stored_time_never_crashes_a_read(ws):
    """Schemathesis sent received_at in the year 385: it was stored, then GET /requests was a 500."""
    with pytest.raises(RequestError, match=r"received_at .* not a plausible date"):
        log_request(
            ws,
            category="停车",
            lon=X0 + 0.5 * D,
            lat=Y0 + 0.5 * D,
            received_at=datetime(385, 4, 4, 1, 8, tzinfo=UTC),
        )
    with pytest.raises(ValueError, match="plausible"):
        parse_time("0385-04-04 01:08", UTC)
    row = log_request(ws, category="停车", lon=X0 + 0.5 * D, lat=Y0 + 0.5 * D)
    con = sqlite3.connect(ws)
    with con:
        con.execute(
            "UPDATE requests SET received_at = '385-04-04T01:08:16.000Z' WHERE request_id = ?",
            (row["request_id"],),
        )
    con.close()
    got = store.read_requests(ws)  # edited outside gridmap: read as missing, not a crash
    assert got.loc[got["request_id"] == row["request_id"], "received_at"].isna().all()
