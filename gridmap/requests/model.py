"""Resident requests (诉求): the schema, the rules file and the state machine.

A request is a row of the ``requests`` point layer; every change of status is a
row of the ``request_events`` table (nothing is overwritten: the request row
carries the current status, the events carry the history). The statuses are
fixed: received (收集/受理) → dispatched (分流/派遣) → in_progress (办理/处置) →
answered (反馈) → closed (核查结案), with returned (返工), deferred (延期) and
escalated (上报社区). Which moves are allowed, the categories and their time
limits come from a rules file (``gridmap/requests/requests.toml`` by default).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

from gridmap.errors import GridmapError

#: Layer and table names (DESIGN.md).
REQUESTS = "requests"
REQUEST_EVENTS = "request_events"

#: The statuses, in workflow order.
STATUSES: tuple[str, ...] = (
    "received",
    "dispatched",
    "in_progress",
    "answered",
    "closed",
    "returned",
    "deferred",
    "escalated",
)
#: Chinese labels of the statuses (pages, tables).
STATUS_ZH: dict[str, str] = {
    "received": "已受理",
    "dispatched": "已派遣",
    "in_progress": "办理中",
    "answered": "已反馈",
    "closed": "已办结",
    "returned": "返工",
    "deferred": "延期",
    "escalated": "已上报社区",
}
#: Words real ledgers use for each status (matched after stripping spaces).
STATUS_WORDS: dict[str, tuple[str, ...]] = {
    "received": ("received", "已受理", "受理", "待分流", "待派遣", "新建", "已登记", "登记"),
    "dispatched": ("dispatched", "已派遣", "派遣", "已分流", "分流", "已派单", "待处理"),
    "in_progress": ("in_progress", "办理中", "处理中", "处置中", "正在办理", "在办"),
    "answered": ("answered", "已反馈", "反馈", "已答复", "答复", "已回复", "待核查"),
    "closed": ("closed", "已办结", "办结", "已结案", "结案", "已完成", "完成", "已解决"),
    "returned": ("returned", "返工", "退回", "已退回", "重办"),
    "deferred": ("deferred", "延期", "已延期", "延期办理"),
    "escalated": ("escalated", "已上报社区", "上报社区", "上报", "已上报", "提级"),
}
#: Statuses that count as open (not closed).
OPEN_STATUSES = tuple(s for s in STATUSES if s != "closed")

#: Columns of the ``requests`` layer (besides its geometry), with SQLite types.
REQUEST_COLUMNS: dict[str, str] = {
    "request_id": "TEXT",
    "received_at": "DATETIME",
    "status": "TEXT",
    "category": "TEXT",
    "summary": "TEXT",
    "address": "TEXT",
    "located_by": "TEXT",
    "microgrid_id": "TEXT",
    "grid_id": "TEXT",
    "zone_id": "TEXT",
    "community_id": "TEXT",
    "assigned_level": "TEXT",
    "review": "INTEGER",
    "candidates": "TEXT",
    "due_at": "DATETIME",
    "closed_at": "DATETIME",
    "escalated": "INTEGER",
    "urgent": "INTEGER",
    "source_row": "INTEGER",
    "resident_name": "TEXT",
    "resident_phone": "TEXT",
}
#: Columns of the ``request_events`` table.
EVENT_COLUMNS: dict[str, str] = {
    "request_id": "TEXT",
    "at": "DATETIME",
    "from_status": "TEXT",
    "to_status": "TEXT",
    "actor_role": "TEXT",
    "note": "TEXT",
    "due_at": "DATETIME",
}
#: Columns holding personal data or free text a resident gave: never shared.
PRIVATE_COLUMNS: tuple[str, ...] = (
    "summary",
    "address",
    "candidates",
    "resident_name",
    "resident_phone",
)
#: How a request was located (``located_by``).
LOCATED_BY = ("coordinate", "address", "ambiguous", "not_found", "none", "manual")


class RequestError(GridmapError):
    """A request or a request ledger is not acceptable (bad field, unknown id...)."""

    http_status = 422


class RequestNotFoundError(RequestError):
    """No request with this id."""

    http_status = 404


class IllegalTransitionError(RequestError):
    """A status change the workflow does not allow."""

    http_status = 409


class RulesError(GridmapError):
    """The requests rules file cannot be read or is inconsistent."""

    http_status = 500


@dataclass(frozen=True)
class Category:
    """One request category with its time limit and where the limit comes from."""

    code: str
    zh: str
    en: str
    close_hours: float
    urgent: bool = False
    facility: str | None = None
    source: str = ""

    def label(self, lang: str = "zh") -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True)
class Rules:
    """Workflow rules: allowed transitions, categories, time limits, time zone."""

    transitions: dict[str, tuple[str, ...]]
    categories: dict[str, Category]
    dispatch_minutes: float = 30
    dispatch_minutes_urgent: float = 10
    close_hours: float = 168
    timezone: str = "Asia/Shanghai"
    source: str = ""
    closure_bands: tuple[float, float] = (0.90, 0.98)
    map_min_count: int = 5
    _words: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def allowed_next(self, status: str) -> tuple[str, ...]:
        """The statuses a request in ``status`` may move to."""
        return self.transitions.get(status, ())

    def check_transition(self, request_id: str, current: str, to: str) -> None:
        """Raise :class:`IllegalTransitionError` unless ``current`` → ``to`` is allowed."""
        if to not in STATUSES:
            raise IllegalTransitionError(
                f"request {request_id}: '{to}' is not a status (statuses: {', '.join(STATUSES)})",
                ids=[request_id],
            )
        allowed = self.allowed_next(current)
        if to not in allowed:
            nxt = ", ".join(allowed) if allowed else "none: the request is closed"
            raise IllegalTransitionError(
                f"request {request_id} is '{current}' and cannot move to '{to}'; "
                f"allowed next: {nxt}",
            )

    def category(self, text: str | None) -> Category | None:
        """The category for a code or a zh/en label (None when unknown)."""
        if text is None:
            return None
        key = "".join(str(text).split()).lower()
        code = self._words.get(key)
        return self.categories.get(code) if code else None

    def due_at(self, received_at: datetime, category: Category | None) -> datetime:
        """When a request received at ``received_at`` must be closed."""
        hours = category.close_hours if category else self.close_hours
        return received_at + timedelta(hours=float(hours))


def default_rules_path() -> Path:
    """The packaged ``requests.toml``."""
    return Path(str(resources.files("gridmap.requests").joinpath("requests.toml")))


_CACHE: dict[str, Rules] = {}


def load_rules(path: str | os.PathLike | Rules | None = None) -> Rules:
    """Read a rules file (default: the packaged ``requests.toml``).

    Raises
    ------
    RulesError
        The file is missing, not TOML, or inconsistent (an unknown status in
        ``[transitions]``, a category without ``code``/``close_hours``).
    """
    if isinstance(path, Rules):
        return path
    p = Path(path) if path else default_rules_path()
    key = str(p.resolve())
    if key in _CACHE:
        return _CACHE[key]
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RulesError(f"cannot read the rules file ({exc.strerror})", file=str(p)) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RulesError(f"the rules file is not valid TOML ({exc})", file=str(p)) from exc
    trans_raw = data.get("transitions") or {}
    transitions: dict[str, tuple[str, ...]] = {}
    for status in STATUSES:
        nxt = trans_raw.get(status, [])
        bad = [s for s in [status, *nxt] if s not in STATUSES]
        if bad or not isinstance(nxt, list):
            raise RulesError(
                f"[transitions] {status}: unknown status {', '.join(map(str, bad))} "
                f"(statuses: {', '.join(STATUSES)})",
                file=str(p),
            )
        transitions[status] = tuple(nxt)
    unknown = [k for k in trans_raw if k not in STATUSES]
    if unknown:
        raise RulesError(
            f"[transitions] has unknown status {', '.join(unknown)} "
            f"(statuses: {', '.join(STATUSES)})",
            file=str(p),
        )
    limits = data.get("limits") or {}
    cats: dict[str, Category] = {}
    words: dict[str, str] = {}
    for k, item in enumerate(data.get("categories") or [], start=1):
        try:
            cat = Category(
                code=str(item["code"]),
                zh=str(item.get("zh", item["code"])),
                en=str(item.get("en", item["code"])),
                close_hours=float(item["close_hours"]),
                urgent=bool(item.get("urgent", False)),
                facility=item.get("facility"),
                source=str(item.get("source", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise RulesError(
                f"category {k} needs 'code' and a numeric 'close_hours' ({exc})", file=str(p)
            ) from exc
        if cat.close_hours <= 0:
            raise RulesError(f"category {cat.code}: close_hours must be > 0", file=str(p))
        cats[cat.code] = cat
        for w in (cat.code, cat.zh, cat.en):
            words["".join(w.split()).lower()] = cat.code
    rules = Rules(
        transitions=transitions,
        categories=cats,
        dispatch_minutes=float(limits.get("dispatch_minutes", 30)),
        dispatch_minutes_urgent=float(limits.get("dispatch_minutes_urgent", 10)),
        close_hours=float(limits.get("close_hours", 168)),
        timezone=str(data.get("timezone", "Asia/Shanghai")),
        source=str(p),
        closure_bands=tuple(
            float(v) for v in (data.get("map") or {}).get("closure_bands", (0.9, 0.98))
        )[:2],
        map_min_count=int((data.get("map") or {}).get("min_count", 5)),
        _words=words,
    )
    try:
        rules.tz  # noqa: B018 - check the zone name now
    except Exception as exc:
        raise RulesError(f"unknown timezone '{rules.timezone}'", file=str(p)) from exc
    _CACHE[key] = rules
    return rules


def status_of(text: str | None) -> str | None:
    """The status for a ledger's word (已办结 → closed); None when unknown."""
    if text is None:
        return None
    key = "".join(str(text).split()).lower()
    for status, words in STATUS_WORDS.items():
        if key in (w.lower() for w in words):
            return status
    return None


