"""The meeting map as a planner uses it, in real Chromium with the network blocked.

Print to PDF (rasterised with pdftoppm), layout at four screen sizes in both
languages, walking service areas against the headline figures, the standards
panel and its CSV, search, offline orientation, validation warnings,
clustering at city scale and the static picture's furniture.

Screenshots of the default view, the printed page and the phone view are
written to tests/artifacts/ (gitignored).
"""

from __future__ import annotations

import csv
import io as stdio
import itertools
import json
import re
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import offline
from shapely.geometry import Point, Polygon, box

from gridmap.analysis import coverage as cov
from gridmap.analysis.indicators import check_standards
from gridmap.maps import Overlay, prepare_map, render_html, write_html

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "tests" / "artifacts"
SAMPLE = REPO / "gridmap" / "datasets" / "data" / "community.gpkg"
SIZES = [(1920, 1080), (1366, 768), (1280, 720), (390, 844)]


# ---------------------------------------------------------------------------
# helpers


def embedded(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="gm-data">(.*?)</script>', html, re.S)
    return json.loads(m.group(1))


def decode_ring(flat, d):
    a = np.asarray(flat, dtype=float).reshape(-1, 2).cumsum(axis=0)
    return np.column_stack(
        [d["origin"][0] + a[:, 0] / d["scale"], d["origin"][1] + a[:, 1] / d["scale"]]
    )


def decode_geom(g, d):
    polys = [Polygon(decode_ring(p[0], d), [decode_ring(h, d) for h in p[1:]]) for p in g]
    return shapely.union_all(polys)


def hex_rgb(h: str) -> np.ndarray:
    h = h.lstrip("#")
    return np.array([int(h[i : i + 2], 16) for i in (0, 2, 4)], dtype=float)


def contrast(a: np.ndarray, b: np.ndarray) -> float:
    """WCAG contrast ratio of two sRGB colours."""

    def lum(c):
        c = c / 255.0
        c = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

    la, lb = sorted([lum(a), lum(b)], reverse=True)
    return (la + 0.05) / (lb + 0.05)


class Browser:
    """The module's Chromium (conftest's ``chromium``); every page has all network blocked
    (file: and data: only)."""

    def __init__(self, browser):
        self.browser = browser
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.contexts: list = []

    def page(self, html: Path, width=1366, height=768, tile_host: str | None = None, **ctx):
        context = self.browser.new_context(viewport={"width": width, "height": height}, **ctx)
        self.contexts.append(context)
        page = context.new_page()

        def on_console(msg):
            if msg.type != "error":
                return
            url = (msg.location or {}).get("url", "")
            if tile_host and tile_host in url:
                return  # a basemap tile, blocked on purpose
            if "Failed to load resource" in msg.text and tile_host:
                return
            self.errors.append(msg.text)

        page.on("console", on_console)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

        offline(page, self.requests, allow=("file:", "data:", "blob:"))
        page.goto(html.as_uri())
        page.wait_for_selector("path.gm-grid", timeout=30_000)
        page.wait_for_timeout(300)
        return page


@pytest.fixture(scope="module")
def _chromium(chromium):
    return Browser(chromium)


@pytest.fixture
def browser(_chromium):
    """The module's Chromium with fresh error/request lists; pages are closed after the test."""
    _chromium.errors.clear()
    _chromium.requests.clear()
    _chromium.contexts = []
    yield _chromium
    for c in _chromium.contexts:
        c.close()


@pytest.fixture(scope="module")
def ctx_zh():
    return prepare_map(SAMPLE, lang="zh")


@pytest.fixture(scope="module")
def ctx_en():
    return prepare_map(SAMPLE, lang="en")


@pytest.fixture(scope="module")
def maps_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("maps")


@pytest.fixture(scope="module")
def sample_html(ctx_zh, ctx_en, maps_dir) -> dict[str, Path]:
    out = {}
    for lang, ctx in (("zh", ctx_zh), ("en", ctx_en)):
        p = maps_dir / f"sample-{lang}.html"
        write_html(p, render_html(ctx, basemap="none"))
        out[lang] = p
    p = maps_dir / "sample-amap.html"
    write_html(p, render_html(ctx_zh, basemap="amap"))
    out["amap"] = p
    return out


def rasterise(pdf: Path, dpi: int = 60) -> np.ndarray:
    """First page of a PDF as an RGB array (pdftoppm from poppler-utils)."""
    from PIL import Image

    if shutil.which("pdftoppm") is None:
        pytest.fail("pdftoppm not found: install poppler-utils (scripts/install-system-deps.sh)")
    stem = pdf.with_suffix("")
    subprocess.run(
        ["pdftoppm", "-r", str(dpi), "-png", "-f", "1", "-l", "1", str(pdf), str(stem)],
        check=True,
        capture_output=True,
    )
    png = next(pdf.parent.glob(stem.name + "-*.png"))
    return np.asarray(Image.open(png).convert("RGB")), png


def near(img: np.ndarray, rgb: np.ndarray, tol: float) -> np.ndarray:
    return np.sqrt(((img.astype(float) - rgb) ** 2).sum(axis=2)) <= tol


# ---------------------------------------------------------------------------
# 1. print


@pytest.mark.browser
@pytest.mark.parametrize("how", ["ctrl_p", "button"])
@pytest.mark.parametrize(
    "paper,landscape", [("A4", True), ("A4", False), ("A3", True), ("A3", False)]
)
def test_print_puts_polygons_on_the_sheet(browser, sample_html, maps_dir, paper, landscape, how):
    d = embedded(sample_html["zh"].read_text(encoding="utf-8"))
    page = browser.page(sample_html["zh"])
    if how == "button":
        # what the print button does before the dialog opens (headless has no dialog)
        page.evaluate("() => { window.gridmap.prepPrint(true); }")
        page.wait_for_timeout(400)
    tag = f"{paper}-{'landscape' if landscape else 'portrait'}-{how}"
    pdf = maps_dir / f"print-{tag}.pdf"
    page.pdf(path=str(pdf), format=paper, landscape=landscape, print_background=True)
    img, png = rasterise(pdf)
    h, w, _ = img.shape
    if landscape:
        assert w > h
    else:
        assert h > w
    # the grid outlines are on the paper (not just the legend swatch)
    outline = near(img, hex_rgb("#253494"), 70)
    assert outline.sum() > 0.002 * w * h, f"grid outlines missing ({outline.sum()} px)"
    # every choropleth class present on the map appears, blended over the background
    bg = hex_rgb("#f4f1ea")
    ind = d["indicator"]
    values = [g["v"] for g in d["layers"]["grids"]]
    classes = {
        min(int(np.searchsorted(ind["breaks"][1:], v, side="left")), len(ind["colors"]) - 1)
        for v in values
        if v is not None
    }
    fill = np.zeros(img.shape[:2], dtype=bool)
    for k in classes:
        c = 0.55 * hex_rgb(ind["colors"][k]) + 0.45 * bg
        px = near(img, c, 22)
        assert px.sum() > 0.0005 * w * h, f"choropleth class {ind['labels'][k]} missing"
        fill |= px
    assert fill.sum() > 0.05 * w * h
    # the map fills the sheet: the coloured grids span most of it in one direction
    ys, xs = np.nonzero(fill)
    span = max((xs.max() - xs.min()) / w, (ys.max() - ys.min()) / h)
    assert span > 0.5, f"the map covers only {span:.0%} of the sheet"
    # title, date, source, legend, scale bar and north arrow are on the sheet
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout.replace(" ", "")
    for needle in ("城南社区", "制图日期", "数据来源", "图例", "北", "网格"):
        assert needle in text, f"{needle!r} not on the printed page"
    assert re.search(r"\d+(m|km)", text), "no scale bar on the printed page"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(png, ARTIFACTS / f"print-{tag}.png")
    # after printing the screen view comes back unchanged
    assert page.locator("path.gm-grid").count() == len(d["layers"]["grids"])
    assert not browser.errors and not browser.requests


@pytest.mark.browser
def test_saved_extent_is_the_printed_frame(ctx_zh, maps_dir, browser):
    """A saved extent (every map of a meeting in one frame) is what opens and prints."""
    g = ctx_zh.workspace.get("grids")
    one = g.iloc[:3].total_bounds  # a corner of the community
    p = maps_dir / "framed.html"
    write_html(p, render_html(ctx_zh, basemap="none", extent=tuple(one)))
    page = browser.page(p)
    b = page.evaluate("() => window.gridmap.map.getBounds().toBBoxString()")
    minx, miny, maxx, maxy = map(float, b.split(","))
    assert minx <= one[0] + 1e-4 and maxx >= one[2] - 1e-4
    assert miny <= one[1] + 1e-4 and maxy >= one[3] - 1e-4
    # the frame is shown large: it fills a good part of the window
    assert (one[2] - one[0]) / (maxx - minx) > 0.3 or (one[3] - one[1]) / (maxy - miny) > 0.3


# ---------------------------------------------------------------------------
# 2. walking service areas


def test_walking_areas_agree_with_the_headline(ctx_zh, sample_html):
    d = embedded(sample_html["zh"].read_text(encoding="utf-8"))
    rings = {r["facility"]: r for r in d["layers"]["rings"]}
    ws = ctx_zh.workspace
    hh = ws.get("households")
    a = ctx_zh.households_assignment
    for fac, fc in ctx_zh.coverage.items():
        assert fc.distance == "network"
        r = rings[fac]
        assert r["kind"] == "walk" and "步行" in r["label"] and "直线" not in r["label"]
        # independent: the coverage module's own per-household answer, walking
        res = cov.compute_coverage(ws, fac, None, distance="network")
        flags = res.households.set_index("household_id")["covered"].astype(bool)
        covered = hh["household_id"].map(flags).fillna(False).to_numpy()
        mg_ids = [m["id"] for m in d["layers"]["microgrids"]]
        shown = dict(zip(mg_ids, zip(r["c"], r["n"], strict=True), strict=True))
        frame = pd.DataFrame(
            {"mg": a["microgrid_id"].to_numpy(), "g": a["grid_id"].to_numpy(), "c": covered}
        )
        frame = frame.dropna(subset=["mg"])
        for gid, part in frame.groupby("g"):
            mgs = part["mg"].unique()
            drawn_c = sum(shown[m][0] for m in mgs)
            drawn_n = sum(shown[m][1] for m in mgs)
            assert drawn_n == len(part)
            assert drawn_c / drawn_n == pytest.approx(part["c"].mean(), abs=1e-12), gid
        # and the whole community: drawn share vs the headline (households outside
        # every micro-grid are in the headline only)
        total_c, total_n = sum(r["c"]), sum(r["n"])
        outside = int(a["microgrid_id"].isna().sum())
        assert abs(total_c / total_n - fc.share) <= outside / len(hh) + 1e-9
        head = [h for h in d["headline"] if fc.share is not None and "步行" in h["label"]]
        assert any(h["value"] == f"{100 * fc.share:.0f}%" for h in head)
        # the reached streets are drawn along the network
        assert r.get("streets") and "步行" in r["streets_label"]


def test_straight_line_circles_are_labelled_and_agree(tmp_path):
    ctx = prepare_map(SAMPLE, lang="zh", distance="euclidean")
    p = tmp_path / "line.html"
    write_html(p, render_html(ctx, basemap="none"))
    d = embedded(p.read_text(encoding="utf-8"))
    hh = ctx.workspace.get("households")
    metric = hh.estimate_utm_crs()
    hpts = hh.to_crs(metric).geometry
    for r in d["layers"]["rings"]:
        assert r["kind"] == "line" and "直线" in r["label"]
        fc = ctx.coverage[r["facility"]]
        assert fc.distance == "euclidean"
        # independent reference: brute-force distances in a UTM zone
        fac = ctx.workspace.get(r["facility"]).to_crs(metric).geometry
        dist = np.array([fac.distance(pnt).min() for pnt in hpts])
        truth = dist <= fc.radius_m
        area = gpd.GeoSeries([decode_geom(a, d) for a in r["areas"]], crs=4326).to_crs(metric)
        inside = hpts.within(area.union_all().buffer(0.5)).to_numpy()
        frame = pd.DataFrame(
            {"g": ctx.households_assignment["grid_id"].to_numpy(), "t": truth, "i": inside}
        ).dropna(subset=["g"])
        per = frame.groupby("g")[["t", "i"]].mean()
        # the drawn circles (simplified for display) hold the households the figures count
        assert (per["t"] - per["i"]).abs().max() <= 0.03
        assert truth.mean() == pytest.approx(fc.share, abs=1e-9)
    head = " ".join(h["label"] for h in d["headline"])
    assert "步行" not in head


# ---------------------------------------------------------------------------
# 3. the default view leads with the finding


def test_default_view_leads_with_the_finding(ctx_zh, sample_html, browser):
    d = embedded(sample_html["zh"].read_text(encoding="utf-8"))
    ind = d["indicator"]
    # the sample: stations and piles reach everyone; parking (walking 300 m) does not
    assert ind["name"].startswith(("coverage_share_parking", "cover_parking"))
    assert "步行300米" in ind["label"] and "停车场" in ind["label"]
    page = browser.page(sample_html["zh"])
    finding = page.locator(".gm-finding").inner_text()
    assert "停车场" in finding and "55%" in finding
    # coverage areas and household aggregates are off while the choropleth is on
    for key in ("ring_service_stations", "ring_parking", "hh", "uncovered", "outside"):
        box_ = page.locator(f'.gm-tree input[data-layer="{key}"]')
        if box_.count():
            assert not box_.is_checked(), key
    assert page.locator('.gm-tree input[data-layer="choropleth"]').is_checked()
    # facility markers stand out on every class: WCAG contrast >= 3 against each blended fill
    bg = hex_rgb("#f4f1ea")
    for fac, st in d["markers"].items():
        for c in ind["colors"]:
            blended = 0.55 * hex_rgb(c) + 0.45 * bg
            assert contrast(hex_rgb(st["fill"]), blended) >= 3.0, (fac, c)
            # and the white ring around them separates them from dark classes
            assert contrast(hex_rgb(st["line"]), hex_rgb(st["fill"])) >= 4.5
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "default-view-1366x768-zh.png"))
    assert not browser.errors and not browser.requests


