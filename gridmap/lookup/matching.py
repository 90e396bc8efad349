"""Which micro-grid, grid, zone and community own an address or a coordinate.

Community staff type an address the way a resident says it, or pick a point on
a phone map (Amap: GCJ-02), and need the owning micro-grid and grid with the
grid worker (网格员) and micro-grid leader to call. A wrong answer sends a
resident's request to the wrong person, so every answer carries a
``match_level`` and a ``score``, and anything less than clear comes back as
``status="ambiguous"`` with the candidates instead of a guess.

Matching an address (see :func:`gridmap.lookup.address.parse_address` for the
normalisation) runs in three steps:

1. **exact**: street, building, unit and room all equal a registry record;
2. **building**: the street and building (and unit, if given) are known but the
   room is not given or not in the registry; the building's owner answers when
   all its households share one owner, otherwise the answer is ambiguous;
3. **fuzzy**: the street/compound name is compared with rapidfuzz's normalised
   Levenshtein similarity (character based, so unspaced Chinese works) while building, unit and room must still
   agree. A fuzzy answer needs a street score of at least ``accept`` and a
   clear lead (``margin``) over every other street, else it is ambiguous.

Coordinates are answered by the core join (:mod:`gridmap.join.core`) with the
hierarchy and its locators built once per registry, plus the distance to the
micro-grid's and grid's boundary (a warning under ``near_boundary_m``) and the
nearest service station.
"""

from __future__ import annotations

import os
import re
import threading
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from gridmap.coords.crs import metric_crs_for, parse_crs, to_wgs84
from gridmap.errors import (
    AddressError,
    CoordinateError,
    GridmapError,
    InputFileError,
    LayerNotFoundError,
)
from gridmap.ingest.importer import detect_encoding
from gridmap.join.core import (
    Hierarchy,
    assign_arrays,
    assign_points,
    build_hierarchy,
    point_coordinates,
)
from gridmap.lookup.address import ParsedAddress, format_address, parse_address, split_road_number
from gridmap.policy.ids import normalise_id
from gridmap.workspace.schema import ASSIGN_COLUMNS, GRIDS, HOUSEHOLDS, LAYERS, MICROGRIDS

#: Street score (0-100) a fuzzy answer needs to be given with status "ok".
ACCEPT_SCORE = 60.0
#: Streets scoring below this are not even listed as candidates.
CANDIDATE_SCORE = 45.0
#: A fuzzy answer must lead every other street by this many points.
MARGIN = 5.0
#: Score of an answer at building level (room not given or unknown).
BUILDING_SCORE = 90.0
#: Street score when the compound agrees but the query names another road before it.
ROAD_MISMATCH_SCORE = 90.0
#: Distance to a boundary (metres) under which a coordinate answer warns.
NEAR_BOUNDARY_M = 5.0
#: Street-name suffixes of administrative units before a known street name.
_ADMIN_TAILS = ("省", "市", "区", "县", "旗", "镇", "乡", "街道", "办事处", "社区", "居委会")
#: A stripped prefix that starts with a province or city: a postal prefix, not a street name.
_POSTAL_PREFIX_RE = re.compile(r"^.{2,12}?(?:省|自治区|特别行政区|市)")
_NO_ADDRESSES = (
    "the workspace has no addresses to look up: the households layer needs an 'address' "
    "column (or add an 'addresses' or 'buildings' layer); coordinates still work"
)
#: Columns giving a building's 小区 (compound) names besides its address: aliases.
ALIAS_COLUMNS = ("小区", "小区名称", "小区名", "小区别名", "别名", "alias", "aliases", "compound")
_ALIAS_SPLIT_RE = re.compile(r"[;；,，、/|]")
#: Layers besides households that may carry addresses.
ADDRESS_LAYERS = ("addresses", "buildings")
ADDRESS_COLUMNS = ("address", "地址", "住址", "addr", "full_address", "门牌地址")
#: Words that mark an address column under another name (详细地址, 家庭住址, 现住址...).
ADDRESS_WORDS = ("地址", "住址", "address")

#: Where the grid worker's and the micro-grid leader's name and phone may be, best first
#: (the schema's names, then the words real ledgers use).
STAFF_NAME_COLUMNS = ("staff_name", "网格员", "网格员姓名", "网格长", "负责人", "联系人", "staff")
STAFF_PHONE_COLUMNS = (
    "staff_phone",
    "网格员电话",
    "网格员手机",
    "联系电话",
    "电话",
    "手机",
    "手机号",
    "联系方式",
    "phone",
)
LEADER_NAME_COLUMNS = (
    "leader_name",
    "中心户",
    "党员中心户",
    "中心户姓名",
    "微网格长",
    "微网格员",
    "负责人",
    "联系人",
    "leader",
)
LEADER_PHONE_COLUMNS = (
    "leader_phone",
    "中心户电话",
    "中心户手机",
    "联系电话",
    "电话",
    "手机",
    "手机号",
    "联系方式",
    "phone",
)

Owner = tuple[str | None, str | None, str | None, str | None]


@dataclass
class LocateResult:
    """The answer to one lookup.

    ``microgrid_id``, ``grid_id``, ``zone_id``, ``community_id`` are None where
    nothing owns the place or the answer is not certain (status
    ``"ambiguous"``: see ``candidates``).
    """

    query: str | None
    kind: str  # "address" or "coordinate"
    status: str  # "ok" | "ambiguous" | "not_found"
    match_level: str  # "exact" | "building" | "fuzzy" | "coordinate" | "none"
    score: float
    microgrid_id: str | None = None
    grid_id: str | None = None
    zone_id: str | None = None
    community_id: str | None = None
    matched_address: str | None = None
    candidates: list[dict] = field(default_factory=list)
    parsed: dict | None = None
    grid_worker: dict | None = None
    microgrid_leader: dict | None = None
    lon: float | None = None
    lat: float | None = None
    crs: str | None = None
    assigned_level: str | None = None
    boundary_m: dict[str, float | None] = field(default_factory=dict)
    neighbours: dict[str, list[str]] = field(default_factory=dict)
    nearest_station: dict | None = None
    nearest_microgrid: dict | None = None
    warnings: list[str] = field(default_factory=list)
    message: str = ""
    #: Machine-readable remarks: ``room_unknown``, ``street_corrected``, ``street_transliterated``,
    #: ``door_number_ignored``, ``street_after``, ``no_microgrid`` (see docs/lookup.md).
    flags: list[str] = field(default_factory=list)

    @property
    def owner(self) -> Owner:
        return (self.microgrid_id, self.grid_id, self.zone_id, self.community_id)

    def to_dict(self, include_contacts: bool = True) -> dict:
        """JSON-ready dict (docs/design.md shape: the four ids, matched address, score, ...)."""
        d: dict[str, Any] = {
            "query": self.query,
            "kind": self.kind,
            "status": self.status,
            "match_level": self.match_level,
            "score": round(float(self.score), 1),
            "microgrid_id": self.microgrid_id,
            "grid_id": self.grid_id,
            "zone_id": self.zone_id,
            "community_id": self.community_id,
            "matched_address": self.matched_address,
            "candidates": self.candidates,
            "message": self.message,
            "warnings": list(self.warnings),
            "flags": list(self.flags),
        }
        if self.kind == "address":
            d["parsed"] = self.parsed
            d["nearest_microgrid"] = self.nearest_microgrid
        else:
            d.update(
                {
                    "lon": self.lon,
                    "lat": self.lat,
                    "crs": self.crs,
                    "assigned_level": self.assigned_level,
                    "boundary_m": self.boundary_m,
                    "neighbours": self.neighbours,
                    "nearest_station": self.nearest_station,
                    "nearest_microgrid": self.nearest_microgrid,
                }
            )
        if include_contacts:
            d["grid_worker"] = self.grid_worker
            d["microgrid_leader"] = self.microgrid_leader
        return d


def _first_column(df: pd.DataFrame, options: Sequence[str]) -> str | None:
    """The first of ``options`` that is a column of ``df`` (case-insensitive), or None."""
    lower = {str(c).strip().lower(): c for c in df.columns}
    return next((lower[o.lower()] for o in options if o.lower() in lower), None)


def _find_column(
    df: pd.DataFrame,
    wanted: str | None,
    options: Sequence[str],
    what: str,
    source: str,
    contains: Sequence[str] = (),
    param: str = "column",
) -> str:
    """The column holding ``what``: ``wanted`` (the caller's ``param``), else a known header."""
    if wanted is not None:
        if wanted in df.columns:
            return wanted
        raise InputFileError(
            f"there is no column '{wanted}' (columns: {', '.join(map(str, df.columns))})",
            file=source,
        )
    lower = {str(c).strip().lower(): c for c in df.columns}
    for opt in options:
        if opt.lower() in lower:
            return lower[opt.lower()]
    # a ledger's own wording (详细地址, 家庭住址, 现住址...): one column containing the word
    near = [
        c for k, c in lower.items() if any(w.lower() in k for w in contains) and "mail" not in k
    ]
    if len(near) == 1:
        return near[0]
    if len(near) > 1:
        raise InputFileError(
            f"several columns may hold the {what} ({', '.join(map(str, near))}); "
            f"name one with {param}=NAME",
            file=source,
        )
    raise InputFileError(
        f"no {what} column found (looked for {', '.join(options)}; columns: "
        f"{', '.join(map(str, df.columns))}). Name it with {param}=NAME.",
        file=source,
    )


