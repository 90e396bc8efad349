"""The meeting map's resident-requests layer: aggregates only, shown in a real browser.

Checks that the overlays built from the sample's requests reach the map's data,
that no request text, person, id or position does, and that the layer tree shows
them in Chromium with every network request blocked.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import offline

from gridmap.maps import build_map
from gridmap.requests.store import read_requests


def embedded(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="gm-data">(.*?)</script>', html, re.S)
    assert m, "the map has no embedded data block"
    return json.loads(m.group(1).replace("<\\/", "</"))


@pytest.fixture(scope="module")
def sample_map(tmp_path_factory, sample_workspace) -> tuple[Path, str]:
    d = tmp_path_factory.mktemp("reqmap")
    ws = d / "community.gpkg"
    shutil.copyfile(sample_workspace, ws)
    html = build_map(ws, basemap="none", lang="zh")
    out = d / "map.html"
    out.write_text(html, encoding="utf-8")
    return ws, html, out


def test_map_has_request_aggregates_and_nothing_personal(sample_map):
    ws, html, _ = sample_map
    data = embedded(html)
    keys = {o["key"] for o in data["overlays"]}
    assert {"requests_closure_high", "requests_overdue", "requests_parking_charging"} <= keys
    assert "requests_microgrids" in keys
    req = read_requests(ws)
    by_key = {o["key"]: o for o in data["overlays"]}
    # one feature per grid (or micro-grid over the minimum), never one per request
    n_grids = sum(len(o["p"]) for k, o in by_key.items() if k.startswith("requests_closure"))
    assert n_grids == req["grid_id"].dropna().nunique()
    micro = by_key["requests_microgrids"]["p"]
    counts = req["microgrid_id"].value_counts()
    assert len(micro) == int((counts >= 5).sum())
    assert all(int(p["诉求数"]) >= 5 for p in micro)
    for text in set(req["summary"].dropna()):
        assert text not in html
    for person in set(req["resident_name"].dropna()) | set(req["resident_phone"].dropna()):
        assert person not in html
    assert "R2026-" not in html and "R2025-" not in html
    popups = json.dumps([o["p"] for o in data["overlays"]], ensure_ascii=False)
    assert "办结率" in popups and "类别构成" in popups


def test_request_layer_shows_offline_in_chromium(chromium, sample_map):
    _, _, out = sample_map
    requests: list[str] = []
    errors: list[str] = []
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))

        offline(page, requests)
        page.goto(out.as_uri())
        page.wait_for_function("document.body.innerText.includes('诉求办结率')", timeout=60_000)
        assert "超期未办结诉求" in page.inner_text("body")
    finally:
        context.close()
    assert not requests and not errors, (requests, errors)


def test_gridmap_map_includes_the_request_layer(sample_map, tmp_path):
    """'gridmap map' (write_meeting_map, what make demo runs) carries the same overlays."""
    from gridmap.maps.meeting import write_meeting_map

    ws, _, _ = sample_map
    made = write_meeting_map(ws, tmp_path / "m.html", basemap="none")
    keys = {o["key"] for o in embedded(made.html.read_text(encoding="utf-8"))["overlays"]}
    assert {"requests_overdue", "requests_parking_charging", "requests_microgrids"} <= keys