# ---------------------------------------------------------------------------
# 4. the standards panel and the CSV


@pytest.mark.browser
def test_standards_panel_lists_failing_grids_and_zooms(ctx_zh, sample_html, browser):
    d = embedded(sample_html["zh"].read_text(encoding="utf-8"))
    ref = check_standards(ctx_zh.workspace, distance="auto")
    failed = ref[ref["passed"].map(lambda v: v is False)]
    P = d["standards"]
    assert P["grids_failing"] == failed["grid_id"].nunique()
    for r in P["rules"]:
        want = set(failed.loc[failed["rule_id"] == r["id"], "grid_id"].astype(str))
        assert {x["id"] for x in r["failing"]} == want, r["id"]
        # plain words: a bound people read, no jargon column names
        assert re.search(r"应(不少于|不超过|在)", r["text"]), r["text"]
        assert "2SFCA" not in r["text"] and "access_2sfca" not in r["text"]
    page = browser.page(sample_html["zh"])
    page.locator(".gm-std-head").click()
    rows = page.locator(".gm-std-table tbody tr")
    top = P["rules"][0]
    assert rows.count() == top["n"]
    # sortable by value: ascending, then descending
    page.locator('.gm-std-table th[data-sort="v"]').click()  # already by value: flips
    vals = [x["v"] for x in top["failing"] if x["v"] is not None]
    texts = rows.all_inner_texts()
    assert len(texts) == top["n"]
    page.locator('.gm-std-table th[data-sort="name"]').click()
    names = [t.split("\t")[0] for t in rows.all_inner_texts()]
    assert names == sorted(names, key=lambda s: int(re.sub(r"\D", "", s) or 0))
    # clicking a grid zooms to it and opens its popup
    gid = rows.first.get_attribute("data-grid")
    name = next(x["name"] for x in top["failing"] if x["id"] == gid)
    z0 = page.evaluate("() => window.gridmap.map.getZoom()")
    rows.first.click()
    page.wait_for_selector(".leaflet-popup-content", timeout=5_000)
    assert name in page.locator(".leaflet-popup-content").inner_text()
    assert page.evaluate("() => window.gridmap.map.getZoom()") > z0
    assert vals  # the figures are there to sort by
    # the grid table downloads as CSV from the page itself
    with page.expect_download() as dl:
        page.locator(".gm-csv-link").click()
    text = Path(dl.value.path()).read_text(encoding="utf-8-sig")
    table = list(csv.reader(stdio.StringIO(text)))
    assert table[0][:3] == ["编号", "名称", "片区"]
    assert len(table) - 1 == len(d["layers"]["grids"])
    ids = {row[0] for row in table[1:]}
    assert ids == set(ctx_zh.workspace.get("grids")["grid_id"].astype(str))
    # aggregates only: no names or phones of grid workers
    grids = ctx_zh.workspace.get("grids")
    for col in ("staff_name", "staff_phone"):
        for v in grids[col].dropna().astype(str):
            assert v not in text
    assert not browser.errors and not browser.requests