class AddressRegistry:
    """Known addresses with their owners, plus what a coordinate lookup needs.

    Build one with :meth:`from_workspace` (households, and ``addresses`` or
    ``buildings`` layers where present) or :meth:`from_table` (a CSV/XLSX
    ledger). Building is the slow part (parsing every address, the core join
    on every record's point); lookups afterwards take microseconds to a
    millisecond, so keep the registry and reuse it (:func:`registry_for`
    caches one per workspace file version).

    Parameters
    ----------
    records
        DataFrame with ``address`` and the four owner id columns, optionally
        ``record_id``, ``source``, ``lon``, ``lat``.
    hierarchy
        Polygon layers for coordinate lookups (None: address lookups only).
    layers
        The workspace layers (grids and microgrids give the contacts,
        service_stations the nearest station).
    accept, margin
        Fuzzy thresholds (see module docs).
    """

    def __init__(
        self,
        records: pd.DataFrame,
        *,
        hierarchy: Hierarchy | None = None,
        layers: dict[str, gpd.GeoDataFrame] | None = None,
        accept: float = ACCEPT_SCORE,
        margin: float = MARGIN,
        source: str | None = None,
    ) -> None:
        self.accept = float(accept)
        self.margin = float(margin)
        self.source = source
        self.hierarchy = hierarchy
        self.layers = layers or {}
        self.notes: list[str] = []
        #: False for a registry built for coordinate lookups only.
        self.has_addresses = True
        #: Why layers that might hold addresses were not used (no or several address columns).
        self.skipped: list[str] = []
        self._lock = threading.Lock()
        self._geo: dict | None = None
        self._pinyin: dict[str, list[str]] | None = None
        records = records.reset_index(drop=True)
        for col in ("record_id", "source", *ASSIGN_COLUMNS):
            if col not in records.columns:
                records[col] = None
        addresses = [normalise_id(a) for a in records["address"]]
        #: the addresses as plain Python strings (a pandas .at per answer costs more than the match)
        self._address_text: list[str | None] = addresses
        # First pass without protection. A registry street that itself starts like an
        # administrative unit (乐昌镇中心街, 开发区大道) is protected from stripping, unless its
        # prefix is a full postal one starting with a province or city (a ledger that writes
        # 山西省临汾市尧都区西南街 means 西南街).
        parsed: list[ParsedAddress | None] = []
        unparsable: list[str] = []
        for i, a in enumerate(addresses):
            try:
                parsed.append(parse_address(a))
            except AddressError:
                parsed.append(None)
                unparsable.append(str(records.at[i, "record_id"]))
        self._protected = frozenset(
            p.street_full
            for p in parsed
            if p is not None and p.prefix and not _POSTAL_PREFIX_RE.match(p.prefix)
        )
        if self._protected:
            parsed = [
                parse_address(p.raw, self._protected) if p is not None and p.prefix else p
                for p in parsed
            ]
        if unparsable:
            self.notes.append(
                f"{len(unparsable)} records have an empty address and cannot be found by address "
                f"(e.g. {', '.join(unparsable[:5])})"
            )
        #: (street, building, unit, room) per record, plain Python (None, never NaN)
        self._keys: list[tuple] = [p.key if p else (None, None, None, None) for p in parsed]
        records["street"] = [p.street if p else None for p in parsed]
        records["building"] = [p.building if p else None for p in parsed]
        records["unit"] = [p.unit if p else None for p in parsed]
        records["room"] = [p.room if p else None for p in parsed]
        self.records = records
        self._owners: list[Owner] = [
            tuple(normalise_id(v) for v in row)  # type: ignore[misc]
            for row in records[list(ASSIGN_COLUMNS)].itertuples(index=False, name=None)
        ]
        self._by_sb: dict[tuple[str, str], list[int]] = defaultdict(list)
        self._by_norm: dict[str, list[int]] = defaultdict(list)
        self._by_street: dict[str, list[int]] = defaultdict(list)
        unparsed_n = 0
        for i, p in enumerate(parsed):
            if p is None:
                continue
            self._by_norm[p.canonical()].append(i)
            self._by_norm[p.normalised].append(i)
            self._by_street[p.street].append(i)
            if p.building is not None:
                self._by_sb[(p.street, p.building)].append(i)
            else:
                unparsed_n += 1
        if unparsed_n:
            self.notes.append(
                f"{unparsed_n} addresses have no building number; they match only when written the same way"
            )
        if "alias" in records.columns:
            self._add_aliases(records["alias"].tolist(), parsed)
        self.streets: list[str] = sorted(s for s in self._by_street if s)
        self._street_set = frozenset(self.streets)
        #: compound name -> [(registry street, its road)] for streets like 建设路88号阳光小区
        self._by_compound: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for s in self.streets:
            split = split_road_number(s)
            if split is not None:
                self._by_compound[split[2]].append((s, split[0]))
        self._compounds: list[str] = sorted(self._by_compound)
        no_owner = sum(1 for o in self._owners if all(v is None for v in o))
        if no_owner:
            self.notes.append(
                f"{no_owner} records have no location inside the community (no owner)"
            )
        self._contacts_grid: dict[str, dict] = {}
        self._contacts_micro: dict[str, dict] = {}
        self._load_contacts()

    def _add_aliases(self, aliases: list, parsed: list[ParsedAddress | None]) -> None:
        """Register each record under its 小区 names too (``阳光小区;幸福苑`` = two names)."""
        n = 0
        for i, (text, p) in enumerate(zip(aliases, parsed, strict=True)):
            value = normalise_id(text)
            if value is None or p is None or p.building is None:
                continue
            for name in _ALIAS_SPLIT_RE.split(value):
                if not name.strip():
                    continue
                try:
                    street = parse_address(f"{name}1号楼").street
                except AddressError:
                    continue
                if not street or street == p.street:
                    continue
                self._by_sb[(street, p.building)].append(i)
                self._by_street[street].append(i)
                n += 1
        if n:
            self.notes.append(f"{n} 小区 names registered as other names of their buildings")

    # ------------------------------------------------------------------ building
    @classmethod
    def from_workspace(cls, workspace, *, addresses: bool = True, **kwargs) -> AddressRegistry:
        """Registry from a workspace (path, None for the sample, or a loaded Workspace).

        Records come from the ``households`` layer's ``address`` column and,
        where present, the ``addresses`` and ``buildings`` layers; owners from
        the core join on each record's point (a building polygon uses a point
        on its surface). With ``addresses=False`` only what coordinate lookups
        need is built (fast on city-size workspaces).
        """
        from gridmap.workspace import store as io

        ws = workspace if isinstance(workspace, io.Workspace) else io.load_workspace(workspace)
        hierarchy = build_hierarchy(ws.layers)
        frames = []
        skipped: list[str] = []
        for name in (HOUSEHOLDS, *ADDRESS_LAYERS) if addresses else ():
            gdf = ws.get(name)
            if gdf is None or len(gdf) == 0:
                continue
            try:
                col = _find_column(
                    gdf, None, ADDRESS_COLUMNS, "address", f"{ws.path}:{name}", ADDRESS_WORDS
                )
                texts = gdf[col].to_numpy(dtype=object)
                composed_from = None
            except InputFileError as exc:  # e.g. building footprints without addresses
                composed = compose_addresses(gdf)  # or 小区/楼栋/单元/房号 columns
                if composed is None:
                    skipped.append(f"layer '{name}' is not used for addresses: {exc.message}")
                    continue
                texts = composed.to_numpy(dtype=object)
                composed_from = "parts"
            id_col = LAYERS[name].id_column if name in LAYERS else None
            ids = (
                gdf[id_col].astype(object)
                if id_col and id_col in gdf.columns
                else pd.Series([f"{name}#{i}" for i in range(len(gdf))], index=gdf.index)
            )
            owners = assign_points(gdf, hierarchy, nearest=False)
            x, y = point_coordinates(gdf)
            frame = pd.DataFrame(
                {
                    "record_id": ids.to_numpy(dtype=object),
                    "source": name,
                    "address": texts,
                    "lon": x,
                    "lat": y,
                }
            )
            for c in ASSIGN_COLUMNS:
                frame[c] = owners[c].to_numpy(dtype=object)
            alias_col = _first_column(gdf, ALIAS_COLUMNS) if composed_from is None else None
            if alias_col is not None:  # 小区 names: more names for the same buildings
                frame["alias"] = gdf[alias_col].to_numpy(dtype=object)
            frames.append(frame)
        if frames:
            records = pd.concat(frames, ignore_index=True)
        else:  # coordinate lookups still work; address lookups explain what is missing
            records = pd.DataFrame({"address": pd.Series([], dtype=object)})
        reg = cls(records, hierarchy=hierarchy, layers=ws.layers, source=str(ws.path), **kwargs)
        reg.has_addresses = addresses
        reg.notes.extend(skipped)
        reg.skipped = skipped
        if not frames and addresses:
            reg.notes.append(_NO_ADDRESSES)
        return reg

    @classmethod
    def from_table(
        cls,
        file: str | os.PathLike,
        address_col: str | None = None,
        *,
        workspace=None,
        lon_col: str | None = None,
        lat_col: str | None = None,
        crs: str = "wgs84",
        **kwargs,
    ) -> AddressRegistry:
        """Registry from a CSV/XLSX ledger of addresses.

        Owners come from the ledger's own ``microgrid_id``/``grid_id``/...
        columns where present, otherwise from the core join on its lon/lat
        columns (in ``crs``) against ``workspace``.
        """
        from gridmap.workspace import store as io

        df = read_table(file)
        src = str(file)
        col = _find_column(
            df, address_col, ADDRESS_COLUMNS, "address", src, ADDRESS_WORDS, param="address_col"
        )
        # blank lines of the sheet hold nothing to register; row numbers stay the file's
        row_no = np.arange(len(df)) + 2
        if len(df):
            blank = df.apply(lambda r: all(normalise_id(v) is None for v in r), axis=1).to_numpy(
                bool
            )
            df, row_no = df.loc[~blank].reset_index(drop=True), row_no[~blank]
        records = pd.DataFrame({"record_id": [f"row {i}" for i in row_no], "source": src})
        records["address"] = df[col].to_numpy(dtype=object)
        alias_col = _first_column(df, ALIAS_COLUMNS)
        if alias_col is not None and alias_col != col:  # the ledger's 小区 names
            records["alias"] = df[alias_col].to_numpy(dtype=object)
        ws = None
        if workspace is not None or not any(c in df.columns for c in ASSIGN_COLUMNS):
            ws = workspace if isinstance(workspace, io.Workspace) else io.load_workspace(workspace)
        hierarchy = build_hierarchy(ws.layers) if ws is not None else None
        if any(c in df.columns for c in ASSIGN_COLUMNS):
            for c in ASSIGN_COLUMNS:
                records[c] = (
                    df[c].map(normalise_id).to_numpy(dtype=object) if c in df.columns else None
                )
        else:
            lx = _find_column(
                df,
                lon_col,
                ("lon", "lng", "longitude", "经度", "x"),
                "longitude",
                src,
                param="lon_col",
            )
            ly = _find_column(
                df, lat_col, ("lat", "latitude", "纬度", "y"), "latitude", src, param="lat_col"
            )
            xs = pd.to_numeric(df[lx], errors="coerce").to_numpy(dtype=float)
            ys = pd.to_numeric(df[ly], errors="coerce").to_numpy(dtype=float)
            bad = np.flatnonzero(~(np.isfinite(xs) & np.isfinite(ys)))
            if len(bad):
                raise InputFileError(
                    f"{len(bad)} rows have no usable coordinates in '{lx}'/'{ly}'",
                    file=src,
                    row=int(row_no[bad[0]]),
                )
            wx, wy = to_wgs84(xs, ys, crs)
            pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(wx, wy), crs="EPSG:4326")
            owners = assign_points(pts, hierarchy, nearest=False)  # type: ignore[arg-type]
            for c in ASSIGN_COLUMNS:
                records[c] = owners[c].to_numpy(dtype=object)
            records["lon"], records["lat"] = wx, wy
        layers = ws.layers if ws is not None else {}
        return cls(records, hierarchy=hierarchy, layers=layers, source=src, **kwargs)

    def _load_contacts(self) -> None:
        for layer, idc, names, phones, target in (
            (GRIDS, "grid_id", STAFF_NAME_COLUMNS, STAFF_PHONE_COLUMNS, self._contacts_grid),
            (
                MICROGRIDS,
                "microgrid_id",
                LEADER_NAME_COLUMNS,
                LEADER_PHONE_COLUMNS,
                self._contacts_micro,
            ),
        ):
            gdf = self.layers.get(layer)
            if gdf is None or idc not in gdf.columns:
                continue
            name_col = _first_column(gdf, names)
            phone_col = _first_column(gdf, phones)
            title = gdf["name"] if "name" in gdf.columns else pd.Series(None, index=gdf.index)
            who = gdf[name_col] if name_col else pd.Series(None, index=gdf.index)
            tel = gdf[phone_col] if phone_col else pd.Series(None, index=gdf.index)
            for i, t, n, ph in zip(gdf[idc], title, who, tel, strict=True):
                key = normalise_id(i)
                if key:
                    target[key] = {
                        idc: key,
                        f"{layer[:-1]}_name": normalise_id(t),
                        "name": normalise_id(n),
                        "phone": normalise_id(ph),
                    }

    def __len__(self) -> int:
        return len(self.records)

    # ------------------------------------------------------------------ addresses
    def _street_candidates(self, p: ParsedAddress) -> tuple[list[tuple[str, float]], str]:
        """Known streets the query's street may mean, best first, with scores, and how found.

        How: ``"exact"`` (the name, or the name behind an administrative
        prefix), ``"alias"`` (a compound with or without its road), ``"door"``
        (the road of ``新华路192号`` / ``西南街5号院``), ``"latin"`` (pinyin or
        English of a registry street), ``"fuzzy"`` (look-alike names: judged by
        :meth:`_judge_near`), ``"none"``.
        """
        found = self._exact_candidates(p)
        if found is not None:
            return found
        if not p.street:
            return [], "none"
        # a door number before the building: 新华路192号4号楼, 西南街5号院3号楼
        m = _DOOR_RE.match(p.street)
        if m is not None and m.group("road") in self._street_set:
            return [(m.group("road"), 100.0)], "door"
        if _LATIN_RE.fullmatch(p.street):
            hits = self._latin_streets(p.street)
            if hits:
                return [(h, 100.0) for h in hits], "latin"
        return self._fuzzy_candidates(p), "fuzzy"

    def _latin_streets(self, query: str) -> list[str]:
        """Registry streets whose tone-less pinyin is ``query`` (XIANGYANGJIE, XIANGYANG STREET)."""
        index = self._pinyin_index()
        q = query.upper().replace(" ", "")
        hits = list(index.get(q, ()))
        if not hits:
            for word, types in _ENGLISH_TYPES:
                if q.endswith(word) and len(q) > len(word):
                    stem = q[: -len(word)]
                    for t in types:
                        hits.extend(index.get(stem + t, ()))
                    break
        return sorted(set(hits))

    def _pinyin_index(self) -> dict[str, list[str]]:
        if self._pinyin is None:
            from pypinyin import lazy_pinyin

            index: dict[str, list[str]] = defaultdict(list)
            for st in self.streets:
                if not st.isascii():
                    index["".join(lazy_pinyin(st)).upper()].append(st)
            self._pinyin = dict(index)
        return self._pinyin

    def _exact_candidates(self, p: ParsedAddress) -> tuple[list[tuple[str, float]], str] | None:
        if p.street_full in self._street_set:
            return [(p.street_full, 100.0)], "exact"
        if p.street in self._street_set:
            return [(p.street, 100.0)], "exact"
        # a prefix we could not strip (e.g. 某某开发区管委会西南街): known street as suffix
        suffix_hits = [
            s
            for s in self.streets
            if p.street_full.endswith(s) and p.street_full[: -len(s)].endswith(_ADMIN_TAILS)
        ]
        if suffix_hits:
            return [(max(suffix_hits, key=len), 100.0)], "exact"
        # the registry carries a prefix the query left out (乐昌镇中心街 for 中心街): every
        # such street is a full-score candidate, so two towns' 中心街 come out ambiguous
        if len(p.street) >= 2:
            longer = [
                (s, 100.0)
                for s in self.streets
                if len(s) > len(p.street)
                and s.endswith(p.street)
                and s[: -len(p.street)].endswith(_ADMIN_TAILS)
            ]
            if longer:
                return sorted(longer), "exact"
        # the compound named with or without the road and door number in front of it
        # (阳光小区 for 建设路88号阳光小区, or the other way round)
        split = split_road_number(p.street)
        compound = split[2] if split else p.street
        aliases = self._compound_aliases(compound, split[0] if split else None)
        if aliases and (split is None or len(aliases) == 1):
            resolving = [a for a in aliases if self._resolve(a[0], p)[0] != "none"]
            return resolving or aliases, "alias"
        return None

    def _fuzzy_candidates(self, p: ParsedAddress) -> list[tuple[str, float]]:
        split = split_road_number(p.street)
        compound = split[2] if split else p.street
        aliases = self._compound_aliases(compound, split[0] if split else None)
        # several places share the compound's name and the query names a road and door
        # number none of them has: the whole street part decides (a typo in the road)
        queries = {p.street, p.street_full} | ({compound} if not aliases else set())
        found: dict[str, float] = {}
        for q in queries - {""}:
            for s, score in self._fuzzy_streets(q):
                found[s] = max(found.get(s, 0.0), score)
        if self._by_compound and not aliases:
            for c, score in self._fuzzy_streets(compound, choices=self._compounds):
                for s, sc in self._compound_aliases(c, split[0] if split else None):
                    found[s] = max(found.get(s, 0.0), score * sc / 100)
        return sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))

    def _compound_aliases(self, compound: str, road: str | None) -> list[tuple[str, float]]:
        """Registry streets that are ``compound``, bare or behind a road and door number.

        Full score where the query's road (if any) agrees, :data:`ROAD_MISMATCH_SCORE`
        where the query names another road.
        """
        out: dict[str, float] = {}
        if road is not None and compound in self._street_set:
            out[compound] = 100.0
        for s, s_road in self._by_compound.get(compound, ()):
            out[s] = 100.0 if road is None or road == s_road else ROAD_MISMATCH_SCORE
        if len(out) > 1:
            # several places share the compound's name and none is written exactly as asked:
            # the road is no tie-breaker (it may be the typo), so they compete on equal terms
            top = max(out.values())
            out = dict.fromkeys(out, top)
        return sorted(out.items(), key=lambda kv: (-kv[1], kv[0]))

    def _fuzzy_streets(
        self, query: str, limit: int = 8, choices: Sequence[str] | None = None
    ) -> list[tuple[str, float]]:
        """Known streets closest to ``query``, scored 0-100 by normalised Levenshtein.

        Character based (unspaced Chinese works; rapidfuzz's token scorers
        would not), and a substituted character costs one edit, as in a typo.
        """
        hits = process.extract(
            query,
            self.streets if choices is None else choices,
            scorer=Levenshtein.normalized_similarity,
            limit=limit,
            score_cutoff=(CANDIDATE_SCORE - 15) / 100,
        )
        return sorted(
            ((s, round(100 * sc, 1)) for s, sc, _ in hits), key=lambda kv: (-kv[1], kv[0])
        )

    def _resolve(self, street: str, p: ParsedAddress) -> tuple[str, list[int]]:
        """Records of ``street`` agreeing with the query: (level, row numbers)."""
        rows = self._by_sb.get((street, p.building), [])  # type: ignore[arg-type]
        if not rows:
            return "none", []
        keys = self._keys
        if p.unit is not None:
            # records without a unit (a building from the buildings layer) cover every unit
            rows = [i for i in rows if keys[i][2] is None or keys[i][2] == p.unit]
            if not rows:
                return "none", []
        if p.room is not None:
            exact = [i for i in rows if keys[i][3] == p.room]
            if exact:
                return "exact", exact
        return "building", rows

    def _owner_groups(self, rows: Iterable[int]) -> dict[Owner, list[int]]:
        groups: dict[Owner, list[int]] = defaultdict(list)
        for i in rows:
            groups[self._owners[i]].append(i)
        return groups

    def _candidate(self, owner: Owner, rows: list[int], level: str, score: float) -> dict:
        i = rows[0]
        return {
            "microgrid_id": owner[0],
            "grid_id": owner[1],
            "zone_id": owner[2],
            "community_id": owner[3],
            "address": self._address_text[i],
            "records": len(rows),
            "match_level": level,
            "score": round(score, 1),
        }

    def match_address(self, query: str) -> LocateResult:
        """Find the owner of one address (see the module docs for the rules).

        Raises
        ------
        AddressError
            When the query is empty.
        """
        if not self.has_addresses:
            raise AddressError(
                "this registry was built for coordinates only: "
                "use AddressRegistry.from_workspace(ws) (addresses=True)"
            )
        if len(self.records) == 0:
            why = "".join(f"; {n}" for n in self.skipped)
            raise LayerNotFoundError(_NO_ADDRESSES + why, file=self.source, layer=HOUSEHOLDS)
        p = parse_address(query, self._protected)
        res = LocateResult(
            query=str(query), kind="address", status="not_found", match_level="none", score=0.0
        )
        res.parsed = p.to_dict()
        if p.ignored:
            res.warnings.append(
                "text after the address was left out (a name or phone number?): check the answer"
            )
        if p.building is None:
            return self._match_unparsed(p, res)
        streets, how = self._street_candidates(p)
        if how == "fuzzy" and streets:
            judged = self._judge_near(p, res, streets)
            if judged is None:
                if p.form == "street-after" and res.status == "not_found":
                    # 2号楼4单元301室王大妈: the words after the flat were no street
                    return self._match_streetless(replace(p, street="", street_full=""), res)
                return res
            streets = [judged]
        elif how == "door":
            m = _DOOR_RE.match(p.street)
            res.flags.append("door_number_ignored")
            res.warnings.append(
                f"door number {m.group('no') if m else ''} of '{p.street}' is not in the registry: "
                f"answered by the building on {streets[0][0]}"
            )
        elif how == "latin":
            res.flags.append("street_transliterated")
            res.warnings.append(
                f"'{p.street}' read as {' or '.join(s for s, _ in streets)} (pinyin/English)"
            )
        if p.form == "street-after" and streets:
            res.flags.append("street_after")
        if not streets:
            if not p.street:
                return self._match_streetless(p, res)
            if p.form == "street-after":
                return self._match_streetless(replace(p, street="", street_full=""), res)
            res.message = (
                f"the street/compound '{p.street}' is not in the registry; check the spelling "
                "or add the address to the households layer"
            )
            return res
        best_street, best_score = streets[0]
        evaluated = []
        for s, sc in streets:
            if sc < CANDIDATE_SCORE and s != best_street:
                continue
            level, rows = self._resolve(s, p)
            evaluated.append((s, sc, level, rows))
        resolving = [e for e in evaluated if e[2] != "none"]
        if best_score >= 100 and evaluated[0][2] == "none":
            # a known street without this building: never answer with a look-alike street
            b = format_address(best_street, p.building, p.unit, p.room)
            res.message = (
                f"'{b}' is not in the registry (the street is known, the building/unit is not)"
            )
            alts: list = []
            for s, sc in self._fuzzy_streets(best_street):
                if s == best_street or sc < CANDIDATE_SCORE:
                    continue
                lv, rws = self._resolve(s, p)
                alts.extend(
                    self._candidate(o, r, "fuzzy", sc) for o, r in self._owner_groups(rws).items()
                )
            if alts:
                res.status = "ambiguous"
                res.message += "; other streets have it, check which one is meant"
                res.candidates = alts[:8]
            return res
        if not resolving:
            b = format_address(best_street, p.building, p.unit, p.room)
            res.message = f"no registry address like '{b}'"
            res.candidates = [
                {"street": s, "score": round(sc, 1)}
                for s, sc, _, _ in evaluated[:5]
                if sc >= CANDIDATE_SCORE
            ]
            return res
        street, sscore, level, rows = resolving[0]
        groups = self._owner_groups(rows)
        exact_street = sscore >= 100
        if level == "exact" and exact_street:
            res.match_level, res.score = "exact", 100.0
        elif exact_street:
            res.match_level, res.score = "building", BUILDING_SCORE
        else:
            res.match_level = "fuzzy"
            res.score = (
                sscore if level == "exact" else min(sscore, BUILDING_SCORE) * BUILDING_SCORE / 100
            )
        cands = [
            self._candidate(o, r, res.match_level, res.score)
            for o, r in sorted(groups.items(), key=lambda kv: -len(kv[1]))
        ]
        # rival streets: close in score and not pointing to the same single owner
        for s, sc, lv, rws in evaluated:
            if s == street or sc < CANDIDATE_SCORE:
                continue
            if sc >= sscore - self.margin and lv != "none":
                rg = self._owner_groups(rws)
                if set(rg) != set(groups):
                    cands.extend(self._candidate(o, r, "fuzzy", sc) for o, r in rg.items())
                    res.status = "ambiguous"
        if level == "building" and p.room is not None:
            # the room is not in this building, but a look-alike street has exactly this
            # address (人民路 vs 人民三路): a one-character slip is as likely as a new room
            for s, sc in self._fuzzy_streets(street):
                if s == street or sc < self.accept:
                    continue
                lv, rws = self._resolve(s, p)
                rg = self._owner_groups(rws)
                if lv == "exact" and set(rg) != set(groups):
                    cands.extend(self._candidate(o, r, "fuzzy", sc) for o, r in rg.items())
                    res.status = "ambiguous"
        res.candidates = _dedupe(cands)[:8]
        if len(groups) > 1:
            res.status = "ambiguous"
            res.message = (
                f"the records matching '{format_address(street, p.building, p.unit, p.room)}' "
                f"belong to {len(groups)} different owners; pick one of the candidates"
            )
        elif res.status == "ambiguous":
            res.message = (
                f"'{p.street or street}' is close to more than one known street with this "
                "building; confirm which"
            )
        elif not exact_street and sscore < self.accept:
            res.status = "ambiguous"
            res.message = f"'{p.street}' is only a weak match for '{street}' (score {sscore:.0f})"
        elif not exact_street and level == "building" and p.room is not None:
            # two doubts at once: the street only looks like a known one, and that street's
            # building has no such room
            res.status = "ambiguous"
            res.message = (
                f"'{p.street}' looks like '{street}', but room {p.room} is not in "
                f"{format_address(street, p.building, p.unit)}; confirm the address"
            )
        else:
            res.status = "ok"
        if res.status == "ok":
            owner, grows = next(iter(groups.items()))
            if level == "exact":
                res.matched_address = self._address_text[grows[0]]
            else:
                res.matched_address = format_address(street, p.building, p.unit, None)
                if p.room is not None:
                    res.flags.append("room_unknown")
                    res.message = (
                        f"room {p.room} is not in the registry (room_unknown); "
                        f"answered by the building {res.matched_address}"
                    )
                else:
                    res.message = "no room given; answered by the building"
            self._settle_owner(res, owner, grows)
        return res

    def _settle_owner(self, res: LocateResult, owner: Owner, rows: list[int]) -> None:
        """Fill the owner of an answered address; a flat no micro-grid owns says so.

        No owner at all: ``not_found`` with the nearest micro-grid and its
        distance. Owned by a grid (or coarser) only: the answer stays at that
        level, with a warning naming the nearest micro-grid.
        """
        self._fill_owner(res, owner)
        if owner[0] is not None:
            return
        near = self._nearest_microgrid_of(rows)
        res.nearest_microgrid = near
        res.flags.append("no_microgrid")
        where = (
            f"the nearest micro-grid is {near['microgrid_id']}, {near['distance_m']:.0f} m away"
            if near
            else "no micro-grid position is known"
        )
        if all(v is None for v in owner):
            res.status = "not_found"
            res.message = (
                f"the address is known but no grid owns its location ({where}); "
                "check the household's position or the grid boundaries"
            )
        else:
            level = next(
                lv for lv, v in zip(("grid", "zone", "community"), owner[1:], strict=True) if v
            )
            res.warnings.append(f"not inside any micro-grid (inside a {level} only); {where}")

    def _nearest_microgrid_of(self, rows: list[int]) -> dict | None:
        """Nearest micro-grid of the first record of ``rows`` with a position (metres)."""
        if self.hierarchy is None or MICROGRIDS not in self.hierarchy.polygons:
            return None
        if "lon" not in self.records.columns:
            return None
        for i in rows:
            x, y = self.records.at[i, "lon"], self.records.at[i, "lat"]
            try:
                fx, fy = float(x), float(y)
            except (TypeError, ValueError):
                continue
            if not (np.isfinite(fx) and np.isfinite(fy)):
                continue
            state = self._geo_state()
            info = state["levels"].get(MICROGRIDS)
            if info is None or not len(info["ids"]):
                return None
            pt = shapely.points(*state["transformer"].transform(fx, fy))
            idx, dist = _nearest(info["tree"], pt)
            return {"microgrid_id": info["ids"][idx], "distance_m": round(float(dist), 1)}
        return None

    def _judge_near(
        self, p: ParsedAddress, res: LocateResult, streets: list[tuple[str, float]]
    ) -> tuple[str, float] | None:
        """Decide on look-alike streets: one corrected street, or None (``res`` filled).

        A candidate differing from the query by a direction (东西南北中), an
        ordinal (一二三, 1 2 3) or a road-type word (路/街/巷/大道/胡同) is a
        different street: never answered, at most a candidate of an ambiguous
        answer. A typo (one edit, two in long names, touching none of those
        characters), a homophone (same tone-less pinyin) or a missing road-type
        word (向阳 for 向阳街) is corrected only when no other registered street
        is as close; the correction is named in a warning.
        """
        judged = []
        split = split_road_number(p.street)
        q_compound = split[2] if split else p.street
        for s, sc in streets:
            pairs = [(p.street, s), (p.street_full, s)]
            s_split = split_road_number(s)
            if s_split is not None or split is not None:  # the compounds alone (阳光晓区)
                pairs.append((q_compound, s_split[2] if s_split else s))
            rel, d = min(
                (street_relation(a, b) for a, b in pairs if a),
                key=lambda rd: (rd[0] == "far", rd[1]),
            )
            if rel == "far" or d > 2:
                continue
            lv, rows = self._resolve(s, p)
            judged.append((s, sc, rel, d, lv, rows))
        judged.sort(key=lambda j: (j[3], -j[1], j[0]))
        typos = [j for j in judged if j[2] in ("same", "typo", "homophone", "abbrev")]
        if typos:
            best_d = min(j[3] for j in typos)
            best = [j for j in typos if j[3] == best_d]
            rivals = [j for j in judged if j[3] <= best_d and j not in best]
            if best[0][2] == "abbrev":
                # 人民 for 人民路 while 人民东路 also has the flat: either may be meant
                rivals += [
                    j
                    for j in judged
                    if j not in best and j[0].startswith(p.street) and j[4] != "none"
                ]
            if len(best) == 1 and best[0][4] != "none" and not rivals:
                s, sc, rel, _d, _lv, _rows = best[0]
                what = {
                    "same": "the compound's name",
                    "typo": "a typo?",
                    "homophone": "same pronunciation",
                    "abbrev": "road-type word left out",
                }[rel]
                res.flags.append("street_corrected")
                res.warnings.append(
                    f"'{p.street}' is not a registered street; read as '{s}' ({what}): check it"
                )
                score = {"homophone": 95.0, "abbrev": 90.0}.get(rel, max(sc, self.accept))
                return s, score
        resolving = [j for j in judged if j[4] != "none"]
        if resolving:  # the closest streets having the flat (others only add noise)
            resolving = [j for j in resolving if j[3] <= resolving[0][3]]
        siblings = [j[0] for j in judged if j[2] == "sibling"]
        q = p.street
        if resolving:
            res.status = "ambiguous"
            cands = []
            for s, sc, rel, _d, _lv, rows in resolving:
                for o, r in self._owner_groups(rows).items():
                    c = self._candidate(o, r, "fuzzy", sc)
                    c["street"] = s
                    c["relation"] = rel
                    cands.append(c)
            res.candidates = _dedupe(cands)[:8]
            names = "、".join(dict.fromkeys(j[0] for j in resolving))
            res.message = (
                f"the street '{q}' is not in the registry; {names} "
                + (
                    "is a different street that has"
                    if len(resolving) == 1 and resolving[0][2] == "sibling"
                    else "may be meant and has"
                )
                + f" {format_address('', p.building, p.unit, p.room)}: confirm which street"
            )
            return None
        res.message = f"the street/compound '{q}' is not in the registry"
        if siblings:
            res.message += f" ({'、'.join(siblings[:4])}: a different street)"
        elif typos:
            res.message += (
                f"; close names ({'、'.join(j[0] for j in typos[:4])}) do not have "
                f"{format_address('', p.building, p.unit, p.room)}"
            )
        res.message += "; check the spelling or add the address to the households layer"
        res.candidates = [{"street": j[0], "relation": j[2]} for j in judged[:5]]
        return None

    def _match_unparsed(self, p: ParsedAddress, res: LocateResult) -> LocateResult:
        rows = self._by_norm.get(p.normalised) or self._by_norm.get(p.street) or []
        if rows:
            groups = self._owner_groups(rows)
            res.candidates = [self._candidate(o, r, "exact", 100.0) for o, r in groups.items()][:8]
            if len(groups) == 1:
                owner = next(iter(groups))
                res.status, res.match_level, res.score = "ok", "exact", 100.0
                res.matched_address = self._address_text[rows[0]]
                self._settle_owner(res, owner, rows)
                return res
            res.status = "ambiguous"
            res.message = "the address matches records of several owners"
            return res
        street_rows = self._by_street.get(p.street) or self._by_street.get(p.street_full) or []
        if street_rows:
            groups = self._owner_groups(street_rows)
            res.status = "ambiguous"
            res.score = 50.0
            res.message = "no building number given: add the building (号楼), unit and room"
            res.candidates = [
                self._candidate(o, r, "none", 50.0)
                for o, r in sorted(groups.items(), key=lambda kv: -len(kv[1]))
            ][:8]
            return res
        res.message = _not_understood(p)
        return res

    def _match_streetless(self, p: ParsedAddress, res: LocateResult) -> LocateResult:
        hits = []
        for s in self.streets:
            level, rows = self._resolve(s, p)
            if level != "none":
                hits.extend(rows)
        if not hits:
            res.message = (
                "no street/compound given and no registry address has this building/unit/room"
            )
            return res
        groups = self._owner_groups(hits)
        res.status = "ambiguous"
        res.score = 50.0
        res.message = "no street/compound given: add it (e.g. 西南街3号楼...)"
        res.candidates = [self._candidate(o, r, "none", 50.0) for o, r in groups.items()][:8]
        return res

    def _fill_owner(self, res: LocateResult, owner: Owner) -> None:
        res.microgrid_id, res.grid_id, res.zone_id, res.community_id = owner
        if owner[1] is not None:
            res.grid_worker = self._contacts_grid.get(owner[1])
        if owner[0] is not None:
            res.microgrid_leader = self._contacts_micro.get(owner[0])

    # ------------------------------------------------------------------ coordinates
    def _geo_state(self) -> dict:
        """Locators, metric geometries and trees, built once (thread-safe)."""
        if self._geo is not None:
            return self._geo
        with self._lock:
            if self._geo is not None:
                return self._geo
            h = self.hierarchy
            if h is None:
                raise LayerNotFoundError(
                    "coordinate lookup needs the polygon layers: build the registry from a workspace"
                )
            base = h.polygons.get(MICROGRIDS)
            base = base if base is not None else next(iter(h.polygons.values()))
            metric = metric_crs_for(base)
            tr = pyproj.Transformer.from_crs("EPSG:4326", metric, always_xy=True)
            state: dict = {"transformer": tr, "metric": metric, "locators": {}, "levels": {}}
            for level in h.levels:
                state["locators"][level] = h.locator(level)
                if level not in (MICROGRIDS, GRIDS):
                    continue
                gdf = h.polygons[level]
                idc = LAYERS[level].id_column
                gm = gdf.to_crs(metric)
                ids = np.array([normalise_id(v) for v in gm[idc]], dtype=object)
                geoms = np.asarray(gm.geometry.values)
                ok = np.array([g is not None and not g.is_empty for g in geoms]) & np.array(
                    [i is not None for i in ids]
                )
                ids, geoms = ids[ok], shapely.make_valid(geoms[ok])
                by_id: dict[str, Any] = {}
                for i, g in zip(ids, geoms, strict=True):
                    by_id[i] = g if i not in by_id else shapely.union(by_id[i], g)
                state["levels"][level] = {
                    "ids": ids,
                    "tree": shapely.STRtree(geoms),
                    "boundary": {i: shapely.boundary(g) for i, g in by_id.items()},
                }
            st = self.layers.get("service_stations")
            if st is not None and len(st):
                sm = st.to_crs(metric)
                geoms = np.asarray(sm.geometry.values)
                ok = np.array([g is not None and not g.is_empty for g in geoms])
                reps = shapely.point_on_surface(geoms[ok])
                state["stations"] = {
                    "tree": shapely.STRtree(reps),
                    "ids": [normalise_id(v) for v in sm["station_id"].to_numpy()[ok]]
                    if "station_id" in sm.columns
                    else [None] * int(ok.sum()),
                    "names": [normalise_id(v) for v in sm["name"].to_numpy()[ok]]
                    if "name" in sm.columns
                    else [None] * int(ok.sum()),
                    "geoms": reps,
                }
            self._geo = state
            return state

    def owners_at(self, lon: float, lat: float) -> tuple[Owner, str | None]:
        """Core-join owners of one WGS84 point (same rules as :func:`gridmap.join.core.assign_points`)."""
        state = self._geo_state()
        x, y = np.array([lon], dtype=float), np.array([lat], dtype=float)
        out, level_col = assign_arrays(x, y, self.hierarchy, locators=state["locators"])  # type: ignore[arg-type]
        found = {c: out[c][0] for c in ASSIGN_COLUMNS}
        assigned = level_col[0]
        owner = tuple(found[c] for c in ASSIGN_COLUMNS)
        return owner, assigned  # type: ignore[return-value]

    def match_point(
        self,
        lon: float,
        lat: float,
        crs: str | int = "wgs84",
        *,
        near_boundary_m: float = NEAR_BOUNDARY_M,
    ) -> LocateResult:
        """Owner of a coordinate, distance to the boundaries and the nearest station.

        Raises
        ------
        CoordinateError
            When the coordinates are missing, out of range or look swapped.
        """
        cs = parse_crs(crs)
        try:
            fx, fy = float(lon), float(lat)
        except (TypeError, ValueError) as exc:
            raise CoordinateError(
                f"coordinates must be numbers, got lon={lon!r} lat={lat!r}"
            ) from exc
        if not (np.isfinite(fx) and np.isfinite(fy)):
            raise CoordinateError(f"coordinates must be finite numbers, got lon={lon} lat={lat}")
        if cs.is_geographic:
            if abs(fy) > 90 and abs(fx) <= 90:
                raise CoordinateError(
                    f"latitude {fy} is out of range; longitude and latitude look swapped "
                    f"(try lon={fy} lat={fx})"
                )
            if abs(fy) > 90 or abs(fx) > 180:
                raise CoordinateError(
                    f"lon={fx} lat={fy} is outside the range of longitude/latitude"
                )
        elif abs(fx) <= 180 and abs(fy) <= 90:
            # metres of a projected system are never this small where people live
            raise CoordinateError(
                f"{fx}, {fy} look like longitude/latitude degrees, but crs={crs} is a "
                "projected system in metres: use crs=wgs84 (or gcj02/bd09), or give x/y in metres"
            )
        wx, wy = to_wgs84(fx, fy, cs)
        wx, wy = float(wx), float(wy)
        owner, assigned = self.owners_at(wx, wy)
        res = LocateResult(
            query=f"{fx},{fy}",
            kind="coordinate",
            status="ok" if assigned else "not_found",
            match_level="coordinate" if assigned else "none",
            score=100.0 if assigned else 0.0,
            lon=round(wx, 8),
            lat=round(wy, 8),
            crs=str(cs),
            assigned_level=assigned,
        )
        self._fill_owner(res, owner)
        state = self._geo_state()
        pt = shapely.points(*state["transformer"].transform(wx, wy))
        for level, col in ((MICROGRIDS, "microgrid_id"), (GRIDS, "grid_id")):
            info = state["levels"].get(level)
            own = getattr(res, col)
            if info is None or own is None or own not in info["boundary"]:
                continue
            d = float(shapely.distance(info["boundary"][own], pt))
            res.boundary_m[level] = round(d, 1)
            if d < near_boundary_m:
                near = info["tree"].query(pt, predicate="dwithin", distance=near_boundary_m)
                others = sorted({info["ids"][k] for k in near} - {own})
                res.neighbours[level] = others
                word = "micro-grid" if level == MICROGRIDS else "grid"
                if others:
                    res.warnings.append(
                        f"near a boundary ({d:.1f} m from the edge of {word} {own}): "
                        f"confirm with the neighbouring {word} {', '.join(others)}"
                    )
                else:
                    res.warnings.append(
                        f"near a boundary ({d:.1f} m from the outer edge of {word} {own}): confirm on site"
                    )
        if res.microgrid_id is None and MICROGRIDS in state["levels"]:
            info = state["levels"][MICROGRIDS]
            idx, dist = _nearest(info["tree"], pt)
            nid = info["ids"][idx]
            res.nearest_microgrid = {"microgrid_id": nid, "distance_m": round(float(dist), 1)}
            where = f"inside {assigned} only" if assigned else "outside every grid of the workspace"
            res.warnings.append(
                f"not inside any micro-grid ({where}); the nearest micro-grid is {nid}, {dist:.0f} m away"
            )
            if not assigned:
                res.message = "no grid owns this place: check the coordinates and their crs="
        stations = state.get("stations")
        if stations is not None and len(stations["ids"]):
            j, dist = _nearest(stations["tree"], pt)
            res.nearest_station = {
                "station_id": stations["ids"][j],
                "name": stations["names"][j],
                "distance_m": round(float(dist), 1),
            }
        return res


