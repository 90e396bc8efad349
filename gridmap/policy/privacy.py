"""The privacy policy: which columns of each layer each role may see (an allow-list).

This module is the one place that decides what is personal. The HTTP API, the
meeting map, exports and ``gridmap validate`` all ask it; nothing else keeps a
list of "personal-looking" column names.

Roles
-----
``anonymous``
    No key (and ``public`` keys). Sees the layer's *public* columns, and only
    of layers whose rows are public (households, requests: aggregates only).
``staff``
    A staff key scoped to some grids. Sees the public columns everywhere and,
    for rows inside its grids, the layer's *staff* columns too.
``admin``
    Every column of every layer.

A column that no rule lists is private: only admin keys see it. Defaults come
from the schema (:mod:`gridmap.workspace.schema`): a layer's required and
optional columns are public except those the schema marks personal, which are
staff columns. Point layers also show the ids ``gridmap assign`` writes.

Owner settings
--------------
A workspace owner can change the defaults in a TOML file next to the
workspace, named after it (``community.gpkg`` -> ``community.privacy.toml``),
or passed explicitly::

    # community.privacy.toml
    [public]                       # anyone may see these columns
    grids = ["population_band"]
    service_stations = ["phone"]   # the station's public service phone
    [staff]                        # staff keys, rows inside their grids
    households = ["证件号"]
    [private]                      # defaults to hide from everyone but admin
    grids = ["name"]

Each section maps a layer name to a list of column names (exact spelling).
``[private]`` wins over the other two. Rows of households and requests never
become public: their public columns only feed aggregates (counts, sums).

Contacts (one rule everywhere)
------------------------------
Grid-worker (``staff_name``, ``staff_phone`` of a grid) and micro-grid-leader
contacts (``leader_name``, ``leader_phone``) follow :func:`may_see_contact`:
admin sees all; a staff key sees the contacts of rows inside its grids and, in
the answer to a lookup, the grid worker of the grid that owns the answer (a
case is handed to that grid); never a micro-grid leader outside its grids;
anonymous callers see none.
"""

from __future__ import annotations

import os
import threading
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from gridmap.errors import GridmapError
from gridmap.workspace.schema import (
    ASSIGN_COLUMNS,
    GRIDS,
    HOUSEHOLDS,
    LAYERS,
    MICROGRIDS,
    POINT_LAYERS,
)

ANONYMOUS = "anonymous"
STAFF = "staff"
ADMIN = "admin"
ROLES = (ANONYMOUS, STAFF, ADMIN)

GRID_STATS = "grid_stats"
COVERAGE = "coverage"  # per-level coverage aggregates (API answers, coverage exports)
REQUESTS = "requests"
REQUEST_EVENTS = "request_events"

#: Contact columns of the grid worker (grids) and the micro-grid leader (microgrids).
CONTACT_COLUMNS: dict[str, tuple[str, ...]] = {
    GRIDS: ("staff_name", "staff_phone"),
    MICROGRIDS: ("leader_name", "leader_phone"),
}
GRID_WORKER = "grid_worker"
MICROGRID_LEADER = "microgrid_leader"

SETTINGS_SUFFIX = ".privacy.toml"
_SECTIONS = ("public", "staff", "private")


class PrivacyFileError(GridmapError):
    """The privacy settings file cannot be read or is malformed."""

    http_status = 500


@dataclass(frozen=True)
class LayerRule:
    """Who may see which columns of one layer.

    Attributes
    ----------
    public
        Columns anyone may see.
    staff
        Extra columns a staff key sees for rows inside its grids.
    rows_public
        False where anonymous callers get aggregates only (households,
        requests): their public columns may feed counts and sums, never rows.
    numeric_public
        Derived aggregate layers (``grid_stats``): every numeric column is
        public as well (counts, shares); text columns only if listed.
    """

    public: frozenset[str] = frozenset()
    staff: frozenset[str] = frozenset()
    rows_public: bool = True
    numeric_public: bool = False
    private: frozenset[str] = field(default=frozenset())


def _schema_rules() -> dict[str, LayerRule]:
    rules: dict[str, LayerRule] = {}
    assigned = frozenset((*ASSIGN_COLUMNS, "assigned_level"))
    for name, spec in LAYERS.items():
        personal = frozenset(spec.personal)
        public = frozenset((*spec.required, *spec.optional)) - personal
        if name in POINT_LAYERS:
            public |= assigned
        rules[name] = LayerRule(public=public, staff=personal)
    hh = rules[HOUSEHOLDS]
    rules[HOUSEHOLDS] = replace(hh, public=hh.public - {"address"}, rows_public=False)
    rules[REQUESTS] = LayerRule(
        public=frozenset(("request_id", "received_at", "status", "category", "due_at", "closed_at"))
        | frozenset(("escalated", "located_by", "assigned_level", *ASSIGN_COLUMNS))
        | frozenset(("review", "urgent")),  # workflow flags (gridmap.requests)
        # candidates: the lookup's candidate addresses of an unclear request
        staff=frozenset(("summary", "address", "resident_name", "resident_phone", "candidates")),
        rows_public=False,
    )
    rules[REQUEST_EVENTS] = LayerRule(
        public=frozenset(("request_id", "at", "to_status", "from_status", "actor_role")),
        staff=frozenset(("note",)),
        rows_public=False,
    )
    rules[GRID_STATS] = LayerRule(
        public=frozenset(("grid_id", "name", "zone_id", "community_id")), numeric_public=True
    )
    rules[COVERAGE] = LayerRule(
        public=frozenset((*ASSIGN_COLUMNS, "name", "level", "facility")), numeric_public=True
    )
    return rules


