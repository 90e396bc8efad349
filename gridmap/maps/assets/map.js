/* gridmap meeting map: builds the Leaflet map from the embedded data (id gm-data).
 * No network access: every control here is gridmap's own small code. */
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('gm-data').textContent);
  var T = D.t;
  var S = D.scale, OX = D.origin[0], OY = D.origin[1];

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c];
    });
  }
  function fmt(s, o) { return s.replace(/\{(\w+)\}/g, function (m, k) { return o[k]; }); }
  // a ring is a flat integer array: first pair relative to the origin, then deltas
  function ring(flat) {
    var out = new Array(flat.length / 2), x = 0, y = 0;
    for (var i = 0, j = 0; i < flat.length; i += 2, j++) {
      x += flat[i]; y += flat[i + 1];
      out[j] = [OY + y / S, OX + x / S];
    }
    return out;
  }
  function geom(g) { return g.map(function (poly) { return poly.map(ring); }); }
  function pt(a) { return [OY + a[1] / S, OX + a[0] / S]; }
  function table(rows) {
    var h = '<table class="gm-pop">';
    rows.forEach(function (r) { h += '<tr><th>' + esc(r[0]) + '</th><td>' + esc(r[1]) + '</td></tr>'; });
    return h + '</table>';
  }
  function popupHtml(title, rows) { return '<div class="gm-pop-title">' + esc(title) + '</div>' + table(rows); }

  var map = L.map('map', {preferCanvas: true, maxZoom: 19, zoomSnap: 0.25, attributionControl: true});
  map.attributionControl.setPrefix(esc(T.made_with));
  var paneZ = {choro: 350, mg: 360, cover: 370, grid: 380, zone: 385, comm: 390, pts: 450, labels: 500};
  Object.keys(paneZ).forEach(function (k) { map.createPane(k).style.zIndex = paneZ[k]; });
  map.getPane('labels').style.pointerEvents = 'none';
  var R = {
    choro: L.svg({pane: 'choro'}), grid: L.svg({pane: 'grid'}), zone: L.svg({pane: 'zone'}),
    comm: L.svg({pane: 'comm'}), mg: L.canvas({pane: 'mg'}), cover: L.canvas({pane: 'cover'}),
    pts: L.canvas({pane: 'pts', tolerance: 3})
  };

  // ---- basemap
  if (D.basemap && D.basemap.tiles.length) {
    D.basemap.tiles.forEach(function (t) { L.tileLayer(t.url, t.options).addTo(map); });
  } else {
    document.getElementById('map').classList.add('gm-nobasemap');
  }

  // ---- layers
  var entries = [];  // {key, group, label, layer, legend}
  function add(key, group, label, layer, on, legend) {
    var e = {key: key, group: group, label: label, layer: layer, on: on, legend: legend};
    entries.push(e);
    if (D.minZoom && D.minZoom[key] !== undefined) e.minZoom = D.minZoom[key];  // crowded: zoom in
    else if (on) layer.addTo(map);
    return e;
  }
  var L_ = D.layers;
  var bounds = null;

  function polyLayer(items, style, renderer, cls, onEach) {
    var g = L.featureGroup();
    items.forEach(function (f, i) {
      var st = typeof style === 'function' ? style(f) : style;
      var opts = L.extend({renderer: renderer, className: cls}, st);
      var p = L.polygon(geom(f.g), opts);
      if (onEach) onEach(f, p, i);
      g.addLayer(p);
    });
    return g;
  }

  if (L_.communities) {
    var comm = polyLayer(L_.communities, {color: '#7a0177', weight: 4, fill: false, interactive: false, dashArray: '10 6'}, R.comm, 'gm-community');
    add('communities', 'grp_boundaries', T.communities, comm, true, {line: '#7a0177', dash: true, w: 3});
    bounds = comm.getBounds();
  }
  if (L_.zones) {
    var zones = polyLayer(L_.zones, {color: '#c51b8a', weight: 3, fill: false, interactive: false}, R.zone, 'gm-zone');
    add('zones', 'grp_boundaries', T.zones, zones, true, {line: '#c51b8a', w: 3});
    if (!bounds) bounds = zones.getBounds();
  }
  if (L_.roads && L_.roads.lines.length) {
    var roads = L.layerGroup();
    L_.roads.lines.forEach(function (parts) {
      roads.addLayer(L.polyline(parts.map(ring), {renderer: R.mg, color: '#c8c8c8', weight: 5, opacity: 0.9, lineCap: 'round', interactive: false}));
    });
    add('roads', 'grp_base', T.roads, roads, L_.roads.on, {line: '#c8c8c8', w: 4});
  }
  var gridShapes = [];
  if (L_.grids) {
    var grids = polyLayer(L_.grids, {color: '#253494', weight: 2, fill: false, interactive: false}, R.grid, 'gm-grid',
      function (f, p) { gridShapes.push({f: f, rings: p.getLatLngs(), b: p.getBounds()}); });
    add('grids', 'grp_boundaries', T.grid_layer, grids, true, {line: '#253494', w: 2});
    if (!bounds) bounds = grids.getBounds();
    var labels = L.layerGroup();
    L_.grids.forEach(function (f) {
      labels.addLayer(L.marker(pt(f.lab), {pane: 'labels', interactive: false, keyboard: false,
        icon: L.divIcon({className: 'gm-label', html: '<span>' + esc(f.name) + '</span>', iconSize: null})}));
    });
    var labelEntry = add('grid_labels', 'grp_boundaries', T.grid_labels, labels, false, {text: true});
    labelEntry.minZoom = D.labelMinZoom; labelEntry.on = true;
  }
  var mgShapes = {};
  if (L_.microgrids) {
    var mgs = polyLayer(L_.microgrids, {color: '#41b6c4', weight: 1, fill: false, interactive: false, opacity: 0.9}, R.mg, 'gm-microgrid',
      function (f, p) { mgShapes[f.id] = {f: f, rings: p.getLatLngs(), b: p.getBounds()}; });
    add('microgrids', 'grp_boundaries', T.microgrids, mgs, true, {line: '#41b6c4', w: 1});
  }

  // choropleth of the chosen indicator
  if (L_.grids && D.indicator) {
    var ind = D.indicator;
    var colorOf = function (v) {
      if (v === null || v === undefined) return ind.nodata;
      for (var i = 0; i < ind.colors.length; i++) { if (v <= ind.breaks[i + 1]) return ind.colors[i]; }
      return ind.colors[ind.colors.length - 1];
    };
    var choro = polyLayer(L_.grids, function (f) {
      return {stroke: false, fillColor: colorOf(f.v), fillOpacity: 0.55, interactive: false};
    }, R.choro, 'gm-choropleth');
    add('choropleth', 'grp_thematic', fmt(T.choropleth, {indicator: ind.label}), choro, true, {choro: ind});
  }

  // coverage rings (metres; drawn by Leaflet on the map's projection)
  (L_.rings || []).forEach(function (r) {
    var g = L.layerGroup();
    (r.pts || []).forEach(function (a) {
      g.addLayer(L.circle(pt(a), {radius: r.radius, renderer: R.cover, color: r.color, weight: 1, dashArray: '4 4',
        fillColor: r.color, fillOpacity: 0.06, interactive: false}));
    });
    (r.areas || []).forEach(function (a) {
      g.addLayer(L.polygon(geom(a), {renderer: R.cover, color: r.color, weight: 1.5, dashArray: '6 4',
        fillColor: r.color, fillOpacity: 0.10, interactive: false}));
    });
    add('ring_' + r.facility, 'grp_coverage', r.label, g, r.on, {fill: r.color, ring: true});
  });

  // aggregated households
  function bubbles(items, color, scaleR, tip, cls) {
    var g = L.layerGroup();
    items.forEach(function (a) {
      var m = L.circleMarker(pt(a), {renderer: R.pts, radius: scaleR(a[2]), color: '#fff', weight: 0.8,
        fillColor: color, fillOpacity: 0.6, opacity: 0.9, className: cls});
      m.bindTooltip(tip(a));
      g.addLayer(m);
    });
    return g;
  }
  var hhR = function (n) { return Math.min(3 + Math.sqrt(n) * D.hhScale, 22); };
  if (L_.hh) {
    add('hh', 'grp_households', T.hh_per_microgrid,
      bubbles(L_.hh, '#6a51a3', hhR, function (a) { return esc(a[3] || '') + ' ' + fmt(T.count_hh, {n: a[2]}); }),
      true, {bubble: '#6a51a3'});
  }
  if (L_.uncovered) {
    add('uncovered', 'grp_households', L_.uncovered.label,
      bubbles(L_.uncovered.pts, '#e31a1c', function (n) { return Math.min(3 + Math.sqrt(n) * 1.6, 16); },
        function (a) { return esc(L_.uncovered.label) + ': ' + fmt(T.count_hh, {n: a[2]}); }),
      true, {bubble: '#e31a1c'});
  }
  if (L_.outside) {
    add('outside', 'grp_households', T.hh_outside,
      bubbles(L_.outside, '#ff7f00', function (n) { return Math.min(4 + Math.sqrt(n) * 1.6, 16); },
        function (a) { return esc(T.hh_outside) + ': ' + fmt(T.count_hh, {n: a[2]}); }),
      true, {bubble: '#ff7f00'});
  }

  // facilities
  function props(p) { return Object.keys(p).map(function (k) { return [k, p[k]]; }); }
  if (L_.parking) {
    var pk = L.layerGroup();
    L_.parking.forEach(function (f) {
      var r = f.n ? Math.min(4 + Math.sqrt(f.n) * 0.9, 18) : 5;
      pk.addLayer(L.circleMarker(pt(f.xy), {renderer: R.pts, radius: r, color: '#08519c', weight: 1.5,
        fillColor: '#6baed6', fillOpacity: 0.85}).bindPopup(popupHtml(f.title, props(f.p))));
    });
    add('parking', 'grp_facilities', T.parking, pk, true, {bubble: '#6baed6', square: false});
  }
  if (L_.charging_piles) {
    var pl = L.layerGroup();
    L_.charging_piles.forEach(function (f) {
      var r = f.n ? Math.min(3 + Math.sqrt(f.n) * 1.8, 14) : 4;
      pl.addLayer(L.circleMarker(pt(f.xy), {renderer: R.pts, radius: r, color: '#006d2c', weight: 1.5,
        fillColor: '#41ab5d', fillOpacity: 0.9}).bindPopup(popupHtml(f.title, props(f.p))));
    });
    add('charging_piles', 'grp_facilities', T.charging_piles, pl, true, {bubble: '#41ab5d'});
  }
  if (L_.service_stations) {
    var st = L.layerGroup();
    var icon = L.divIcon({className: 'gm-station', html: '<span>' + esc(D.stationGlyph) + '</span>', iconSize: [22, 22], iconAnchor: [11, 11], popupAnchor: [0, -10]});
    L_.service_stations.forEach(function (f) {
      st.addLayer(L.marker(pt(f.xy), {icon: icon, title: f.title, riseOnHover: true}).bindPopup(popupHtml(f.title, props(f.p))));
    });
    add('service_stations', 'grp_facilities', T.service_stations, st, true, {station: true});
  }

  if (bounds && bounds.isValid()) map.fitBounds(bounds, {padding: [10, 10]});
  else map.setView([OY, OX], 15);

  // ---- grid popup on click anywhere inside a grid (point in polygon, holes respected)
  function inRing(ll, r) {
    var x = ll.lng, y = ll.lat, inside = false;
    for (var i = 0, j = r.length - 1; i < r.length; j = i++) {
      var xi = r[i].lng, yi = r[i].lat, xj = r[j].lng, yj = r[j].lat;
      if (((yi > y) !== (yj > y)) && (x < (xj - xi) * (y - yi) / (yj - yi) + xi)) inside = !inside;
    }
    return inside;
  }
  function inShape(ll, s) {
    if (!s.b.contains(ll)) return false;
    var polys = s.rings;
    if (polys.length && !Array.isArray(polys[0][0])) polys = [polys];
    for (var k = 0; k < polys.length; k++) {
      var p = polys[k];
      if (inRing(ll, p[0])) {
        var hole = false;
        for (var h = 1; h < p.length; h++) { if (inRing(ll, p[h])) { hole = true; break; } }
        if (!hole) return true;
      }
    }
    return false;
  }
  function gridPopup(s, ll) {
    var rows = props(s.f.p);
    (s.f.mg || []).some(function (id) {
      var m = mgShapes[id];
      if (m && inShape(ll, m)) {
        rows.push([T.microgrid, m.f.name + ' (' + m.f.id + ')']);
        props(m.f.p).forEach(function (r) { rows.push(r); });
        return true;
      }
      return false;
    });
    return popupHtml(s.f.name, rows);
  }
  var measuring = false;
  map.on('click', function (e) {
    if (measuring) return;
    for (var i = 0; i < gridShapes.length; i++) {
      if (inShape(e.latlng, gridShapes[i])) {
        L.popup({maxWidth: 320}).setLatLng(e.latlng).setContent(gridPopup(gridShapes[i], e.latlng)).openOn(map);
        return;
      }
    }
  });

  // ---- title panel with headline figures
  var Title = L.Control.extend({
    options: {position: 'topleft'},
    onAdd: function () {
      var d = L.DomUtil.create('div', 'gm-title');
      var h = '<h1>' + esc(D.title) + '</h1>';
      if (D.warning) h += '<div class="gm-warning">' + esc(D.warning) + '</div>';
      h += '<div class="gm-figures">';
      D.headline.forEach(function (r) {
        h += '<div class="gm-fig' + (r.bad ? ' gm-bad' : '') + '"><b>' + esc(r.value) + '</b><span>' + esc(r.label) + '</span></div>';
      });
      h += '</div><div class="gm-note">' + esc(D.note) + '</div>';
      d.innerHTML = h;
      L.DomEvent.disableClickPropagation(d);
      L.DomEvent.disableScrollPropagation(d);
      return d;
    }
  });
  map.zoomControl.remove();
  new Title().addTo(map);

  // ---- search by grid name or number
  var Search = L.Control.extend({
    options: {position: 'topleft'},
    onAdd: function () {
      var d = L.DomUtil.create('div', 'gm-search leaflet-bar');
      var inp = L.DomUtil.create('input', '', d);
      inp.type = 'search'; inp.placeholder = T.search_placeholder; inp.setAttribute('aria-label', T.search_placeholder);
      var list = L.DomUtil.create('div', 'gm-results', d);
      function norm(s) { return String(s).toLowerCase().replace(/\s+/g, ''); }
      function go(s) {
        map.fitBounds(s.b, {maxZoom: 18, padding: [30, 30]});
        var c = s.f.lab ? L.latLng(pt(s.f.lab)) : s.b.getCenter();
        L.popup({maxWidth: 320}).setLatLng(c).setContent(gridPopup(s, c)).openOn(map);
        list.innerHTML = '';
      }
      function find(q) {
        q = norm(q);
        if (!q) return [];
        var digits = q.replace(/\D/g, '');
        return gridShapes.filter(function (s) {
          var name = norm(s.f.name), id = norm(s.f.id);
          if (name.indexOf(q) >= 0 || id.indexOf(q) >= 0) return true;
          return digits.length > 0 && digits === q && (id.replace(/\D/g, '').replace(/^0+/, '') === digits.replace(/^0+/, '') ||
            name.replace(/\D/g, '').replace(/^0+/, '') === digits.replace(/^0+/, ''));
        }).slice(0, 8);
      }
      inp.addEventListener('input', function () {
        var res = find(inp.value);
        list.innerHTML = '';
        if (inp.value && !res.length) { list.innerHTML = '<div class="gm-nomatch">' + esc(T.no_match) + '</div>'; return; }
        res.forEach(function (s) {
          var a = L.DomUtil.create('a', 'gm-result', list);
          a.href = '#'; a.textContent = s.f.name + ' (' + s.f.id + ')';
          a.addEventListener('click', function (ev) { ev.preventDefault(); go(s); });
        });
      });
      inp.addEventListener('keydown', function (ev) {
        if (ev.key === 'Enter') { var r = find(inp.value); if (r.length) go(r[0]); }
      });
      L.DomEvent.disableClickPropagation(d);
      L.DomEvent.disableScrollPropagation(d);
      return d;
    }
  });
  new Search().addTo(map);
  L.control.zoom({position: 'topleft'}).addTo(map);

  // ---- fullscreen and measure buttons (inline SVG icons: no icon font needed)
  function svgIcon(d) {
    return '<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true"><path d="' + d +
      '" fill="none" stroke="#333" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"/></svg>';
  }
  var ICON_FS = svgIcon('M4 9V4h5M20 9V4h-5M4 15v5h5M20 15v5h-5');
  var ICON_RULER = svgIcon('M3 17L17 3l4 4L7 21zM7 13l2 2M10 10l2 2M13 7l2 2');
  var ICON_CLEAR = svgIcon('M6 6l12 12M18 6L6 18');
  function button(bar, cls, title, text, onclick) {
    var a = L.DomUtil.create('a', cls, bar);
    a.href = '#'; a.title = title; a.setAttribute('role', 'button'); a.setAttribute('aria-label', title);
    a.innerHTML = text;
    L.DomEvent.on(a, 'click', function (ev) { L.DomEvent.stop(ev); onclick(a); });
    return a;
  }
  var Tools = L.Control.extend({
    options: {position: 'topleft'},
    onAdd: function () {
      var bar = L.DomUtil.create('div', 'leaflet-bar gm-tools');
      button(bar, 'gm-fullscreen', T.fullscreen, ICON_FS, function () {
        var el = document.documentElement;
        if (document.fullscreenElement) { document.exitFullscreen(); return; }
        if (el.requestFullscreen) {
          el.requestFullscreen().catch(function () { document.body.classList.toggle('gm-pseudo-fs'); });
        } else { document.body.classList.toggle('gm-pseudo-fs'); }
        setTimeout(function () { map.invalidateSize(); }, 200);
      });
      var pts = [], line = null, marks = L.layerGroup().addTo(map), tip = null;
      function total() {
        var d = 0;
        for (var i = 1; i < pts.length; i++) d += map.distance(pts[i - 1], pts[i]);
        return d < 1000 ? Math.round(d) + ' ' + T.m : (d / 1000).toFixed(2) + ' ' + T.km;
      }
      function clear() { pts = []; marks.clearLayers(); line = null; tip = null; }
      function onClick(e) {
        pts.push(e.latlng);
        marks.addLayer(L.circleMarker(e.latlng, {radius: 3, color: '#000', weight: 1, fillColor: '#ffeb3b', fillOpacity: 1, interactive: false}));
        if (!line) { line = L.polyline(pts, {color: '#000', weight: 2, dashArray: '6 4', interactive: false}); marks.addLayer(line); }
        line.setLatLngs(pts);
        if (tip) marks.removeLayer(tip);
        tip = L.tooltip({permanent: true, direction: 'right', className: 'gm-measure-tip'}).setLatLng(e.latlng).setContent(total());
        marks.addLayer(tip);
      }
      var btn = button(bar, 'gm-measure', T.measure, ICON_RULER, function (a) {
        measuring = !measuring;
        a.classList.toggle('gm-active', measuring);
        document.getElementById('map').classList.toggle('gm-measuring', measuring);
        if (measuring) { clear(); map.doubleClickZoom.disable(); map.on('click', onClick); }
        else { map.off('click', onClick); map.doubleClickZoom.enable(); }
      });
      map.on('dblclick', function () { if (measuring) btn.click(); });
      button(bar, 'gm-measure-clear', T.measure_clear, ICON_CLEAR, function () { clear(); });
      return bar;
    }
  });
  new Tools().addTo(map);
  L.control.scale({metric: true, imperial: false, position: 'bottomleft'}).addTo(map);

  // ---- layer tree following the hierarchy, and a legend for every visible layer
  function swatch(lg) {
    if (!lg) return '';
    if (lg.station) return '<span class="gm-sw gm-station-sw">' + esc(D.stationGlyph) + '</span>';
    if (lg.text) return '<span class="gm-sw gm-text-sw">A</span>';
    if (lg.bubble) return '<span class="gm-sw gm-bubble-sw" style="background:' + lg.bubble + '"></span>';
    if (lg.ring) return '<span class="gm-sw gm-ring-sw" style="border-color:' + lg.fill + ';background:' + lg.fill + '33"></span>';
    if (lg.choro) return '<span class="gm-sw" style="background:linear-gradient(90deg,' + lg.choro.colors.join(',') + ')"></span>';
    return '<span class="gm-sw gm-line-sw" style="border-top:' + (lg.w || 2) + 'px ' + (lg.dash ? 'dashed ' : 'solid ') + lg.line + '"></span>';
  }
  var legendDiv;
  function visible(e) { return map.hasLayer(e.layer) || (e.minZoom && e.wanted); }
  function refreshLegend() {
    if (!legendDiv) return;
    var h = '<div class="gm-legend-title">' + esc(T.legend) + '</div>';
    entries.forEach(function (e) {
      if (!visible(e)) return;
      if (e.legend && e.legend.choro) {
        var ind = e.legend.choro;
        h += '<div class="gm-leg-row"><b>' + esc(ind.label) + '</b></div>';
        ind.colors.forEach(function (c, i) {
          h += '<div class="gm-leg-row"><span class="gm-sw" style="background:' + c + '"></span>' + esc(ind.labels[i]) + '</div>';
        });
        if (ind.has_nodata) h += '<div class="gm-leg-row"><span class="gm-sw" style="background:' + ind.nodata + '"></span>' + esc(T.no_data) + '</div>';
        return;
      }
      h += '<div class="gm-leg-row">' + swatch(e.legend) + esc(e.label) + '</div>';
    });
    legendDiv.innerHTML = h;
  }
  function markZoom() {
    entries.forEach(function (e) {
      if (e.item) e.item.classList.toggle('gm-waiting', !!(e.minZoom && e.wanted && map.getZoom() < e.minZoom));
    });
  }
  map.on('zoomend', markZoom);
  setTimeout(markZoom, 0);
  function setOn(e, on) {
    if (e.minZoom !== undefined) {
      e.wanted = on;
      var show = on && map.getZoom() >= e.minZoom;
      if (show && !map.hasLayer(e.layer)) map.addLayer(e.layer);
      if (!show && map.hasLayer(e.layer)) map.removeLayer(e.layer);
    } else if (on) { map.addLayer(e.layer); } else { map.removeLayer(e.layer); }
    refreshLegend();
  }
  entries.forEach(function (e) { if (e.minZoom !== undefined) { e.wanted = e.on; setOn(e, e.on); } });
  map.on('zoomend', function () { entries.forEach(function (e) { if (e.minZoom !== undefined) setOn(e, e.wanted); }); });

  var Tree = L.Control.extend({
    options: {position: 'topright'},
    onAdd: function () {
      var d = L.DomUtil.create('div', 'gm-tree');
      var head = L.DomUtil.create('div', 'gm-tree-head', d);
      head.textContent = T.layers;
      head.addEventListener('click', function () { d.classList.toggle('gm-collapsed'); });
      var groups = [];
      entries.forEach(function (e) { if (groups.indexOf(e.group) < 0) groups.push(e.group); });
      groups.forEach(function (gk) {
        var sec = L.DomUtil.create('div', 'gm-group', d);
        var gl = L.DomUtil.create('label', 'gm-group-label', sec);
        var gcb = L.DomUtil.create('input', '', gl);
        gcb.type = 'checkbox';
        gl.appendChild(document.createTextNode(T[gk]));
        var members = entries.filter(function (e) { return e.group === gk; });
        var boxes = [];
        members.forEach(function (e) {
          var l = L.DomUtil.create('label', 'gm-item', sec);
          var cb = L.DomUtil.create('input', '', l);
          cb.type = 'checkbox'; cb.checked = e.on; cb.dataset.layer = e.key;
          var s = document.createElement('span'); s.innerHTML = swatch(e.legend); l.appendChild(s.firstChild || s);
          l.appendChild(document.createTextNode(e.label));
          cb.addEventListener('change', function () { setOn(e, cb.checked); sync(); });
          e.item = l;
          if (e.minZoom) l.title = fmt(T.zoom_in, {z: e.minZoom});
          boxes.push(cb);
        });
        function sync() {
          var n = boxes.filter(function (b) { return b.checked; }).length;
          gcb.checked = n === boxes.length; gcb.indeterminate = n > 0 && n < boxes.length;
        }
        gcb.addEventListener('change', function () {
          boxes.forEach(function (b, i) { b.checked = gcb.checked; setOn(members[i], gcb.checked); });
          sync();
        });
        sync();
      });
      L.DomEvent.disableClickPropagation(d);
      L.DomEvent.disableScrollPropagation(d);
      return d;
    }
  });
  new Tree().addTo(map);
  var Legend = L.Control.extend({
    options: {position: 'bottomleft'},
    onAdd: function () {
      legendDiv = L.DomUtil.create('div', 'gm-legend');
      legendDiv.addEventListener('click', function (ev) {
        if (ev.target.classList.contains('gm-legend-title')) legendDiv.classList.toggle('gm-collapsed');
      });
      L.DomEvent.disableClickPropagation(legendDiv);
      L.DomEvent.disableScrollPropagation(legendDiv);
      return legendDiv;
    }
  });
  new Legend().addTo(map);
  refreshLegend();
  // print: the page box differs from the screen, so re-measure and show the whole area
  var home = bounds && bounds.isValid() ? bounds : null;
  function toPrint() { map.invalidateSize(false); if (home) map.fitBounds(home, {animate: false, padding: [5, 5]}); }
  function fromPrint() { map.invalidateSize(false); }
  window.addEventListener('beforeprint', toPrint);
  window.addEventListener('afterprint', fromPrint);
  if (window.matchMedia) {
    var mq = window.matchMedia('print');
    var onChange = function (e) { if (e.matches) toPrint(); else fromPrint(); };
    if (mq.addEventListener) mq.addEventListener('change', onChange); else if (mq.addListener) mq.addListener(onChange);
  }
  window.gridmap = {map: map, entries: entries, data: D};
})();