def test_city_fast_path_checks_standards_too():
    ctx = prepare_map(SAMPLE, lang="zh", full_analysis_max_households=100)
    assert any("fast map path" in n for n in ctx.notes)
    assert ctx.standards_checked and ctx.standards_results is not None
    checked = set(ctx.standards_results["rule_id"])
    assert {"station_15min", "grid_size", "microgrid_size"} <= checked
    # the rules needing 2SFCA are named as skipped, not dropped silently
    assert set(ctx.standards_skipped) == {"parking_per_household", "charging_per_ev"}
    html = render_html(ctx, basemap="none")
    d = embedded(html)
    assert d["standards"]["skipped"] == ctx.standards_skipped
    # grid size: same verdict as the full check
    full = check_standards(SAMPLE)
    want = full[(full["rule_id"] == "grid_size") & full["passed"].map(lambda v: v is False)]
    got = ctx.standards_results
    got = got[(got["rule_id"] == "grid_size") & got["passed"].map(lambda v: v is False)]
    assert set(want["grid_id"]) == set(got["grid_id"])


# ---------------------------------------------------------------------------
# 5. offline orientation


@pytest.mark.browser
def test_offline_tiles_switch_roads_and_names_on(sample_html, browser):
    page = browser.page(sample_html["amap"], tile_host="autonavi.com")
    page.wait_for_function("() => window.gridmap.isOffline()", timeout=10_000)
    assert page.locator('.gm-tree input[data-layer="roads"]').is_checked()
    assert page.locator('.gm-tree input[data-layer="road_names"]').is_checked()
    assert page.locator(".gm-offline").is_visible()
    labels = page.locator(".gm-road-label span")
    assert labels.count() > 5
    names = set(labels.all_inner_texts())
    assert any(n.endswith(("路", "街", "大道")) for n in names)
    # only tile requests were attempted, all blocked
    assert browser.requests and all("autonavi.com" in u for u in browser.requests)
    assert not browser.errors