_STREET_WORD_RE = re.compile(
    r"^(?P<street>.*?(?:大道|胡同|小区|路|街|巷|道|里|弄|院|苑|园|村|城|府|庄|湾|坊))(?P<rest>.*)$"
)


def _not_understood(p: ParsedAddress) -> str:
    """Why an address without a building number could not be read, naming the part."""
    text = p.normalised
    m = _STREET_WORD_RE.match(p.street)
    head, rest = (m.group("street"), m.group("rest")) if m else ("", p.street)
    hint = "write the building as 3号楼 or 3栋, the unit as 2单元, the room as 501, or 3-2-501"
    if not any(ch.isdigit() for ch in text):
        what = f"no number in '{p.raw.strip()}'"
    elif head and rest:
        what = f"read '{head}' as the street, but did not understand '{rest}'"
    else:
        what = f"did not understand '{rest or text}' as building/unit/room"
    return (
        f"no building number recognised: {what} ({hint}); no registry address is written this way"
    )


def _dedupe(cands: list[dict]) -> list[dict]:
    """Drop repeated candidates (same owner and address), keeping the first."""
    seen, out = set(), []
    for c in cands:
        key = (c.get("microgrid_id"), c.get("grid_id"), c.get("address"), c.get("street"))
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


def _nearest(tree: shapely.STRtree, pt) -> tuple[int, float]:
    """Index and distance of the nearest geometry (smallest index on ties)."""
    idx, dist = tree.query_nearest(pt, return_distance=True, all_matches=True)
    k = int(np.argmin(idx))
    return int(idx[k]), float(dist[k])