def _is_numeric(frame, column) -> bool:
    """True if ``frame`` is a DataFrame whose ``column`` holds numbers (or booleans)."""
    dtypes = getattr(frame, "dtypes", None)
    if dtypes is None:
        return False
    try:
        return dtypes[column].kind in "biuf"
    except (KeyError, AttributeError, TypeError):
        return False


@dataclass(frozen=True)
class PrivacyPolicy:
    """The allow-list for every layer (defaults plus the owner's settings).

    Use :data:`DEFAULT`, :func:`load_policy` or :func:`policy_for_workspace`.
    """

    rules: Mapping[str, LayerRule]
    source: str | None = None

    def rule(self, layer: str) -> LayerRule:
        """The rule of ``layer``; a layer the policy does not know is admin-only."""
        return self.rules.get(layer) or LayerRule(rows_public=False)

    def rows_public(self, layer: str) -> bool:
        """True if anonymous callers may read rows of ``layer`` (else aggregates only)."""
        return self.rule(layer).rows_public and layer in self.rules

    def is_visible(self, layer: str, column: str, role: str, *, numeric: bool = False) -> bool:
        """True if ``role`` may see ``column`` of ``layer`` (for staff: rows in scope).

        ``numeric`` says the column holds numbers (matters for aggregate layers).
        """
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        column = str(column)
        if column == "geometry" or role == ADMIN:
            return True
        r = self.rule(layer)
        if column in r.private:
            return False
        if column in r.public or (r.numeric_public and numeric):
            return True
        return role == STAFF and column in r.staff

    def visible_columns(self, layer: str, columns, role: str) -> list[str]:
        """The columns of ``columns`` (names or a DataFrame) that ``role`` may see, in order."""
        return [
            c for c in columns if self.is_visible(layer, c, role, numeric=_is_numeric(columns, c))
        ]

    def private_columns(self, layer: str, columns, role: str = ANONYMOUS) -> list[str]:
        """The columns of ``columns`` (names or a DataFrame) that ``role`` may not see."""
        return [
            c
            for c in columns
            if not self.is_visible(layer, c, role, numeric=_is_numeric(columns, c))
        ]

    def staff_only_columns(self, layer: str, columns) -> list[str]:
        """Columns a staff key sees inside its grids but an anonymous caller never sees."""
        return [
            c
            for c in columns
            if self.is_visible(layer, c, STAFF, numeric=_is_numeric(columns, c))
            and not self.is_visible(layer, c, ANONYMOUS, numeric=_is_numeric(columns, c))
        ]

    def public_record(self, layer: str, record: Mapping) -> dict:
        """``record`` (one row as a dict) without the keys anyone may not see."""
        return {
            k: v
            for k, v in record.items()
            if self.is_visible(layer, k, ANONYMOUS, numeric=isinstance(v, (bool, int, float)))
        }

    def public_frame(self, layer: str, frame):
        """``frame`` reduced to the columns anyone may see (rows untouched)."""
        return frame[self.visible_columns(layer, frame, ANONYMOUS)]

    def with_settings(self, data: Mapping, source: str | None = None) -> PrivacyPolicy:
        """A copy with an owner's ``[public]``, ``[staff]``, ``[private]`` settings applied."""
        src = source or "privacy settings"
        unknown = [k for k in data if k not in _SECTIONS]
        if unknown:
            raise PrivacyFileError(
                f"unknown section [{unknown[0]}]; use [public], [staff] or [private]", file=src
            )
        rules = dict(self.rules)
        for section in _SECTIONS:
            table = data.get(section, {})
            if not isinstance(table, Mapping):
                raise PrivacyFileError(
                    f"[{section}] must map layer names to lists of column names", file=src
                )
            for layer, cols in table.items():
                if not isinstance(cols, list) or not all(isinstance(c, str) for c in cols):
                    raise PrivacyFileError(
                        f"[{section}] {layer} must be a list of column names, "
                        f'e.g. {layer} = ["column"]',
                        file=src,
                        layer=str(layer),
                    )
                # a layer the defaults do not know gets public rows only by a [public] entry
                r = rules.get(layer) or LayerRule(rows_public=section == "public")
                names = frozenset(cols)
                if section == "public":
                    r = replace(r, public=r.public | names, private=r.private - names)
                elif section == "staff":
                    r = replace(r, staff=r.staff | names, private=r.private - names)
                else:
                    r = replace(r, private=r.private | names)
                rules[layer] = r
        # [private] wins whatever the order of sections in the file
        for layer, cols in (data.get("private") or {}).items():
            rules[layer] = replace(rules[layer], private=rules[layer].private | frozenset(cols))
        return PrivacyPolicy(rules, source=src)

    def table(self) -> list[dict]:
        """One row per layer and role: the columns listed for it (for docs and notes)."""
        out = []
        for layer, r in self.rules.items():
            pub = sorted(r.public - r.private)
            if r.numeric_public:
                pub.append("(every numeric column)")
            staff = sorted((r.public | r.staff) - r.private)
            if r.numeric_public:
                staff.append("(every numeric column)")
            rows = "rows" if r.rows_public else "aggregates only"
            out.append({"layer": layer, "role": ANONYMOUS, "rows": rows, "columns": pub})
            out.append(
                {"layer": layer, "role": STAFF, "rows": "rows in its grids", "columns": staff}
            )
            out.append({"layer": layer, "role": ADMIN, "rows": "all", "columns": ["(all)"]})
        return out


