"""The grid worker's phone page (网格员工作台), served by ``gridmap serve`` at ``/worker``.

One self-contained HTML file (inline CSS and JS, no CDN, no external file),
Simplified Chinese by default (``?lang=en`` for English). The worker enters
their staff key once (kept in the browser's ``localStorage``), then:

* types an address, or uses the phone's location (the browser's geolocation
  is WGS84), or opens the page from a map app with ``?lon=..&lat=..&crs=gcj02``
  (Amap/Tencent/WeChat positions are GCJ-02), and sees the owning grid, its
  grid worker and the nearest service station;
* logs a request at that place;
* sees the requests of their own grids, overdue ones first, and moves them
  along (the buttons are the allowed next statuses).
"""

from __future__ import annotations

import json

from gridmap.requests.model import STATUS_ZH, load_rules

TEXT = {
    "zh": {
        "title": "网格员工作台",
        "key": "员工密钥",
        "key_hint": "输入一次，保存在本机浏览器中",
        "save": "保存",
        "change_key": "更换密钥",
        "signed_in": "已保存密钥",
        "where": "查询位置",
        "address_ph": "输入地址，如 西南街3号楼2单元501",
        "search": "查询",
        "use_location": "使用当前位置",
        "grid": "网格",
        "microgrid": "微网格",
        "zone": "片区",
        "worker": "网格员",
        "station": "最近驿站",
        "not_yours": "不在您的网格内，不能在此登记",
        "review": "地址不明确，登记后进入待核实队列",
        "no_owner": "没有网格包含此位置",
        "log": "登记诉求",
        "category": "类别",
        "summary": "诉求内容",
        "resident_name": "居民姓名（可选）",
        "resident_phone": "联系电话（可选）",
        "submit": "登记",
        "logged": "已登记",
        "list": "本网格诉求",
        "refresh": "刷新",
        "overdue": "已超期",
        "hours": "小时",
        "days": "天",
        "due": "期限",
        "note_ph": "办理说明",
        "due_ph": "新期限",
        "empty": "暂无诉求",
        "need_key": "请先输入员工密钥",
        "error": "出错",
        "locating": "正在定位…",
        "m": "米",
    },
    "en": {
        "title": "Grid worker",
        "key": "Staff key",
        "key_hint": "Entered once, kept in this browser",
        "save": "Save",
        "change_key": "Change key",
        "signed_in": "Key saved",
        "where": "Find a place",
        "address_ph": "Address, e.g. 西南街3号楼2单元501",
        "search": "Search",
        "use_location": "Use my location",
        "grid": "Grid",
        "microgrid": "Micro-grid",
        "zone": "Zone",
        "worker": "Grid worker",
        "station": "Nearest station",
        "not_yours": "Not in your grids: cannot log here",
        "review": "Unclear address: the request goes to the review queue",
        "no_owner": "No grid owns this place",
        "log": "Log a request",
        "category": "Category",
        "summary": "What the resident asks for",
        "resident_name": "Resident name (optional)",
        "resident_phone": "Phone (optional)",
        "submit": "Log",
        "logged": "Logged",
        "list": "Requests of my grids",
        "refresh": "Refresh",
        "overdue": "Overdue",
        "hours": "h",
        "days": "days",
        "due": "Due",
        "note_ph": "Note",
        "due_ph": "New due time",
        "empty": "No requests",
        "need_key": "Enter your staff key first",
        "error": "Error",
        "locating": "Locating…",
        "m": "m",
    },
}
STATUS_EN = {
    "received": "received",
    "dispatched": "dispatch",
    "in_progress": "in progress",
    "answered": "answered",
    "closed": "close",
    "returned": "return (rework)",
    "deferred": "defer",
    "escalated": "escalate",
}

