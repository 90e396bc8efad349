"""The meeting map: self-contained, private, correct geometry, working in a real browser.

Browser tests drive Debian's chromium through Playwright with every network
request blocked; they fail (never skip) when chromium is missing.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import offline
from shapely.geometry import MultiPolygon, Polygon, box

from gridmap.coords.crs import wgs84_to_gcj02
from gridmap.errors import GridmapError, SchemaError
from gridmap.maps import build_map, prepare_map, render_html, write_map
from gridmap.maps.assets import external_references
from gridmap.maps.i18n import table as i18n_table
from gridmap.workspace import store as io

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "tests" / "artifacts"


# ---------------------------------------------------------------------------
# helpers


def embedded(html: str) -> dict:
    """The map's embedded data document."""
    m = re.search(r'<script type="application/json" id="gm-data">(.*?)</script>', html, re.S)
    assert m, "the map has no embedded data block"
    return json.loads(m.group(1).replace("<\\/", "</"))


def decode_ring(flat: list[int], d: dict) -> np.ndarray:
    xy = np.cumsum(np.asarray(flat, dtype=np.int64).reshape(-1, 2), axis=0)
    return np.column_stack(
        [d["origin"][0] + xy[:, 0] / d["scale"], d["origin"][1] + xy[:, 1] / d["scale"]]
    )


def decode_geom(g: list, d: dict):
    polys = []
    for poly in g:
        rings = [decode_ring(r, d) for r in poly]
        polys.append(Polygon(rings[0], rings[1:]))
    return MultiPolygon(polys) if len(polys) > 1 else polys[0]


def decode_point(a: list[int], d: dict) -> tuple[float, float]:
    return d["origin"][0] + a[0] / d["scale"], d["origin"][1] + a[1] / d["scale"]


def personal_values(ws: io.Workspace) -> list[str]:
    """Names, phones and household addresses present in the workspace."""
    out: list[str] = []
    for layer, cols in (
        ("households", ("address", "head_name", "phone")),
        ("grids", ("staff_name", "staff_phone")),
        ("microgrids", ("leader_name", "leader_phone")),
    ):
        gdf = ws.get(layer)
        if gdf is None:
            continue
        for col in cols:
            if col in gdf:
                out.extend(str(v) for v in gdf[col].dropna().unique() if str(v).strip())
    return out


@pytest.fixture(scope="module")
def tiny_ws(tmp_path_factory) -> io.Workspace:
    from conftest import tiny_layers

    path = tmp_path_factory.mktemp("tiny") / "tiny.gpkg"
    io.write_layers(path, tiny_layers())
    return io.load_workspace(path)


@pytest.fixture(scope="module")
def sample_ctx():
    return prepare_map(REPO / "gridmap" / "datasets" / "data" / "community.gpkg")


# ---------------------------------------------------------------------------
# self-contained and private


@pytest.mark.parametrize("basemap", ["none", "amap", "osm", "tianditu"])
def test_no_network_scripts_or_styles(tiny_ws, basemap, monkeypatch):
    monkeypatch.setenv("GRIDMAP_TIANDITU_KEY", "testkey123")
    html = build_map(tiny_ws, basemap=basemap)
    assert external_references(html) == []
    # independent check: no script/link/img/iframe tag pointing anywhere but inline
    for tag in re.findall(r"<(?:script|link|img|iframe)\b[^>]*>", html, re.I):
        assert not re.search(r"\b(?:src|href)\s*=", tag, re.I), tag
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html and "cdnjs" not in html
    # the Leaflet CSS images are data URIs, not relative files
    assert "url(images/" not in html
    if basemap == "none":
        assert embedded(html)["basemap"] is None
        assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
        assert not re.search(r"https://(?!www\.w3\.org)", embedded_text(html))


def embedded_text(html: str) -> str:
    return json.dumps(embedded(html), ensure_ascii=False)


def test_tiny_map_keeps_personal_data_out(tiny_ws):
    html = build_map(tiny_ws, basemap="none")
    leaks = [v for v in personal_values(tiny_ws) if v in html]
    assert leaks == []


def test_sample_map_keeps_personal_data_out(sample_ctx):
    html = render_html(sample_ctx, basemap="amap")
    # fixed interface text (the tile attribution "© 高德地图", "对齐高德底图") is not data:
    # a person called 高德 in the sample must not count as a leak because of it
    fixed = [t["options"]["attribution"] for t in embedded(html)["basemap"]["tiles"]]
    fixed += [part for text in i18n_table("zh").values() for part in re.split(r"\{\w+\}", text)]
    for text in sorted(fixed, key=len, reverse=True):
        if len(text) > 3:
            html = html.replace(text, "")
    values = personal_values(io.load_workspace(sample_ctx.workspace.path))
    assert len(values) > 3000  # addresses, names and phones of the sample
    leaks = [v for v in values if v in html]
    assert leaks == []


