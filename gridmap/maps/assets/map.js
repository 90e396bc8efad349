/* gridmap meeting map: builds the Leaflet map from the embedded data (id gm-data).
 * No network access: every control here is gridmap's own small code. */
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('gm-data').textContent);
  var T = D.t;
  var S = D.scale, OX = D.origin[0], OY = D.origin[1];
  var MK = D.markers || {};
  // small screens (phones, small laptop windows) open with the panels folded
  var SMALL = window.innerWidth < 700 || window.innerHeight < 560;

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
  function pct(c, n) { return n ? Math.round(100 * c / n) + '%' : '—'; }

  // no fade: a closed popup goes at once (it does not linger over the markers for 200 ms)
  var map = L.map('map', {preferCanvas: true, maxZoom: 19, zoomSnap: 0.25, zoomControl: false, attributionControl: true, fadeAnimation: false});
  map.attributionControl.setPrefix(esc(T.made_with));
  var paneZ = {choro: 350, reach: 355, mg: 360, cover: 370, grid: 380, zone: 385, comm: 390, roadlabels: 440, pts: 450, labels: 500};
  Object.keys(paneZ).forEach(function (k) { map.createPane(k).style.zIndex = paneZ[k]; });
  map.getPane('labels').style.pointerEvents = 'none';
  map.getPane('roadlabels').style.pointerEvents = 'none';
  // renderers draw 60 % beyond the screen on every side, so Ctrl+P has a whole sheet to print
  var PAD = 0.6;
  var R = {
    choro: L.svg({pane: 'choro', padding: PAD}), grid: L.svg({pane: 'grid', padding: PAD}),
    zone: L.svg({pane: 'zone', padding: PAD}), comm: L.svg({pane: 'comm', padding: PAD}),
    reach: L.svg({pane: 'reach', padding: PAD}), mg: L.canvas({pane: 'mg', padding: PAD}),
    cover: L.canvas({pane: 'cover', padding: PAD}), pts: L.canvas({pane: 'pts', tolerance: 3, padding: PAD})
  };

  // ---- layers
  var entries = [];  // {key, group, label, layer, legend}
  var byKey = {};
  function add(key, group, label, layer, on, legend, opts) {
    var e = {key: key, group: group, label: label, layer: layer, on: on, legend: legend};
    entries.push(e); byKey[key] = e;
    var noZoomLimit = opts && opts.clustered;
    if (!noZoomLimit && D.minZoom && D.minZoom[key] !== undefined) e.minZoom = D.minZoom[key];  // crowded: zoom in
    else if (on) layer.addTo(map);
    return e;
  }
  var L_ = D.layers;
  var bounds = null;

  function polyLayer(items, style, renderer, cls, onEach) {
    var g = L.featureGroup();
    items.forEach(function (f, i) {
      var st = typeof style === 'function' ? style(f, i) : style;
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
  var roadsEntry = null, roadNamesEntry = null;
  if (L_.roads && L_.roads.lines.length) {
    var roads = L.layerGroup();
    L_.roads.lines.forEach(function (parts) {
      roads.addLayer(L.polyline(parts.map(ring), {renderer: R.mg, color: '#b8b8b8', weight: 5, opacity: 0.9, lineCap: 'round', interactive: false, className: 'gm-road'}));
    });
    roadsEntry = add('roads', 'grp_base', T.roads, roads, L_.roads.on, {line: '#b8b8b8', w: 4});
    if ((L_.roads.names || []).length) {
      var rn = L.layerGroup();
      L_.roads.names.forEach(function (a) {
        rn.addLayer(L.marker(pt(a), {pane: 'roadlabels', interactive: false, keyboard: false,
          icon: L.divIcon({className: 'gm-road-label', iconSize: null,
            html: '<span style="transform:translate(-50%,-50%) rotate(' + (-a[2]) + 'deg)">' + esc(a[3]) + '</span>'})}));
      });
      roadNamesEntry = add('road_names', 'grp_base', T.road_names, rn, L_.roads.on, {text: true});
      if (D.minZoom && D.minZoom.roads !== undefined && roadNamesEntry.minZoom === undefined) {
        roadNamesEntry.minZoom = D.minZoom.roads;
        if (map.hasLayer(rn)) map.removeLayer(rn);
      }
    }
  }
  var gridShapes = [], gridById = {};
  if (L_.grids) {
    var grids = polyLayer(L_.grids, {color: '#253494', weight: 2, fill: false, interactive: false}, R.grid, 'gm-grid',
      function (f, p) { var s = {f: f, rings: p.getLatLngs(), b: p.getBounds()}; gridShapes.push(s); gridById[f.id] = s; });
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
  var mgShapes = {}, mgList = [];
  if (L_.microgrids) {
    var mgs = polyLayer(L_.microgrids, {color: '#41b6c4', weight: 1, fill: false, interactive: false, opacity: 0.9}, R.mg, 'gm-microgrid',
      function (f, p) { var s = {f: f, rings: p.getLatLngs(), b: p.getBounds()}; mgShapes[f.id] = s; mgList.push(s); });
    add('microgrids', 'grp_boundaries', T.microgrids, mgs, true, {line: '#41b6c4', w: 1});
  }

  // choropleth of the chosen indicator (the finding)
  var choroOn = !!(L_.grids && D.indicator);
  if (choroOn) {
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

  // coverage: straight-line circles (直线), or walking reach per micro-grid / grid (步行) and streets
  (L_.rings || []).forEach(function (r) {
    var g = L.layerGroup();
    if (r.kind === 'walk') {
      var shapes = r.unit === 'microgrids' ? L_.microgrids : L_.grids;
      (shapes || []).forEach(function (f, i) {
        var n = r.n[i], c = r.c[i];
        if (!n) return;
        var share = c / n;
        var p = L.polygon(geom(f.g), {renderer: R.reach, className: 'gm-reach', color: r.color, weight: 0.5, opacity: 0.6,
          fillColor: r.color, fillOpacity: 0.08 + 0.5 * share, interactive: true});
        p.bindTooltip(esc(f.name) + ': ' + esc(fmt(T.reach_share, {c: c, n: n, pct: pct(c, n)})), {sticky: true});
        g.addLayer(p);
      });
      (r.streets || []).forEach(function (parts) {
        g.addLayer(L.polyline(parts.map(ring), {renderer: R.cover, color: r.color, weight: 3, opacity: 0.85, interactive: false}));
      });
      add('ring_' + r.facility, 'grp_coverage', r.label, g, r.on, {fill: r.color, walk: true});
      return;
    }
    (r.areas || []).forEach(function (a) {
      g.addLayer(L.polygon(geom(a), {renderer: R.cover, color: r.color, weight: 1.5, dashArray: '6 4',
        fillColor: r.color, fillOpacity: 0.10, interactive: false}));
    });
    add('ring_' + r.facility, 'grp_coverage', r.label, g, r.on, {fill: r.color, ring: true});
  });

  // aggregated households (off when a choropleth is the picture: bubbles muddy its colours)
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
      !choroOn, {bubble: '#6a51a3'});
  }
  if (L_.uncovered) {
    add('uncovered', 'grp_households', L_.uncovered.label,
      bubbles(L_.uncovered.pts, '#e31a1c', function (n) { return Math.min(3 + Math.sqrt(n) * 1.6, 16); },
        function (a) { return esc(L_.uncovered.label) + ': ' + fmt(T.count_hh, {n: a[2]}); }),
      !choroOn, {bubble: '#e31a1c'});
  }
  if (L_.outside) {
    add('outside', 'grp_households', T.hh_outside,
      bubbles(L_.outside, '#ff7f00', function (n) { return Math.min(4 + Math.sqrt(n) * 1.6, 16); },
        function (a) { return esc(T.hh_outside) + ': ' + fmt(T.count_hh, {n: a[2]}); }),
      !choroOn, {bubble: '#ff7f00'});
  }

  // extra layers (e.g. resident requests aggregated per grid)
  (D.overlays || []).forEach(function (o) {
    var g = L.featureGroup();
    if (o.kind === 'polygons') {
      o.g.forEach(function (gg, i) {
        g.addLayer(L.polygon(geom(gg), {renderer: R.reach, color: o.color, weight: 1, fillColor: o.color, fillOpacity: 0.35})
          .bindPopup(popupHtml(o.label, props(o.p[i] || {}))));
      });
    } else {
      o.xy.forEach(function (a, i) {
        var n = o.n ? o.n[i] : null;
        g.addLayer(L.circleMarker(pt(a), {renderer: R.pts, radius: n ? Math.min(4 + Math.sqrt(n) * 1.5, 18) : 5,
          color: '#fff', weight: 1.5, fillColor: o.color, fillOpacity: 0.9}).bindPopup(popupHtml(o.label, props(o.p[i] || {}))));
      });
    }
    add('overlay_' + o.key, o.group, o.label, g, o.on, {bubble: o.color});
  });

  // facilities: dark fills with a white ring stand out on every choropleth class
  function props(p) { return Object.keys(p).map(function (k) { return [k, p[k]]; }); }
  var clustered = {};
  (D.clusters || []).forEach(function (k) { clustered[k] = true; });
  function facilityGroup(key) {
    if (clustered[key] && L.markerClusterGroup) {
      return L.markerClusterGroup({maxClusterRadius: 45, chunkedLoading: true, showCoverageOnHover: false,
        disableClusteringAtZoom: 19, spiderfyOnMaxZoom: false, clusterPane: 'pts'});
    }
    return L.layerGroup();
  }
  var facMarkers = {};
  function facLabel(base, key) { return clustered[key] ? base + T.clusters : base; }
  if (L_.parking) {
    var pk = facilityGroup('parking'), st0 = MK.parking || {fill: '#08306b', line: '#fff'};
    facMarkers.parking = [];
    L_.parking.forEach(function (f) {
      var r = f.n ? Math.min(4 + Math.sqrt(f.n) * 0.8, 13) : 5;
      var m = L.circleMarker(pt(f.xy), {renderer: R.pts, radius: r, color: st0.line, weight: 2,
        fillColor: st0.fill, fillOpacity: 0.95, className: 'gm-parking'}).bindPopup(popupHtml(f.title, props(f.p)));
      facMarkers.parking.push(m); pk.addLayer(m);
    });
    add('parking', 'grp_facilities', facLabel(T.parking, 'parking'), pk, true, {bubble: st0.fill, ringed: true}, {clustered: clustered.parking});
  }
  if (L_.charging_piles) {
    var pl = facilityGroup('charging_piles'), st1 = MK.charging_piles || {fill: '#00441b', line: '#fff'};
    facMarkers.charging_piles = [];
    L_.charging_piles.forEach(function (f) {
      var r = f.n ? Math.min(3 + Math.sqrt(f.n) * 1.4, 10) : 4;
      var m = L.circleMarker(pt(f.xy), {renderer: R.pts, radius: r, color: st1.line, weight: 2,
        fillColor: st1.fill, fillOpacity: 0.95, className: 'gm-pile'}).bindPopup(popupHtml(f.title, props(f.p)));
      facMarkers.charging_piles.push(m); pl.addLayer(m);
    });
    add('charging_piles', 'grp_facilities', facLabel(T.charging_piles, 'charging_piles'), pl, true, {bubble: st1.fill, ringed: true}, {clustered: clustered.charging_piles});
  }
  if (L_.service_stations) {
    var st = facilityGroup('service_stations');
    facMarkers.service_stations = [];
    var icon = L.divIcon({className: 'gm-station', html: '<span>' + esc(D.stationGlyph) + '</span>', iconSize: [22, 22], iconAnchor: [11, 11], popupAnchor: [0, -10]});
    L_.service_stations.forEach(function (f) {
      var m = L.marker(pt(f.xy), {icon: icon, title: f.title, riseOnHover: true}).bindPopup(popupHtml(f.title, props(f.p)));
      facMarkers.service_stations.push(m); st.addLayer(m);
    });
    add('service_stations', 'grp_facilities', facLabel(T.service_stations, 'service_stations'), st, true, {station: true}, {clustered: clustered.service_stations});
  }
  var home = bounds && bounds.isValid() ? bounds : null;

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
  function gridAt(ll) {
    for (var i = 0; i < gridShapes.length; i++) { if (inShape(ll, gridShapes[i])) return gridShapes[i]; }
    return null;
  }
  var measuring = false;
  map.on('click', function (e) {
    if (measuring) return;
    var s = gridAt(e.latlng);
    if (s) L.popup({maxWidth: 320}).setLatLng(e.latlng).setContent(gridPopup(s, e.latlng)).openOn(map);
  });
  // Escape closes the open popup wherever the focus is
  document.addEventListener('keydown', function (ev) { if (ev.key === 'Escape') map.closePopup(); });
  function zoomToGrid(id) {
    var s = gridById[id];
    if (!s) return;
    map.fitBounds(s.b, L.extend({maxZoom: 18}, fitPadding(30)));
    var c = s.f.lab ? L.latLng(pt(s.f.lab)) : s.b.getCenter();
    L.popup({maxWidth: 320}).setLatLng(c).setContent(gridPopup(s, c)).openOn(map);
  }

  // ---- panels
  function foldable(box, head, body, folded) {
    head.classList.add('gm-fold-head');
    head.setAttribute('role', 'button');
    head.setAttribute('tabindex', '0');
    function set(f) { box.classList.toggle('gm-collapsed', f); head.setAttribute('aria-expanded', String(!f)); }
    set(!!folded);
    function toggle() { set(!box.classList.contains('gm-collapsed')); }
    head.addEventListener('click', toggle);
    head.addEventListener('keydown', function (ev) { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); toggle(); } });
    return set;
  }
  function quiet(d) { L.DomEvent.disableClickPropagation(d); L.DomEvent.disableScrollPropagation(d); }

  // title panel: title, the finding, warnings, headline figures, date and source
  var offlineNote;
  var Title = L.Control.extend({
    options: {position: 'topleft'},
    onAdd: function () {
      var d = L.DomUtil.create('div', 'gm-title');
      var head = L.DomUtil.create('div', 'gm-title-head', d);
      head.innerHTML = '<h1>' + esc(D.title) + '</h1>';
      // the finding stays visible when the panel is folded (phones open folded)
      if (D.finding) L.DomUtil.create('div', 'gm-finding', d).textContent = D.finding;
      var body = L.DomUtil.create('div', 'gm-fold-body', d);
      var h = '';
      if (D.warning) h += '<div class="gm-warning">' + esc(D.warning) + '</div>';
      if (D.validation) h += '<div class="gm-validation">' + esc(D.validation.text) + '</div>';
      h += '<div class="gm-figures">';
      D.headline.forEach(function (r) {
        h += '<div class="gm-fig' + (r.bad ? ' gm-bad' : '') + '"><b>' + esc(r.value) + '</b><span>' + esc(r.label) + '</span></div>';
      });
      h += '</div><div class="gm-note">' + esc(D.note) + '</div>';
      h += '<div class="gm-meta">' + esc(D.date) + ' · ' + esc(D.source) + '</div>';
      body.innerHTML = h;
      offlineNote = L.DomUtil.create('div', 'gm-offline', d);
      offlineNote.textContent = T.tiles_offline;
      foldable(d, head, body, SMALL);
      quiet(d);
      return d;
    }
  });
  new Title().addTo(map);

  // search: grids, micro-grids, stations, streets, buildings (never households)
  var searchIndex = [];
  gridShapes.forEach(function (s) {
    searchIndex.push({kind: T.kind_grid, name: s.f.name, id: s.f.id, go: function () { zoomToGrid(s.f.id); }});
  });
  mgList.forEach(function (s) {
    searchIndex.push({kind: T.kind_microgrid, name: s.f.name, id: s.f.id, go: function () {
      map.fitBounds(s.b, L.extend({maxZoom: 19}, fitPadding(40)));
      var c = s.b.getCenter();
      var g = gridAt(c);
      L.popup({maxWidth: 320}).setLatLng(c).setContent(g ? gridPopup(g, c) : popupHtml(s.f.name, props(s.f.p))).openOn(map);
    }});
  });
  function markerGo(key, i) {
    return function () {
      var m = facMarkers[key][i], e = byKey[key];
      if (e && !map.hasLayer(e.layer)) setOn(e, true);
      var grp = e && e.layer;
      if (grp && grp.zoomToShowLayer) { grp.zoomToShowLayer(m, function () { m.openPopup(); }); return; }
      map.setView(m.getLatLng(), Math.max(map.getZoom(), 17));
      m.openPopup();
    };
  }
  [['service_stations', T.kind_station], ['charging_piles', T.kind_pile], ['parking', T.kind_parking]].forEach(function (kk) {
    (L_[kk[0]] || []).forEach(function (f, i) {
      searchIndex.push({kind: kk[1], name: f.title, id: '', go: markerGo(kk[0], i)});
    });
  });
  ((L_.roads && L_.roads.names) || []).forEach(function (a) {
    searchIndex.push({kind: T.kind_street, name: a[3], id: '', go: function () {
      if (roadsEntry && !map.hasLayer(roadsEntry.layer)) setOn(roadsEntry, true);
      if (roadNamesEntry) setOn(roadNamesEntry, true);
      syncBoxes();
      var b = L.latLngBounds(pt([a[4], a[5]]), pt([a[6], a[7]]));
      map.fitBounds(b, L.extend({maxZoom: 18}, fitPadding(30)));
      L.popup().setLatLng(pt(a)).setContent(popupHtml(a[3], [[T.kind_street, a[3]]])).openOn(map);
    }});
  });
  (D.buildings || []).forEach(function (a) {
    searchIndex.push({kind: T.kind_building, name: a[3], id: '', go: function () {
      map.setView(pt(a), Math.max(map.getZoom(), 18));
      var rows = [[T.kind_building, a[3]]];
      if (a[2]) rows.push([T.households, a[2]]);
      L.popup().setLatLng(pt(a)).setContent(popupHtml(a[3], rows)).openOn(map);
    }});
  });
  var Search = L.Control.extend({
    options: {position: 'topleft'},
    onAdd: function () {
      var d = L.DomUtil.create('div', 'gm-search leaflet-bar');
      var inp = L.DomUtil.create('input', '', d);
      inp.type = 'search'; inp.placeholder = T.search_any; inp.setAttribute('aria-label', T.search_any);
      var list = L.DomUtil.create('div', 'gm-results', d);
      function norm(s) { return String(s).toLowerCase().replace(/\s+/g, ''); }
      function strip(s) { return s.replace(/\D/g, '').replace(/^0+/, ''); }
      function find(q) {
        q = norm(q);
        if (!q) return [];
        var digits = q.replace(/\D/g, '');
        var exact = [], part = [];
        searchIndex.forEach(function (s) {
          var name = norm(s.name), id = norm(s.id);
          if (name === q || id === q) exact.push(s);
          else if (name.indexOf(q) >= 0 || (id && id.indexOf(q) >= 0)) part.push(s);
          else if (digits.length > 0 && digits === q && s.kind === T.kind_grid &&
                   (strip(id) === strip(digits) || strip(name) === strip(digits))) part.push(s);
        });
        return exact.concat(part).slice(0, 10);
      }
      function go(s) { list.innerHTML = ''; s.go(); }
      inp.addEventListener('input', function () {
        var res = find(inp.value);
        list.innerHTML = '';
        if (inp.value && !res.length) { list.innerHTML = '<div class="gm-nomatch">' + esc(T.no_match) + '</div>'; return; }
        res.forEach(function (s) {
          var a = L.DomUtil.create('a', 'gm-result', list);
          a.href = '#';
          a.innerHTML = esc(s.name) + (s.id && s.id !== s.name ? ' (' + esc(s.id) + ')' : '') + ' <small>' + esc(s.kind) + '</small>';
          // stop the click here: the list is emptied, and a click from a detached link would reach the map
          a.addEventListener('click', function (ev) { L.DomEvent.stop(ev); go(s); });
        });
      });
      inp.addEventListener('keydown', function (ev) {
        if (ev.key === 'Enter') { var r = find(inp.value); if (r.length) go(r[0]); }
      });
      quiet(d);
      return d;
    }
  });
  new Search().addTo(map);

  // ---- tool bar: zoom, fullscreen, measure, print, CSV (inline SVG icons: no icon font)
  function svgIcon(d) {
    return '<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true"><path d="' + d +
      '" fill="none" stroke="#333" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"/></svg>';
  }
  var ICON_PLUS = svgIcon('M12 5v14M5 12h14');
  var ICON_MINUS = svgIcon('M5 12h14');
  var ICON_FS = svgIcon('M4 9V4h5M20 9V4h-5M4 15v5h5M20 15v5h-5');
  var ICON_RULER = svgIcon('M3 17L17 3l4 4L7 21zM7 13l2 2M10 10l2 2M13 7l2 2');
  var ICON_CLEAR = svgIcon('M6 6l12 12M18 6L6 18');
  var ICON_PRINT = svgIcon('M6 9V3h12v6M6 18H4v-7h16v7h-2M7 14h10v7H7z');
  var ICON_CSV = svgIcon('M12 3v12M7 10l5 5 5-5M4 20h16');
  function button(bar, cls, title, text, onclick) {
    var a = L.DomUtil.create('a', cls, bar);
    a.href = '#'; a.title = title; a.setAttribute('role', 'button'); a.setAttribute('aria-label', title);
    a.innerHTML = text;
    L.DomEvent.on(a, 'click', function (ev) { L.DomEvent.stop(ev); onclick(a); });
    return a;
  }
  function downloadCsv() {
    var t = D.gridTable;
    if (!t) return;
    function cell(v) {
      if (v === null || v === undefined) return '';
      var s = String(v);
      return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
    }
    var lines = [t.columns.map(cell).join(',')];
    t.rows.forEach(function (r) { lines.push(r.map(cell).join(',')); });
    var blob = new Blob(['\ufeff' + lines.join('\r\n') + '\r\n'], {type: 'text/csv;charset=utf-8'});
    var a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = (D.lang === 'zh' ? '网格表' : 'grids') + '.csv';
    document.body.appendChild(a); a.click();
    setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }
  var Tools = L.Control.extend({
    options: {position: 'topright'},
    onAdd: function () {
      var bar = L.DomUtil.create('div', 'leaflet-bar gm-tools');
      button(bar, 'gm-zoom-in', T.zoom_in_btn, ICON_PLUS, function () { map.zoomIn(); });
      button(bar, 'gm-zoom-out', T.zoom_out_btn, ICON_MINUS, function () { map.zoomOut(); });
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
      button(bar, 'gm-print', T.print, ICON_PRINT, function () { printMap(); });
      if (D.gridTable) button(bar, 'gm-csv', T.download_csv, ICON_CSV, downloadCsv);
      quiet(bar);
      return bar;
    }
  });
  new Tools().addTo(map);
  var scaleCtl0 = L.control.scale({metric: true, imperial: false, position: 'bottomleft'}).addTo(map);

  // ---- layer tree following the hierarchy, and a legend for every visible layer
  function swatch(lg) {
    if (!lg) return '';
    if (lg.station) return '<span class="gm-sw gm-station-sw">' + esc(D.stationGlyph) + '</span>';
    if (lg.text) return '<span class="gm-sw gm-text-sw">A</span>';
    if (lg.ringed) return '<span class="gm-sw gm-bubble-sw gm-ringed-sw" style="background:' + lg.bubble + '"></span>';
    if (lg.bubble) return '<span class="gm-sw gm-bubble-sw" style="background:' + lg.bubble + '"></span>';
    if (lg.ring) return '<span class="gm-sw gm-ring-sw" style="border-color:' + lg.fill + ';background:' + lg.fill + '33"></span>';
    if (lg.walk) return '<span class="gm-sw" style="background:linear-gradient(90deg,' + lg.fill + '22,' + lg.fill + 'bb)"></span>';
    if (lg.choro) return '<span class="gm-sw" style="background:linear-gradient(90deg,' + lg.choro.colors.join(',') + ')"></span>';
    return '<span class="gm-sw gm-line-sw" style="border-top:' + (lg.w || 2) + 'px ' + (lg.dash ? 'dashed ' : 'solid ') + lg.line + '"></span>';
  }
  var legendDiv, legendBody;
  function visible(e) { return map.hasLayer(e.layer) || (e.minZoom && e.wanted); }
  function refreshLegend() {
    if (!legendBody) return;
    var h = '';
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
    legendBody.innerHTML = h;
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
    if (e.box) e.box.checked = on;
    refreshLegend();
  }
  var treeSyncs = [];
  function syncBoxes() { treeSyncs.forEach(function (f) { f(); }); }
  entries.forEach(function (e) { if (e.minZoom !== undefined) { e.wanted = e.on; setOn(e, e.on); } });
  map.on('zoomend', function () { entries.forEach(function (e) { if (e.minZoom !== undefined) setOn(e, e.wanted); }); });

  // the side panel (right of the map): layer tree and standards, each folding on its own
  var Side = L.Control.extend({
    options: {position: 'topright'},
    onAdd: function () {
      var side = L.DomUtil.create('div', 'gm-side');
      var d = L.DomUtil.create('div', 'gm-tree', side);
      var head = L.DomUtil.create('div', 'gm-tree-head', d);
      head.textContent = T.layers;
      var body = L.DomUtil.create('div', 'gm-fold-body', d);
      var groups = [];
      entries.forEach(function (e) { if (groups.indexOf(e.group) < 0) groups.push(e.group); });
      groups.forEach(function (gk) {
        var sec = L.DomUtil.create('div', 'gm-group', body);
        var gl = L.DomUtil.create('label', 'gm-group-label', sec);
        var gcb = L.DomUtil.create('input', '', gl);
        gcb.type = 'checkbox';
        gl.appendChild(document.createTextNode(T[gk] || gk));
        var members = entries.filter(function (e) { return e.group === gk; });
        var boxes = [];
        members.forEach(function (e) {
          var l = L.DomUtil.create('label', 'gm-item', sec);
          var cb = L.DomUtil.create('input', '', l);
          cb.type = 'checkbox'; cb.checked = e.on; cb.dataset.layer = e.key;
          var s = document.createElement('span'); s.innerHTML = swatch(e.legend); l.appendChild(s.firstChild || s);
          l.appendChild(document.createTextNode(e.label));
          cb.addEventListener('change', function () { setOn(e, cb.checked); sync(); });
          e.item = l; e.box = cb;
          if (e.minZoom) l.title = fmt(T.zoom_in, {z: e.minZoom});
          boxes.push(cb);
        });
        function sync() {
          var n = boxes.filter(function (b) { return b.checked; }).length;
          gcb.checked = n === boxes.length; gcb.indeterminate = n > 0 && n < boxes.length;
        }
        treeSyncs.push(sync);
        gcb.addEventListener('change', function () {
          boxes.forEach(function (b, i) { b.checked = gcb.checked; setOn(members[i], gcb.checked); });
          sync();
        });
        sync();
      });
      foldable(d, head, body, SMALL);
      if (D.standards) buildStandards(side);
      quiet(side);
      return side;
    }
  });
  function buildStandards(side) {
    var P = D.standards;
    var d = L.DomUtil.create('div', 'gm-standards', side);
    var head = L.DomUtil.create('div', 'gm-std-head', d);
    head.textContent = P.grids_failing ? fmt(T.standards_count, {n: P.grids_failing, total: P.grids}) : T.standards_none;
    if (P.grids_failing) head.classList.add('gm-bad-text');
    var body = L.DomUtil.create('div', 'gm-fold-body', d);
    var rules = P.rules.filter(function (r) { return r.n > 0; });
    if (rules.length) {
      var sel = L.DomUtil.create('select', 'gm-std-rule', body);
      sel.setAttribute('aria-label', T.standards);
      rules.forEach(function (r, i) {
        var o = document.createElement('option');
        o.value = String(i); o.textContent = r.text + ' — ' + fmt(T.standards_rule_n, {n: r.n});
        sel.appendChild(o);
      });
      var rtext = L.DomUtil.create('div', 'gm-std-text', body);
      var tbl = L.DomUtil.create('table', 'gm-std-table', body);
      var sortKey = 'v', sortDir = 1;
      function render() {
        var r = rules[+sel.value];
        rtext.textContent = r.text;
        var rows = r.failing.slice();
        rows.sort(function (a, b) {
          var x = a[sortKey], y = b[sortKey];
          if (x === null || x === undefined) return 1;
          if (y === null || y === undefined) return -1;
          if (sortKey === 'name') return sortDir * String(x).localeCompare(String(y), D.lang === 'zh' ? 'zh-CN' : 'en', {numeric: true});
          return sortDir * (x - y);
        });
        var arrow = function (k) { return sortKey === k ? (sortDir > 0 ? ' ▲' : ' ▼') : ''; };
        var h = '<thead><tr><th data-sort="name">' + esc(T.col_grid) + arrow('name') + '</th><th data-sort="v">' +
          esc(T.col_value) + arrow('v') + '</th><th>' + esc(T.col_threshold) + '</th></tr></thead><tbody>';
        rows.forEach(function (x) {
          h += '<tr data-grid="' + esc(x.id) + '"><td>' + esc(x.name) + '</td><td>' + esc(x.value) + '</td><td>' + esc(r.threshold) + '</td></tr>';
        });
        tbl.innerHTML = h + '</tbody>';
      }
      sel.addEventListener('change', render);
      tbl.addEventListener('click', function (ev) {
        var th = ev.target.closest('th[data-sort]');
        if (th) {
          var k = th.getAttribute('data-sort');
          if (sortKey === k) sortDir = -sortDir; else { sortKey = k; sortDir = 1; }
          render(); return;
        }
        var tr = ev.target.closest('tr[data-grid]');
        if (tr) zoomToGrid(tr.getAttribute('data-grid'));
      });
      render();
    }
    if (P.skipped && P.skipped.length) {
      var sk = L.DomUtil.create('div', 'gm-note', body);
      sk.textContent = fmt(T.standards_skipped, {rules: P.skipped.join(', ')});
    }
    if (D.gridTable) {
      var dl = L.DomUtil.create('a', 'gm-csv-link', body);
      dl.href = '#'; dl.textContent = T.download_csv;
      dl.addEventListener('click', function (ev) { ev.preventDefault(); downloadCsv(); });
    }
    foldable(d, head, body, true);
  }
  new Side().addTo(map);

  var Legend = L.Control.extend({
    options: {position: 'bottomleft'},
    onAdd: function () {
      legendDiv = L.DomUtil.create('div', 'gm-legend');
      var head = L.DomUtil.create('div', 'gm-legend-title', legendDiv);
      head.textContent = T.legend;
      legendBody = L.DomUtil.create('div', 'gm-fold-body', legendDiv);
      foldable(legendDiv, head, legendBody, SMALL);
      quiet(legendDiv);
      return legendDiv;
    }
  });
  new Legend().addTo(map);
  refreshLegend();

  // north arrow (the map is always north-up)
  var North = L.Control.extend({
    options: {position: 'bottomright'},
    onAdd: function () {
      var d = L.DomUtil.create('div', 'gm-north');
      d.title = T.north;
      d.innerHTML = '<svg viewBox="0 0 24 36" width="22" height="33" aria-hidden="true"><path d="M12 2 L20 30 L12 24 L4 30 Z" fill="#222" stroke="#fff" stroke-width="1.2"/></svg>' +
        '<span>' + esc(T.north) + '</span>';
      return d;
    }
  });
  new North().addTo(map);

  // ---- the opening view: the data (or the saved frame), clear of the panels
  function fitPadding(extra) {
    extra = extra || 10;
    var mr = map.getContainer().getBoundingClientRect();
    var W = mr.width, H = mr.height;
    var pad = {l: 0, r: 0, t: 0, b: 0};
    var els = map.getContainer().querySelectorAll('.leaflet-control');
    for (var i = 0; i < els.length; i++) {
      var b = els[i].getBoundingClientRect();
      if (!b.width || !b.height || els[i].classList.contains('leaflet-control-attribution')) continue;
      var x0 = b.left - mr.left, y0 = b.top - mr.top, x1 = x0 + b.width, y1 = y0 + b.height;
      var left = (x0 + x1) / 2 < W / 2, top = (y0 + y1) / 2 < H / 2;
      var side = left ? x1 : W - x0, vert = top ? y1 : H - y0;
      // pad on the side that costs the least map area
      if (side * H <= vert * W) { if (left) pad.l = Math.max(pad.l, side); else pad.r = Math.max(pad.r, side); }
      else if (top) pad.t = Math.max(pad.t, vert); else pad.b = Math.max(pad.b, vert);
    }
    // never leave less than a third of the map for the data
    if (pad.l + pad.r > W * 0.66) { var k = W * 0.66 / (pad.l + pad.r); pad.l *= k; pad.r *= k; }
    if (pad.t + pad.b > H * 0.66) { var k2 = H * 0.66 / (pad.t + pad.b); pad.t *= k2; pad.b *= k2; }
    return {paddingTopLeft: [pad.l + extra, pad.t + extra], paddingBottomRight: [pad.r + extra, pad.b + extra]};
  }
  // keep the columns apart: the legend ends above the scale bar and below the search box,
  // the side panel above the north arrow (its layer list scrolls, the standards head stays)
  function fitPanels() {
    var mr = map.getContainer().getBoundingClientRect();
    var left = map.getContainer().querySelectorAll('.leaflet-top.leaflet-left .leaflet-control');
    var topEnd = mr.top;
    for (var i = 0; i < left.length; i++) topEnd = Math.max(topEnd, left[i].getBoundingClientRect().bottom);
    if (legendDiv) {
      var cs = getComputedStyle(legendDiv);
      var padV = parseFloat(cs.paddingTop) + parseFloat(cs.paddingBottom) + 2;
      var room = legendDiv.getBoundingClientRect().bottom - topEnd - 12 - padV;
      legendDiv.style.maxHeight = Math.max(20, room) + 'px';
      if (room < 60) legendDiv.classList.add('gm-collapsed');
    }
    var side = map.getContainer().querySelector('.gm-side');
    var north = map.getContainer().querySelector('.gm-north');
    if (side) {
      var limit = (north ? north.getBoundingClientRect().top : mr.bottom) - 12;
      side.style.maxHeight = Math.max(40, limit - side.getBoundingClientRect().top) + 'px';
    }
  }
  fitPanels();
  map.getContainer().addEventListener('click', function (ev) {
    if (ev.target.closest && ev.target.closest('.gm-fold-head')) setTimeout(fitPanels, 0);
  });
  window.addEventListener('resize', function () { setTimeout(fitPanels, 50); });
  var frame = D.frame ? L.latLngBounds(D.frame) : null;
  function openView() {
    var target = frame || home;
    if (target) map.fitBounds(target, L.extend({animate: false}, fitPadding(10)));
    else map.setView([OY, OX], 15);
  }
  openView();
  // fonts can change the panels' size after the first layout: measure again
  var userMoved = false;
  map.on('dragstart', function () { userMoved = true; });
  ['wheel', 'mousedown', 'touchstart', 'keydown'].forEach(function (t) {
    map.getContainer().addEventListener(t, function () { userMoved = true; }, {passive: true, capture: true});
  });
  function settle() { fitPanels(); if (!userMoved && !printState) openView(); }
  if (document.fonts && document.fonts.ready) document.fonts.ready.then(function () { setTimeout(settle, 0); });
  setTimeout(settle, 250);

  // ---- basemap, and what to do when its tiles cannot be reached
  var tileErrors = 0, tilesLoaded = 0, offline = false;
  function goOffline() {
    if (offline) return;
    offline = true;
    document.getElementById('map').classList.add('gm-nobasemap', 'gm-tiles-offline');
    if (roadsEntry) setOn(roadsEntry, true);
    if (roadNamesEntry) setOn(roadNamesEntry, true);
    syncBoxes();
    if (offlineNote) offlineNote.classList.add('gm-shown');
  }
  if (D.basemap && D.basemap.tiles.length) {
    D.basemap.tiles.forEach(function (t) {
      var tl = L.tileLayer(t.url, t.options);
      tl.on('tileerror', function () { tileErrors++; if (!tilesLoaded && tileErrors >= 2) goOffline(); });
      tl.on('tileload', function () { tilesLoaded++; });
      tl.addTo(map);
    });
  } else {
    document.getElementById('map').classList.add('gm-nobasemap');
  }

  // ---- print. Chromium loses polygons that Leaflet redraws while printing (even in
  // 'beforeprint'), so nothing is redrawn then. The print button first draws the map on
  // a large square around the frame (the extent on screen, or the saved frame) and
  // prints a moment later; Ctrl+P prints what is drawn (the renderers draw 60 % beyond
  // the screen on every side). When the print layout applies (matchMedia 'print': the
  // page box of the dialog's A4/A3, portrait/landscape is known) the drawing is scaled
  // and placed with a CSS transform so the frame fills the sheet beside the panels.
  var printState = null, scaleCtl = scaleCtl0;
  // the extent on screen that no panel covers (what the user sees as the map)
  function visibleBounds() {
    var p = fitPadding(0), sz = map.getSize();
    var a = map.containerPointToLatLng(L.point(p.paddingTopLeft)), b = map.containerPointToLatLng(sz.subtract(L.point(p.paddingBottomRight)));
    var fr = L.latLngBounds(a, b);
    return fr.isValid() ? fr : map.getBounds();
  }
  function prepPrint(full) {
    if (printState) return;
    var el = map.getContainer();
    var W = el.clientWidth, H = el.clientHeight;
    var st = {center: map.getCenter(), zoom: map.getZoom(), snap: map.options.zoomSnap, full: !!full,
      pane: map.getPane('mapPane').style.transform};
    var fr = frame || visibleBounds();
    if (full) {
      map.options.zoomSnap = 0;
      var z = frame ? map.getBoundsZoom(frame) : map.getZoom();
      var C = Math.ceil(2.2 * Math.max(W, H));
      el.style.width = C + 'px'; el.style.height = C + 'px'; el.style.right = 'auto'; el.style.bottom = 'auto';
      map.invalidateSize({pan: false, animate: false});
      map.setView(fr.getCenter(), z, {animate: false});
    }
    var nw = map.latLngToLayerPoint(fr.getNorthWest()), se = map.latLngToLayerPoint(fr.getSouthEast());
    st.fw = Math.max(1, se.x - nw.x); st.fh = Math.max(1, se.y - nw.y);
    st.centre = fr.getCenter();
    var c = map.getSize().divideBy(2);
    st.mpp = map.distance(map.containerPointToLatLng(c), map.containerPointToLatLng(c.add([100, 0]))) / 100;
    printState = st;
  }
  function layoutPrint() {
    if (!printState) prepPrint(false);
    var st = printState, el = map.getContainer();
    document.body.classList.add('gm-printing');
    var Pw = el.clientWidth, Ph = el.clientHeight;
    var pad = fitPadding(4), l = pad.paddingTopLeft[0], t = pad.paddingTopLeft[1];
    var ew = Math.max(50, Pw - l - pad.paddingBottomRight[0]), eh = Math.max(50, Ph - t - pad.paddingBottomRight[1]);
    var s = Math.min(ew / st.fw, eh / st.fh);
    var lc = map.latLngToLayerPoint(st.centre);
    var tx = l + ew / 2 - s * lc.x, ty = t + eh / 2 - s * lc.y;
    var mp = map.getPane('mapPane');
    mp.style.transformOrigin = '0 0';
    mp.style.transform = 'translate(' + tx + 'px,' + ty + 'px) scale(' + s + ')';
    st.s = s;
    if (scaleCtl && scaleCtl._updateScales) scaleCtl._updateScales(scaleCtl.options.maxWidth * st.mpp / s);
  }
  function fromPrint() {
    if (!printState) return;
    var st = printState, el = map.getContainer();
    printState = null;
    document.body.classList.remove('gm-printing');
    var mp = map.getPane('mapPane');
    mp.style.transform = st.pane; mp.style.transformOrigin = '';
    el.style.width = ''; el.style.height = ''; el.style.right = ''; el.style.bottom = '';
    map.options.zoomSnap = st.snap;
    map.invalidateSize({pan: false, animate: false});
    map.setView(st.center, st.zoom, {animate: false});
  }
  // the print button: draw the whole sheet first, then open the print dialog
  function printMap() {
    prepPrint(true);
    requestAnimationFrame(function () { requestAnimationFrame(function () { setTimeout(function () { window.print(); }, 150); }); });
  }
  window.addEventListener('beforeprint', function () { prepPrint(false); });
  window.addEventListener('afterprint', fromPrint);
  if (window.matchMedia) {
    var mq = window.matchMedia('print');
    var onChange = function (e) { if (e.matches) layoutPrint(); else fromPrint(); };
    if (mq.addEventListener) mq.addEventListener('change', onChange); else if (mq.addListener) mq.addListener(onChange);
  }
  window.gridmap = {map: map, entries: entries, data: D, zoomToGrid: zoomToGrid, fitPadding: fitPadding,
    prepPrint: prepPrint, layoutPrint: layoutPrint, fromPrint: fromPrint, printMap: printMap, isOffline: function () { return offline; }};
})();
