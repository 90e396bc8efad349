"""Standard grid codes: generate them in a configured scheme and check existing ones.

A scheme (``codes.toml``) is a list of fixed-width numeric parts; the last part
is the grid's sequence number inside its community, counted west -> east,
north -> south (:func:`reading_order`). Everything before the sequence is the
*prefix*, which every grid of one community shares.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap.coords.crs import metric_crs_for
from gridmap.errors import GridmapError, InputFileError, SchemaError
from gridmap.join.core import build_hierarchy
from gridmap.workspace.schema import COMMUNITIES, GRIDS, LAYERS, ZONES

#: Name of the optional column on ``communities`` that holds a community's official code
#: (its 3 digits, or the 12-digit statistical code whose last 3 digits are used).
COMMUNITY_CODE_COLUMN = "community_code"


class CodeError(GridmapError):
    """A grid code cannot be generated (a bad part value, too many grids)."""


@dataclass(frozen=True)
class CodePart:
    """One fixed-width numeric part of a code."""

    name: str
    digits: int
    help: str = ""


@dataclass(frozen=True)
class CodeScheme:
    """A grid-code layout: parts in order, the last one the grid sequence."""

    name: str
    title: str
    parts: tuple[CodePart, ...]
    source: str = ""

    @property
    def length(self) -> int:
        """Total number of digits."""
        return sum(p.digits for p in self.parts)

    @property
    def prefix_parts(self) -> tuple[CodePart, ...]:
        """Every part but the sequence."""
        return self.parts[:-1]

    @property
    def sequence_digits(self) -> int:
        return self.parts[-1].digits

    def split(self, code: str) -> dict[str, str]:
        """Cut a code into its named parts (no checking)."""
        out, k = {}, 0
        for p in self.parts:
            out[p.name] = code[k : k + p.digits]
            k += p.digits
        return out


@dataclass(frozen=True)
class CodeSettings:
    """The schemes of a settings file and its defaults."""

    schemes: dict[str, CodeScheme]
    default_scheme: str
    column: str
    file: str = ""

    def scheme(self, name: str | None) -> CodeScheme:
        """The scheme called ``name`` (the default when None)."""
        key = (name or self.default_scheme).lower()
        if key not in self.schemes:
            raise CodeError(
                f"unknown grid-code scheme '{name}'; known: {', '.join(sorted(self.schemes))}",
                file=self.file or None,
            )
        return self.schemes[key]


def default_settings_path() -> Path:
    """The packaged ``codes.toml``."""
    return Path(str(resources.files("gridmap.division").joinpath("codes.toml")))


def load_code_settings(path: str | os.PathLike | None = None) -> CodeSettings:
    """Read grid-code schemes from a TOML file (default: the packaged one).

    Raises
    ------
    InputFileError
        When the file is missing, not TOML, or a scheme is malformed.
    """
    p = Path(path) if path else default_settings_path()
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError("the grid-code settings file does not exist", file=str(p)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputFileError(f"not a readable TOML file ({exc})", file=str(p)) from None
    schemes: dict[str, CodeScheme] = {}
    for name, s in (raw.get("scheme") or {}).items():
        try:
            parts = tuple(
                CodePart(str(x["name"]), int(x["digits"]), str(x.get("help", "")))
                for x in s["parts"]
            )
        except (KeyError, TypeError, ValueError):
            raise InputFileError(
                f"scheme '{name}': every part needs a name and a number of digits", file=str(p)
            ) from None
        if len(parts) < 2 or any(x.digits < 1 for x in parts) or parts[-1].name != "sequence":
            raise InputFileError(
                f"scheme '{name}': needs at least two parts of ≥ 1 digit, the last named 'sequence'",
                file=str(p),
            )
        schemes[name.lower()] = CodeScheme(
            name.lower(), str(s.get("title", name)), parts, str(s.get("source", ""))
        )
    if not schemes:
        raise InputFileError("the file defines no [scheme.NAME] section", file=str(p))
    use = raw.get("use") or {}
    default = str(use.get("scheme", next(iter(schemes)))).lower()
    if default not in schemes:
        raise InputFileError(f"[use] scheme '{default}' is not defined in the file", file=str(p))
    return CodeSettings(schemes, default, str(use.get("column", "grid_code")), str(p))


def reading_order(polygons: gpd.GeoSeries) -> np.ndarray:
    """Order polygons west -> east within rows, rows north -> south.

    Rows are bands of the median polygon size (the square root of the median
    area) measured down from the northernmost representative point, so small
    differences in latitude inside one row do not reorder it.

    Returns
    -------
    numpy.ndarray
        Positions into ``polygons``, first to last.
    """
    if len(polygons) == 0:
        return np.array([], dtype=int)
    g = (
        polygons.to_crs(metric_crs_for(gpd.GeoDataFrame(geometry=polygons)))
        if polygons.crs
        else polygons
    )
    pts = shapely.point_on_surface(np.asarray(g.values))
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    band = float(np.sqrt(np.median(shapely.area(np.asarray(g.values))))) or 1.0
    row = np.floor((np.nanmax(y) - y) / band)
    return np.lexsort((x, row))


def _digits(value: str | int | None, part: CodePart, parameter: str) -> str:
    s = "" if value is None else str(value).strip()
    if not s.isdigit() or not s.isascii() or len(s) != part.digits:
        raise CodeError(
            f"{parameter} must be {part.digits} digits ({part.help or part.name}); got '{s}'"
        )
    return s


def _community_of_grids(layers: Mapping[str, gpd.GeoDataFrame]) -> pd.Series:
    """grid_id -> community_id (None when the chain stops)."""
    grids = layers[GRIDS]
    h = build_hierarchy(layers)
    gid = grids[LAYERS[GRIDS].id_column].astype(str)
    zones = gid.map(lambda g: h.parent_of(GRIDS, g))
    if COMMUNITIES in h.polygons or "community_id" in (layers.get(ZONES, pd.DataFrame()).columns):
        comm = zones.map(lambda z: h.parent_of(ZONES, z))
    else:
        comm = pd.Series([None] * len(gid), index=gid.index)
    return pd.Series(comm.values, index=gid.values, dtype=object)


@dataclass
class CodeAssignment:
    """Codes generated for the grids of a workspace."""

    scheme: CodeScheme
    column: str
    table: pd.DataFrame  # grid_id, community_id, community_code, sequence, code
    notes: list[str] = field(default_factory=list)

    @property
    def codes(self) -> pd.Series:
        """grid_id -> code."""
        return pd.Series(self.table["code"].values, index=self.table["grid_id"].values)


def generate_codes(
    layers: Mapping[str, gpd.GeoDataFrame],
    scheme: CodeScheme,
    values: Mapping[str, str | int | None],
    *,
    column: str = "grid_code",
) -> CodeAssignment:
    """Give every grid a code in ``scheme``.

    Parameters
    ----------
    layers
        The workspace's layers (needs ``grids``; ``zones`` and ``communities``
        place each grid in its community).
    scheme
        From :func:`load_code_settings`.
    values
        Part name -> digits for the prefix parts shared by the whole workspace
        (``county``, ``street``, ``service_object`` ...). ``community`` may be
        given when the workspace has one community; otherwise each community's
        code comes from its ``community_code`` column, or is numbered 001, 002 ...
        in reading order (a note says so: replace them with the official codes).
    column
        Name recorded for the code column.

    Returns
    -------
    CodeAssignment
    """
    if GRIDS not in layers or len(layers[GRIDS]) == 0:
        raise SchemaError("there are no grids to code", layer=GRIDS)
    grids = layers[GRIDS]
    gid_col = LAYERS[GRIDS].id_column
    notes: list[str] = []
    fixed: dict[str, str] = {}
    for part in scheme.prefix_parts:
        if part.name == "community":
            continue
        v = values.get(part.name)
        if v is None and part.name == "service_object":
            v = "0" * part.digits
            notes.append(
                f"service_object not given: {v} used (set the CJ/T 348 code of the grids' service object)"
            )
        if v is None:
            raise CodeError(f"the scheme {scheme.name} needs {part.name} ({part.help})")
        fixed[part.name] = _digits(v, part, part.name)
    comm_of = _community_of_grids(layers)
    communities = sorted({c for c in comm_of.values if c is not None})
    if comm_of.isna().any():
        missing = [g for g, c in comm_of.items() if c is None]
        if communities:
            raise CodeError(
                "these grids lie in no community, so they cannot be numbered inside one",
                layer=GRIDS,
                ids=missing,
            )
    comm_codes: dict[str | None, str] = {}
    cpart = next((p for p in scheme.prefix_parts if p.name == "community"), None)
    if cpart is not None:
        given = values.get("community")
        if given is not None:
            if len(communities) > 1:
                raise CodeError(
                    f"community was given but the workspace has {len(communities)} communities; "
                    f"put each one's code in the '{COMMUNITY_CODE_COLUMN}' column of communities"
                )
            comm_codes = {c: _digits(given, cpart, "community") for c in (communities or [None])}
        else:
            cl = layers.get(COMMUNITIES)
            if cl is not None and COMMUNITY_CODE_COLUMN in cl.columns:
                for cid, code in zip(
                    cl["community_id"].astype(str), cl[COMMUNITY_CODE_COLUMN], strict=True
                ):
                    s = "" if pd.isna(code) else str(code).strip()
                    comm_codes[cid] = _digits(
                        s[-cpart.digits :], cpart, f"{COMMUNITY_CODE_COLUMN} of {cid}"
                    )
            else:
                order = communities
                if cl is not None and len(cl) and communities:
                    sub = cl[cl["community_id"].astype(str).isin(communities)].reset_index(
                        drop=True
                    )
                    order = list(sub["community_id"].astype(str).iloc[reading_order(sub.geometry)])
                for k, c in enumerate(order or [None], start=1):
                    comm_codes[c] = str(k).zfill(cpart.digits)
                notes.append(
                    "no community code given: communities numbered "
                    + ", ".join(f"{c}={v}" for c, v in comm_codes.items())
                    + f" in reading order; give community, or a '{COMMUNITY_CODE_COLUMN}' column"
                )
    rows = []
    seq_part = scheme.parts[-1]
    for comm in communities or [None]:
        members = grids[
            (comm_of.reindex(grids[gid_col].astype(str)).values == comm)
            if comm
            else np.ones(len(grids), bool)
        ]
        members = members.reset_index(drop=True)
        n = len(members)
        if n >= 10**seq_part.digits:
            raise CodeError(
                f"community {comm} has {n} grids; the scheme {scheme.name} numbers at most "
                f"{10**seq_part.digits - 1} in {seq_part.digits} digits"
            )
        order = reading_order(members.geometry)
        for k, pos in enumerate(order, start=1):
            seq = (
                "0" * seq_part.digits
                if (n == 1 and scheme.name == "cjt349")
                else str(k).zfill(seq_part.digits)
            )
            parts = dict(fixed)
            if cpart is not None:
                parts["community"] = comm_codes[comm]
            code = "".join(parts[p.name] for p in scheme.prefix_parts) + seq
            rows.append(
                {
                    "grid_id": str(members[gid_col].iloc[pos]),
                    "community_id": comm,
                    "community_code": parts.get("community"),
                    "sequence": k,
                    "code": code,
                }
            )
    return CodeAssignment(scheme, column, pd.DataFrame(rows), notes)


def guess_scheme(codes: pd.Series, settings: CodeSettings) -> CodeScheme | None:
    """The scheme whose length the codes have (the configured default first)."""
    lengths = codes.dropna().astype(str).str.len()
    if lengths.empty:
        return None
    common = int(lengths.mode().iloc[0])
    ordered = [settings.schemes[settings.default_scheme]] + [
        s for k, s in settings.schemes.items() if k != settings.default_scheme
    ]
    return next((s for s in ordered if s.length == common), None)


@dataclass(frozen=True)
class CodeFinding:
    """One problem with the grid codes of a workspace."""

    severity: str  # "error" | "warning"
    code: str
    ids: list[str]
    message: str


def check_codes(
    layers: Mapping[str, gpd.GeoDataFrame],
    *,
    column: str | None = None,
    settings: CodeSettings | None = None,
    scheme: CodeScheme | None = None,
) -> list[CodeFinding]:
    """Check a grid-code column: format, uniqueness and agreement with the parent.

    * ``grid_code_format``: not all digits, or not the scheme's length;
    * ``grid_code_duplicate``: two grids with one code;
    * ``grid_code_parent``: grids of one community with different prefixes,
      grids of different communities with the same prefix, or a prefix that
      disagrees with the community's ``community_code``;
    * ``grid_code_order`` (warning): sequence numbers not west -> east,
      north -> south inside the community.

    Returns an empty list when the grids have no code column.
    """
    settings = settings or load_code_settings()
    column = column or settings.column
    grids = layers.get(GRIDS)
    if grids is None or column not in grids.columns or len(grids) == 0:
        return []
    gid = grids[LAYERS[GRIDS].id_column].astype(str).values
    raw = grids[column]
    codes = pd.Series(
        [None if pd.isna(v) else str(v).strip() for v in raw], index=gid, dtype=object
    )
    scheme = scheme or guess_scheme(codes, settings)
    out: list[CodeFinding] = []
    if scheme is None:
        out.append(
            CodeFinding(
                "error",
                "grid_code_format",
                [],
                f"the codes in '{column}' match no configured scheme's length "
                f"({', '.join(f'{s.name} {s.length}' for s in settings.schemes.values())})",
            )
        )
        return out
    bad = [
        g
        for g, c in codes.items()
        if c is None or not (c.isascii() and c.isdigit() and len(c) == scheme.length)
    ]
    if bad:
        out.append(
            CodeFinding(
                "error",
                "grid_code_format",
                bad,
                f"'{column}' must be {scheme.length} digits ({scheme.name}: "
                + " + ".join(f"{p.name} {p.digits}" for p in scheme.parts)
                + ")",
            )
        )
    good = codes[[g not in set(bad) for g in codes.index]]
    dup = good[good.duplicated(keep=False)]
    for c, grp in dup.groupby(dup.values):
        out.append(
            CodeFinding(
                "error",
                "grid_code_duplicate",
                sorted(grp.index),
                f"the code {c} is used by more than one grid",
            )
        )
    if good.empty:
        return out
    pre_len = scheme.length - scheme.sequence_digits
    prefix = good.str[:pre_len]
    try:
        comm_of = _community_of_grids(layers)
    except GridmapError:
        comm_of = pd.Series([None] * len(gid), index=gid, dtype=object)
    comm = comm_of.reindex(prefix.index)
    frame = pd.DataFrame({"prefix": prefix, "community": comm.values, "code": good})
    for c, grp in frame.groupby(frame["community"].fillna("(none)")):
        if grp["prefix"].nunique() > 1:
            main = grp["prefix"].mode().iloc[0]
            odd = sorted(grp.index[grp["prefix"] != main])
            out.append(
                CodeFinding(
                    "error",
                    "grid_code_parent",
                    odd,
                    f"grids of community {c} should share the code prefix {main}; these do not",
                )
            )
    by_prefix = frame.groupby("prefix")["community"].nunique()
    for p, n in by_prefix.items():
        if n > 1:
            ids = sorted(frame.index[frame["prefix"] == p])
            out.append(
                CodeFinding(
                    "error",
                    "grid_code_parent",
                    ids,
                    f"grids of {n} different communities share the prefix {p}",
                )
            )
    cl = layers.get(COMMUNITIES)
    cpart_at = None
    k = 0
    for part in scheme.parts:
        if part.name == "community":
            cpart_at = (k, k + part.digits)
        k += part.digits
    if cl is not None and COMMUNITY_CODE_COLUMN in cl.columns and cpart_at:
        official = {
            str(a): ("" if pd.isna(b) else str(b).strip())[-(cpart_at[1] - cpart_at[0]) :]
            for a, b in zip(cl["community_id"], cl[COMMUNITY_CODE_COLUMN], strict=True)
        }
        wrong = sorted(
            g
            for g, row in frame.iterrows()
            if row["community"] in official
            and row["code"][cpart_at[0] : cpart_at[1]] != official[row["community"]]
        )
        if wrong:
            out.append(
                CodeFinding(
                    "error",
                    "grid_code_parent",
                    wrong,
                    f"the community digits of these codes disagree with the community's {COMMUNITY_CODE_COLUMN}",
                )
            )
    gid_col = LAYERS[GRIDS].id_column
    for c, grp in frame.groupby(frame["community"].fillna("(none)")):
        if len(grp) < 2:
            continue
        sub = grids[grids[gid_col].astype(str).isin(grp.index)].reset_index(drop=True)
        expected = list(sub[gid_col].astype(str).iloc[reading_order(sub.geometry)])
        actual = list(grp.sort_values("code").index)
        if expected != actual:
            out.append(
                CodeFinding(
                    "warning",
                    "grid_code_order",
                    [g for g, e in zip(actual, expected, strict=True) if g != e],
                    f"sequence numbers in community {c} do not run west → east, north → south",
                )
            )
    return out


def write_codes(workspace: str | os.PathLike, result: CodeAssignment) -> Path:
    """Write the codes into ``result.column`` of the workspace's grids (ids unchanged)."""
    from gridmap.workspace.store import load_workspace, write_layers

    ws = load_workspace(workspace)
    grids = ws.layers[GRIDS].copy()
    gid = grids[LAYERS[GRIDS].id_column].astype(str)
    grids[result.column] = gid.map(result.codes).astype(object)
    return write_layers(workspace, {GRIDS: grids})