def test_include_personal_adds_contacts_and_warning(tiny_ws, capsys):
    from gridmap.maps.builder import PersonalDataWarning

    # the library warns (warnings.warn, naming the parameter); it prints nothing
    with pytest.warns(PersonalDataWarning, match="include_personal=True"):
        html = build_map(tiny_ws, basemap="none", include_personal=True)
    assert capsys.readouterr().err == ""
    assert "张伟" in html and "13800000001" in html  # grid worker of G1
    assert "党员1" in html  # micro-grid leader
    d = embedded(html)
    assert d["warning"] and "个人信息" in d["warning"]
    # households stay aggregated even then
    for v in ("赵一", "西南街1号楼1单元101室", "13700000000"):
        assert v not in html


def test_english(tiny_ws):
    html = build_map(tiny_ws, basemap="none", lang="en")
    d = embedded(html)
    assert '<html lang="en">' in html
    assert d["t"]["legend"] == "Legend" and d["t"]["layers"] == "Layers"
    assert any(h["label"] == "Households" for h in d["headline"])
    assert "图例" not in embedded_text(html)
    zh = embedded(build_map(tiny_ws, basemap="none"))
    assert zh["t"]["legend"] == "图例"


def test_bad_options_give_clear_errors(tiny_ws, monkeypatch):
    monkeypatch.delenv("GRIDMAP_TIANDITU_KEY", raising=False)
    with pytest.raises(GridmapError, match="GRIDMAP_TIANDITU_KEY"):
        build_map(tiny_ws, basemap="tianditu")
    with pytest.raises(GridmapError, match="unknown basemap"):
        build_map(tiny_ws, basemap="google")
    with pytest.raises(GridmapError, match="unknown language"):
        build_map(tiny_ws, lang="fr")
    with pytest.raises(SchemaError, match="households"):  # lists what is available
        build_map(tiny_ws, basemap="none", indicator="nonsense")


def test_tianditu_uses_key(tiny_ws, monkeypatch):
    monkeypatch.setenv("GRIDMAP_TIANDITU_KEY", "abc123")
    d = embedded(build_map(tiny_ws, basemap="tianditu"))
    urls = [t["url"] for t in d["basemap"]["tiles"]]
    assert len(urls) == 2 and all("tk=abc123" in u and "tianditu.gov.cn" in u for u in urls)
    assert "vec_w" in urls[0] and "cva_w" in urls[1]


# ---------------------------------------------------------------------------
# geometry, shifting and aggregation


def test_tiny_geometry_is_exact_on_osm(tiny_ws):
    d = embedded(build_map(tiny_ws, basemap="osm"))
    grids = tiny_ws.get("grids").set_index("grid_id")
    for f in d["layers"]["grids"]:
        got = decode_geom(f["g"], d)
        want = grids.loc[f["id"]].geometry
        assert got.symmetric_difference(want).area < 1e-12, f["id"]
    st = tiny_ws.get("service_stations").geometry.iloc[0]
    x, y = decode_point(d["layers"]["service_stations"][0]["xy"], d)
    assert abs(x - st.x) < 2e-6 and abs(y - st.y) < 2e-6


def test_amap_shifts_every_layer_to_gcj02(tiny_ws):
    d = embedded(build_map(tiny_ws, basemap="amap"))
    st = tiny_ws.get("service_stations").geometry.iloc[0]
    gx, gy = wgs84_to_gcj02(np.array([st.x]), np.array([st.y]))
    x, y = decode_point(d["layers"]["service_stations"][0]["xy"], d)
    assert abs(x - gx[0]) < 2e-6 and abs(y - gy[0]) < 2e-6
    assert abs(x - st.x) > 1e-3  # hundreds of metres, not a no-op
    g1 = tiny_ws.get("grids").geometry.iloc[0]
    got = decode_geom(d["layers"]["grids"][0]["g"], d)
    cx, cy = wgs84_to_gcj02(np.array([g1.centroid.x]), np.array([g1.centroid.y]))
    assert abs(got.centroid.x - cx[0]) < 1e-5 and abs(got.centroid.y - cy[0]) < 1e-5


def test_sample_microgrids_simplified_without_gaps_or_overlaps(sample_ctx):
    d = embedded(render_html(sample_ctx, basemap="osm"))
    mg = sample_ctx.workspace.get("microgrids")
    got = gpd.GeoSeries([decode_geom(f["g"], d) for f in d["layers"]["microgrids"]], crs=4326)
    assert len(got) == len(mg)
    metric = got.estimate_utm_crs()
    gm = got.to_crs(metric)
    orig = mg.to_crs(metric)
    union_got = shapely.union_all(gm.values)
    union_orig = shapely.union_all(orig.geometry.values)
    # no overlaps: the union is as large as the sum of the parts
    assert gm.area.sum() - union_got.area < 1.0  # m²
    # no new gaps and no lost area: the outline is the original one within the tolerance
    assert abs(union_got.area - union_orig.area) / union_orig.area < 0.002
    assert union_got.symmetric_difference(union_orig).area / union_orig.area < 0.005
    holes_got = sum(len(p.interiors) for p in getattr(union_got, "geoms", [union_got]))
    holes_orig = sum(len(p.interiors) for p in getattr(union_orig, "geoms", [union_orig]))
    assert holes_got == holes_orig  # simplification opened no slivers between neighbours