_CSS = """
*{box-sizing:border-box}body{margin:0;font:15px/1.45 -apple-system,"PingFang SC","Noto Sans CJK SC",
"Microsoft YaHei",sans-serif;background:#f3f5f7;color:#1c2430}
header{background:#b71c1c;color:#fff;padding:12px 14px;font-size:18px;font-weight:600}
section{background:#fff;margin:10px;border-radius:10px;padding:12px;box-shadow:0 1px 3px #0002}
h2{font-size:16px;margin:0 0 8px}input,select,textarea,button{font:inherit;width:100%;
padding:9px 10px;margin:4px 0;border:1px solid #c8ced6;border-radius:8px;background:#fff}
button{background:#b71c1c;color:#fff;border:none;font-weight:600}button.sec{background:#e8ecf0;color:#1c2430}
.row{display:flex;gap:6px}.row>*{flex:1}.card{border-left:4px solid #b71c1c;padding:6px 10px;margin:6px 0;
background:#fafbfc}.muted{color:#667;font-size:13px}.warn{color:#b71c1c;font-weight:600}
.item{border:1px solid #dde2e8;border-radius:8px;padding:8px;margin:8px 0}.item.overdue{border-color:#b71c1c;
background:#fff5f5}.badge{display:inline-block;background:#b71c1c;color:#fff;border-radius:6px;padding:0 6px;
font-size:12px;margin-left:4px}.acts{display:flex;flex-wrap:wrap;gap:4px}.acts button{width:auto;flex:1 1 30%;
padding:6px;font-size:14px}.hidden{display:none}a{color:#b71c1c}
"""

