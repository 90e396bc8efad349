"""Taking requests in: one at a time (API, phone page, CLI) or from a ledger (CSV/XLSX).

Ledgers are read with the importer's table reader
(:func:`gridmap.ingest.importer.read_table`: UTF-8, UTF-8 with BOM or
GBK/GB18030 by :func:`~gridmap.ingest.importer.detect_encoding`, title rows
skipped, spreadsheet row numbers kept). Chinese headers such as 编号, 受理时间,
类别, 诉求内容, 地址, 经度, 纬度, 状态, 办结时间, 姓名, 电话 are recognised. Each
row becomes one request written in its own transaction, in ledger order, or
is reported by its row number: rows in = stored + reported.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from gridmap.errors import GridmapError
from gridmap.ingest.importer import normalise_header, read_table
from gridmap.requests import store
from gridmap.requests.model import (
    REQUESTS,
    STATUSES,
    RequestError,
    Rules,
    check_year,
    load_rules,
    now_utc,
    parse_time,
    status_of,
)
from gridmap.requests.routing import RequestRouter, Route

#: Ledger headers (after :func:`normalise_header`) for each request field.
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "request_id": ("request_id", "编号", "工单号", "工单编号", "诉求编号", "事件编号", "id"),
    "received_at": (
        "received_at",
        "受理时间",
        "登记时间",
        "接收时间",
        "反映时间",
        "来电时间",
        "上报时间",
        "收集时间",
    ),
    "category": ("category", "类别", "诉求类别", "问题类别", "分类", "类型", "事项类别"),
    "summary": ("summary", "诉求内容", "内容", "问题描述", "诉求", "反映问题", "事项", "描述"),
    "address": ("address", "地址", "住址", "诉求地址", "事发地址", "详细地址", "位置"),
    "lon": ("lon", "lng", "longitude", "经度", "x"),
    "lat": ("lat", "latitude", "纬度", "y"),
    "status": ("status", "状态", "办理状态", "处理状态", "当前状态"),
    "closed_at": ("closed_at", "办结时间", "结案时间", "完成时间", "办结日期"),
    "due_at": ("due_at", "办结时限", "截止时间", "应办结时间", "期限", "办理期限"),
    "resident_name": ("resident_name", "姓名", "诉求人", "反映人", "居民姓名", "联系人"),
    "resident_phone": ("resident_phone", "电话", "联系电话", "手机", "手机号", "联系方式"),
}


@dataclass
class RowProblem:
    """A ledger row that was not stored, and why."""

    row: int
    request_id: str | None
    message: str

    def to_dict(self) -> dict:
        return {"row": self.row, "request_id": self.request_id, "message": self.message}


@dataclass
class LedgerReport:
    """What :func:`import_ledger` did: rows in = len(stored) + len(problems)."""

    file: str
    encoding: str | None
    rows: int
    stored: list[tuple[int, str]] = field(default_factory=list)  # (row, request id)
    problems: list[RowProblem] = field(default_factory=list)
    review: list[str] = field(default_factory=list)  # stored ids sent to the review queue
    columns: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "encoding": self.encoding,
            "rows": self.rows,
            "stored": len(self.stored),
            "reported": len(self.problems),
            "review": len(self.review),
            "columns": self.columns,
            "stored_ids": [{"row": r, "request_id": i} for r, i in self.stored],
            "problems": [p.to_dict() for p in self.problems],
        }


def build_record(
    *,
    received_at: datetime,
    category: str | None,
    summary: str | None,
    address: str | None,
    route: Route,
    rules: Rules,
    request_id: str | None = None,
    status: str = "received",
    due_at: datetime | None = None,
    closed_at: datetime | None = None,
    resident_name: str | None = None,
    resident_phone: str | None = None,
    source_row: int | None = None,
) -> dict:
    """The ``requests`` row for a new request (category checked, due time set)."""
    check_year("received_at", received_at)
    check_year("due_at", due_at)
    check_year("closed_at", closed_at)
    cat = rules.category(category) if category else rules.categories.get("other")
    if category and cat is None:
        known = ", ".join(f"{c.zh}/{c.code}" for c in rules.categories.values())
        raise RequestError(f"unknown category '{category}' (categories: {known})")
    rec = {
        "request_id": request_id,
        "received_at": received_at,
        "status": status,
        "category": cat.code if cat else None,
        "summary": summary or None,
        "address": address or None,
        **route.columns(),
        "due_at": due_at or rules.due_at(received_at, cat),
        "closed_at": closed_at,
        "escalated": int(status == "escalated"),
        "urgent": int(bool(cat and cat.urgent)),
        "source_row": source_row,
        "resident_name": resident_name or None,
        "resident_phone": resident_phone or None,
    }
    return rec


def log_request(
    workspace,
    *,
    category: str | None,
    summary: str | None = None,
    address: str | None = None,
    lon: float | None = None,
    lat: float | None = None,
    crs: str | int = "wgs84",
    received_at: datetime | None = None,
    resident_name: str | None = None,
    resident_phone: str | None = None,
    actor_role: str = "staff",
    router: RequestRouter | None = None,
    rules: Rules | str | None = None,
    authorize: Callable[[dict], None] | None = None,
) -> dict:
    """Route and store one new request (status ``received``); returns its row.

    ``authorize`` is called with the routed record before anything is
    written (the API refuses requests outside the caller's grids there).
    """
    rules = load_rules(rules)
    router = router or RequestRouter(workspace)
    route = router.route(address=address, lon=lon, lat=lat, crs=crs)
    rec = build_record(
        received_at=received_at or now_utc(),
        category=category,
        summary=summary,
        address=address,
        route=route,
        rules=rules,
        resident_name=resident_name,
        resident_phone=resident_phone,
    )
    rid = store.add_request(
        workspace,
        rec,
        lon=route.lon,
        lat=route.lat,
        actor_role=actor_role,
        rules=rules,
        authorize=authorize,
    )
    return {**rec, "request_id": rid, "lon": route.lon, "lat": route.lat}


def _find_columns(columns: list[str]) -> dict[str, str]:
    norm = {normalise_header(c): c for c in columns}
    found: dict[str, str] = {}
    for key, aliases in HEADER_ALIASES.items():
        for a in aliases:
            col = norm.get(normalise_header(a))
            if col is not None and col not in found.values():
                found[key] = col
                break
    return found


def _cell(frame, row, col) -> str | None:
    if col is None:
        return None
    v = frame.at[row, col]
    v = "" if v is None else str(v).strip()
    return v or None


def _time(frame, row, col, tz):
    text = _cell(frame, row, col)
    try:
        return parse_time(text, tz)
    except ValueError:
        raise ValueError(f"{col} '{text}' is not a date/time (e.g. 2026-03-01 09:30)") from None


def _number(text: str | None, what: str) -> float | None:
    if text is None:
        return None
    try:
        v = float(text.replace("，", ".").replace(",", "."))
    except ValueError as exc:
        raise ValueError(f"{what} '{text}' is not a number") from exc
    if not np.isfinite(v):
        raise ValueError(f"{what} '{text}' is not a number")
    return v


def import_ledger(
    workspace,
    file: str | os.PathLike,
    *,
    encoding: str | None = None,
    sheet: str | int | None = None,
    crs: str | int = "wgs84",
    skip_bad_rows: bool = False,
    rules: Rules | str | None = None,
    router: RequestRouter | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> LedgerReport:
    """Import a ledger of requests (CSV/XLSX) into the workspace.

    Every row is checked first. With problems and ``skip_bad_rows=False``
    nothing is written and :class:`RequestError` names the rows; otherwise the
    good rows are written, each in its own transaction, in ledger order, and
    the bad ones are reported by spreadsheet row number. A row whose
    ``编号`` is already in the workspace is reported, not stored twice, so a
    ledger can be imported again after fixing its bad rows.

    Parameters
    ----------
    workspace
        Workspace GeoPackage (with its polygon layers: requests are routed).
    file
        CSV (UTF-8, UTF-8 BOM, GBK/GB18030) or XLSX ledger.
    encoding, sheet
        Override the encoding detection / pick the sheet.
    crs
        CRS of 经度/纬度 (``wgs84``, ``gcj02``, ``bd09`` or EPSG).
    skip_bad_rows
        Store the good rows even when some rows are bad.

    Returns
    -------
    LedgerReport
    """
    rules = load_rules(rules)
    path = Path(file)
    frame, enc = read_table(path, encoding=encoding, sheet=sheet)
    cols = _find_columns([str(c) for c in frame.columns])
    if "received_at" not in cols:
        raise RequestError(
            "the ledger has no column for the time a request was received (受理时间, 登记时间, "
            f"received_at); its columns: {', '.join(map(str, frame.columns))}",
            file=str(path),
        )
    if "address" not in cols and not ("lon" in cols and "lat" in cols):
        raise RequestError(
            "the ledger needs an address column (地址) or coordinates (经度, 纬度) to route "
            f"requests to their grids; its columns: {', '.join(map(str, frame.columns))}",
            file=str(path),
        )
    router = router or RequestRouter(workspace)
    tz = rules.tz
    existing = set(store.read_requests(workspace)["request_id"].dropna().astype(str))
    seen: dict[str, int] = {}
    report = LedgerReport(file=str(path), encoding=enc, rows=len(frame), columns=cols)
    prepared: list[tuple[int, dict, list[dict], Route]] = []
    coords: list[tuple[int, float, float]] = []
    parsed: dict[int, dict] = {}
    for row in frame.index:
        row = int(row)
        rid = _cell(frame, row, cols.get("request_id"))
        try:
            if rid is not None:
                if rid in seen:
                    raise ValueError(f"编号 {rid} appears twice (also row {seen[rid]})")
                seen[rid] = row
                if rid in existing:
                    raise ValueError(
                        f"request {rid} is in the workspace already (not imported twice)"
                    )
            received = _time(frame, row, cols["received_at"], tz)
            if received is None:
                raise ValueError("the time received (受理时间) is empty")
            status_text = _cell(frame, row, cols.get("status"))
            status = status_of(status_text) if status_text else "received"
            if status is None:
                raise ValueError(
                    f"unknown status '{status_text}' (use one of {', '.join(STATUSES)} "
                    "or 已受理/已派遣/办理中/已反馈/已办结/返工/延期/已上报社区)"
                )
            closed = _time(frame, row, cols.get("closed_at"), tz)
            if status == "closed" and closed is None:
                raise ValueError(
                    "the status is closed (已办结) but the time closed (办结时间) is empty"
                )
            if status != "closed" and closed is not None:
                raise ValueError(f"a time closed (办结时间) is given but the status is {status}")
            if closed is not None and closed < received:
                raise ValueError("the time closed (办结时间) is before the time received")
            due = _time(frame, row, cols.get("due_at"), tz)
            lon = _number(_cell(frame, row, cols.get("lon")), "经度 (longitude)")
            lat = _number(_cell(frame, row, cols.get("lat")), "纬度 (latitude)")
            if (lon is None) != (lat is None):
                raise ValueError("give both 经度 and 纬度, or neither")
            address = _cell(frame, row, cols.get("address"))
            if lon is None and address is None:
                raise ValueError("no address (地址) and no coordinates (经度/纬度)")
            category = _cell(frame, row, cols.get("category"))
            if category is not None and rules.category(category) is None:
                known = ", ".join(c.zh for c in rules.categories.values())
                raise ValueError(f"unknown category '{category}' (categories: {known})")
            if lon is not None:
                from gridmap.coords.crs import to_wgs84

                wx, wy = to_wgs84(lon, lat, crs)
                wx, wy = float(wx), float(wy)
                if not (abs(wx) <= 180 and abs(wy) <= 90):
                    raise ValueError(f"经度/纬度 {lon}, {lat} are not longitude/latitude")
                coords.append((row, wx, wy))
        except ValueError as exc:
            report.problems.append(RowProblem(row, rid, str(exc)))
            continue
        except GridmapError as exc:
            report.problems.append(RowProblem(row, rid, exc.message))
            continue
        parsed[row] = {
            "rid": rid,
            "received": received,
            "status": status,
            "status_text": status_text,
            "closed": closed,
            "due": due,
            "address": address,
            "category": category,
            "summary": _cell(frame, row, cols.get("summary")),
            "name": _cell(frame, row, cols.get("resident_name")),
            "phone": _cell(frame, row, cols.get("resident_phone")),
        }
    if report.problems and not skip_bad_rows:
        shown = "; ".join(f"row {p.row}: {p.message}" for p in report.problems[:5])
        more = f" (+{len(report.problems) - 5} more)" if len(report.problems) > 5 else ""
        raise RequestError(
            f"{len(report.problems)} of {len(frame)} rows cannot be imported, so nothing was "
            f"stored: {shown}{more}. Fix them, or pass skip_bad_rows to store the other rows.",
            file=str(path),
            layer=REQUESTS,
        )
    # the core join on all coordinates at once
    routes: dict[int, Route] = {}
    if coords:
        rows_c = [r for r, _, _ in coords if r in parsed]
        xy = {r: (x, y) for r, x, y in coords}
        for r, route in zip(
            rows_c,
            router.by_wgs84(
                np.array([xy[r][0] for r in rows_c]), np.array([xy[r][1] for r in rows_c])
            ),
            strict=True,
        ):
            routes[r] = route
    for row, p in parsed.items():
        route = routes.get(row) or router.by_address(p["address"])
        rec = build_record(
            received_at=p["received"],
            category=p["category"],
            summary=p["summary"],
            address=p["address"],
            route=route,
            rules=rules,
            request_id=p["rid"],
            status=p["status"],
            due_at=p["due"],
            closed_at=p["closed"],
            resident_name=p["name"],
            resident_phone=p["phone"],
            source_row=row,
        )
        events = [
            {
                "at": p["received"],
                "from_status": None,
                "to_status": "received",
                "actor_role": "ledger",
                "note": f"imported from {path.name} row {row}",
                "due_at": rec["due_at"],
            }
        ]
        if p["status"] != "received":
            events.append(
                {
                    "at": p["closed"] or p["received"],
                    "from_status": "received",
                    "to_status": p["status"],
                    "actor_role": "ledger",
                    "note": f"ledger status: {p['status_text']}",
                }
            )
        prepared.append((row, rec, events, route))
    for k, (row, rec, events, route) in enumerate(prepared, start=1):
        try:
            with store.transaction(workspace) as con:
                rid = store.insert_request(
                    con, rec, events, rules=rules, lon=route.lon, lat=route.lat
                )
        except RequestError as exc:  # the id arrived meanwhile (another import)
            report.problems.append(RowProblem(row, rec.get("request_id"), exc.message))
            continue
        report.stored.append((row, rid))
        if rec["review"]:
            report.review.append(rid)
        if progress:
            progress(k, len(prepared))
    report.problems.sort(key=lambda p: p.row)
    return report