def test_household_aggregates_add_up_to_an_independent_join(sample_ctx):
    d = embedded(render_html(sample_ctx, basemap="none"))
    ws = sample_ctx.workspace
    hh, mg = ws.get("households"), ws.get("microgrids")
    joined = gpd.sjoin(
        hh[["household_id", "geometry"]], mg[["microgrid_id", "geometry"]], predicate="covered_by"
    )
    inside = joined["household_id"].nunique()
    in_bubbles = sum(a[2] for a in d["layers"]["hh"])
    outside = sum(a[2] for a in d["layers"]["outside"])
    assert in_bubbles == inside
    assert outside == len(hh) - inside
    assert outside > 0  # the sample has households in gaps
    # aggregated positions are cell centres, never a household's own position
    pos = np.column_stack([hh.geometry.x, hh.geometry.y])
    for a in d["layers"]["outside"] + d["layers"]["uncovered"]["pts"]:
        x, y = decode_point(a, d)
        assert np.min(np.hypot(pos[:, 0] - x, pos[:, 1] - y)) > 1e-6
    # per-micro-grid counts match the independent join
    counts = joined.groupby("microgrid_id")["household_id"].nunique()
    names = dict(zip(mg["name"], mg["microgrid_id"], strict=True))
    for a in d["layers"]["hh"][:50]:
        assert counts[names[a[3]]] == a[2]


def test_headline_and_choropleth_from_coverage(sample_ctx):
    d = embedded(render_html(sample_ctx, basemap="none"))
    ind = d["indicator"]
    # the default leads with the finding: parking is the only facility short of full reach
    assert ind and ind["name"].startswith(("coverage_share_parking", "cover_parking"))
    assert len(ind["colors"]) == len(ind["labels"]) == len(ind["breaks"]) - 1
    fc = sample_ctx.coverage["parking"]
    # grid values are the share of covered households, recomputed here from the flags
    a = sample_ctx.households_assignment
    share = fc.covered.groupby(a["grid_id"]).mean()
    for f in d["layers"]["grids"]:
        if f["v"] is not None and f["id"] in share.index:
            assert abs(f["v"] - share[f["id"]]) < 1e-3, f["id"]
    labels = [h["label"] for h in d["headline"]]
    assert "住户" in labels and any("服务驿站" in x for x in labels)


def test_other_indicator_and_title(tiny_ws):
    d = embedded(build_map(tiny_ws, basemap="none", indicator="households", title="十一月例会"))
    assert d["title"] == "十一月例会"
    assert d["indicator"]["name"] == "households"
    by_id = {f["id"]: f["v"] for f in d["layers"]["grids"]}
    assert by_id == {"G1": 3, "G2": 0, "G3": 1, "G4": 1}  # H1-H3 in G1, H6 in G3, H4 in G4's gap


def test_write_map_is_atomic_and_complete(tiny_ws, tmp_path):
    out = tmp_path / "maps" / "m.html"
    p = write_map(out, tiny_ws, basemap="none")
    assert p == out and out.read_text(encoding="utf-8").rstrip().endswith("</html>")
    assert [f.name for f in out.parent.iterdir()] == ["m.html"]


def test_failing_grids_match_the_standards_check(sample_ctx):
    from gridmap.analysis.indicators import check_standards

    res = check_standards(sample_ctx.workspace)
    failed = res[[p is not None and not pd.isna(p) and not bool(p) for p in res["passed"]]]
    d = embedded(render_html(sample_ctx, basemap="none"))
    head = {h["label"]: h["value"] for h in d["headline"]}
    assert head["未达标网格"] == str(failed["grid_id"].nunique())
    per_grid = failed.groupby("grid_id").size().to_dict()
    for f in d["layers"]["grids"]:
        text = f["p"].get("未达标项")
        assert (0 if text is None else len(text.split("；"))) == per_grid.get(f["id"], 0), f["id"]


def test_png_with_cjk_font(sample_ctx, tmp_path, recwarn):
    from gridmap.maps.static import find_cjk_font, render_png

    assert "CJK" in find_cjk_font()
    out = render_png(tmp_path / "map.png", sample_ctx, dpi=60)
    missing = [str(w.message) for w in recwarn if "missing from" in str(w.message)]
    assert missing == []  # every Chinese glyph was found in the font
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_cli_map_writes_file_and_summary(tiny_ws, tmp_path):
    out = tmp_path / "cli.html"
    png = tmp_path / "cli.png"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "gridmap",
            "map",
            str(tiny_ws.path),
            "--out",
            str(out),
            "--basemap",
            "none",
            "--png",
            str(png),
            "--lang",
            "en",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert out.exists() and png.exists()
    assert "map written" in r.stdout and "households per grid" in r.stdout
    assert "H5" in r.stdout  # the household outside everything is listed by id
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "gridmap",
            "map",
            str(tiny_ws.path),
            "--out",
            str(out),
            "--basemap",
            "tianditu",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert bad.returncode == 2 and "GRIDMAP_TIANDITU_KEY" in bad.stderr