_JS = r"""
const T = __TEXT__, ST = __STATUS__, CATS = __CATS__, LANG = __LANG__;
const $ = (id) => document.getElementById(id);
let place = null;
function key() { return localStorage.getItem("gridmap_staff_key") || ""; }
function esc(s) { return String(s ?? "").replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c])); }
async function api(method, path, body) {
  const h = {"X-API-Key": key()};
  if (body) h["Content-Type"] = "application/json";
  const r = await fetch(path, {method, headers: h, body: body ? JSON.stringify(body) : undefined});
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(data.message || (T.error + " " + r.status));
  return data;
}
function msg(id, text, bad) { const e = $(id); e.textContent = text || ""; e.className = bad ? "warn" : "muted"; }
function showKey() {
  const has = !!key();
  $("key-form").classList.toggle("hidden", has);
  $("key-ok").classList.toggle("hidden", !has);
}
function saveKey() {
  const v = $("key-input").value.trim();
  if (!v) return;
  localStorage.setItem("gridmap_staff_key", v);
  $("key-input").value = "";
  showKey(); loadList();
}
function changeKey() { localStorage.removeItem("gridmap_staff_key"); showKey(); }
function catLabel(code) { const c = CATS.find(c => c.code === code); return c ? (LANG === "zh" ? c.zh : c.en) : code; }
async function locate(params) {
  if (!key()) { msg("place-msg", T.need_key, true); return; }
  msg("place-msg", T.locating);
  try {
    const q = new URLSearchParams(params);
    place = await api("GET", "/requests/where?" + q.toString());
    place.query = params;
    renderPlace();
  } catch (e) { place = null; $("place").innerHTML = ""; msg("place-msg", e.message, true); }
}
function renderPlace() {
  const p = place, n = p.names || {};
  let h = "";
  if (p.grid_id) {
    h += `<div class="card" data-testid="owner"><b>${T.grid}</b> <span data-testid="grid-id">${esc(p.grid_id)}</span> ${esc(n.grids || "")}`;
    if (p.microgrid_id) h += `<br>${T.microgrid} <span data-testid="microgrid-id">${esc(p.microgrid_id)}</span> ${esc(n.microgrids || "")}`;
    if (p.zone_id) h += `<br><span class="muted">${T.zone} ${esc(n.zones || p.zone_id)}</span>`;
    h += `</div>`;
    if (p.grid_worker) {
      const ph = p.grid_worker.phone ? ` <a href="tel:${esc(p.grid_worker.phone)}">${esc(p.grid_worker.phone)}</a>` : "";
      h += `<div class="card" data-testid="worker"><b>${T.worker}</b> ${esc(p.grid_worker.name || "-")}${ph}</div>`;
    }
  } else {
    h += `<div class="card warn" data-testid="owner">${p.review && p.located_by !== "coordinate" ? T.review : T.no_owner}</div>`;
  }
  if (p.nearest_station) {
    const s = p.nearest_station;
    h += `<div class="card" data-testid="station"><b>${T.station}</b> ${esc(s.name)} · ${Math.round(s.distance_m)} ${T.m}` +
         (s.open_hours ? ` <span class="muted">${esc(s.open_hours)}</span>` : "") + `</div>`;
  }
  $("place").innerHTML = h;
  const canLog = p.in_your_grids || (p.review && !p.grid_id && p.located_by !== "coordinate");
  msg("place-msg", canLog ? "" : T.not_yours, !canLog);
  $("log").classList.toggle("hidden", !canLog);
}
async function logRequest() {
  const q = place.query || {};
  const body = {category: $("cat").value, summary: $("summary").value.trim() || null,
    resident_name: $("rname").value.trim() || null, resident_phone: $("rphone").value.trim() || null};
  if (q.address) body.address = q.address;
  if (q.lon != null) { body.lon = Number(q.lon); body.lat = Number(q.lat); body.crs = q.crs || "wgs84"; }
  try {
    const r = await api("POST", "/requests", body);
    msg("log-msg", `${T.logged}: ${r.request_id}`);
    $("log-msg").dataset.requestId = r.request_id;
    $("summary").value = ""; $("rname").value = ""; $("rphone").value = "";
    loadList();
  } catch (e) { msg("log-msg", e.message, true); }
}
function fmt(t) { if (!t) return "-"; const d = new Date(t); return d.toLocaleString(LANG === "zh" ? "zh-CN" : "en-GB", {year:"numeric", month:"2-digit", day:"2-digit", hour:"2-digit", minute:"2-digit"}); }
function late(h) { return h >= 48 ? `${Math.floor(h / 24)} ${T.days}` : `${Math.round(h)} ${T.hours}`; }
async function loadList() {
  if (!key()) return;
  try {
    const data = await api("GET", "/requests?limit=100&review=false");
    const box = $("items");
    if (!data.rows.length) { box.innerHTML = `<p class="muted">${T.empty}</p>`; return; }
    box.innerHTML = data.rows.map(r => {
      const acts = r.allowed_next.map(s => `<button class="sec" data-to="${s}" data-id="${esc(r.request_id)}">${esc(ST[s])}</button>`).join("");
      const od = r.overdue ? `<span class="badge">${T.overdue} ${late(r.hours_overdue)}</span>` : "";
      const extra = r.allowed_next.length ? `<input class="note" placeholder="${T.note_ph}"><input class="due hidden" type="datetime-local" aria-label="${T.due_ph}"><div class="acts">${acts}</div>` : "";
      return `<div class="item${r.overdue ? " overdue" : ""}" data-testid="item" data-id="${esc(r.request_id)}" data-status="${r.status}">
        <b>${esc(r.request_id)}</b> ${esc(catLabel(r.category))} · <span data-testid="status">${esc(STATUS_LABEL[r.status] || r.status)}</span>${od}
        <div class="muted">${esc(r.grid_id || "")} ${esc(r.microgrid_id || "")} · ${T.due} ${fmt(r.due_at)}</div>
        ${r.summary ? `<div>${esc(r.summary)}</div>` : ""}${extra}</div>`;
    }).join("");
    box.querySelectorAll("button[data-to]").forEach(b => b.addEventListener("click", () => move(b)));
  } catch (e) { $("items").innerHTML = `<p class="warn">${esc(e.message)}</p>`; }
}
async function move(btn) {
  const item = btn.closest(".item"), to = btn.dataset.to, id = btn.dataset.id;
  const note = item.querySelector(".note").value.trim() || null;
  const dueInput = item.querySelector(".due");
  const body = {to, note};
  if (to === "deferred") {
    if (dueInput.classList.contains("hidden") || !dueInput.value) { dueInput.classList.remove("hidden"); dueInput.focus(); return; }
    body.due_at = new Date(dueInput.value).toISOString();
  }
  try { await api("PATCH", "/requests/" + encodeURIComponent(id), body); loadList(); }
  catch (e) { const p = document.createElement("p"); p.className = "warn"; p.dataset.testid = "move-error"; p.textContent = e.message; item.appendChild(p); }
}
function init() {
  showKey();
  $("cat").innerHTML = CATS.map(c => `<option value="${c.code}">${esc(LANG === "zh" ? c.zh : c.en)}</option>`).join("");
  $("save-key").addEventListener("click", saveKey);
  $("change-key").addEventListener("click", changeKey);
  $("search").addEventListener("click", () => { const a = $("address").value.trim(); if (a) locate({address: a}); });
  $("address").addEventListener("keydown", (e) => { if (e.key === "Enter") $("search").click(); });
  $("gps").addEventListener("click", () => {
    if (!navigator.geolocation) { msg("place-msg", T.error, true); return; }
    msg("place-msg", T.locating);
    navigator.geolocation.getCurrentPosition(
      (pos) => locate({lon: pos.coords.longitude, lat: pos.coords.latitude, crs: "wgs84"}),
      (err) => msg("place-msg", err.message, true), {enableHighAccuracy: true, timeout: 15000});
  });
  $("submit").addEventListener("click", logRequest);
  $("refresh").addEventListener("click", loadList);
  const u = new URLSearchParams(location.search);
  if (u.get("lon") && u.get("lat")) locate({lon: u.get("lon"), lat: u.get("lat"), crs: u.get("crs") || "gcj02"});
  else if (u.get("address")) { $("address").value = u.get("address"); locate({address: u.get("address")}); }
  loadList();
}
const STATUS_LABEL = __STATUS_NAMES__;
init();
"""