# ---------------------------------------------------------------------------
# 6. layout: no overlaps at four sizes, both languages


LAYOUT_JS = """() => {
  const vis = el => { const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none' ? r : null; };
  const boxes = [];
  document.querySelectorAll('.leaflet-control').forEach(el => {
    const r = vis(el); if (!r) return;
    boxes.push({name: el.className.split(' ').filter(c => c.startsWith('gm-') || c.startsWith('leaflet-control-')).join('.') || el.className,
                x0: r.left, y0: r.top, x1: r.right, y1: r.bottom});
  });
  const buttons = [];
  document.querySelectorAll('.gm-tools a, .gm-search input, .gm-fold-head').forEach(el => {
    const r = vis(el); if (!r) return;
    const cx = (r.left + r.right) / 2, cy = (r.top + r.bottom) / 2;
    const hit = document.elementFromPoint(cx, cy);
    buttons.push({name: el.className || el.tagName, x0: r.left, y0: r.top, x1: r.right, y1: r.bottom,
                  reachable: !!hit && (el === hit || el.contains(hit) || hit.contains(el))});
  });
  const labels = [];
  document.querySelectorAll('.gm-label span').forEach(el => {
    const r = vis(el); if (!r) return;
    labels.push({name: el.textContent, x0: r.left, y0: r.top, x1: r.right, y1: r.bottom});
  });
  return {boxes, buttons, labels, w: innerWidth, h: innerHeight};
}"""


