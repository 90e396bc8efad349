"""Standard grid codes: generate them in a configured scheme and write them into the grids.

The schemes, the reading order and the checks live in :mod:`gridmap.checks.grid_codes`
(``gridmap validate`` runs them); this module makes and writes codes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from gridmap.checks.grid_codes import (
    COMMUNITY_CODE_COLUMN,
    CodeError,
    CodeFinding,
    CodePart,
    CodeScheme,
    CodeSettings,
    _community_of_grids,
    check_codes,
    guess_scheme,
    load_code_settings,
    reading_order,
)
from gridmap.errors import SchemaError
from gridmap.workspace.schema import COMMUNITIES, GRIDS, LAYERS

__all__ = [
    "COMMUNITY_CODE_COLUMN",
    "CodeAssignment",
    "CodeError",
    "CodeFinding",
    "CodePart",
    "CodeScheme",
    "CodeSettings",
    "check_codes",
    "generate_codes",
    "guess_scheme",
    "load_code_settings",
    "reading_order",
    "write_codes",
]


def _digits(value: str | int | None, part: CodePart, parameter: str) -> str:
    s = "" if value is None else str(value).strip()
    if not s.isdigit() or not s.isascii() or len(s) != part.digits:
        raise CodeError(
            f"{parameter} must be {part.digits} digits ({part.help or part.name}); got '{s}'"
        )
    return s


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


def write_codes(workspace: str | os.PathLike, result: CodeAssignment) -> Path:
    """Write the codes into ``result.column`` of the workspace's grids (ids unchanged)."""
    from gridmap.workspace.store import load_workspace, write_layers

    ws = load_workspace(workspace)
    grids = ws.layers[GRIDS].copy()
    gid = grids[LAYERS[GRIDS].id_column].astype(str)
    grids[result.column] = gid.map(result.codes).astype(object)
    return write_layers(workspace, {GRIDS: grids})