# ---------------------------------------------------------------------------
# real browser, network blocked


def open_map(
    browser,
    html_path: Path,
    screenshot: Path | None = None,
    actions=None,
    tile_host: str | None = None,
):
    """Open the map in a fresh context of ``browser`` (the module's chromium) with all network
    blocked; return (console errors, requests, result of actions)."""
    errors: list[str] = []
    requests: list[str] = []
    context = browser.new_context(viewport={"width": 1400, "height": 900})  # fresh per map
    try:
        page = context.new_page()

        def on_console(msg):
            if msg.type != "error":
                return
            url = (msg.location or {}).get("url", "")
            if tile_host and tile_host in url and "Failed to load resource" in msg.text:
                return  # a basemap tile, blocked on purpose
            errors.append(msg.text)

        page.on("console", on_console)
        page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))

        offline(page, requests)
        page.goto(html_path.as_uri())
        page.wait_for_selector("path.gm-grid", timeout=20_000)
        page.wait_for_timeout(300)
        result = actions(page) if actions else None
        if screenshot:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot))
            print(f"screenshot: {screenshot}")
    finally:
        context.close()
    return errors, requests, result


def _check_page(page, n_grids: int, n_stations: int, grid_name: str) -> dict:
    tree = page.locator(".gm-tree").inner_text()
    out = {"tree": tree}
    out["grid_paths"] = page.locator("path.gm-grid").count()
    out["stations"] = page.locator(".gm-station").count()
    # a click inside the first grid (its label point) opens the grid popup
    box = page.evaluate(
        """() => { const g = window.gridmap.data.layers.grids[0];
                   const D = window.gridmap.data;
                   const ll = [D.origin[1] + g.lab[1] / D.scale, D.origin[0] + g.lab[0] / D.scale];
                   const p = window.gridmap.map.latLngToContainerPoint(ll);
                   const r = document.getElementById('map').getBoundingClientRect();
                   return {x: r.left + p.x, y: r.top + p.y}; }"""
    )
    page.mouse.click(box["x"], box["y"])
    page.wait_for_selector(".leaflet-popup-content", timeout=5_000)
    out["grid_popup"] = page.locator(".leaflet-popup-content").inner_text()
    page.keyboard.press("Escape")
    # a click on a service-station marker opens its popup
    # (the first marker that no panel covers)
    k = page.evaluate(
        """() => [...document.querySelectorAll('.gm-station')].findIndex(el => {
                 const r = el.getBoundingClientRect();
                 const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
                 return hit && el.contains(hit); })"""
    )
    if k < 0:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "no-station-visible.png"))
    assert k >= 0, "no service-station marker is visible"
    page.locator(".gm-station").nth(k).click()
    page.wait_for_timeout(300)
    out["station_popup"] = page.locator(".leaflet-popup-content").inner_text()
    # search by grid name
    page.fill(".gm-search input", grid_name)
    page.wait_for_selector(".gm-result", timeout=5_000)
    out["search_results"] = page.locator(".gm-result").all_inner_texts()
    # turning the grid layer off removes its paths
    page.locator('.gm-tree input[data-layer="grids"]').uncheck()
    out["grid_paths_off"] = page.locator("path.gm-grid").count()
    page.locator('.gm-tree input[data-layer="grids"]').check()
    out["legend"] = page.locator(".gm-legend").inner_text()
    return out


@pytest.mark.browser
@pytest.mark.parametrize("basemap", ["none", "amap"])
def test_browser_tiny(chromium, tiny_ws, tmp_path, basemap):
    html_path = tmp_path / f"tiny-{basemap}.html"
    write_map(html_path, tiny_ws, basemap=basemap)
    errors, requests, r = open_map(
        chromium,
        html_path,
        ARTIFACTS / f"tiny-{basemap}.png",
        lambda page: _check_page(page, 4, 1, "二网格"),
        tile_host="autonavi.com",
    )
    assert errors == []
    if basemap == "none":
        assert requests == []
    else:
        assert requests and all("autonavi.com" in u for u in requests)
    for label in ("社区", "片区", "网格", "微网格", "党群服务驿站", "充电桩", "停车场", "住户"):
        assert label in r["tree"]
    assert r["grid_paths"] == 4 and r["stations"] == 1
    assert "一网格" in r["grid_popup"] and "G1" in r["grid_popup"]
    # the micro-grid under the click (the label point lies on the M01|M02 edge) is named too
    assert "(M01)" in r["grid_popup"] or "(M02)" in r["grid_popup"]
    assert "党群服务驿站一" in r["station_popup"]
    assert any("二网格" in t for t in r["search_results"])
    assert r["grid_paths_off"] == 0
    assert "图例" in r["legend"]