def worker_page_html(lang: str = "zh") -> str:
    """The page as one HTML string (``lang``: ``zh`` or ``en``)."""
    lang = lang if lang in TEXT else "zh"
    t = TEXT[lang]
    rules = load_rules()
    cats = [{"code": c.code, "zh": c.zh, "en": c.en} for c in rules.categories.values()]
    zh_actions = {
        "dispatched": "派遣",
        "in_progress": "开始办理",
        "answered": "已反馈",
        "closed": "办结",
        "returned": "退回返工",
        "deferred": "延期",
        "escalated": "上报社区",
        "received": "受理",
    }
    actions = zh_actions if lang == "zh" else STATUS_EN
    names = STATUS_ZH if lang == "zh" else {s: s.replace("_", " ") for s in STATUS_ZH}
    js = (
        _JS.replace("__TEXT__", json.dumps(t, ensure_ascii=False))
        .replace("__STATUS__", json.dumps(actions, ensure_ascii=False))
        .replace("__CATS__", json.dumps(cats, ensure_ascii=False))
        .replace("__LANG__", json.dumps(lang))
        .replace("__STATUS_NAMES__", json.dumps(names, ensure_ascii=False))
    )
    return f"""<!doctype html>
<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t["title"]}</title><style>{_CSS}</style></head>
<body>
<header>{t["title"]}</header>
<section id="keybox"><div id="key-form"><h2>{t["key"]}</h2>
<input id="key-input" type="password" autocomplete="off" placeholder="{t["key"]}">
<div class="muted">{t["key_hint"]}</div><button id="save-key">{t["save"]}</button></div>
<div id="key-ok" class="hidden row"><span class="muted">{t["signed_in"]}</span>
<button id="change-key" class="sec">{t["change_key"]}</button></div></section>
<section><h2>{t["where"]}</h2>
<input id="address" placeholder="{t["address_ph"]}">
<div class="row"><button id="search">{t["search"]}</button><button id="gps" class="sec">{t["use_location"]}</button></div>
<div id="place-msg" class="muted"></div><div id="place"></div></section>
<section id="log" class="hidden"><h2>{t["log"]}</h2>
<label class="muted">{t["category"]}</label><select id="cat"></select>
<textarea id="summary" rows="3" placeholder="{t["summary"]}"></textarea>
<input id="rname" placeholder="{t["resident_name"]}"><input id="rphone" type="tel" placeholder="{t["resident_phone"]}">
<button id="submit">{t["submit"]}</button><div id="log-msg" class="muted"></div></section>
<section><div class="row"><h2>{t["list"]}</h2><button id="refresh" class="sec">{t["refresh"]}</button></div>
<div id="items"></div></section>
<script>{js}</script>
</body></html>
"""