#: Characters that make two street names different streets, not a typo of each other:
#: directions, ordinals and road-type words.
DISTINGUISHING = frozenset("东西南北中一二三四五六七八九十百第0123456789路街巷道大胡同里弄")
ROAD_TYPES = ("大道", "大街", "胡同", "路", "街", "巷", "道", "里", "弄")
_DOOR_RE = re.compile(r"^(?P<road>.+?)(?P<no>\d+[A-Z]?(?:-\d+)?(?:号院|号|弄|院))$")
_LATIN_RE = re.compile(r"[A-Z][A-Z ]*")
#: English road words of transliterated names -> the tone-less pinyin they stand for.
_ENGLISH_TYPES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("AVENUE", ("DADAO", "DAJIE")),
    ("BOULEVARD", ("DADAO",)),
    ("STREET", ("JIE", "DAJIE", "LU")),
    ("ROAD", ("LU",)),
    ("LANE", ("XIANG", "HUTONG")),
    ("ALLEY", ("XIANG", "HUTONG")),
    ("AVE", ("DADAO", "DAJIE")),
    ("RD", ("LU",)),
    ("ST", ("JIE", "DAJIE", "LU")),
)


@lru_cache(maxsize=65536)
def _pinyin(text: str) -> str:
    from pypinyin import lazy_pinyin

    return "".join(lazy_pinyin(text)).upper()