@pytest.mark.browser
@pytest.mark.parametrize("basemap", ["none", "amap"])
def test_browser_sample(chromium, sample_ctx, tmp_path, basemap):
    html_path = tmp_path / f"community-{basemap}.html"
    html_path.write_text(render_html(sample_ctx, basemap=basemap), encoding="utf-8")
    ws = sample_ctx.workspace
    grids = ws.get("grids")
    errors, requests, r = open_map(
        chromium,
        html_path,
        ARTIFACTS / f"community-{basemap}.png",
        lambda page: _check_page(page, len(grids), len(ws.get("service_stations")), "第12网格"),
        tile_host="autonavi.com",
    )
    assert errors == []
    if basemap == "none":
        assert requests == []
    assert r["grid_paths"] == len(grids)
    assert r["stations"] == len(ws.get("service_stations"))
    first = grids.iloc[0]
    assert first["name"] in r["grid_popup"]
    assert ws.get("service_stations")["name"].str.contains("驿站").all()
    assert "驿站" in r["station_popup"]
    assert r["search_results"][0].startswith("第12网格")
    for label in ("片区", "网格名称", "服务驿站", "覆盖", "住户"):
        assert label in r["tree"]


@pytest.mark.browser
def test_browser_english_and_measure(chromium, tiny_ws, tmp_path):
    html_path = tmp_path / "tiny-en.html"
    write_map(html_path, tiny_ws, basemap="none", lang="en")

    def act(page):
        tree = page.locator(".gm-tree").inner_text()
        page.locator(".gm-measure").click()
        page.mouse.click(500, 450)
        page.mouse.click(700, 450)
        page.wait_for_timeout(200)
        tip = page.locator(".gm-measure-tip").inner_text()
        return tree, tip

    errors, requests, (tree, tip) = open_map(chromium, html_path, ARTIFACTS / "tiny-en.png", act)
    assert errors == [] and requests == []
    assert "Grids" in tree and "Service stations" in tree and "网格" not in tree
    assert re.fullmatch(r"[\d.]+ (m|km)", tip.strip())


@pytest.mark.browser
def test_browser_city_layers_wait_for_zoom(chromium, tmp_path):
    """A small city: crowded layers are off at the overview and appear when zoomed in."""
    from gridmap.datasets.synth import synth_layers

    path = tmp_path / "city.gpkg"
    io.write_layers(path, synth_layers(seed=3, households=12_000, microgrids=1_200))
    html_path = write_map(tmp_path / "city.html", path, basemap="none")
    d = embedded(html_path.read_text(encoding="utf-8"))
    assert d["minZoom"]["microgrids"] > 0 and "hh" in d["minZoom"]

    def act(page):
        js = """(key) => { const e = window.gridmap.entries.find(x => x.key === key);
                           return [window.gridmap.map.hasLayer(e.layer),
                                   e.item.classList.contains('gm-waiting')]; }"""
        zoom = (
            "(z) => new Promise(r => { const m = window.gridmap.map;"
            " if (m.getZoom() === z) return r(); m.once('zoomend', () => r());"
            " m.setZoom(z, {animate: false}); })"
        )
        page.evaluate(zoom, d["minZoom"]["microgrids"] - 1)
        before = page.evaluate(js, "microgrids")
        page.evaluate(zoom, max(d["minZoom"].values()))
        after = page.evaluate(js, "microgrids")
        hh_after = page.evaluate(js, "hh")
        return before, after, hh_after

    errors, requests, (before, after, hh_after) = open_map(
        chromium, html_path, ARTIFACTS / "city-zoomed.png", act
    )
    assert errors == [] and requests == []
    assert before == [False, True]  # not drawn when zoomed out, marked in the tree
    assert after == [True, False]
    # household bubbles are off while the choropleth is on (wanted off, nothing waiting)
    assert hh_after == [False, False]


def test_fast_path_coverage_matches_brute_force(tmp_path):
    """Above the size limit the map's own straight-line coverage is used: check it exhaustively."""
    ws_path = REPO / "gridmap" / "datasets" / "data" / "community.gpkg"
    ctx = prepare_map(ws_path, full_analysis_max_households=100)
    assert any("fast map path" in n for n in ctx.notes)
    # the fast path checks the standards its figures allow (test_maps_meeting checks which)
    assert ctx.standards_checked
    full = io.load_workspace(ws_path)
    hh = full.get("households")
    metric = hh.estimate_utm_crs()
    hm = hh.to_crs(metric)
    for fac, fc in ctx.coverage.items():
        assert fc.source == "fallback" and fc.distance == "euclidean"
        pts = full.get(fac).to_crs(metric).geometry.representative_point()
        dx = hm.geometry.x.to_numpy()[:, None] - pts.x.to_numpy()[None, :]
        dy = hm.geometry.y.to_numpy()[:, None] - pts.y.to_numpy()[None, :]
        brute = np.hypot(dx, dy).min(axis=1) <= fc.radius_m
        assert (fc.covered.to_numpy() == brute).all(), fac