def _overlap(a, b) -> float:
    w = min(a["x1"], b["x1"]) - max(a["x0"], b["x0"])
    h = min(a["y1"], b["y1"]) - max(a["y0"], b["y0"])
    return max(0.0, w) * max(0.0, h)


def _union_area(boxes, w, h) -> float:
    """Area of the union of boxes inside the window (on a 2 px raster)."""
    grid = np.zeros((h // 2 + 1, w // 2 + 1), dtype=bool)
    for b in boxes:
        x0, y0 = max(0, int(b["x0"] // 2)), max(0, int(b["y0"] // 2))
        x1, y1 = min(w // 2, int(np.ceil(b["x1"] / 2))), min(h // 2, int(np.ceil(b["y1"] / 2)))
        grid[y0:y1, x0:x1] = True
    return grid.sum() * 4.0


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_layout_has_no_overlaps(sample_html, browser, size, lang):
    w, h = size
    phone = w < 700
    page = browser.page(
        sample_html[lang],
        width=w,
        height=h,
        is_mobile=phone,
        has_touch=phone,
        device_scale_factor=1,
    )
    r = page.evaluate(LAYOUT_JS)
    boxes = r["boxes"]
    names = [b["name"] for b in boxes]
    assert any("gm-title" in n for n in names) and any("gm-tools" in n for n in names)
    for b in boxes:  # every panel inside the window
        assert b["x0"] >= -0.5 and b["y0"] >= -0.5, b
        assert b["x1"] <= w + 0.5 and b["y1"] <= h + 0.5, b
    for a, b in itertools.combinations(boxes, 2):
        assert _overlap(a, b) < 1.0, f"{a['name']} overlaps {b['name']} at {w}x{h} {lang}"
    for b in r["buttons"]:  # every control can be clicked: nothing lies on top of it
        assert b["reachable"], f"{b['name']} is covered at {w}x{h} {lang}"
    for lab in r["labels"]:  # no grid name hides under a panel
        for b in boxes:
            assert _overlap(lab, b) < 1.0, f"label {lab['name']} under {b['name']} at {w}x{h}"
    share = 1 - _union_area(boxes, w, h) / (w * h)
    assert share >= (0.6 if phone else 0.5), f"only {share:.0%} of the map visible at {w}x{h}"
    if (w, h) in ((390, 844), (1920, 1080)) or ((w, h) == (1366, 768) and lang == "en"):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"layout-{w}x{h}-{lang}.png"))
    if phone:
        # every panel folds and unfolds
        for head in page.locator(".gm-fold-head").all():
            head.click()
            head.click()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"phone-view-{lang}.png"))
    assert not browser.errors and not browser.requests


# ---------------------------------------------------------------------------
# 7. search, validation warnings, clusters, overlays, the picture


@pytest.mark.browser
def test_search_finds_a_street_a_microgrid_a_station_and_a_building(ctx_zh, sample_html, browser):
    d = embedded(sample_html["zh"].read_text(encoding="utf-8"))
    roads = ctx_zh.workspace.get("roads")
    street = str(roads["name"].dropna().iloc[0])
    mg = d["layers"]["microgrids"][5]
    station = d["layers"]["service_stations"][0]["title"]
    page = browser.page(sample_html["zh"])

    def search(q):
        page.fill(".gm-search input", "")
        page.fill(".gm-search input", q)
        page.wait_for_selector(".gm-result", timeout=5_000)
        return page.locator(".gm-result").all_inner_texts()

    res = search(street)
    assert any(street in t and "街道" in t for t in res)
    page.locator(".gm-result", has_text="街道").first.click()
    page.wait_for_selector(".leaflet-popup-content", timeout=5_000)
    assert street in page.locator(".leaflet-popup-content").inner_text()
    assert page.locator(".gm-road-label span", has_text=street).count() >= 1
    res = search(mg["id"])
    assert any(mg["id"] in t and "微网格" in t for t in res)
    page.locator(".gm-result").first.click()
    page.wait_for_selector(".leaflet-popup-content", timeout=5_000)
    assert mg["id"] in page.locator(".leaflet-popup-content").inner_text()
    res = search(station)
    assert any(station in t for t in res)
    # buildings: street and number only, never a unit or a room
    assert d["buildings"], "no buildings found in the addresses"
    b = d["buildings"][0]
    assert re.fullmatch(r".+\d+号楼", b[3]) and b[2] >= 3
    res = search(b[3])
    assert any(b[3] in t and "楼栋" in t for t in res)
    html = sample_html["zh"].read_text(encoding="utf-8")
    assert "单元" not in " ".join(x[3] for x in d["buildings"])
    assert not re.search(r"\d+单元\d+室", html)
    page.fill(".gm-search input", "不存在的地方")
    assert page.locator(".gm-nomatch").count() == 1
    assert not browser.errors and not browser.requests


@pytest.fixture
def broken_ws(tmp_path, tiny_layers_dict) -> Path:
    """The tiny community with a self-intersecting micro-grid, an overlap and a duplicate id."""
    layers = {k: v.copy() for k, v in tiny_layers_dict.items()}
    mg = layers["microgrids"]
    x0, y0, d = 111.47, 35.64, 0.001
    bow = Polygon([(x0, y0), (x0 + d, y0 + d), (x0 + d, y0), (x0, y0 + d)])  # bow tie
    mg.loc[mg.index[0], "geometry"] = bow
    mg.loc[mg.index[2], "geometry"] = box(x0 + 0.9 * d, y0, x0 + 2 * d, y0 + d)  # overlaps
    mg.loc[mg.index[3], "microgrid_id"] = mg["microgrid_id"].iloc[4]  # duplicate id
    path = tmp_path / "broken.gpkg"
    _write(path, layers)
    return path


def _write(path: Path, layers: dict) -> None:
    for name, gdf in layers.items():
        gdf.to_file(path, layer=name, driver="GPKG")


@pytest.mark.browser
def test_validation_errors_are_named_in_the_title_panel(broken_ws, tmp_path, browser):
    ctx = prepare_map(broken_ws, lang="zh")
    p = tmp_path / "broken.html"
    write_html(p, render_html(ctx, basemap="none"))
    d = embedded(p.read_text(encoding="utf-8"))
    assert d["validation"] and d["validation"]["n"] >= 3
    page = browser.page(p)
    text = page.locator(".gm-validation").inner_text()
    for word in ("图形无效", "图形重叠", "编号重复", "gridmap validate"):
        assert word in text
    assert not browser.errors and not browser.requests
    clean = prepare_map(SAMPLE, lang="zh")
    assert embedded(render_html(clean, basemap="none"))["validation"] is None


@pytest.fixture
def many_stations_ws(tmp_path, tiny_layers_dict) -> Path:
    layers = {k: v.copy() for k, v in tiny_layers_dict.items()}
    rng = np.random.default_rng(3)
    n = 700
    x = 111.47 + rng.uniform(0, 0.004, n)
    y = 35.64 + rng.uniform(0, 0.002, n)
    layers["service_stations"] = gpd.GeoDataFrame(
        {"station_id": [f"S{i:04d}" for i in range(n)], "name": [f"驿站{i}" for i in range(n)]},
        geometry=[Point(a, b) for a, b in zip(x, y, strict=True)],
        crs=4326,
    )
    path = tmp_path / "many.gpkg"
    _write(path, layers)
    return path


@pytest.mark.browser
def test_many_facility_markers_are_clustered(many_stations_ws, tmp_path, browser):
    ctx = prepare_map(many_stations_ws, lang="zh")
    p = tmp_path / "many.html"
    html = render_html(ctx, basemap="none")
    write_html(p, html)
    d = embedded(html)
    assert "service_stations" in d["clusters"]
    page = browser.page(p)
    clusters = page.locator(".marker-cluster").count()
    singles = page.locator(".gm-station").count()
    assert 0 < clusters and singles + clusters < 200
    # zooming in breaks the clusters up
    page.evaluate("() => { const m = window.gridmap.map; m.setZoom(19, {animate: false}); }")
    page.wait_for_timeout(800)
    assert page.locator(".gm-station").count() > singles
    assert not browser.errors and not browser.requests


@pytest.mark.browser
def test_an_overlay_layer_can_be_added(ctx_zh, tmp_path, browser):
    g = ctx_zh.workspace.get("grids")
    pts = gpd.GeoDataFrame(
        {"grid_id": g["grid_id"], "requests": np.arange(len(g)), "secret": "13800000000"},
        geometry=g.geometry.representative_point(),
        crs=4326,
    )
    ov = Overlay(
        key="requests",
        label="居民诉求（按网格）",
        gdf=pts,
        color="#6a3d9a",
        popup_columns={"grid_id": "网格", "requests": "诉求数"},
        size_column="requests",
        on=True,
    )
    p = tmp_path / "overlay.html"
    html = render_html(ctx_zh, basemap="none", overlays=[ov])
    write_html(p, html)
    assert "13800000000" not in html  # only the named columns reach the map
    page = browser.page(p)
    assert page.locator('.gm-tree input[data-layer="overlay_requests"]').is_checked()
    assert "居民诉求" in page.locator(".gm-legend").inner_text()
    assert not browser.errors and not browser.requests


def test_png_has_scale_bar_north_arrow_date_and_source(ctx_zh, tmp_path):
    from gridmap.maps.static import draw_figure, render_png

    fig = draw_figure(ctx_zh)
    try:
        texts = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
        joined = " ".join(texts)
        assert "北" in texts
        assert re.search(r"制图日期 \d{4}-\d{2}-\d{2}", joined)
        assert "数据来源" in joined and "community.gpkg" in joined
        assert any(re.fullmatch(r"\d+ (米|公里)", t) for t in texts), texts
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)
    out = render_png(tmp_path / "m.png", ctx_zh)
    assert out.stat().st_size > 10_000
