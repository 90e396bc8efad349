"""The before/after map of a re-division proposal: self-contained HTML, two switchable grid layers."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

import geopandas as gpd

from gridmap.division.divide import DivisionResult
from gridmap.division.output import _t
from gridmap.maps.assets import leaflet_css, leaflet_js
from gridmap.workspace.schema import GRIDS, LAYERS
from gridmap.workspace.store import atomic_write_file

__all__ = ["division_map_html", "write_division_map"]


def _features(gdf: gpd.GeoDataFrame) -> dict:
    g = gdf.to_crs("EPSG:4326")
    return json.loads(
        g[["grid_id", "households", "in_band", "geometry"]]
        .assign(in_band=g["in_band"].astype(bool), households=g["households"].astype(int))
        .to_json(drop_id=True)
    )


def division_map_html(
    result: DivisionResult, before_grids: gpd.GeoDataFrame, *, lang: str = "zh"
) -> str:
    """A self-contained before/after map: two toggled grid layers labelled with households.

    Leaflet is inlined from the packaged assets; no request leaves the page.
    """
    t = _t(lang)
    before = before_grids.copy()
    bstats = result.before.set_index("grid_id")
    before["grid_id"] = before[LAYERS[GRIDS].id_column].astype(str)
    before = before[before["grid_id"].isin(bstats.index)]
    before["households"] = before["grid_id"].map(bstats["households"]).astype(int)
    before["in_band"] = before["grid_id"].map(bstats["in_band"]).astype(bool)
    data = {"before": _features(before), "after": _features(result.grids)}
    s = result.summary()
    head = (
        f"{t['band']} {result.band.low}–{result.band.high} · "
        f"{t['before']} {s['before']['grids']} ({s['before']['in_band']} ✓) → "
        f"{t['after']} {s['after']['grids']} ({s['after']['in_band']} ✓) · "
        f"{t['moved']} {s['microgrids_moved']}/{s['microgrids']}"
    )
    labels = {"before": t["before"], "after": t["after"], "hh": t["households"], "out": t["out"]}
    return f"""<!DOCTYPE html>
<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(t["title"])}</title>
<style>{leaflet_css()}
html,body{{margin:0;height:100%;font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif}}
#map{{position:absolute;top:56px;bottom:0;left:0;right:0;background:#f4f4f0}}
#head{{position:absolute;top:0;left:0;right:0;height:56px;padding:6px 12px;box-sizing:border-box;
border-bottom:1px solid #ccc;background:#fff}}
#head h1{{font-size:16px;margin:0}} #head p{{font-size:13px;margin:2px 0 0}}
.hh{{background:rgba(255,255,255,.85);border:0;box-shadow:none;font-weight:600;font-size:12px}}
@media print{{#map{{top:60px}}}}
</style></head><body>
<div id="head"><h1>{html.escape(t["title"])}</h1><p>{html.escape(head)}</p></div>
<div id="map"></div>
<script>{leaflet_js()}</script>
<script>
const DATA = {json.dumps(data, ensure_ascii=False)};
const L10N = {json.dumps(labels, ensure_ascii=False)};
const map = L.map('map', {{preferCanvas: false}});
function layer(fc, colour) {{
  return L.geoJSON(fc, {{
    style: f => ({{color: colour, weight: 2, fillColor: f.properties.in_band ? colour : '#d7301f',
                   fillOpacity: f.properties.in_band ? 0.08 : 0.25}}),
    onEachFeature: (f, l) => l.bindTooltip(f.properties.grid_id + ' · ' + f.properties.households + ' ' + L10N.hh
        + (f.properties.in_band ? '' : ' (' + L10N.out + ')'),
        {{permanent: true, direction: 'center', className: 'hh'}})
  }});
}}
const before = layer(DATA.before, '#6a51a3'), after = layer(DATA.after, '#08519c');
after.addTo(map);
L.control.layers({{[L10N.before]: before, [L10N.after]: after}}, {{}}, {{collapsed: false}}).addTo(map);
L.control.scale({{imperial: false}}).addTo(map);
map.fitBounds(after.getBounds());
</script></body></html>
"""


def write_division_map(
    result: DivisionResult,
    before_grids: gpd.GeoDataFrame,
    out: str | os.PathLike,
    *,
    lang: str = "zh",
) -> Path:
    """Write :func:`division_map_html` atomically."""
    text = division_map_html(result, before_grids, lang=lang)
    return atomic_write_file(out, lambda tmp: tmp.write_text(text, encoding="utf-8"))
