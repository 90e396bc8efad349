"""Every user-facing string of the meeting map, in Simplified Chinese and English.

The map defaults to Simplified Chinese (``lang="zh"``); ``lang="en"`` gives
English. Keep all text shown in the map or the picture here, so a translation
is one table edit.
"""

from __future__ import annotations

from gridmap.errors import GridmapError

LANGS = ("zh", "en")

STRINGS: dict[str, dict[str, str]] = {
    "title_default": {"zh": "社区网格化管理图", "en": "Community grid map"},
    "households": {"zh": "住户", "en": "Households"},
    "residents": {"zh": "居民", "en": "Residents"},
    "elderly": {"zh": "老年人", "en": "Elderly"},
    "elderly_share": {"zh": "老年人占比", "en": "Elderly share"},
    "grids": {"zh": "网格", "en": "Grids"},
    "microgrids_n": {"zh": "微网格", "en": "Micro-grids"},
    "grids_failing": {"zh": "未达标网格", "en": "Grids failing a standard"},
    "covered_by": {
        "zh": "直线{dist}米内有{facility}",
        "en": "Within {dist} m (straight line) of a {facility}",
    },
    "covered_by_walk": {
        "zh": "步行{dist}米内有{facility}",
        "en": "Within a {dist} m walk of a {facility}",
    },
    "covered_share": {"zh": "{facility}覆盖率", "en": "{facility} coverage"},
    # groups of the layer tree
    "grp_boundaries": {"zh": "网格边界", "en": "Boundaries"},
    "grp_facilities": {"zh": "服务设施", "en": "Facilities"},
    "grp_coverage": {"zh": "覆盖范围", "en": "Coverage"},
    "grp_households": {"zh": "住户分布（汇总）", "en": "Households (aggregated)"},
    "grp_base": {"zh": "基础要素", "en": "Base features"},
    "roads": {"zh": "道路", "en": "Roads"},
    "grp_thematic": {"zh": "专题图", "en": "Thematic"},
    # layers
    "communities": {"zh": "社区", "en": "Community"},
    "zones": {"zh": "片区", "en": "Zones"},
    "grid_layer": {"zh": "网格", "en": "Grids"},
    "grid_labels": {"zh": "网格名称", "en": "Grid names"},
    "microgrids": {"zh": "微网格", "en": "Micro-grids"},
    "service_stations": {"zh": "党群服务驿站", "en": "Service stations"},
    "charging_piles": {"zh": "充电桩（按端口数）", "en": "Charging piles (by ports)"},
    "parking": {"zh": "停车场（按车位数）", "en": "Parking (by spaces)"},
    "service_stations_short": {"zh": "服务驿站", "en": "service station"},
    "charging_piles_short": {"zh": "充电桩", "en": "charging pile"},
    "parking_short": {"zh": "停车场", "en": "parking"},
    "ring": {
        "zh": "{facility} 直线{dist}米范围",
        "en": "Within {dist} m of a {facility} (straight line)",
    },
    "ring_straight": {
        "zh": "{facility} {dist}米直线范围",
        "en": "Within {dist} m of a {facility} (straight line)",
    },
    "hh_per_microgrid": {"zh": "各微网格住户数", "en": "Households per micro-grid"},
    "hh_uncovered": {
        "zh": "{dist}米内无{facility}的住户",
        "en": "Households beyond {dist} m of a {facility}",
    },
    "hh_uncovered_walk": {
        "zh": "步行{dist}米内无{facility}的住户",
        "en": "Households beyond a {dist} m walk of a {facility}",
    },
    "hh_outside": {"zh": "不在任何微网格内的住户", "en": "Households outside every micro-grid"},
    "choropleth": {"zh": "专题：{indicator}", "en": "Thematic: {indicator}"},
    # indicators
    "ind_households": {"zh": "住户数", "en": "Households"},
    "ind_residents": {"zh": "居民数", "en": "Residents"},
    "ind_elderly": {"zh": "老年人数", "en": "Elderly residents"},
    "ind_elderly_share": {"zh": "老年人占比", "en": "Elderly share"},
    "ind_microgrids": {"zh": "微网格数", "en": "Micro-grids"},
    "ind_cover": {"zh": "{facility}覆盖率", "en": "Share near a {facility}"},
    "ind_cover_r": {
        "zh": "{facility}{dist}米覆盖率",
        "en": "Share within {dist} m of a {facility}",
    },
    "ind_access_r": {
        "zh": "{facility}可达性(2SFCA, {dist}米)",
        "en": "Accessibility of {facility}s (2SFCA, {dist} m)",
    },
    "ind_ev_households": {"zh": "电动车住户数", "en": "EV households"},
    "ind_charging_piles": {"zh": "充电桩数", "en": "Charging piles"},
    "ind_charging_ports": {"zh": "充电端口数", "en": "Charging ports"},
    "ind_ports_per_ev_household": {"zh": "每电动车户端口数", "en": "Ports per EV household"},
    "ind_parking_lots": {"zh": "停车场数", "en": "Parking sites"},
    "ind_parking_spaces": {"zh": "车位数", "en": "Parking spaces"},
    "ind_spaces_per_household": {"zh": "户均车位", "en": "Spaces per household"},
    "ind_service_stations": {"zh": "服务驿站数", "en": "Service stations"},
    "ind_households_per_station": {"zh": "每驿站服务户数", "en": "Households per station"},
    "ind_grid_workers": {"zh": "网格员数", "en": "Grid workers"},
    "ind_households_per_worker": {"zh": "每网格员服务户数", "en": "Households per grid worker"},
    "ind_microgrids_in_range_share": {
        "zh": "规模达标微网格占比",
        "en": "Micro-grids of standard size",
    },
    "no_data": {"zh": "无数据", "en": "no data"},
    # popups
    "id": {"zh": "编号", "en": "ID"},
    "name": {"zh": "名称", "en": "Name"},
    "zone": {"zh": "片区", "en": "Zone"},
    "grid": {"zh": "网格", "en": "Grid"},
    "microgrid": {"zh": "微网格", "en": "Micro-grid"},
    "kind": {"zh": "类型", "en": "Kind"},
    "open_hours": {"zh": "开放时间", "en": "Opening hours"},
    "staff_on_site": {"zh": "社工驻站", "en": "Social worker on site"},
    "ports": {"zh": "端口数", "en": "Ports"},
    "power_kw": {"zh": "功率(kW)", "en": "Power (kW)"},
    "status": {"zh": "状态", "en": "Status"},
    "spaces": {"zh": "车位数", "en": "Spaces"},
    "staff": {"zh": "网格员", "en": "Grid worker"},
    "leader": {"zh": "微网格长", "en": "Micro-grid leader"},
    "yes": {"zh": "是", "en": "yes"},
    "no": {"zh": "否", "en": "no"},
    "failing": {"zh": "未达标项", "en": "Standards not met"},
    "count_hh": {"zh": "{n} 户", "en": "{n} households"},
    # furniture
    "search_placeholder": {"zh": "搜索网格名称或编号", "en": "Search grid name or number"},
    "no_match": {"zh": "未找到", "en": "no match"},
    "fullscreen": {"zh": "全屏", "en": "Full screen"},
    "measure": {
        "zh": "测距（单击加点，双击结束）",
        "en": "Measure (click to add, double-click to end)",
    },
    "measure_clear": {"zh": "清除测距", "en": "Clear measurement"},
    "zoom_in": {"zh": "放大到第{z}级后显示", "en": "shown from zoom level {z}"},
    "legend": {"zh": "图例", "en": "Legend"},
    "layers": {"zh": "图层", "en": "Layers"},
    "basemap_none": {"zh": "无底图", "en": "no basemap"},
    "made_with": {"zh": "gridmap 生成", "en": "made with gridmap"},
    "data_note": {
        "zh": "住户数据均为汇总，不含个人信息",
        "en": "Households shown as aggregates only",
    },
    "personal_warning": {
        "zh": "注意：本图含个人信息（姓名、电话），仅限内部使用，请勿外传",
        "en": "Warning: this map contains personal data (names, phone numbers); internal use only",
    },
    "shift_note": {
        "zh": "坐标已转为 GCJ-02 以对齐高德底图",
        "en": "Shifted to GCJ-02 to match Amap tiles",
    },
    "shift_outside_note": {
        "zh": "数据位于中国境外：未做 GCJ-02 偏移，高德底图在此可能无内容",
        "en": "Outside China: no GCJ-02 shift; Amap tiles may be empty here",
    },
    "ring_walk": {
        "zh": "步行{dist}米可达{facility}的住户占比（按微网格）",
        "en": "Share of households within a {dist} m walk of a {facility} (per micro-grid)",
    },
    "ring_walk_grid": {
        "zh": "步行{dist}米可达{facility}的住户占比（按网格）",
        "en": "Share of households within a {dist} m walk of a {facility} (per grid)",
    },
    "streets_walk": {
        "zh": "{facility}步行{dist}米可达街道",
        "en": "Streets within a {dist} m walk of a {facility}",
    },
    "reach_share": {
        "zh": "可达住户 {c}/{n}（{pct}）",
        "en": "{c} of {n} households reached ({pct})",
    },
    # plain words for indicators and rules (standards panel, CSV)
    "plain_cover_walk": {
        "zh": "步行{dist}米内有{facility}的住户占比",
        "en": "households within a {dist} m walk of a {facility}",
    },
    "plain_cover_line": {
        "zh": "直线{dist}米内有{facility}的住户占比",
        "en": "households within {dist} m (straight line) of a {facility}",
    },
    "plain_cover_any": {"zh": "有{facility}覆盖的住户占比", "en": "households near a {facility}"},
    "plain_access_walk": {
        "zh": "步行{dist}米内{who}可用{unit}（按需求分摊）",
        "en": "{unit} {who} within a {dist} m walk (shared by demand)",
    },
    "plain_access_line": {
        "zh": "直线{dist}米内{who}可用{unit}（按需求分摊）",
        "en": "{unit} {who} within {dist} m straight line (shared by demand)",
    },
    "plain_mg_range": {
        "zh": "住户数在{lo}–{hi}户之间的微网格占比",
        "en": "micro-grids with {lo}–{hi} households",
    },
    "unit_spaces": {"zh": "车位", "en": "parking spaces"},
    "unit_ports": {"zh": "充电端口", "en": "charging ports"},
    "per_household": {"zh": "每户", "en": "per household"},
    "per_ev_household": {"zh": "每电动车户", "en": "per EV household"},
    "thr_min": {"zh": "应不少于 {v}", "en": "should be at least {v}"},
    "thr_max": {"zh": "应不超过 {v}", "en": "should be at most {v}"},
    "thr_between": {"zh": "应在 {lo}–{hi} 之间", "en": "should be between {lo} and {hi}"},
    "no_figure": {"zh": "无数据", "en": "no figure"},
    "standards": {"zh": "未达标网格", "en": "Grids failing a standard"},
    "standards_count": {"zh": "{n}/{total} 个网格未达标", "en": "{n} of {total} grids fail"},
    "standards_rule_n": {"zh": "{n} 个网格未达标", "en": "{n} grids fail"},
    "standards_none": {"zh": "所有网格均达标", "en": "every grid meets every standard"},
    "standards_skipped": {
        "zh": "快速模式未检查：{rules}（运行 gridmap coverage 获取完整结果）",
        "en": "not checked on the fast path: {rules} (gridmap coverage gives them)",
    },
    "col_grid": {"zh": "网格", "en": "Grid"},
    "col_value": {"zh": "实际", "en": "Value"},
    "col_threshold": {"zh": "标准", "en": "Standard"},
    "download_csv": {"zh": "下载网格表 (CSV)", "en": "Download grid table (CSV)"},
    "print": {"zh": "打印 / 导出 PDF", "en": "Print / save as PDF"},
    "zoom_in_btn": {"zh": "放大", "en": "Zoom in"},
    "zoom_out_btn": {"zh": "缩小", "en": "Zoom out"},
    "north": {"zh": "北", "en": "N"},
    "map_date": {"zh": "制图日期 {date}", "en": "Made {date}"},
    "data_source": {"zh": "数据来源：{source}", "en": "Data: {source}"},
    "finding_shortfall": {
        "zh": "本图显示：{indicator}（全社区 {share}，各网格 {lo}–{hi}）",
        "en": "Shown: {indicator} (whole area {share}, grids {lo}–{hi})",
    },
    "finding_rule": {
        "zh": "本图显示：{indicator}（{n}/{total} 个网格未达标）",
        "en": "Shown: {indicator} ({n} of {total} grids fail)",
    },
    "finding_spread": {
        "zh": "本图显示：{indicator}（各网格差异最大：{lo}–{hi}）",
        "en": "Shown: {indicator} (widest spread between grids: {lo}–{hi})",
    },
    "finding_chosen": {"zh": "本图显示：{indicator}", "en": "Shown: {indicator}"},
    "validation_warning": {
        "zh": "⚠ 数据校验发现 {n} 处错误：{what}。结果可能不准，请运行 gridmap validate 查看",
        "en": "⚠ Validation found {n} errors: {what}. Figures may be wrong; run gridmap validate",
    },
    "v_invalid": {"zh": "图形无效", "en": "invalid shape"},
    "v_overlap": {"zh": "图形重叠", "en": "overlap"},
    "v_duplicate": {"zh": "编号重复", "en": "duplicate id"},
    "v_null_id": {"zh": "缺少编号", "en": "missing id"},
    "v_empty": {"zh": "空图形", "en": "empty shape"},
    "v_outside_parent": {"zh": "超出上级范围", "en": "outside its parent"},
    "v_unknown_parent": {"zh": "上级编号不存在", "en": "unknown parent id"},
    "v_parent_mismatch": {"zh": "上级编号与位置不符", "en": "parent id disagrees with position"},
    "tiles_offline": {
        "zh": "底图无法加载（离线？），已显示道路和街道名称",
        "en": "Basemap tiles unavailable (offline?): roads and street names shown",
    },
    "road_names": {"zh": "街道名称", "en": "Street names"},
    "search_any": {
        "zh": "搜索网格、微网格、驿站、街道、楼栋",
        "en": "Search grids, micro-grids, stations, streets, buildings",
    },
    "kind_grid": {"zh": "网格", "en": "grid"},
    "kind_microgrid": {"zh": "微网格", "en": "micro-grid"},
    "kind_station": {"zh": "驿站", "en": "station"},
    "kind_street": {"zh": "街道", "en": "street"},
    "kind_building": {"zh": "楼栋", "en": "building"},
    "kind_pile": {"zh": "充电桩", "en": "charging pile"},
    "kind_parking": {"zh": "停车场", "en": "parking"},
    "show_more": {"zh": "展开", "en": "more"},
    "clusters": {"zh": "（聚合显示）", "en": " (clustered)"},
    "m": {"zh": "米", "en": "m"},
    "km": {"zh": "公里", "en": "km"},
}


def check_lang(lang: str) -> str:
    """Return ``lang`` if supported, else raise a GridmapError naming the choices."""
    if lang not in LANGS:
        raise GridmapError(f"unknown language '{lang}' (use one of: {', '.join(LANGS)})")
    return lang


def tr(key: str, lang: str, **fmt: object) -> str:
    """Translate ``key`` into ``lang`` and fill ``{placeholders}`` from ``fmt``."""
    text = STRINGS[key][lang]
    return text.format(**fmt) if fmt else text


def table(lang: str) -> dict[str, str]:
    """All strings for one language (embedded in the map for its own JS)."""
    return {k: v[lang] for k, v in STRINGS.items()}