def test_full_and_fast_paths_agree_on_straight_line_coverage():
    ws_path = REPO / "gridmap" / "datasets" / "data" / "community.gpkg"
    full = prepare_map(ws_path, distance="euclidean")
    fast = prepare_map(ws_path, distance="euclidean", full_analysis_max_households=100)
    for fac in full.coverage:
        assert full.coverage[fac].source == "gridmap.analysis.coverage"
        assert full.coverage[fac].radius_m == fast.coverage[fac].radius_m
        diff = (full.coverage[fac].covered != fast.coverage[fac].covered).sum()
        assert diff == 0, fac


def test_map_never_reads_household_personal_columns(sample_ctx):
    cols = set(sample_ctx.workspace.get("households").columns)
    assert not cols & {"address", "head_name", "phone"}
    assert {"household_id", "residents", "elderly"} <= cols


@pytest.mark.browser
def test_browser_names_are_text_not_markup(chromium, tmp_path):
    """A grid or station name holding markup is shown as text and never runs."""
    from conftest import tiny_layers

    layers = tiny_layers()
    evil = '<img src=x onerror="window.__xss=1">一网格</script><!--'
    layers["grids"].loc[0, "name"] = evil
    layers["service_stations"].loc[0, "name"] = '<b onmouseover="window.__xss=2">驿站</b>'
    path = tmp_path / "evil.gpkg"
    io.write_layers(path, layers)
    html = build_map(path, basemap="none", title="<i>标题</i>")
    assert evil not in html and "<img" not in html
    html_path = tmp_path / "evil.html"
    html_path.write_text(html, encoding="utf-8")
    errors, requests, r = open_map(
        chromium,
        html_path,
        None,
        lambda page: _check_page(page, 4, 1, "二网格") | {"xss": page.evaluate("window.__xss")},
    )
    assert errors == [] and requests == []
    assert r["xss"] is None
    assert "<img" in r["grid_popup"]  # shown literally


def test_png_names_with_dollar_signs_are_text(tmp_path):
    """'$' in a name or title is drawn literally, not parsed as TeX math (was a traceback)."""
    from conftest import tiny_layers

    from gridmap.maps.static import render_png

    layers = tiny_layers()
    layers["communities"]["name"] = "A$_b ^$ 社区"
    layers["grids"].loc[0, "name"] = "成本$5 \\frac{a}{"
    path = tmp_path / "dollar.gpkg"
    io.write_layers(path, layers)
    ctx = prepare_map(path)
    out = render_png(tmp_path / "dollar.png", ctx, dpi=40)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = render_png(tmp_path / "dollar2.png", ctx, title="x$^$y", dpi=40)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_amap_outside_china_is_not_shifted_and_says_so(tmp_path):
    """A workspace in Berlin on --basemap amap: positions unchanged, no "shifted" claim."""
    from conftest import tiny_layers

    layers = tiny_layers()
    for gdf in layers.values():
        gdf.geometry = gdf.geometry.translate(13.4 - 111.47, 52.5 - 35.64)
    path = tmp_path / "berlin.gpkg"
    io.write_layers(path, layers)
    ctx = prepare_map(path)
    d = embedded(render_html(ctx, basemap="amap"))
    st = layers["service_stations"].geometry.iloc[0]
    x, y = decode_point(d["layers"]["service_stations"][0]["xy"], d)
    assert abs(x - st.x) < 2e-6 and abs(y - st.y) < 2e-6
    assert "坐标已转为 GCJ-02" not in d["note"] and "中国境外" in d["note"]
    assert any("outside mainland China" in n for n in ctx.notes)
    # inside China the usual note stays
    d_cn = embedded(build_map(tiny_layers_ws(tmp_path), basemap="amap"))
    assert "坐标已转为 GCJ-02" in d_cn["note"]


def tiny_layers_ws(tmp_path) -> Path:
    from conftest import tiny_layers

    path = tmp_path / "tiny-cn.gpkg"
    io.write_layers(path, tiny_layers())
    return path


def test_count_legend_has_whole_number_classes(sample_ctx):
    """A count indicator gets whole-number, non-overlapping legend classes holding every grid."""
    from gridmap.maps.builder import _indicator_spec

    for name in ("households", "microgrids"):
        _, spec = _indicator_spec(sample_ctx, name)
        ranges = []
        for lab in spec["labels"]:
            assert re.fullmatch(r"\d+(–\d+)?", lab), lab
            lo, _, hi = lab.partition("–")
            ranges.append((int(lo), int(hi or lo)))
        for (_, a), (b, _) in itertools.pairwise(ranges):
            assert b == a + 1, ranges  # contiguous, no overlap
        for v in sample_ctx.indicators[name].dropna():
            # the class the map colours v with (first break >= v) is the one its label names
            i = next(i for i, b in enumerate(spec["breaks"][1:]) if v <= b)
            assert ranges[i][0] <= v <= ranges[i][1], (name, v, ranges)