# ---------------------------------------------------------------- time handling
#: Years a request's timestamps may fall in; anything else is a typing mistake, refused on entry
#: (a year such as 385 would also not survive the ISO 8601 round trip through the GeoPackage).
YEARS = (1970, 2199)


def check_year(name: str, dt: datetime | None) -> None:
    """Refuse a timestamp outside :data:`YEARS` (a RequestError naming the field)."""
    if dt is not None and not YEARS[0] <= dt.year <= YEARS[1]:
        raise RequestError(
            f"{name} {dt.isoformat()} is not a plausible date (years {YEARS[0]}-{YEARS[1]})"
        )


def parse_time(value, tz: ZoneInfo) -> datetime | None:
    """A timestamp from a ledger cell or an API field, as an aware datetime.

    Accepts ISO 8601 (``2026-03-01T09:30``, with or without offset), ``2026-03-01
    09:30[:ss]``, ``2026/3/1 9:30``, ``2026年3月1日 9:30`` and dates alone; times
    without an offset are read in ``tz``. Returns None for empty cells; raises
    ValueError for anything else.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        if not YEARS[0] <= value.year <= YEARS[1]:
            raise ValueError(f"not a plausible date (year {value.year}): {value.isoformat()}")
        return value if value.tzinfo else value.replace(tzinfo=tz)
    text = str(value).strip()
    if not text or text.lower() in ("nan", "nat", "none"):
        return None
    import re

    t = text.replace("年", "-").replace("月", "-").replace("日", " ").replace("/", "-")
    t = re.sub(r"\s+", " ", t).strip()
    t = t.replace("Z", "+00:00") if t.endswith("Z") else t
    m = re.match(
        r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?(.*)$", t
    )
    if not m:
        raise ValueError(f"not a date/time: {text!r}")
    y, mo, d, hh, mm, ss, frac, rest = m.groups()
    if not YEARS[0] <= int(y) <= YEARS[1]:
        raise ValueError(f"not a plausible date (year {int(y)}): {text!r}")
    base = f"{int(y):04d}-{int(mo):02d}-{int(d):02d}T{int(hh or 0):02d}:{int(mm or 0):02d}:{int(ss or 0):02d}"
    rest = rest.strip()
    dt = (
        datetime.fromisoformat(base + (frac or "") + rest)
        if rest
        else datetime.fromisoformat(base + (frac or ""))
    )
    return dt if dt.tzinfo else dt.replace(tzinfo=tz)


def format_time(dt: datetime | None) -> str | None:
    """How timestamps are stored: ISO 8601 in UTC with a ``Z`` (GeoPackage DATETIME)."""
    if dt is None:
        return None
    return (
        dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{dt.astimezone(UTC).microsecond // 1000:03d}Z"
    )


def now_utc() -> datetime:
    return datetime.now(UTC)