#: The defaults, without any owner settings.
DEFAULT = PrivacyPolicy(_schema_rules(), source="defaults")

#: Column names the schema marks personal on any layer (type hints for the importer:
#: such columns are kept as text). Not a privacy decision: that is :class:`PrivacyPolicy`.
SCHEMA_PERSONAL: frozenset[str] = frozenset(c for r in DEFAULT.rules.values() for c in r.staff)


def settings_path_for(workspace: str | os.PathLike) -> Path:
    """Where the owner's settings of ``workspace`` live: ``NAME.privacy.toml`` beside it."""
    p = Path(workspace)
    return p.with_name(p.stem + SETTINGS_SUFFIX)


def load_policy(path: str | os.PathLike | None) -> PrivacyPolicy:
    """The default policy with the owner's settings file ``path`` applied (None: defaults).

    Raises
    ------
    PrivacyFileError
        The file cannot be read or is not in the documented format.
    """
    if path is None:
        return DEFAULT
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PrivacyFileError(
            f"cannot read the privacy settings ({exc.strerror})", file=str(p)
        ) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PrivacyFileError(
            f"the privacy settings are not valid TOML ({exc})", file=str(p)
        ) from exc
    return DEFAULT.with_settings(data, source=str(p))


_cache: dict[Path, tuple[tuple[int, int] | None, PrivacyPolicy]] = {}
_cache_lock = threading.Lock()


def policy_for_workspace(
    workspace: str | os.PathLike | None, settings: str | os.PathLike | None = None
) -> PrivacyPolicy:
    """The policy for ``workspace``: ``settings`` if given, else ``NAME.privacy.toml`` beside it.

    Re-read when the settings file changes (size or modification time).
    """
    if settings is None:
        if workspace is None:
            return DEFAULT
        settings = settings_path_for(workspace)
        if not settings.exists():
            return DEFAULT
    p = Path(settings)
    try:
        st = p.stat()
        sig = (st.st_size, st.st_mtime_ns)
    except OSError:
        sig = None
    with _cache_lock:
        hit = _cache.get(p)
        if hit is not None and hit[0] == sig and sig is not None:
            return hit[1]
    policy = load_policy(p)
    with _cache_lock:
        _cache[p] = (sig, policy)
        while len(_cache) > 64:
            _cache.pop(next(iter(_cache)))
    return policy


def may_see_contact(
    kind: str,
    role: str,
    scope: Iterable[str],
    contact_grid: str | None,
    answer_grid: str | None = None,
) -> bool:
    """The one contact rule for /locate, OGC items, maps and exports.

    Parameters
    ----------
    kind
        ``"grid_worker"`` (a grid's staff_name/staff_phone) or
        ``"microgrid_leader"`` (a micro-grid's leader_name/leader_phone).
    role
        ``anonymous``, ``staff`` or ``admin``.
    scope
        The staff key's grids.
    contact_grid
        The grid the contact belongs to (the micro-grid's grid for a leader).
    answer_grid
        In a lookup answer, the grid that owns the answer; None elsewhere.

    Returns
    -------
    bool
        Admin: always. Staff: inside its grids; and the grid worker of the grid
        that owns a lookup answer. Anonymous: never.
    """
    if role == ADMIN:
        return True
    if role != STAFF or contact_grid is None:
        return False
    if contact_grid in set(scope):
        return True
    return kind == GRID_WORKER and answer_grid is not None and contact_grid == answer_grid