def test_default_choropleth_skips_an_indicator_without_figures(tmp_path):
    """No service_stations layer: the default choropleth is not an all-"no data" map."""
    from conftest import tiny_layers

    layers = tiny_layers()
    del layers["service_stations"]
    path = tmp_path / "nostations.gpkg"
    io.write_layers(path, layers)
    d = embedded(build_map(path, basemap="none"))
    assert not d["indicator"]["name"].startswith("coverage_share_service_stations")
    # the finding (a coverage share short of full) has a figure wherever households live
    vals = [g["v"] for g in d["layers"]["grids"]]
    assert sum(v is not None for v in vals) >= len(vals) - 1


@pytest.mark.browser
def test_browser_long_grid_names_are_cut_on_the_map(chromium, tmp_path):
    """A 150-character grid name does not run across the map; the popup keeps it whole."""
    from conftest import tiny_layers

    layers = tiny_layers()
    long_name = "很长的网格名称" * 20 + "一网格"
    layers["grids"].loc[0, "name"] = long_name
    path = tmp_path / "long.gpkg"
    io.write_layers(path, layers)
    html_path = write_map(tmp_path / "long.html", path, basemap="none")

    def act(page):
        widths = page.evaluate(
            "() => [...document.querySelectorAll('.gm-label span')]"
            ".map(s => s.getBoundingClientRect().width)"
        )
        return widths, _check_page(page, 4, 1, "二网格")

    errors, requests, (widths, r) = open_map(chromium, html_path, None, act)
    assert errors == [] and requests == []
    assert len(widths) == 4 and max(widths) < 250, widths
    assert long_name in r["grid_popup"].replace("\n", "")


def test_png_long_grid_names_do_not_shrink_the_map(tmp_path):
    """Long grid names are cut in the picture: the map keeps its size (it shrank to a strip)."""
    import matplotlib.image as mpimg
    from conftest import tiny_layers

    from gridmap.maps.static import render_png

    def drawn_extent(layers, name):
        path = tmp_path / f"{name}.gpkg"
        io.write_layers(path, layers)
        img = mpimg.imread(render_png(tmp_path / f"{name}.png", prepare_map(path), dpi=40))
        # the grid choropleth fill: rows and columns holding coloured (non-grey) pixels
        rgb = img[..., :3]
        coloured = (rgb.max(axis=2) - rgb.min(axis=2)) > 0.15
        rows = np.flatnonzero(coloured.any(axis=1))
        return rows.max() - rows.min()

    normal = drawn_extent(tiny_layers(), "normal")
    layers = tiny_layers()
    layers["grids"]["name"] = ["很长的网格名称" * 25 + str(i) for i in range(4)]
    assert drawn_extent(layers, "long") > 0.8 * normal


def test_3d_layers_draw_like_2d(tmp_path):
    """PolygonZ / LineString Z / PointZ layers (CAD exports) give the same map as 2D ones."""
    from conftest import tiny_layers
    from shapely.geometry import LineString

    def with_roads():
        layers = tiny_layers()
        layers["roads"] = gpd.GeoDataFrame(
            {"road_id": ["R1"]},
            geometry=[LineString([(111.4700, 35.6405), (111.4740, 35.6405)])],
            crs="EPSG:4326",
        )
        return layers

    flat = with_roads()
    deep = with_roads()
    for gdf in deep.values():
        gdf.geometry = shapely.force_3d(gdf.geometry.values, 12.5)
    io.write_layers(tmp_path / "flat.gpkg", flat)
    io.write_layers(tmp_path / "deep.gpkg", deep)
    a = embedded(build_map(tmp_path / "flat.gpkg", basemap="none"))
    b = embedded(build_map(tmp_path / "deep.gpkg", basemap="none"))
    for layer in ("grids", "microgrids", "roads", "service_stations"):
        assert a["layers"][layer] == b["layers"][layer], layer
    assert a["headline"] == b["headline"]


def test_fast_path_measures_to_polygon_lots_like_the_full_path(tmp_path):
    """City-size maps (straight-line fast path) measure to a lot's edge, as gridmap.analysis.coverage does."""
    from conftest import tiny_layers

    layers = tiny_layers()
    h = layers["households"].geometry
    # one big lot covering the first household; its inner point is far from the others
    layers["parking"] = gpd.GeoDataFrame(
        {"parking_id": ["K1"], "spaces": [200]},
        geometry=[
            box(h.x.min() - 0.0001, h.y.min() - 0.0001, h.x.max() + 0.0001, h.y.min() + 0.0004)
        ],
        crs="EPSG:4326",
    )
    path = tmp_path / "lots.gpkg"
    io.write_layers(path, layers)
    full = prepare_map(path, distance="euclidean")
    fast = prepare_map(path, distance="euclidean", full_analysis_max_households=1)
    assert fast.coverage["parking"].source == "fallback"
    assert full.coverage["parking"].radius_m == fast.coverage["parking"].radius_m
    assert (full.coverage["parking"].covered == fast.coverage["parking"].covered).all()