@lru_cache(maxsize=65536)
def street_relation(query: str, street: str) -> tuple[str, float]:
    """How a street name written in a query relates to a registered one.

    Returns
    -------
    (relation, distance)
        ``"same"`` (0), ``"homophone"`` (0.5: same tone-less pinyin),
        ``"abbrev"`` (0.8: the query leaves out the road-type word, 向阳 for
        向阳街), ``"typo"`` (the edit count: one edit, two in names of six or
        more characters, touching no direction, ordinal or road-type
        character), ``"sibling"`` (the names differ in such a character:
        人民东路 vs 人民路, 西北街 vs 西南街, 幸福二路 vs 幸福路, 人民街 vs 人民路:
        a different street), or ``"far"``.
    """
    if query == street:
        return "same", 0.0
    if not query or not street:
        return "far", float(max(len(query), len(street)))
    ops = Levenshtein.editops(query, street)
    touched: set[str] = set()
    for op in ops:
        if op.tag in ("replace", "delete"):
            touched.add(query[op.src_pos])
        if op.tag in ("replace", "insert"):
            touched.add(street[op.dest_pos])
    digits = any(ch.isdigit() for ch in touched)
    if not digits and not query.isascii() and _pinyin(query) == _pinyin(street):
        return "homophone", 0.5
    if (
        street.startswith(query)
        and street[len(query) :] in ROAD_TYPES
        and not query.endswith(ROAD_TYPES)
        and len(query) >= 2
    ):
        return "abbrev", 0.8
    if touched & DISTINGUISHING:
        return "sibling", float(len(ops))
    limit = 1 if max(len(query), len(street)) <= 5 else 2
    if len(ops) <= limit:
        return "typo", float(len(ops))
    return "far", float(len(ops))


