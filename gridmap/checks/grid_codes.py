"""Standard grid codes: the schemes (``codes.toml``), reading order, and the checks ``gridmap validate`` runs.

A scheme (``codes.toml``) is a list of fixed-width numeric parts; the last part
is the grid's sequence number inside its community, counted west -> east,
north -> south (:func:`reading_order`). Everything before the sequence is the
*prefix*, which every grid of one community shares.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap.coords.crs import metric_crs_for
from gridmap.errors import GridmapError, InputFileError
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
    return Path(str(resources.files("gridmap.checks").joinpath("codes.toml")))


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
