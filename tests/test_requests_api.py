"""The /requests API against a real uvicorn server: scope, privacy, escalation, concurrency.

Concurrency is checked with many HTTP clients posting at once while the CLI
imports a ledger and ``gridmap assign`` rewrites the whole workspace file: every
accepted request must be on disk afterwards, with its first event.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from api_helpers import client, running_server, write_keys

from gridmap.api import Settings
from gridmap.requests import store
from gridmap.requests.intake import log_request

GRIDMAP = [sys.executable, "-m", "gridmap"]
X0, Y0, D = 111.47, 35.64, 0.001
IN_G1 = (X0 + 0.5 * D, Y0 + 0.5 * D)  # M01, grid G1
IN_G4 = (X0 + 3.5 * D, Y0 + 0.5 * D)  # M07, grid G4
SECRET_TEXT = "三号楼张大妈交水费"
SECRET_NAME = "张大妈"
SECRET_PHONE = "13912345678"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from conftest import tiny_layers

    from gridmap.workspace import store as io

    d = tmp_path_factory.mktemp("reqapi")
    ws = d / "tiny.gpkg"
    io.write_layers(ws, tiny_layers())
    # seeded: one request in G1 and one in G4, with text and a person
    for lon, lat in (IN_G1, IN_G4):
        log_request(
            ws,
            category="水电暖",
            summary=SECRET_TEXT,
            lon=lon,
            lat=lat,
            resident_name=SECRET_NAME,
            resident_phone=SECRET_PHONE,
        )
    keys = write_keys(d / "keys.toml", staff1=["G1", "G2"], staff2=["G3", "G4"])
    with running_server(Settings(workspace=ws, keys_file=keys, reload_check_s=0.2)) as (base, _):
        yield base, ws


def test_anonymous_sees_aggregates_only(server):
    base, _ = server
    with client(base) as c:
        for method, url, body in (
            ("GET", "/requests", None),
            ("POST", "/requests", {"category": "停车", "lon": IN_G1[0], "lat": IN_G1[1]}),
            ("PATCH", "/requests/X", {"to": "dispatched"}),
            ("GET", f"/requests/where?lon={IN_G1[0]}&lat={IN_G1[1]}", None),
        ):
            r = c.request(method, url, json=body)
            assert r.status_code == 401, (url, r.text)
        r = c.get("/requests/stats", params={"by": "grid"})
        assert r.status_code == 200, r.text
        doc = r.json()
        assert set(doc) == {"by", "from", "to", "rows", "review"}
        assert sum(row["received"] for row in doc["rows"]) >= 2
        for by in ("zone", "community", "category"):
            text = c.get("/requests/stats", params={"by": by}).text
            for secret in (SECRET_TEXT, SECRET_NAME, SECRET_PHONE, str(IN_G1[0])[:8], "summary"):
                assert secret not in text, (by, secret)
        assert c.get("/requests/stats", params={"by": "worker"}).status_code == 401
        assert c.get("/requests/stats", params={"by": "microgrid"}).status_code == 401
        # the layer itself is not a public collection either
        r = c.get("/collections/requests/items")
        assert r.status_code in (401, 403, 404)
        assert SECRET_TEXT not in r.text and SECRET_NAME not in r.text
        cols = c.get("/collections").text
        assert SECRET_TEXT not in cols


def test_staff_write_only_inside_their_grids(server):
    base, ws = server
    before = len(store.read_requests(ws))
    with client(base, "staff1") as c:
        r = c.post(
            "/requests",
            json={"category": "停车", "lon": IN_G1[0], "lat": IN_G1[1], "summary": "车位"},
        )
        assert r.status_code == 201, r.text
        assert r.json()["grid_id"] == "G1" and r.json()["microgrid_id"] == "M01"
        r = c.post("/requests", json={"category": "停车", "lon": IN_G4[0], "lat": IN_G4[1]})
        assert r.status_code == 403 and "G4" in r.json()["message"]
        # by address: 西南街6号楼 lies in M05 (grid G3)
        r = c.post("/requests", json={"category": "物业", "address": "西南街6号楼1单元106室"})
        assert r.status_code == 403, r.text
        # GCJ-02 from a map SDK is converted before routing
        from gridmap.coords.crs import wgs84_to_gcj02

        gx, gy = wgs84_to_gcj02(*IN_G1)
        r = c.post(
            "/requests",
            json={"category": "充电", "lon": float(gx), "lat": float(gy), "crs": "gcj02"},
        )
        assert r.status_code == 201 and r.json()["microgrid_id"] == "M01"
        listed = c.get("/requests").json()["rows"]
    assert len(store.read_requests(ws)) == before + 2  # the refused ones wrote nothing
    assert listed and {r["grid_id"] for r in listed} <= {"G1", "G2"}
    seeded = [r for r in listed if r["summary"] == SECRET_TEXT]
    assert seeded and seeded[0]["resident_name"] == SECRET_NAME  # staff see their own grid's
    with client(base, "staff2") as c:
        rows = c.get("/requests").json()["rows"]
        assert {r["grid_id"] for r in rows} <= {"G3", "G4"}
        assert all(r["grid_id"] != "G1" for r in rows)


def test_transitions_scope_and_escalation(server):
    base, ws = server
    with client(base, "staff1") as s1, client(base, "staff2") as s2, client(base, "admin") as adm:
        rid = s1.post(
            "/requests", json={"category": "邻里纠纷", "lon": IN_G1[0], "lat": IN_G1[1]}
        ).json()["request_id"]
        r = s1.patch(f"/requests/{rid}", json={"to": "closed"})
        assert r.status_code == 409
        m = r.json()["message"]
        assert rid in m and "allowed next: dispatched, escalated" in m
        r = s2.patch(f"/requests/{rid}", json={"to": "dispatched"})
        assert r.status_code == 403 and "not in your grids" in r.json()["message"]
        r = s1.patch(f"/requests/{rid}", json={"to": "dispatched"})
        assert r.status_code == 200 and r.json()["allowed_next"] == [
            "in_progress",
            "deferred",
            "escalated",
        ]
        r = s1.patch(f"/requests/{rid}", json={"to": "deferred", "note": "等待协调"})
        assert r.status_code == 422 and "due time" in r.json()["message"]
        assert (
            s1.patch(
                f"/requests/{rid}", json={"to": "escalated", "note": "网格解决不了"}
            ).status_code
            == 200
        )
        r = s1.patch(f"/requests/{rid}", json={"to": "dispatched"})
        assert r.status_code == 403 and "community" in r.json()["message"]
        listed = {x["request_id"]: x for x in s1.get("/requests").json()["rows"]}
        assert listed[rid]["allowed_next"] == [] and listed[rid]["escalated"] == 1
        assert (
            adm.patch(f"/requests/{rid}", json={"to": "dispatched", "note": "转物业"}).status_code
            == 200
        )
        assert s1.patch(f"/requests/{rid}", json={"to": "in_progress"}).status_code == 200
        r = s1.patch(f"/requests/{rid}", json={"to": "flying"})
        assert r.status_code == 422
        assert s1.patch("/requests/R1999-01-01-001", json={"to": "dispatched"}).status_code == 404
    _, ev = store.read_requests(ws, with_events=True)
    chain = ev[ev["request_id"] == rid]
    assert list(chain["to_status"]) == [
        "received",
        "dispatched",
        "escalated",
        "dispatched",
        "in_progress",
    ]
    assert list(chain["actor_role"]) == [
        "grid_staff",
        "grid_staff",
        "grid_staff",
        "community",
        "grid_staff",
    ]


def test_where_and_page_are_self_contained(server):
    base, _ = server
    with client(base, "staff1") as c:
        w = c.get("/requests/where", params={"lon": IN_G1[0], "lat": IN_G1[1]}).json()
        assert w["grid_id"] == "G1" and w["in_your_grids"] is True
        assert w["grid_worker"]["name"] == "张伟" and w["nearest_station"]["station_id"] == "S1"
        w = c.get("/requests/where", params={"address": "西南街6号楼1单元106室"}).json()
        assert w["grid_id"] == "G3" and w["in_your_grids"] is False
        page = c.get("/worker")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "网格员工作台" in html and 'lang="zh-CN"' in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<link" not in html and "@import" not in html


# ------------------------------------------------------------------ concurrency
def test_concurrent_posts_cli_import_and_rewrite_lose_nothing(tmp_path):
    from conftest import tiny_layers

    from gridmap.workspace import store as io

    ws = tmp_path / "busy.gpkg"
    io.write_layers(ws, tiny_layers())
    keys = write_keys(tmp_path / "keys.toml", staff1=["G1", "G2"], staff2=["G3", "G4"])
    rows = ["编号,受理时间,类别,诉求内容,经度,纬度"]
    n_ledger = 40
    for k in range(n_ledger):
        rows.append(f"L{k:03d},2026-03-01 09:{k % 60:02d},停车,车位,{X0 + 2.5 * D},{Y0 + 0.5 * D}")
    ledger = tmp_path / "台账.csv"
    ledger.write_bytes("\n".join(rows).encode("gbk"))
    clients, per_client = 8, 8
    accepted: list[str] = []
    failures: list[str] = []
    lock = threading.Lock()
    with running_server(Settings(workspace=ws, keys_file=keys, reload_check_s=0.2)) as (base, _):
        start = threading.Barrier(clients + 1)

        def post(k: int) -> None:
            who = "staff1" if k % 2 == 0 else "staff2"
            lon, lat = IN_G1 if who == "staff1" else IN_G4
            with client(base, who) as c:
                start.wait()
                for j in range(per_client):
                    r = c.post(
                        "/requests",
                        json={"category": "物业", "summary": f"c{k}-{j}", "lon": lon, "lat": lat},
                    )
                    with lock:
                        if r.status_code == 201:
                            accepted.append(r.json()["request_id"])
                        else:
                            failures.append(r.text)

        threads = [threading.Thread(target=post, args=(k,)) for k in range(clients)]
        for t in threads:
            t.start()
        start.wait()
        imp = subprocess.Popen(
            [*GRIDMAP, "requests", "import", str(ledger), "-w", str(ws), "--format", "json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        rewrite = subprocess.run([*GRIDMAP, "assign", str(ws)], capture_output=True, text=True)
        out, err = imp.communicate(timeout=600)
        for t in threads:
            t.join(timeout=600)
    assert not failures, failures[:3]
    assert imp.returncode == 0, err
    assert rewrite.returncode == 0, rewrite.stderr
    report = json.loads(out)
    assert report["stored"] == n_ledger and report["reported"] == 0
    assert len(accepted) == clients * per_client
    req, ev = store.read_requests(ws, with_events=True)
    assert len(req) == clients * per_client + n_ledger
    assert set(accepted) <= set(req["request_id"]) and req["request_id"].is_unique
    assert set(ev.loc[ev["to_status"] == "received", "request_id"]) == set(req["request_id"])
    summaries = set(req["summary"])
    assert all(f"c{k}-{j}" in summaries for k in range(clients) for j in range(per_client))
    con = sqlite3.connect(ws)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    info = subprocess.run(
        ["ogrinfo", "-ro", "-so", str(ws), "requests"], capture_output=True, text=True
    )
    assert f"Feature Count: {len(req)}" in info.stdout
    assert Path(ws).stat().st_size > 0


def test_review_queue_settled_over_http(server):
    base, ws = server
    with client(base, "staff1") as s1, client(base, "staff2") as s2, client(base, "admin") as adm:
        r = s1.post("/requests", json={"category": "物业", "address": "西南街97号楼"})
        assert r.status_code == 201 and r.json()["review"] == 1 and r.json()["grid_id"] is None
        rid = r.json()["request_id"]
        assert rid not in {x["request_id"] for x in s1.get("/requests").json()["rows"]}
        assert rid in {
            x["request_id"] for x in adm.get("/requests", params={"review": True}).json()["rows"]
        }
        r = s2.post(f"/requests/{rid}/route", json={"grid_id": "G1"})
        assert r.status_code == 403  # not staff2's grid
        r = s1.post(f"/requests/{rid}/route", json={"address": "西南街97号楼"})
        assert r.status_code == 422 and "nothing changed" in r.json()["message"]
        r = s1.post(
            f"/requests/{rid}/route", json={"lon": IN_G1[0], "lat": IN_G1[1], "note": "现场核实"}
        )
        assert r.status_code == 200, r.text
        assert (
            r.json()["grid_id"] == "G1"
            and r.json()["microgrid_id"] == "M01"
            and r.json()["review"] == 0
        )
        assert rid in {x["request_id"] for x in s1.get("/requests").json()["rows"]}
        r = s2.post(f"/requests/{rid}/route", json={"grid_id": "G4"})
        assert r.status_code == 403  # now owned by G1: staff2 cannot take it
    _, ev = store.read_requests(ws, with_events=True)
    assert "现场核实" in ev[ev["request_id"] == rid]["note"].iloc[-1]


def test_access_log_keeps_places_out(server, tmp_path):
    """Positions and addresses given to the phone page and /requests/where stay out of the log."""
    import logging
    import time

    import uvicorn
    from api_helpers import free_port

    from gridmap.api import create_app

    _, ws = server
    keys = write_keys(tmp_path / "keys.toml", staff1=["G1"], staff2=["G4"])
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    port = free_port()
    srv = uvicorn.Server(
        uvicorn.Config(
            create_app(Settings(workspace=ws, keys_file=keys)),
            host="127.0.0.1",
            port=port,
            log_level="info",
            access_log=True,
        )
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        assert thread.is_alive()
        time.sleep(0.05)
    handler = Keep()
    logging.getLogger("uvicorn.access").addHandler(handler)
    try:
        base = f"http://127.0.0.1:{port}"
        with client(base, "staff1") as c:
            assert (
                c.get(
                    "/worker", params={"lon": 111.4705, "lat": 35.6405, "crs": "gcj02"}
                ).status_code
                == 200
            )
            assert (
                c.get("/requests/where", params={"address": "西南街6号楼1单元106室"}).status_code
                == 200
            )
            assert c.get("/requests/stats", params={"by": "zone"}).status_code == 200
    finally:
        logging.getLogger("uvicorn.access").removeHandler(handler)
        srv.should_exit = True
        thread.join(timeout=15)
    text = "\n".join(records)
    assert "/worker" in text and "by=zone" in text  # the log works; other queries stay
    assert "111.4705" not in text and "西南街" not in text and "%E8%A5%BF" not in text
