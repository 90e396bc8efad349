"""What a planner gets from a proposal: a separate workspace, an Excel diff and a before/after map."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import geopandas as gpd
import pandas as pd

from gridmap.division.divide import DivisionResult
from gridmap.errors import GridmapError
from gridmap.workspace.schema import GRIDS, LAYERS, MICROGRIDS
from gridmap.workspace.store import atomic_write_file, write_layers

#: Layer of the proposal workspace that lists every micro-grid's old and new grid.
CHANGES_LAYER = "microgrid_changes"

_TEXT = {
    "zh": {
        "title": "网格调整方案：调整前后对比",
        "before": "现状网格",
        "after": "调整方案",
        "households": "户",
        "band": "每格户数标准",
        "moved": "调整的微网格",
        "out": "不在标准内",
        "changes": "微网格变更",
        "grids": "网格前后对比",
        "microgrid_id": "微网格编号",
        "unit_id": "所属片区",
        "households_col": "户数",
        "old_grid_id": "原网格",
        "new_grid_id": "新网格",
        "moved_col": "是否调整",
        "grid_id": "网格编号",
        "status": "状态",
        "hh_before": "调整前户数",
        "hh_after": "调整后户数",
        "mg_before": "调整前微网格数",
        "mg_after": "调整后微网格数",
        "cp_before": "调整前紧凑度",
        "cp_after": "调整后紧凑度",
        "in_band": "是否达标",
        "reason": "未达标原因",
        "kept": "保留",
        "changed": "调整",
        "new": "新增",
        "removed": "撤并",
        "yes": "是",
        "no": "否",
        "compactness": "紧凑度 4πA/P²",
    },
    "en": {
        "title": "Grid re-division proposal: before and after",
        "before": "Grids today",
        "after": "Proposal",
        "households": "households",
        "band": "households per grid",
        "moved": "micro-grids moved",
        "out": "outside the band",
        "changes": "micro-grid changes",
        "grids": "grids before-after",
        "microgrid_id": "micro-grid",
        "unit_id": "unit",
        "households_col": "households",
        "old_grid_id": "old grid",
        "new_grid_id": "new grid",
        "moved_col": "moved",
        "grid_id": "grid",
        "status": "status",
        "hh_before": "households before",
        "hh_after": "households after",
        "mg_before": "micro-grids before",
        "mg_after": "micro-grids after",
        "cp_before": "compactness before",
        "cp_after": "compactness after",
        "in_band": "in band",
        "reason": "why not in band",
        "kept": "kept",
        "changed": "changed",
        "new": "new",
        "removed": "removed",
        "yes": "yes",
        "no": "no",
        "compactness": "compactness 4πA/P²",
    },
}


def _t(lang: str) -> dict[str, str]:
    if lang not in _TEXT:
        raise GridmapError(f"lang must be zh or en; got '{lang}'")
    return _TEXT[lang]


def grid_table(result: DivisionResult) -> pd.DataFrame:
    """Per grid, before and after: households, micro-grids, compactness, status."""
    b = result.before.set_index("grid_id")
    a = pd.DataFrame(result.grids.drop(columns="geometry")).set_index("grid_id")
    ids = sorted(set(b.index) | set(a.index))
    moved_into = result.microgrids.groupby("new_grid_id")["moved"].any()
    rows = []
    for g in ids:
        in_b, in_a = g in b.index, g in a.index
        status = (
            "removed"
            if not in_a
            else "new"
            if not in_b
            else "changed"
            if bool(moved_into.get(g, False))
            or int(b.at[g, "microgrids"]) != int(a.at[g, "microgrids"])
            else "kept"
        )
        rows.append(
            {
                "grid_id": g,
                "status": status,
                "hh_before": int(b.at[g, "households"]) if in_b else None,
                "hh_after": int(a.at[g, "households"]) if in_a else None,
                "mg_before": int(b.at[g, "microgrids"]) if in_b else None,
                "mg_after": int(a.at[g, "microgrids"]) if in_a else None,
                "cp_before": float(b.at[g, "compactness"]) if in_b else None,
                "cp_after": float(a.at[g, "compactness"]) if in_a else None,
                "in_band": bool(a.at[g, "in_band"]) if in_a else None,
                "reason": str(a.at[g, "reason"]) if in_a else "",
            }
        )
    return pd.DataFrame(rows)


def write_proposal_workspace(
    result: DivisionResult, workspace: str | os.PathLike, out: str | os.PathLike
) -> Path:
    """Write the proposal as a separate workspace (a copy of ``workspace``).

    Its ``grids`` are the proposed grids (kept ids carry today's attributes,
    such as the name and the grid worker; new grids get a name only), its
    micro-grids point at them, and ``microgrid_changes`` lists every
    micro-grid's old and new grid. The user's workspace is never written.
    """
    src, dst = Path(workspace).resolve(), Path(out).resolve()
    if src == dst:
        raise GridmapError(
            "the proposal must not overwrite the workspace it was made from; choose another out file",
            file=str(dst),
        )
    from gridmap.workspace.store import load_workspace

    ws = load_workspace(src)
    old_grids = ws.layers[GRIDS]
    gid = LAYERS[GRIDS].id_column
    attrs = old_grids.drop(columns="geometry").copy()
    attrs[gid] = attrs[gid].astype(str)
    new = result.grids.rename(
        columns={"unit_id": "zone_id" if result.within == "zone" else "community_id"}
    )
    keep_cols = [c for c in attrs.columns if c not in new.columns or c == gid]
    merged = new.merge(attrs[keep_cols], on=gid, how="left")
    if "name" in merged.columns:
        merged["name"] = merged["name"].where(
            merged["name"].notna(), "新网格 " + merged[gid].astype(str)
        )
    merged = gpd.GeoDataFrame(merged, geometry="geometry", crs="EPSG:4326")
    mg = ws.layers[MICROGRIDS].copy()
    mid = LAYERS[MICROGRIDS].id_column
    mapping = dict(
        zip(result.microgrids["microgrid_id"], result.microgrids["new_grid_id"], strict=True)
    )
    mg["grid_id"] = mg[mid].astype(str).map(mapping)
    changes = mg[[mid, "geometry"]].copy()
    changes[mid] = changes[mid].astype(str)
    changes = changes.merge(result.microgrids, on=mid, how="left")
    changes["moved"] = changes["moved"].astype(int)

    def write(tmp: Path) -> None:
        with sqlite3.connect(src) as a, sqlite3.connect(tmp) as b:
            a.backup(b)  # consistent copy, WAL content included
        write_layers(tmp, {GRIDS: merged, MICROGRIDS: mg, CHANGES_LAYER: changes}, locked=True)

    return atomic_write_file(dst, write)


def write_proposal_xlsx(
    result: DivisionResult, out: str | os.PathLike, *, lang: str = "zh"
) -> Path:
    """Excel workbook: the micro-grid diff and the per-grid before/after table."""
    t = _t(lang)
    diff = result.microgrids.copy()
    diff["moved"] = diff["moved"].map({True: t["yes"], False: t["no"]})
    diff = diff.rename(
        columns={
            "microgrid_id": t["microgrid_id"],
            "unit_id": t["unit_id"],
            "households": t["households_col"],
            "old_grid_id": t["old_grid_id"],
            "new_grid_id": t["new_grid_id"],
            "moved": t["moved_col"],
        }
    )
    grids = grid_table(result)
    grids["status"] = grids["status"].map(lambda s: t[s])
    grids["in_band"] = grids["in_band"].map(
        lambda v: "" if v is None else t["yes"] if v else t["no"]
    )
    grids = grids.rename(columns={k: t[k] for k in grids.columns})

    def write(tmp: Path) -> None:
        with pd.ExcelWriter(tmp, engine="openpyxl") as xw:
            for sheet, df in ((t["grids"], grids), (t["changes"], diff)):
                df.to_excel(xw, sheet_name=sheet[:31], index=False)
                ws = xw.sheets[sheet[:31]]
                ws.freeze_panes = "A2"
                ws.auto_filter.ref = ws.dimensions
                for k, col in enumerate(df.columns, start=1):
                    width = max([len(str(col))] + [len(str(v)) for v in df[col].head(500)]) + 2
                    ws.column_dimensions[ws.cell(1, k).column_letter].width = min(
                        max(width * 1.3, 8), 40
                    )

    return atomic_write_file(out, write)


__all__ = [
    "CHANGES_LAYER",
    "grid_table",
    "write_proposal_workspace",
    "write_proposal_xlsx",
]
