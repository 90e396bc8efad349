"""The grid worker's phone page in real Chromium (390x844) against a real uvicorn server.

Every request that does not go to the test server is blocked and recorded:
the page must work with no CDN. Fails (never skips) without Debian's chromium.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from api_helpers import KEYS, running_server, write_keys
from conftest import offline

from gridmap.api import Settings
from gridmap.coords.crs import wgs84_to_gcj02
from gridmap.requests import store
from gridmap.requests.intake import log_request

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
X0, Y0, D = 111.47, 35.64, 0.001
IN_G1 = (X0 + 0.5 * D, Y0 + 1.5 * D)  # M02, grid G1
IN_G4 = (X0 + 3.5 * D, Y0 + 0.5 * D)  # M07, grid G4


def test_phone_page_locate_log_and_move(chromium, tmp_path):
    from conftest import tiny_layers
    from playwright.sync_api import expect

    from gridmap.workspace import store as io

    ws = tmp_path / "tiny.gpkg"
    io.write_layers(ws, tiny_layers())
    # an old open request in G1, long overdue: listed first
    old = log_request(
        ws,
        category="物业",
        summary="电梯坏了",
        lon=X0 + 0.5 * D,
        lat=Y0 + 0.5 * D,
        received_at=datetime(2026, 1, 5, 1, 0, tzinfo=UTC),
    )["request_id"]
    log_request(ws, category="停车", lon=IN_G4[0], lat=IN_G4[1], summary="别的网格")
    keys = write_keys(tmp_path / "keys.toml", staff1=["G1", "G2"], staff2=["G3", "G4"])
    blocked: list[str] = []
    errors: list[str] = []
    with running_server(Settings(workspace=ws, keys_file=keys)) as (base, _):
        ctx = chromium.new_context(
            viewport={"width": 390, "height": 844},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            geolocation={"longitude": IN_G1[0], "latitude": IN_G1[1]},
            permissions=["geolocation"],
            locale="zh-CN",
        )
        try:
            offline(ctx, blocked, allow=(base,))
            page = ctx.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(base + "/worker")
            expect(page).to_have_title("网格员工作台")
            # the staff key, entered once
            page.fill("#key-input", KEYS["staff1"])
            page.click("#save-key")
            expect(page.locator("#key-ok")).to_be_visible()
            # the list of own grids: the overdue request first, the other grid's not at all
            first = page.locator("[data-testid=item]").first
            expect(first).to_have_attribute("data-id", old)
            expect(first).to_have_class("item overdue")
            expect(first.locator(".badge")).to_contain_text("已超期")
            expect(first.locator(".badge")).to_contain_text("天")
            expect(page.locator("[data-testid=item]")).to_have_count(1)
            # locate by address: 西南街2号楼 is H2, micro-grid M01 of grid G1
            page.fill("#address", "西南街2号楼1单元102室")
            page.click("#search")
            expect(page.locator("[data-testid=grid-id]")).to_have_text("G1")
            expect(page.locator("[data-testid=microgrid-id]")).to_have_text("M01")
            expect(page.locator("[data-testid=worker]")).to_contain_text("张伟")
            expect(page.locator("[data-testid=station]")).to_contain_text("党群服务驿站一")
            # log a request there
            expect(page.locator("#log")).to_be_visible()
            page.select_option("#cat", "parking")
            page.fill("#summary", "晚上车位不够")
            page.fill("#rname", "王阿姨")
            page.click("#submit")
            expect(page.locator("#log-msg")).to_contain_text("已登记")
            rid = page.locator("#log-msg").get_attribute("data-request-id")
            assert rid and rid.startswith("R")
            item = page.locator(f"[data-testid=item][data-id='{rid}']")
            expect(item.locator("[data-testid=status]")).to_have_text("已受理")
            # move it along: dispatch, start, defer (needs a reason and a new due time)
            item.locator("button[data-to=dispatched]").click()
            expect(item.locator("[data-testid=status]")).to_have_text("已派遣")
            item.locator("button[data-to=in_progress]").click()
            expect(item.locator("[data-testid=status]")).to_have_text("办理中")
            item.locator(".note").fill("等待物业协调")
            item.locator("button[data-to=deferred]").click()
            item.locator(".due").fill("2030-01-10T18:00")
            item.locator("button[data-to=deferred]").click()
            expect(item.locator("[data-testid=status]")).to_have_text("延期")
            # the phone's own location (WGS84)
            page.click("#gps")
            expect(page.locator("[data-testid=microgrid-id]")).to_have_text("M02")
            expect(page.locator("#place-msg")).to_have_text("")
            page.screenshot(path=str(_artifact("worker-page.png")), full_page=True)
            # a GCJ-02 position handed over by a map app, in another grid: no logging there
            gx, gy = wgs84_to_gcj02(*IN_G4)
            page.goto(f"{base}/worker?lon={float(gx)}&lat={float(gy)}&crs=gcj02")
            expect(page.locator("[data-testid=grid-id]")).to_have_text("G4")
            expect(page.locator("#place-msg")).to_contain_text("不在您的网格内")
            expect(page.locator("#log")).to_be_hidden()
            # the key stayed in the browser
            expect(page.locator("#key-ok")).to_be_visible()
            # English on request
            page.goto(base + "/worker?lang=en")
            expect(page.locator("header")).to_have_text("Grid worker")
        finally:
            ctx.close()
    assert not blocked, blocked
    assert not errors, errors
    req, ev = store.read_requests(ws, with_events=True)
    mine = req[req["request_id"] == rid].iloc[0]
    assert mine["status"] == "deferred" and mine["grid_id"] == "G1"
    assert mine["summary"] == "晚上车位不够" and mine["resident_name"] == "王阿姨"
    assert mine["due_at"].year == 2030
    chain = ev[ev["request_id"] == rid]
    assert list(chain["to_status"]) == ["received", "dispatched", "in_progress", "deferred"]
    assert chain["note"].iloc[-1] == "等待物业协调"


def _artifact(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name