# ---------------------------------------------------------------------- module API
_CACHE: dict[tuple[str, tuple[int, int]], AddressRegistry] = {}
_CACHE_LOCK = threading.Lock()


def registry_for(workspace=None, *, addresses: bool = True) -> AddressRegistry:
    """The registry of a workspace, cached per file version (path, size, mtime).

    With ``addresses=False`` a registry for coordinate lookups is enough (a
    cached full registry is reused; otherwise a light one is built and cached
    until a full one is asked for).
    """
    from gridmap.workspace import store as io

    if isinstance(workspace, io.Workspace):
        key = (str(Path(workspace.path).resolve()), workspace.signature)
        src: io.Workspace | Path = workspace
    else:
        path = io.resolve_workspace(workspace)
        key = (str(path.resolve()), io.file_signature(path))
        src = path
    with _CACHE_LOCK:
        reg = _CACHE.get(key)
    if reg is None or (addresses and not reg.has_addresses):
        reg = AddressRegistry.from_workspace(src, addresses=addresses)
        with _CACHE_LOCK:
            for k in [k for k in _CACHE if k[0] == key[0]]:
                del _CACHE[k]
            _CACHE[key] = reg
    return reg


def locate(
    query: str | None = None,
    *,
    lon: float | None = None,
    lat: float | None = None,
    crs: str | int = "wgs84",
    workspace=None,
    registry: AddressRegistry | None = None,
    include_contacts: bool = True,
) -> LocateResult:
    """Which micro-grid, grid, zone and community own an address or a coordinate.

    Parameters
    ----------
    query
        An address as written (``"西南街3号楼2单元501"``, ``"西南街3-2-501"``...).
    lon, lat, crs
        A coordinate instead of an address; ``crs`` is ``wgs84``, ``gcj02``
        (Amap/Tencent), ``bd09`` (Baidu) or an EPSG code.
    workspace
        Workspace path or :class:`~gridmap.workspace.store.Workspace` (default: the sample);
        its registry is built once and cached.
    registry
        A registry to use instead of the workspace's.
    include_contacts
        Fill ``grid_worker`` and ``microgrid_leader`` (staff use). When False
        they are left out of the result.

    Returns
    -------
    LocateResult
        ``status`` is ``"ok"``, ``"ambiguous"`` (see ``candidates``) or
        ``"not_found"``.

    Raises
    ------
    AddressError, CoordinateError
        When neither (or both) an address and a coordinate are given, or they
        are malformed.
    """
    has_point = lon is not None or lat is not None
    if query is not None and has_point:
        raise AddressError("give either an address or lon= and lat=, not both")
    if query is None and not has_point:
        raise AddressError("give an address, or a coordinate with lon= and lat=")
    if has_point and (lon is None or lat is None):
        raise CoordinateError("give both lon= and lat=")
    reg = registry if registry is not None else registry_for(workspace, addresses=query is not None)
    if query is not None:
        res = reg.match_address(query)
    else:
        assert lon is not None and lat is not None  # checked above
        res = reg.match_point(lon, lat, crs)
    if not include_contacts:
        res.grid_worker = None
        res.microgrid_leader = None
    return res


