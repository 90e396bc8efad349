"""Meeting map at city scale: gridmap.maps vs geopandas.explore, in one run.

Generates a synthetic city with gridmap.datasets.synth (default 20,000 micro-grids,
200,000 households), writes it to a temporary workspace, then times

* ``gridmap``: :func:`gridmap.maps.write_map` (load, join, coverage,
  indicators, standards, simplification, HTML), and
* ``explore``: the obvious alternative, ``geopandas.explore`` of the
  micro-grids with the households and facilities added as further layers
  (folium with CDN links; what a notebook user would write), saved to HTML.

Prints one JSON document with sizes, times and the ratios. Optionally
(``--browser``) opens the gridmap file in headless chromium with the network
blocked and reports the time until the map is drawn.

Usage::

    .venv/bin/python benchmarks/bench_map.py                       # full size
    .venv/bin/python benchmarks/bench_map.py --microgrids 2000 --households 20000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def run_explore(ws_path: Path, out: Path) -> None:
    """The geopandas way: explore() each layer onto one folium map and save it."""
    from gridmap.workspace import store as io

    ws = io.load_workspace(ws_path)
    m = ws.get("microgrids").explore(name="microgrids", tooltip=["microgrid_id", "name"])
    hh = ws.get("households")[["household_id", "residents", "elderly", "geometry"]]
    hh.explore(m=m, name="households", marker_type="circle_marker", marker_kwds={"radius": 2})
    for layer in ("service_stations", "charging_piles", "parking"):
        gdf = ws.get(layer)
        if gdf is not None:
            gdf.explore(m=m, name=layer)
    m.save(str(out))


def run_browser(path: Path) -> dict:
    """Chromium (network blocked): seconds to the first draw, and to redraw zoomed in."""
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
    frame = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r())))"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        try:
            page = b.new_page(viewport={"width": 1400, "height": 900})
            page.route(
                "**/*",
                lambda r: (
                    r.continue_() if r.request.url.startswith(("file:", "data:")) else r.abort()
                ),
            )
            t0 = time.perf_counter()
            page.goto(path.as_uri(), timeout=120_000)
            page.wait_for_selector("path.gm-grid", timeout=120_000)
            page.evaluate(frame)
            first = time.perf_counter() - t0
            # zoom to the level where every crowded layer is drawn, then pan once
            detail = page.evaluate(
                "() => Math.max(0, ...Object.values(window.gridmap.data.minZoom || {}))"
            )
            t1 = time.perf_counter()
            page.evaluate(
                "(z) => new Promise(r => { const m = window.gridmap.map; m.once('zoomend', () => r());"
                " m.setZoom(Math.max(z, m.getZoom() + 1), {animate: false}); })",
                detail,
            )
            page.evaluate(frame)
            zoom = time.perf_counter() - t1
            t2 = time.perf_counter()
            page.evaluate(
                "() => new Promise(r => { const m = window.gridmap.map; m.once('moveend', () => r());"
                " m.panBy([400, 300], {animate: false}); })"
            )
            page.evaluate(frame)
            pan = time.perf_counter() - t2
            return {
                "first_draw_s": round(first, 2),
                "zoom_in_s": round(zoom, 2),
                "pan_s": round(pan, 2),
            }
        finally:
            b.close()


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--microgrids", type=int, default=20_000)
    ap.add_argument("--households", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--distance", default="auto", help="coverage distance for the gridmap map")
    ap.add_argument("--basemap", default="amap")
    ap.add_argument("--no-explore", action="store_true", help="skip the geopandas.explore run")
    ap.add_argument("--browser", action="store_true", help="also time the first draw in chromium")
    ap.add_argument("--keep", type=Path, default=None, help="copy the outputs into this folder")
    a = ap.parse_args(argv)

    from gridmap.datasets.synth import synth_layers
    from gridmap.maps import write_map
    from gridmap.workspace import store as io

    result: dict = {"microgrids": a.microgrids, "households": a.households, "basemap": a.basemap}
    with tempfile.TemporaryDirectory(prefix="bench_map_") as tmp:
        tmp = Path(tmp)
        layers, t_synth = _timed(
            lambda: synth_layers(seed=a.seed, households=a.households, microgrids=a.microgrids)
        )
        ws_path = tmp / "city.gpkg"
        io.write_layers(ws_path, layers)
        result["layers"] = {k: len(v) for k, v in layers.items()}
        result["synth_s"] = round(t_synth, 1)
        del layers

        out = tmp / "gridmap.html"
        _, t_gm = _timed(lambda: write_map(out, ws_path, basemap=a.basemap, distance=a.distance))
        result["gridmap"] = {"seconds": round(t_gm, 2), "mb": round(out.stat().st_size / 1e6, 2)}
        if a.browser:
            result["gridmap"]["browser"] = run_browser(out)
        if not a.no_explore:
            ex = tmp / "explore.html"
            _, t_ex = _timed(lambda: run_explore(ws_path, ex))
            result["explore"] = {"seconds": round(t_ex, 2), "mb": round(ex.stat().st_size / 1e6, 2)}
            result["ratio_explore_over_gridmap"] = {
                "seconds": round(t_ex / t_gm, 1),
                "mb": round(ex.stat().st_size / out.stat().st_size, 1),
            }
        if a.keep:
            a.keep.mkdir(parents=True, exist_ok=True)
            for f in tmp.glob("*.html"):
                os.replace(f, a.keep / f.name)
    result["python"] = sys.version.split()[0]
    result["load_average"] = [round(v, 1) for v in os.getloadavg()]
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
