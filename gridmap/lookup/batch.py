"""Batch results written for the office: a sheet a community worker opens in Excel or WPS.

:func:`office_table` turns a :func:`gridmap.lookup.matching.locate_table`
result into the columns and words of the output file (Chinese by default,
English with ``lang="en"``), and :func:`write_xlsx` writes it with a frozen
header row, filters, column widths that fit the content, the rows needing
review highlighted, numbers stored as numbers and ids as text. The input's
rows and columns stay first and in their order; the lookup's columns follow.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

#: Header of each added column, per language.
HEADERS: dict[str, dict[str, str]] = {
    "zh": {
        "status": "匹配状态",
        "review": "需人工核对",
        "match_level": "匹配方式",
        "score": "匹配分",
        "microgrid_id": "微网格编号",
        "grid_id": "网格编号",
        "zone_id": "片区编号",
        "community_id": "社区编号",
        "matched_address": "匹配地址",
        "grid_staff_name": "网格员",
        "grid_staff_phone": "网格员电话",
        "microgrid_leader_name": "微网格长",
        "microgrid_leader_phone": "微网格长电话",
        "candidates": "候选（地址：网格/微网格）",
        "message": "说明",
    },
    "en": {},
}
#: Status, review and match-level codes as words, per language.
CODES: dict[str, dict[str, dict]] = {
    "zh": {
        "status": {
            "ok": "已匹配",
            "ambiguous": "待确认",
            "not_found": "未找到",
            "blank": "空行",
        },
        "review": {True: "是", False: "否"},
        "match_level": {
            "exact": "精确",
            "building": "按楼栋",
            "fuzzy": "纠错匹配",
            "coordinate": "坐标",
            "none": "无",
        },
    },
    "en": {},
}
#: Columns that are identifiers or phone numbers: always text (leading zeros kept).
_ID_WORDS = (
    "id",
    "编号",
    "代码",
    "电话",
    "手机",
    "联系方式",
    "身份证",
    "证件",
    "phone",
    "tel",
    "户号",
)
_NUMBER_RE = re.compile(r"^-?(?:0|[1-9]\d{0,14})(?:\.\d+)?$")
#: Fill of a row that needs review (light amber, readable when printed in grey).
REVIEW_FILL = "FFF2CC"
HEADER_FILL = "DDEBF7"


def office_table(table: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """Columns and codes of a locate_table result in the office's language.

    Parameters
    ----------
    table
        A :func:`~gridmap.lookup.matching.locate_table` result (its
        ``attrs["located_columns"]`` names the added columns).
    lang
        ``"zh"`` (default: Chinese headers and words) or ``"en"`` (the
        library's own column names and codes).

    Returns
    -------
    pandas.DataFrame
        A copy: input columns first, unchanged; added columns renamed and their
        codes written as words.
    """
    if lang not in HEADERS:
        raise ValueError(f"lang must be 'zh' or 'en', not {lang!r}")
    names: dict[str, str] = table.attrs.get("located_columns", {})
    out = table.copy()
    codes = CODES[lang]
    rename = {}
    for key, col in names.items():
        if col not in out.columns:
            continue
        if key in codes:
            out[col] = out[col].map(lambda v, m=codes[key]: m.get(v, v))
        header = HEADERS[lang].get(key)
        if header is not None:
            taken = set(out.columns) - {col}
            rename[col] = header if header not in taken else f"{header}（定位）"
    out = out.rename(columns=rename)
    out.attrs = dict(table.attrs)
    out.attrs["office_columns"] = {k: rename.get(c, c) for k, c in names.items()}
    return out


def _is_id_column(name: object) -> bool:
    n = str(name).strip().lower()
    return any(w in n for w in _ID_WORDS)


def _as_number(value: object) -> object:
    """A cell's value as int/float when it is written as a plain number, else as it is."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return value
    text = str(value).strip()
    if _NUMBER_RE.match(text):
        return float(text) if "." in text else int(text)
    return value


def _numeric_column(values: pd.Series) -> bool:
    """True when every non-empty cell is a plain number (no leading zeros: 001 is an id)."""
    seen = False
    for v in values:
        if v is None or (isinstance(v, float) and pd.isna(v)) or str(v).strip() == "":
            continue
        if isinstance(v, bool):
            return False
        if isinstance(v, (int, float)):
            seen = True
            continue
        if not _NUMBER_RE.match(str(v).strip()):
            return False
        seen = True
    return seen


def _display_width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def write_xlsx(
    table: pd.DataFrame,
    path: str | Path,
    *,
    review_column: str | None = None,
    number_columns: tuple[str, ...] = (),
    sheet_name: str = "定位结果",
) -> None:
    """Write an office table as an .xlsx sheet a worker can filter and print.

    Frozen header row, auto-filter over all columns, widths from the content
    (8-60 characters, CJK counted double), rows where ``review_column`` is
    true (or 是) filled amber. Columns of plain numbers (``序号``, the score,
    ``number_columns``) are written as numbers; id-like and phone columns and
    everything else as text, so ``001`` and ``13912345678`` stay as written.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = sheet_name
    columns = [str(c) for c in table.columns]
    ws.append(columns)
    numeric = {
        c
        for c in table.columns
        if (str(c) in number_columns or not _is_id_column(c)) and _numeric_column(table[c])
    }
    review = table[review_column].tolist() if review_column in table.columns else None
    fill = PatternFill("solid", fgColor=REVIEW_FILL)
    widths = [_display_width(c) for c in columns]
    for i, row in enumerate(table.itertuples(index=False, name=None)):
        cells: list = []
        for j, (col, v) in enumerate(zip(table.columns, row, strict=True)):
            if v is None or (isinstance(v, float) and pd.isna(v)):
                cells.append(None)
                continue
            value = _as_number(v) if col in numeric else (v if isinstance(v, str) else str(v))
            if isinstance(value, bool):
                value = str(value)
            cells.append(value)
            widths[j] = max(widths[j], _display_width(str(value)))
        ws.append(cells)
        r = ws.max_row
        for j, col in enumerate(table.columns):
            if col not in numeric and cells[j] is not None:
                ws.cell(row=r, column=j + 1).number_format = "@"
        if review is not None and review[i] in (True, "True", "是", "true", 1):
            for j in range(len(columns)):
                ws.cell(row=r, column=j + 1).fill = fill
    header_fill = PatternFill("solid", fgColor=HEADER_FILL)
    for j in range(len(columns)):
        c = ws.cell(row=1, column=j + 1)
        c.font = Font(bold=True)
        c.fill = header_fill
        c.alignment = Alignment(vertical="center", wrap_text=True)
        ws.column_dimensions[get_column_letter(j + 1)].width = min(max(widths[j] + 2, 8), 60)
    ws.freeze_panes = "A2"
    if columns:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{max(ws.max_row, 1)}"
    wb.save(path)