# ---------------------------------------------------------------------- batch
def _is_header_row(cells: Sequence[object]) -> bool:
    """True for a row of column names with an address column (not a one-cell title)."""
    names = [str(c).strip().lower() for c in cells if normalise_id(c) is not None]
    if len(names) < 2:
        return False
    exact = {c.lower() for c in ADDRESS_COLUMNS}
    return any(
        n in exact
        or (len(n) <= 12 and any(w.lower() in n for w in ADDRESS_WORDS) and "mail" not in n)
        for n in names
    )


#: How many leading rows (a sheet title, a date line...) may come before the header row.
HEADER_SEARCH_ROWS = 10


def read_table(file: str | os.PathLike) -> pd.DataFrame:
    """Read a CSV (UTF-8, UTF-8 with BOM, GB18030/GBK, detected) or XLSX file as text columns.

    Title lines above the column names (``XX社区工单台账``, a date line), as
    Excel ledgers often have, are skipped: the header is the first of the first
    :data:`HEADER_SEARCH_ROWS` rows that names an address column.
    """
    path = Path(file)
    if not path.exists():
        raise InputFileError("file not found", file=str(path))
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm", ".xls"):
            df = pd.read_excel(path, dtype=object)
            if not _is_header_row(list(df.columns)):
                top = pd.read_excel(path, dtype=object, header=None, nrows=HEADER_SEARCH_ROWS)
                for i in range(len(top)):
                    if _is_header_row(top.iloc[i].tolist()):
                        return pd.read_excel(path, dtype=object, header=i)
            return df
        if suffix not in (".csv", ".txt", ".tsv"):
            raise InputFileError("unsupported file type: use .csv or .xlsx", file=str(path))
        raw = path.read_bytes()
    except GridmapError:
        raise
    except Exception as exc:
        raise InputFileError(
            f"cannot read the file ({type(exc).__name__}: {exc})", file=str(path)
        ) from exc
    # the importer's strict detection: a file mixing encodings is refused naming its rows
    text = raw.decode(detect_encoding(raw, file=str(path)))
    text = text.removeprefix("\ufeff")
    import io as _io

    lines = text.splitlines()
    seps = (",", "\t", ";", "，")
    start = 0
    for i, line in enumerate(lines[:HEADER_SEARCH_ROWS]):
        cells = line.split(max(seps, key=line.count))
        if _is_header_row(cells):
            start = i
            break
    if start:  # title lines above the column names
        text = "\n".join(lines[start:])
    header = text.split("\n", 1)[0]
    sep = max(seps, key=header.count) if header else ","
    if not header.count(sep):
        sep = ","
    try:
        return pd.read_csv(_io.StringIO(text), dtype=object, sep=sep, keep_default_na=False)
    except Exception as exc:
        raise InputFileError(f"cannot parse the CSV ({exc})", file=str(path)) from exc