# ----------------------------------------------------------------- straight-line fallback


def _sample_with_roads(roads):
    import gridmap.datasets

    ws = io.load_workspace(gridmap.datasets.get_path("community"))
    if roads is None:
        ws.layers.pop("roads", None)
    else:
        ws.layers["roads"] = roads
    return ws


def _stubs_of_streets():
    """A 1 cm piece at the middle of each street: none longer than the network's snap distance."""
    import gridmap.datasets

    roads = io.read_layer(gridmap.datasets.get_path("community"), "roads")
    mid = shapely.line_interpolate_point(roads.geometry.values, 0.5, normalized=True)
    x, y = shapely.get_x(mid), shapely.get_y(mid)
    stubs = shapely.linestrings(np.stack([np.c_[x, y], np.c_[x + 1e-7, y]], axis=1))
    return gpd.GeoDataFrame(roads.drop(columns=roads.geometry.name), geometry=stubs, crs=4326)


@pytest.mark.parametrize(
    ("roads", "distance"), [("stubs", "auto"), (None, "network")], ids=["stubs", "no-roads"]
)
def test_map_without_a_usable_street_network_is_straight_line_and_says_so(roads, distance):
    from gridmap.maps.builder import StraightLineWarning, _headline

    ws = _sample_with_roads(_stubs_of_streets() if roads == "stubs" else None)
    with pytest.warns(StraightLineWarning, match="straight-line"):
        ctx = prepare_map(ws, lang="en", distance=distance, validate=False)
    assert ctx.distance == "euclidean"
    assert {fc.distance for fc in ctx.coverage.values()} == {"euclidean"}
    assert {fc.source for fc in ctx.coverage.values()} == {"gridmap.analysis.coverage"}
    assert any("straight-line" in n for n in ctx.notes)
    labels = [h["label"] for h in _headline(ctx) if "Within" in h["label"]]
    assert labels and all("(straight line)" in label for label in labels)
    # indicators and standards were computed on the same straight-line distances
    assert ctx.indicators is not None and ctx.standards_checked
    assert ctx.raw_indicators.attrs["distance"] == "euclidean"


@pytest.mark.parametrize(("roads", "walking"), [("sample", True), ("empty", False)])
def test_map_with_streets_or_without_roads_does_not_warn(recwarn, roads, walking):
    """Streets: walking distances. No roads under "auto": straight-line as documented, no warning."""
    import gridmap.datasets
    from gridmap.maps.builder import StraightLineWarning

    if roads == "sample":
        ws = io.load_workspace(gridmap.datasets.get_path("community"))
    else:
        ws = _sample_with_roads(_stubs_of_streets().iloc[:0])
    ctx = prepare_map(ws, validate=False)
    assert not [w for w in recwarn if issubclass(w.category, StraightLineWarning)]
    want = "network" if walking else "euclidean"
    assert {fc.distance for fc in ctx.coverage.values()} == {want}


def test_map_coverage_errors_other_than_the_network_propagate(monkeypatch):
    from gridmap.analysis import coverage as cov

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in coverage")

    monkeypatch.setattr(cov, "compute_coverage", broken)
    with pytest.raises(RuntimeError, match="a bug in coverage"):
        prepare_map(_sample_with_roads(None), validate=False)


def test_map_context_errors_about_other_layers_propagate(monkeypatch):
    from gridmap.analysis import coverage as cov

    def no_ids(*args, **kwargs):
        raise SchemaError("the households layer has no 'household_id' column", layer="households")

    monkeypatch.setattr(cov, "make_context", no_ids)
    with pytest.raises(SchemaError, match="household_id"):
        prepare_map(_sample_with_roads(None), validate=False)


def test_cli_map_without_a_street_network_says_it_once(tmp_path):
    import gridmap.datasets

    ws = tmp_path / "stubs.gpkg"
    import shutil

    shutil.copyfile(gridmap.datasets.get_path("community"), ws)
    io.write_layers(ws, {"roads": _stubs_of_streets()})
    out = tmp_path / "m.html"
    gridmap_exe = str(Path(sys.executable).with_name("gridmap"))
    res = subprocess.run(
        [gridmap_exe, "map", str(ws), "--out", str(out), "--lang", "en", "--basemap", "none"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("the map's distances are straight-line") == 1, res.stderr
    assert "StraightLineWarning" not in res.stderr
    page = out.read_text(encoding="utf-8")
    # the headline and the grid pop-ups say straight line, nowhere a walk
    assert re.search(r'"label":"Within \d+ m \(straight line\) of a service station"', page)
    assert not re.search(r"within a \d+ m walk", page, flags=re.I)