#: Columns added by :func:`locate_table`.
BATCH_COLUMNS = (
    "status",
    "review",
    "match_level",
    "score",
    *ASSIGN_COLUMNS,
    "matched_address",
    "grid_staff_name",
    "grid_staff_phone",
    "microgrid_leader_name",
    "microgrid_leader_phone",
    "candidates",
    "message",
)


#: Columns of a ledger that writes the address in parts (小区 | 楼栋 | 单元 | 房号).
PART_COLUMNS: dict[str, tuple[str, ...]] = {
    "street": ("小区", "小区名称", "小区名", "街路巷", "路名", "院落", "street", "compound"),
    "building": ("楼栋", "楼号", "栋号", "楼栋号", "幢号", "楼幢", "栋", "building"),
    "unit": ("单元", "单元号", "unit"),
    "room": ("房号", "门牌号", "室号", "房间号", "户号", "room"),
}


def _part(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 3.0 from a spreadsheet is building 3
    return unicodedata.normalize("NFKC", normalise_id(value) or "")


def _bare(text: str) -> bool:
    """True when a part ends in a digit or Latin letter (no 栋/单元 word of its own)."""
    return bool(text) and text[-1].isascii() and text[-1].isalnum()


def compose_addresses(df: pd.DataFrame) -> pd.Series | None:
    """Addresses of a ledger that keeps them in parts (小区, 楼栋, 单元, 房号 columns).

    Returns None unless the table has a street/compound and a building column.
    Each row becomes ``阳光小区3号楼2单元501`` (a building or unit word already
    in the cell is kept: ``3栋`` stays ``3栋``).
    """
    cols = {k: _first_column(df, opts) for k, opts in PART_COLUMNS.items()}
    if cols["street"] is None or cols["building"] is None:
        return None

    def one(row) -> str:
        street, b = _part(row[cols["street"]]), _part(row[cols["building"]])
        u = _part(row[cols["unit"]]) if cols["unit"] else ""
        r = _part(row[cols["room"]]) if cols["room"] else ""
        if not b:
            return street
        text = street + b + ("号楼" if _bare(b) else "")
        if u:
            text += u + ("单元" if _bare(u) else "")
        return text + r

    return df.apply(one, axis=1)


def locate_table(
    df: pd.DataFrame,
    registry: AddressRegistry,
    column: str | None = None,
    *,
    include_contacts: bool = True,
    source: str = "table",
) -> pd.DataFrame:
    """Locate every address of a table; the original columns are kept.

    Rows whose status is not ``ok`` (ambiguous, not found, empty address) get
    ``review = True`` and a message; none is dropped. A row with no value in any
    column (a blank line of the sheet) is kept with status ``"blank"`` and no review.
    """
    try:
        col = _find_column(df, column, ADDRESS_COLUMNS, "address", source, ADDRESS_WORDS)
        values = df[col].tolist()
    except InputFileError:
        composed = compose_addresses(df) if column is None else None
        if composed is None:
            raise
        values = composed.tolist()
    out = df.copy()
    rows: list[dict] = []
    blank = (
        df.apply(lambda r: all(normalise_id(v) is None for v in r), axis=1)
        if len(df.columns)
        else []
    )
    for value, is_blank in zip(values, blank, strict=True):
        if is_blank:  # an empty line of the sheet: nothing to look up, nothing to review
            rows.append(
                {
                    "status": "blank",
                    "review": False,
                    "match_level": "none",
                    "score": 0.0,
                    "message": "blank row",
                }
            )
            continue
        try:
            r = registry.match_address(value)
        except AddressError as exc:
            rows.append(
                {
                    "status": "not_found",
                    "review": True,
                    "match_level": "none",
                    "score": 0.0,
                    "message": exc.message,
                }
            )
            continue
        cands = "; ".join(
            _candidate_text(c, registry if include_contacts else None) for c in r.candidates
        )
        row = {
            "status": r.status,
            "review": r.status != "ok",
            "match_level": r.match_level,
            "score": round(r.score, 1),
            "microgrid_id": r.microgrid_id,
            "grid_id": r.grid_id,
            "zone_id": r.zone_id,
            "community_id": r.community_id,
            "matched_address": r.matched_address,
            "candidates": cands if r.status != "ok" else "",
            "message": r.message,
        }
        if include_contacts:
            row["grid_staff_name"] = (r.grid_worker or {}).get("name")
            row["grid_staff_phone"] = (r.grid_worker or {}).get("phone")
            row["microgrid_leader_name"] = (r.microgrid_leader or {}).get("name")
            row["microgrid_leader_phone"] = (r.microgrid_leader or {}).get("phone")
        rows.append(row)
    res = pd.DataFrame(rows, index=df.index)
    names: dict[str, str] = {}
    for c in BATCH_COLUMNS:
        if c not in res.columns:
            if not include_contacts and c.startswith(("grid_staff", "microgrid_leader")):
                continue
            res[c] = None
        name = c if c not in out.columns else f"{c}_located"
        out[name] = res[c].astype(object)
        names[c] = name
    out.attrs["located_columns"] = names
    return out


def _candidate_text(c: dict, registry: AddressRegistry | None) -> str:
    """``西南街3号楼2单元501室：G01/M002 王某`` (address, owners, grid worker when allowed)."""
    where = c.get("address") or c.get("street") or ""
    owners = "/".join(str(c.get(k)) for k in ("grid_id", "microgrid_id") if c.get(k))
    text = f"{where}：{owners}" if owners else str(where)
    if registry is not None and c.get("grid_id"):
        worker = registry._contacts_grid.get(c["grid_id"], {}).get("name")
        if worker:
            text += f" {worker}"
    return text


def batch_summary(table: pd.DataFrame) -> dict[str, int]:
    """Counts of a :func:`locate_table` result: rows, ok, ambiguous, not_found, blank, review.

    Reads the columns the lookup added, even where the input had its own
    ``status`` or ``review`` column (the added ones are then ``status_located``...).
    """
    names = table.attrs.get("located_columns", {})
    status = table[names.get("status", "status")]
    counts = status.value_counts().to_dict()
    summary = {"rows": len(table)}
    for key in ("ok", "ambiguous", "not_found", "blank"):
        summary[key] = int(counts.get(key, 0))
    summary["review"] = int(table[names.get("review", "review")].astype(bool).sum())
    return summary


def locate_file(
    file: str | os.PathLike,
    out: str | os.PathLike,
    *,
    column: str | None = None,
    workspace=None,
    registry: AddressRegistry | None = None,
    include_contacts: bool = True,
    lang: str = "zh",
) -> tuple[Path, pd.DataFrame]:
    """Batch lookup: read a CSV/XLSX of addresses, write owners and match levels.

    The output (``.xlsx`` or ``.csv``, UTF-8 with BOM so Excel shows Chinese)
    is written atomically, with the added columns' headers and codes in
    ``lang`` (``"zh"``: 匹配状态, 已匹配...; ``"en"``: status, ok...). An .xlsx
    has a frozen header, filters, fitted widths, review rows highlighted,
    numbers as numbers and ids as text (:mod:`gridmap.lookup.batch`). Returns
    the path and the result table (library column names, whatever ``lang``).
    """
    from gridmap.lookup.batch import office_table, write_xlsx
    from gridmap.workspace import store as io

    reg = registry if registry is not None else registry_for(workspace)
    df = read_table(file)
    result = locate_table(df, reg, column, include_contacts=include_contacts, source=str(file))
    target = Path(out)
    suffix = target.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise InputFileError("the output must be .xlsx or .csv", file=str(target))

    if lang not in ("zh", "en"):
        raise InputFileError(f"lang must be 'zh' or 'en', not '{lang}'", file=str(target))
    office = office_table(result, lang)
    cols = office.attrs["office_columns"]

    def _write(tmp: Path) -> None:
        if suffix == ".xlsx":
            write_xlsx(
                office,
                tmp,
                review_column=cols.get("review"),
                number_columns=(cols.get("score", "score"),),
                sheet_name="定位结果" if lang == "zh" else "located",
            )
        else:
            office.to_csv(tmp, index=False, encoding="utf-8-sig")

    io.atomic_write_file(target, _write)
    return target, result
