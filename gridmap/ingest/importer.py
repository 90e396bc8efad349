"""Reading real data into a workspace (``gridmap import``).

Two kinds of input are read:

* any vector format GDAL reads (GeoPackage, GeoJSON, Shapefile, KML, ...),
  through pyogrio;
* tables with coordinate columns: CSV (UTF-8, UTF-8 with BOM, GB18030/GBK)
  and XLSX.

Coordinates are converted to WGS84 (EPSG:4326). GCJ-02 (Amap, Tencent) and
BD-09 (Baidu) go through the exact iterative inverse in :mod:`gridmap.coords.crs`.

Row numbers in every message are the ones a user sees: for CSV and XLSX the
spreadsheet row (the header is row 1, the first data row is row 2); for vector
files the feature number in file order (the first feature is 1).

Nothing is dropped silently. :func:`read_input` returns the good rows and a
list of :class:`RowProblem`; :func:`import_layer` refuses to write anything
while there are problems unless ``skip_bad_rows`` is set, in which case the
skipped rows are written to a CSV report.
"""

from __future__ import annotations

import codecs
import csv
import io as _io
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from gridmap.coords import crs as gcrs
from gridmap.coords.shift import shift_suspicion
from gridmap.errors import CoordinateError, CRSError, InputFileError, SchemaError
from gridmap.policy.ids import normalise_id_columns, normalise_ids, show_id
from gridmap.policy.privacy import SCHEMA_PERSONAL
from gridmap.workspace import store as gio
from gridmap.workspace.schema import (
    ASSIGN_COLUMNS,
    LAYERS,
    POINT_LAYERS,
    POLYGON_LEVELS,
    ROADS,
)

#: Default distance beyond which a point counts as "far from the workspace".
DEFAULT_MAX_DISTANCE_M = 50_000.0
#: How many problems an error message lists before saying "and N more".
MAX_LISTED = 20

TABLE_SUFFIXES = {".csv", ".txt", ".tsv", ".xlsx", ".xlsm"}

# Normalised header -> priority (lower wins when several headers match).
_LON_HEADERS = {
    "lon": 0, "lng": 0, "longitude": 0, "long": 1, "经度": 0, "东经": 1, "经度坐标": 1,
    "wgs84经度": 1, "gcj02经度": 1, "bd09经度": 1, "x坐标": 2, "x": 3, "坐标x": 2,
}  # fmt: skip
_LAT_HEADERS = {
    "lat": 0, "latitude": 0, "纬度": 0, "北纬": 1, "纬度坐标": 1,
    "wgs84纬度": 1, "gcj02纬度": 1, "bd09纬度": 1, "y坐标": 2, "y": 3, "坐标y": 2,
}  # fmt: skip

# Obvious header aliases for each layer's required columns. Only used when the
# canonical column is absent and exactly one alias is present.
_GENERIC_ID = ("id", "编号", "编码", "代码")
ID_ALIASES: dict[str, tuple[str, ...]] = {
    "communities": ("社区编号", "社区编码", "社区代码", *_GENERIC_ID),
    "zones": ("片区编号", "片区编码", *_GENERIC_ID),
    "grids": ("网格编号", "网格编码", "网格代码", *_GENERIC_ID),
    "microgrids": ("微网格编号", "微网格编码", *_GENERIC_ID),
    "households": ("户号", "户编号", "住户编号", *_GENERIC_ID),
    "charging_piles": ("桩号", "充电桩编号", *_GENERIC_ID),
    "parking": ("停车场编号", "车场编号", *_GENERIC_ID),
    "service_stations": ("驿站编号", "站点编号", *_GENERIC_ID),
}
NAME_ALIASES: tuple[str, ...] = (
    "名称",
    "名字",
    "网格名称",
    "微网格名称",
    "片区名称",
    "社区名称",
    "驿站名称",
)
PARENT_ALIASES: dict[str, tuple[str, ...]] = {
    "community_id": ("所属社区", "社区编号"),
    "zone_id": ("所属片区", "片区编号"),
    "grid_id": ("所属网格", "网格编号"),
}
#: Common ledger headers of optional columns (renamed when the canonical column is absent and
#: exactly one alias is present): address lookup and coverage read the canonical names.
OPTIONAL_ALIASES: dict[str, tuple[str, ...]] = {
    "address": ("地址", "住址", "详细地址", "门牌地址", "家庭住址", "住户地址"),
    "residents": ("人口", "人数", "居住人数", "常住人口", "家庭人口", "户人口", "在住人数"),
    "elderly": ("老人数", "老年人数", "老年人口", "老人", "60岁以上人数", "60岁以上老人"),
    "lives_alone": ("独居", "是否独居", "独居老人"),
    "spaces": ("车位数", "车位", "泊位数", "泊位"),
    "ports": ("枪数", "充电枪数", "充电口数", "接口数"),
    "power_kw": ("功率", "功率kw", "充电功率"),
    "open_hours": ("开放时间", "营业时间"),
    "staff_name": ("网格员", "网格员姓名"),
    "staff_phone": ("网格员电话", "网格员手机"),
    "leader_name": ("微网格长", "微网格长姓名", "党员中心户"),
    "leader_phone": ("微网格长电话", "微网格长手机"),
}


@dataclass
class RowProblem:
    """One input row that cannot be imported as it is.

    Attributes
    ----------
    row
        Row number as the user sees it (see the module docstring).
    reason
        What is wrong, in words a community worker can act on.
    column
        The column concerned, when there is one.
    """

    row: int
    reason: str
    column: str | None = None

    def __str__(self) -> str:
        return f"row {self.row}: {self.reason}"


@dataclass
class ImportedData:
    """What :func:`read_input` read.

    Attributes
    ----------
    gdf
        The good rows in EPSG:4326, indexed by their row number.
    problems
        Rows that were left out, with the reason (sorted by row).
    rows_read
        Number of data rows (or features) in the input.
    encoding
        Text encoding used for a CSV (None for other formats).
    source_crs
        The coordinate system the input was read in (``"gcj02"``, ``"EPSG:4547"``...).
    crs_assumed
        True when the input carried no CRS and WGS84 was assumed (CSV/XLSX
        without ``crs``).
    lon_col, lat_col
        Coordinate columns used (tables only).
    row_numbering
        How :attr:`RowProblem.row` is counted for this input.
    notes
        Other things worth telling the user (renamed columns, dropped Z, ...).
    attributes
        The attribute columns of every input row, bad ones included, indexed
        by row number (used to check ids across all rows).
    """

    gdf: gpd.GeoDataFrame
    problems: list[RowProblem]
    source: Path
    rows_read: int
    encoding: str | None = None
    source_crs: str = "EPSG:4326"
    crs_assumed: bool = False
    lon_col: str | None = None
    lat_col: str | None = None
    row_numbering: str = "spreadsheet row (header = row 1)"
    notes: list[str] = field(default_factory=list)
    attributes: pd.DataFrame | None = None

    @property
    def converted(self) -> bool:
        """True when the coordinates were converted (the input was not WGS84)."""
        return self.source_crs not in ("EPSG:4326", "wgs84")


@dataclass
class ImportReport:
    """What :func:`import_layer` did."""

    workspace: Path
    layer: str
    source: Path
    rows_read: int
    imported: int
    skipped: list[RowProblem]
    encoding: str | None
    source_crs: str
    crs_assumed: bool
    row_numbering: str
    report_path: Path | None = None
    renamed: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def skipped_rows(self) -> int:
        """Number of distinct input rows left out."""
        return len({p.row for p in self.skipped})

    def to_dict(self) -> dict:
        return {
            "workspace": str(self.workspace),
            "layer": self.layer,
            "source": str(self.source),
            "rows_read": self.rows_read,
            "imported": self.imported,
            "skipped": self.skipped_rows,
            "skipped_rows": [{"row": p.row, "reason": p.reason} for p in self.skipped],
            "row_numbering": self.row_numbering,
            "encoding": self.encoding,
            "source_crs": self.source_crs,
            "crs_assumed": self.crs_assumed,
            "converted_to": "EPSG:4326",
            "report": str(self.report_path) if self.report_path else None,
            "renamed_columns": self.renamed,
            "notes": self.notes,
        }


# --------------------------------------------------------------------------- text


def normalise_header(name: object) -> str:
    """Fold a column header for matching: NFKC, lower case, no spaces or units.

    ``" 经度（GCJ02） "`` -> ``"经度gcj02"``, ``"Longitude (°)"`` -> ``"longitude"``.
    """
    text = unicodedata.normalize("NFKC", str(name)).strip().lower()
    text = re.sub(r"[(\[【].*?[)\]】]", "", text)  # units/notes in brackets
    text = text.replace("°", "").replace("度数", "")
    text = re.sub(r"[\s_\-()\[\]{}:：/]+", "", text)
    return text


def _undecodable_rows(data: bytes, encoding: str) -> list[int]:
    """Line numbers (1-based) that do not decode in ``encoding``."""
    bad = []
    for k, line in enumerate(data.split(b"\n"), start=1):
        try:
            line.decode(encoding)
        except UnicodeDecodeError:
            bad.append(k)
    return bad


def _rows_text(rows: list[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:10])
    word = "row" if len(rows) == 1 else "rows"
    return f"{word} {shown}" + (f" (+{len(rows) - 10} more)" if len(rows) > 10 else "")


def detect_encoding(data: bytes, *, file: str | None = None) -> str:
    """Decide how a CSV's bytes are encoded.

    Strict try-order: a byte-order mark gives ``"utf-8-sig"`` (or UTF-16);
    bytes that decode as UTF-8 give ``"utf-8"``; bytes that decode as GB18030
    (a superset of GBK and GB2312, used by Chinese office software) give
    ``"gb18030"``. Nothing is guessed beyond that, since a wrong guess imports
    garbled addresses: a file that is neither (for example GBK with one row
    pasted in as UTF-8) raises :class:`InputFileError` naming the rows that
    break each encoding; ``encoding=`` overrides the detection.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    for enc in ("utf-8", "gb18030"):
        try:
            data.decode(enc)
        except UnicodeDecodeError:
            continue
        return enc
    not_utf8 = _undecodable_rows(data, "utf-8")
    not_gbk = _undecodable_rows(data, "gb18030")
    if not_gbk and len(not_gbk) <= len(not_utf8):
        hint = (
            f"{_rows_text(not_gbk)} cannot be read as GBK/GB18030 like the rest (UTF-8 pasted in?)"
        )
    else:
        hint = f"{_rows_text(not_utf8)} cannot be read as UTF-8"
        if not_gbk:
            hint += f", and {_rows_text(not_gbk)} cannot be read as GBK/GB18030"
    raise InputFileError(
        f"the file mixes text encodings or uses an unknown one: {hint}. Save it again with one "
        "encoding (in Excel: 'CSV UTF-8'), or pass encoding= (e.g. encoding=gbk, big5).",
        file=file,
    )


def _sniff_delimiter(text: str) -> str:
    lines = text[:1_000_000].splitlines()  # (the first 20 lines, without splitting a large file)
    if len(lines) <= 20 and len(text) > 1_000_000:
        lines = text.splitlines()
    sample = "\n".join(lines[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _cell_text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if not np.isfinite(v):
            return ""
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return str(v).strip()


def _read_sheet(path: Path, sheet: str | int | None) -> list[tuple[int, list[str]]]:
    """All rows of an XLSX sheet as text, with their spreadsheet row number (1-based)."""
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise InputFileError(
            f"cannot open the spreadsheet ({gio._short(exc)})", file=str(path)
        ) from exc
    try:
        names = book.sheetnames
        if sheet is None:
            ws = book[names[0]]
        elif str(sheet) in names:
            ws = book[str(sheet)]
        elif str(sheet).isdigit() and 1 <= int(sheet) <= len(names):
            ws = book[names[int(sheet) - 1]]
        else:
            raise InputFileError(
                f"no sheet '{sheet}' (the workbook has: {', '.join(names)})", file=str(path)
            )
        rows = [
            (k, [_cell_text(v) for v in values])
            for k, values in enumerate(ws.iter_rows(min_row=1, values_only=True), start=1)
        ]
        merged = _merged_ranges(path, getattr(ws, "_worksheet_path", None))
    finally:
        book.close()
    return _fill_merged(rows, merged)


def _decode_text(path: Path, encoding: str | None) -> tuple[str, str]:
    """A CSV file's text (without a BOM) and the encoding it was read with."""
    data = path.read_bytes()
    enc = encoding or detect_encoding(data, file=str(path))
    try:
        text = data.decode(enc)
    except LookupError as exc:
        raise InputFileError(
            f"unknown encoding='{enc}' (use utf-8, gbk, gb18030, big5 ...)", file=str(path)
        ) from exc
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"the file is not readable as {enc}: {_rows_text(_undecodable_rows(data, enc))} "
            f"cannot be read as {enc}; try another encoding= (utf-8, gbk, gb18030), or save the file again "
            "with one encoding",
            file=str(path),
        ) from exc
    if text.startswith("\ufeff"):
        text = text[1:]
        if enc.lower().replace("_", "-") in ("utf-8", "utf8"):
            enc = "utf-8-sig"
    return text, enc


def _csv_rows(text: str, path: Path) -> list[tuple[int, list[str]]]:
    """The rows of a CSV text as stripped cells, with their line number (1-based)."""
    reader = csv.reader(_io.StringIO(text, newline=""), delimiter=_sniff_delimiter(text))
    rows = []
    try:
        for values in reader:
            # line_num counts physical lines, so quoted multi-line cells keep numbers right
            rows.append((reader.line_num, [v.strip() for v in values]))
    except csv.Error as exc:
        raise InputFileError(
            f"cannot read the CSV near line {reader.line_num} ({exc})", file=str(path)
        ) from exc
    return rows


@dataclass(frozen=True)
class MergedRange:
    """A range of merged cells of a sheet (1-based rows and columns, inclusive)."""

    ref: str
    min_row: int
    min_col: int
    max_row: int
    max_col: int

    @property
    def across_columns(self) -> bool:
        return self.max_col > self.min_col


class _Rows(list):
    """Rows of a sheet, with the merged ranges that span several columns."""

    across: list[MergedRange]
    filled: list[MergedRange]


def _merged_ranges(path: Path, member: str | None) -> list[MergedRange]:
    """The ``<mergeCell ref="B3:B5"/>`` ranges of one sheet, read from the XLSX file itself
    (openpyxl's read-only mode, needed for large sheets, does not report them)."""
    import zipfile
    from xml.etree.ElementTree import iterparse

    from openpyxl.utils.cell import range_boundaries

    if not member:
        return []
    out = []
    try:
        with zipfile.ZipFile(path) as zf, zf.open(member.lstrip("/")) as fh:
            for _, el in iterparse(fh):
                if el.tag.rsplit("}", 1)[-1] == "mergeCell" and el.get("ref"):
                    c0, r0, c1, r1 = range_boundaries(el.get("ref"))
                    out.append(MergedRange(el.get("ref"), r0, c0, r1, c1))
                el.clear()
    except (KeyError, zipfile.BadZipFile, ValueError, TypeError):
        return []
    return out


def _fill_merged(
    rows: list[tuple[int, list[str]]], merged: list[MergedRange]
) -> list[tuple[int, list[str]]]:
    """Fill cells merged down one column with the value Excel shows (the top cell's).

    Ranges across several columns are not filled (above the header they are titles; in
    the body :func:`read_table` refuses their rows); they are kept on the result.
    """
    out = _Rows(rows)
    out.across = [m for m in merged if m.across_columns]
    out.filled = []
    pos = {n: k for k, (n, _) in enumerate(rows)}
    for m in merged:
        if m.across_columns or m.min_row not in pos:
            continue
        top = rows[pos[m.min_row]][1]
        value = top[m.min_col - 1] if m.min_col - 1 < len(top) else ""
        if value == "":
            continue
        for r in range(m.min_row + 1, m.max_row + 1):
            if r not in pos:
                continue
            vals = rows[pos[r]][1]
            vals.extend([""] * (m.min_col - len(vals)))
            if vals[m.min_col - 1] == "":
                vals[m.min_col - 1] = value
        out.filled.append(m)
    return out


def read_table(
    file: str | os.PathLike,
    *,
    encoding: str | None = None,
    sheet: str | int | None = None,
    lon_col: str | None = None,
    lat_col: str | None = None,
    max_title_rows: int = 10,
) -> tuple[pd.DataFrame, str | None]:
    """Read a CSV or XLSX file with every cell as text.

    The header is the first row that names the coordinate columns (or, when
    none does, the first non-blank row), so title rows above the table, as in
    many office ledgers ("XX社区住户台账"), are skipped. Blank rows are left
    out.

    Returns
    -------
    (frame, encoding)
        ``frame`` is indexed by spreadsheet row number (the first row of the
        file is row 1, as Excel shows it), empty cells are ``""``; the
        encoding used is None for XLSX.
    """
    path = Path(file)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        rows, enc = _read_sheet(path, sheet), None
    else:  # decoded once, for Arrow's reader and, when it does not apply, the row reader
        text, enc = _decode_text(path, encoding)
        fast = _fast_csv_table(
            text, enc, path, lon_col=lon_col, lat_col=lat_col, max_title_rows=max_title_rows
        )
        if fast is not None:
            return fast
        rows = _csv_rows(text, path)
    rows_read = rows
    across = getattr(rows, "across", [])
    rows = [(n, vals) for n, vals in rows if any(v != "" for v in vals)]
    if not rows:
        raise InputFileError("the table is empty", file=str(path))
    header_pos = _header_position(rows, lon_col, lat_col, max_title_rows, path)
    header_row, header = rows[header_pos]
    body = rows[header_pos + 1 :]
    in_body = [m for m in across if m.max_row > header_row]
    if in_body:
        shown = "; ".join(
            f"{_rows_text(list(range(max(m.min_row, header_row + 1), m.max_row + 1)))} "
            f"(cells {m.ref})"
            for m in in_body[:10]
        )
        raise InputFileError(
            f"cells merged across columns inside the table: {shown}. Excel shows one value "
            "over several columns there, which cannot be split into the columns' values. "
            "Unmerge them (Home > Merge & Center) and fill each cell, or delete those rows "
            "(totals, notes), and import again.",
            file=str(path),
        )
    width = max([len(header)] + [len(v) for _, v in body])
    names = _column_names(header, width)
    data = [vals + [""] * (width - len(vals)) for _, vals in body]
    frame = pd.DataFrame(data, columns=names, index=[n for n, _ in body], dtype=object)
    frame = _finish_table(frame, names, header, header_row)
    frame.attrs["merged_filled"] = [
        m.ref for m in getattr(rows_read, "filled", []) if m.max_row > header_row
    ]
    return frame, enc


def _header_position(
    rows: list[tuple[int, list[str]]],
    lon_col: str | None,
    lat_col: str | None,
    max_title_rows: int,
    path: Path,
) -> int:
    """Which of the (non-blank) rows is the header; a header split over two rows is an error."""
    header_pos = None
    for pos, (_, vals) in enumerate(rows[:max_title_rows]):
        try:
            find_coordinate_columns([v for v in vals if v], lon_col, lat_col)
        except InputFileError:
            continue
        header_pos = pos
        break
    if header_pos is None and lon_col is None and lat_col is None:
        # no lon/lat pair: a row naming one "lon,lat" column (坐标, location)
        header_pos = next(
            (
                pos
                for pos, (_, vals) in enumerate(rows[:max_title_rows])
                if any(_CRS_MARK_RE.sub("", normalise_header(v)) in _COMBINED_HEADERS for v in vals)
            ),
            None,
        )
    header_pos = header_pos or 0
    header_row, header = rows[header_pos]
    if header_pos > 0:
        above_row, above = rows[header_pos - 1]
        split = [
            k for k in range(min(len(header), len(above))) if header[k] == "" and above[k] != ""
        ]
        if above_row == header_row - 1 and split:
            combined = [h or (above[k] if k < len(above) else "") for k, h in enumerate(header)]
            raise InputFileError(
                f"the header spans two rows (row {above_row}: {', '.join(v for v in above if v)}; "
                f"row {header_row}: {', '.join(v for v in header if v)}), probably merged cells. "
                f"Make one header row (e.g. {', '.join(c for c in combined if c)}) and import again.",
                file=str(path),
            )
    return header_pos


def _column_names(header: list[str], width: int) -> list[str]:
    """Header cells as unique column names (``column_3`` for an empty one, ``name.2`` twice)."""
    names: list[str] = []
    for k in range(width):
        name = header[k] if k < len(header) else ""
        name = name or f"column_{k + 1}"
        base, n = name, 1
        while name in names:
            n += 1
            name = f"{base}.{n}"
        names.append(name)
    return names


def _finish_table(
    frame: pd.DataFrame, names: list[str], header: list[str], header_row: int
) -> pd.DataFrame:
    """Drop nameless columns that hold nothing (trailing commas, empty Excel columns)."""
    empty_unnamed = [
        c
        for k, c in enumerate(names)
        if c.startswith("column_")
        and not (k < len(header) and header[k])
        and (frame[c] == "").all()
    ]
    frame = frame.drop(columns=empty_unnamed)
    frame.attrs["header_row"] = header_row
    return frame


#: CSV files from this size on are read by Arrow's CSV reader when they are plain
#: (see :func:`_fast_csv_table`); smaller ones and the rest by the row reader.
FAST_CSV_BYTES = 1_000_000
#: Characters Python's ``str.strip`` removes but Arrow's whitespace trim keeps.
_STRIP_ONLY_PYTHON = "\x1c\x1d\x1e\x1f"


def _fast_csv_table(
    text: str,
    enc: str,
    path: Path,
    *,
    lon_col: str | None,
    lat_col: str | None,
    max_title_rows: int,
) -> tuple[pd.DataFrame, str | None] | None:
    """:func:`read_table` of a large plain CSV with Arrow's CSV reader, or None.

    Plain: no quote character anywhere (so every line is one row and row numbers
    are line numbers), line ends ``\n`` or ``\r\n``, every row as wide as the
    header, no empty line. Anything else returns None and the row reader
    decides, with its messages. The frame is the row reader's: the same header
    choice, names, row numbers, stripped text, blank rows left out. ``text``
    and ``enc``: the file decoded (:func:`_decode_text`).
    """
    if path.stat().st_size < FAST_CSV_BYTES:
        return None
    text = text.rstrip("\r\n") + "\n"  # (blank lines at the end are left out anyway)
    if (
        '"' in text
        or any(ch in text for ch in _STRIP_ONLY_PYTHON)
        or text.count("\r") != text.count("\r\n")
    ):
        return None
    if "\n\n" in text or "\n\r\n" in text or text.startswith(("\n", "\r\n")):
        return None
    delimiter = _sniff_delimiter(text)
    # the header, chosen by the row reader's rule on the first lines
    head: list[tuple[int, list[str]]] = []
    for k, line in enumerate(text.split("\n", 4 * max_title_rows + 8)[: 4 * max_title_rows + 8]):
        vals = [v.strip() for v in line.rstrip("\r").split(delimiter)]
        if any(v != "" for v in vals):
            head.append((k + 1, vals))
        if len(head) > max_title_rows:
            break
    if not head:
        return None
    header_pos = _header_position(head, lon_col, lat_col, max_title_rows, path)
    header_row, header = head[header_pos]
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow import csv as pacsv

    width = len(header)
    cols = [f"c{k}" for k in range(width)]
    try:
        table = pacsv.read_csv(
            pa.BufferReader(text.encode("utf-8")),
            read_options=pacsv.ReadOptions(skip_rows=header_row, column_names=cols),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                quote_char=False,
                double_quote=False,
                newlines_in_values=False,
                ignore_empty_lines=False,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in cols},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowException, ValueError):  # a row of another width, ...
        return None
    if table.num_rows == 0:
        return None
    columns = [pc.utf8_trim_whitespace(table.column(c).combine_chunks()) for c in cols]
    blank = np.ones(table.num_rows, dtype=bool)
    for c in columns:
        blank &= pc.equal(c, "").to_numpy(zero_copy_only=False)
    lines = np.arange(header_row + 1, header_row + 1 + table.num_rows, dtype=np.int64)
    keep = ~blank
    names = _column_names(header, width)
    # the cells stay in Arrow (pandas' ``str`` dtype): the checks that follow work on
    # them with Arrow's kernels; _infer_types gives the row reader's column types
    mask = pa.array(keep)
    index = pd.Index(lines[keep])
    text_dtype = pd.StringDtype("pyarrow", na_value=np.nan)
    frame = pd.DataFrame(
        {
            name: pd.Series(pd.array(c.filter(mask), dtype=text_dtype), index=index)
            for name, c in zip(names, columns, strict=True)
        },
        index=index,
    )
    frame = _finish_table(frame, names, header, header_row)
    frame.attrs["merged_filled"] = []
    return frame, enc


def find_coordinate_columns(
    columns: list[str],
    lon_col: str | None = None,
    lat_col: str | None = None,
    *,
    file: str | None = None,
) -> tuple[str, str]:
    """Pick the longitude and latitude columns of a table.

    Recognises 经度/纬度, 东经/北纬, lon/lng/long/longitude, lat/latitude,
    x/y, X坐标/Y坐标 (case-, width- and space-insensitive; units in brackets
    ignored). ``lon_col``/``lat_col`` override the guess.

    Raises
    ------
    InputFileError
        Listing the headers found, when no pair matches.
    """

    def pick(given: str | None, table: dict[str, int], what: str) -> str | None:
        if given is not None:
            if given in columns:
                return given
            norm = {normalise_header(c): c for c in columns}
            if normalise_header(given) in norm:
                return norm[normalise_header(given)]
            raise InputFileError(
                f"there is no column '{given}' for the {what} (columns found: {', '.join(columns)})",
                file=file,
            )
        hits = [
            (table[normalise_header(c)], i, c)
            for i, c in enumerate(columns)
            if normalise_header(c) in table
        ]
        # headers that name a system: 百度经度, lng_gcj, GPS纬度 ...
        hits += [
            (table[_CRS_MARK_RE.sub("", normalise_header(c))] + 1, i, c)
            for i, c in enumerate(columns)
            if normalise_header(c) not in table
            and _CRS_MARK_RE.sub("", normalise_header(c)) in table
        ]
        return min(hits)[2] if hits else None

    lon = pick(lon_col, _LON_HEADERS, "longitude")
    lat = pick(lat_col, _LAT_HEADERS, "latitude")
    if lon is None or lat is None:
        missing = " and ".join(w for w, v in (("longitude", lon), ("latitude", lat)) if v is None)
        raise InputFileError(
            f"no {missing} column recognised (columns found: {', '.join(columns) or 'none'}). "
            "Name them 经度/纬度 or lon/lat, or pass lon_col=NAME and lat_col=NAME.",
            file=file,
        )
    if lon == lat:
        raise InputFileError(
            f"the same column '{lon}' was given for longitude and latitude", file=file
        )
    return lon, lat


_NUM_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


# degrees, minutes, seconds: 111°27'50.5"E, 35度38分12秒, E111°27′50″, 111 27 50.5
_DMS_RE = re.compile(
    r"^([NSEW东西南北]?)\s*(\d+(?:\.\d+)?)\s*(?:°|度|\s)\s*(\d+(?:\.\d+)?)\s*(?:'|′|分|\s)\s*"
    r"(?:(\d+(?:\.\d+)?)\s*(?:\"|″|''|′′|秒)?)?\s*([NSEW东西南北]?)$",
    re.IGNORECASE,
)


def _plain_numbers(values: np.ndarray | pd.Series) -> np.ndarray:
    """The cells that are plain decimals (``_NUM_RE``) as floats, NaN for the others.

    What :func:`_parse_number` gives such a cell, without a Python call per
    cell (Python's ``float`` reads any Unicode decimal digits, as it does after
    NFKC there); the others (DMS, a trailing °, text) are left to it.
    """
    import pandas as pd

    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.StringDtype):
        text = values.reset_index(drop=True).str.strip()  # Arrow-backed text: in Arrow
    else:
        text = pd.Series(np.asarray(values, dtype=object), dtype=object).astype(str).str.strip()
    plain = text.str.fullmatch(_NUM_RE.pattern).fillna(False).to_numpy(dtype=bool)
    out = np.full(len(values), np.nan)
    if plain.any():
        out[plain] = text[plain].astype(float).to_numpy()
    return out


def _parse_number(value: str) -> float | None:
    """A decimal number, or degrees-minutes-seconds (``111°27'50.5"E``) as decimal degrees."""
    text = unicodedata.normalize("NFKC", str(value)).strip().rstrip("°").strip()
    if _NUM_RE.match(text):
        return float(text)
    m = _DMS_RE.match(text)
    if m is None or (m.group(1) and m.group(5)):
        return None
    deg, minutes, sec = float(m.group(2)), float(m.group(3)), float(m.group(4) or 0)
    if minutes >= 60 or sec >= 60:
        return None
    sign = -1.0 if (m.group(1) or m.group(5)).upper() in ("S", "W", "西", "南") else 1.0
    return sign * (deg + minutes / 60 + sec / 3600)


# ---------------------------------------------------------------------- checking


def check_coordinates(
    frame: pd.DataFrame, lon_col: str, lat_col: str, *, geographic: bool
) -> tuple[np.ndarray, np.ndarray, list[RowProblem]]:
    """Parse coordinate columns and report rows that cannot be used.

    Returns x, y arrays (NaN for bad rows) and the problems found.
    ``geographic`` enables the range and swapped-axis checks (degrees).
    """
    n = len(frame)
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    problems: list[RowProblem] = []
    lon_vals = frame[lon_col].to_numpy(dtype=object)
    lat_vals = frame[lat_col].to_numpy(dtype=object)
    # the usual rows (plain decimals, in range) at array speed; the rest one by one below
    fx, fy = _plain_numbers(frame[lon_col]), _plain_numbers(frame[lat_col])
    clean = np.isfinite(fx) & np.isfinite(fy)
    if geographic:
        swapped = (fx >= 3) & (fx <= 54) & (fy >= 73) & (fy <= 136)
        clean &= ~swapped & (np.abs(fx) <= 180) & (np.abs(fy) <= 90)
    x[clean], y[clean] = fx[clean], fy[clean]
    rows = frame.index.to_numpy()
    for k in np.flatnonzero(~clean).tolist():
        row = rows[k]
        sx, sy = str(lon_vals[k]).strip(), str(lat_vals[k]).strip()
        empty = [c for c, v in ((lon_col, sx), (lat_col, sy)) if v == ""]
        if empty:
            problems.append(
                RowProblem(int(row), f"empty coordinate ({' and '.join(empty)})", empty[0])
            )
            continue
        vx, vy = _parse_number(sx), _parse_number(sy)
        if vx is None or vy is None:
            bad = [(c, v) for c, v, p in ((lon_col, sx, vx), (lat_col, sy, vy)) if p is None]
            what = ", ".join(f"{c} = '{v}'" for c, v in bad)
            problems.append(RowProblem(int(row), f"not a number: {what}", bad[0][0]))
            continue
        if not (np.isfinite(vx) and np.isfinite(vy)):  # 1e999 overflows to infinity
            col = lon_col if not np.isfinite(vx) else lat_col
            problems.append(
                RowProblem(
                    int(row), f"not a finite number: {lon_col} = {sx}, {lat_col} = {sy}", col
                )
            )
            continue
        if geographic:
            if 3 <= vx <= 54 and 73 <= vy <= 136:
                problems.append(
                    RowProblem(
                        int(row),
                        f"longitude and latitude look swapped ({lon_col} = {sx} looks like a "
                        f"latitude, {lat_col} = {sy} like a longitude)",
                        lon_col,
                    )
                )
                continue
            if not (-180 <= vx <= 180) or not (-90 <= vy <= 90):
                problems.append(
                    RowProblem(
                        int(row),
                        f"out of range ({lon_col} = {sx}, {lat_col} = {sy}; longitude must be "
                        "within ±180 and latitude within ±90)",
                        lon_col if not (-180 <= vx <= 180) else lat_col,
                    )
                )
                continue
        x[k], y[k] = vx, vy
    return x, y, problems


def workspace_extent(
    workspace: str | os.PathLike, exclude: str | None = None
) -> tuple[float, ...] | None:
    """WGS84 bounds (minx, miny, maxx, maxy) of the polygon layers of a workspace.

    ``exclude`` leaves out one layer (the one being replaced). None when the
    workspace does not exist or has no polygon layer.
    """
    p = Path(workspace)
    if not p.exists() or p.stat().st_size == 0:
        return None
    names = set(gio.list_layers(p))
    bounds = []
    for level in reversed(POLYGON_LEVELS):
        if level in names and level != exclude:
            info = pyogrio.read_info(p, layer=level)
            b = info.get("total_bounds")
            if b is None or not np.all(np.isfinite(b)):
                continue
            crs = info.get("crs")
            if crs and not gcrs.parse_crs(crs).crs.equals("EPSG:4326"):
                xs, ys = gcrs.to_wgs84(np.array([b[0], b[2]]), np.array([b[1], b[3]]), crs)
                b = (min(xs), min(ys), max(xs), max(ys))
            bounds.append(b)
    if not bounds:
        return None
    arr = np.array(bounds, dtype=float)
    return (arr[:, 0].min(), arr[:, 1].min(), arr[:, 2].max(), arr[:, 3].max())


def distance_to_extent_m(x: np.ndarray, y: np.ndarray, extent: tuple[float, ...]) -> np.ndarray:
    """Great-circle distance (m) from WGS84 points to a lon/lat box (0 inside)."""
    cx = np.clip(x, extent[0], extent[2])
    cy = np.clip(y, extent[1], extent[3])
    return gcrs.haversine_m(x, y, cx, cy)


# ---------------------------------------------------------------------- reading


def _table_to_gdf(
    path: Path,
    *,
    crs,
    lon_col,
    lat_col,
    encoding,
    sheet,
) -> ImportedData:
    frame, enc = read_table(path, encoding=encoding, sheet=sheet, lon_col=lon_col, lat_col=lat_col)
    rows_read = len(frame)
    notes: list[str] = []
    try:
        lon, lat = find_coordinate_columns(list(frame.columns), lon_col, lat_col, file=str(path))
    except InputFileError as exc:
        combined = _combined_column(frame) if lon_col is None and lat_col is None else None
        if combined is not None:
            frame, lon, lat = _split_combined(frame, combined)
            notes.append(f"longitude and latitude were read from the one column '{combined}'")
            return _table_coordinates(
                path, frame, lon, lat, crs=crs, enc=enc, rows_read=rows_read, notes=notes
            )
        others = _other_sheets(path) if sheet is None else []
        if others:
            raise InputFileError(
                f"{exc.message} This is the first sheet; the workbook also has: "
                f"{', '.join(others)}. Choose the one with the data with sheet=NAME.",
                file=str(path),
            ) from exc
        raise
    return _table_coordinates(
        path, frame, lon, lat, crs=crs, enc=enc, rows_read=rows_read, notes=notes
    )


#: Headers of one column holding "lon,lat" (as Amap's API and many apps give it).
_COMBINED_HEADERS = {
    "坐标", "经纬度", "经纬度坐标", "坐标经纬度", "位置坐标", "坐标位置", "lnglat", "lonlat",
    "location", "coordinates", "coordinate", "coords",
}  # fmt: skip


def _combined_column(frame: pd.DataFrame) -> str | None:
    """The one column whose header says it holds both coordinates ("坐标", "location")."""
    hits = [
        c for c in frame.columns if _CRS_MARK_RE.sub("", normalise_header(c)) in _COMBINED_HEADERS
    ]
    return hits[0] if len(hits) == 1 else None


def _split_combined(frame: pd.DataFrame, col: str) -> tuple[pd.DataFrame, str, str]:
    """Split "111.46,35.63" (comma, full-width comma, semicolon or space) into two columns."""
    parts = [re.split(r"\s*[,，;；]\s*|\s+", str(v).strip(), maxsplit=1) for v in frame[col]]
    lon, lat = f"{col}(经度)", f"{col}(纬度)"
    out = frame.drop(columns=[col])
    out[lon] = [p[0] if p else "" for p in parts]
    out[lat] = [p[1] if len(p) > 1 else "" for p in parts]
    return out, lon, lat


def _table_coordinates(
    path: Path,
    frame: pd.DataFrame,
    lon: str,
    lat: str,
    *,
    crs,
    enc: str | None,
    rows_read: int,
    notes: list[str],
) -> ImportedData:
    """Second half of :func:`_table_to_gdf`: parse, check and convert the coordinates."""
    named = crs_named_in_headers(lon, lat)
    if crs is None and named is not None:
        crs = named
        notes.append(
            f"the headers '{lon}'/'{lat}' say the coordinates are {named}: converted from "
            f"{named} (override with crs=)"
        )
    elif named is not None and gcrs.parse_crs(crs).kind != gcrs.parse_crs(named).kind:
        notes.append(f"the headers '{lon}'/'{lat}' say {named}, but crs={crs} was used as given")
    cs = gcrs.parse_crs(crs)
    x, y, problems = check_coordinates(frame, lon, lat, geographic=cs.is_geographic)
    good = np.isfinite(x) & np.isfinite(y)
    if crs is None and not good.any():
        _refuse_metres_without_crs(frame, lon, lat, path)
    data = frame.drop(columns=[lon, lat])
    data = _infer_types(data)
    wx, wy = np.full(len(x), np.nan), np.full(len(y), np.nan)
    if good.any():
        cx, cy = gcrs.to_wgs84(x[good], y[good], cs)
        wx[good], wy[good] = np.asarray(cx, dtype=float), np.asarray(cy, dtype=float)
    if not cs.is_geographic and good.any() and _projected_axes_swapped(x[good], y[good], cs):
        raise CoordinateError(
            f"'{lon}' and '{lat}' look swapped for {cs}: read as given the positions fall "
            f"outside the area {cs} is made for, read the other way round they fall inside it. "
            "In Chinese survey tables X is the northing and Y the easting; import again with "
            f"lon_col={lat} lat_col={lon}.",
            file=str(path),
        )
    if not cs.is_geographic:
        # a projected CRS: check the converted positions
        for k in np.flatnonzero(
            good & ~(np.isfinite(wx) & (np.abs(wx) <= 180) & (np.abs(wy) <= 90))
        ):
            problems.append(
                RowProblem(
                    int(frame.index[k]), f"not a valid position in {cs} ({x[k]}, {y[k]})", lon
                )
            )
            good[k] = False
    gdf = gpd.GeoDataFrame(data[good], geometry=shapely.points(wx[good], wy[good]), crs=gcrs.WGS84)
    header_row = frame.attrs.get("header_row", 1)
    filled = frame.attrs.get("merged_filled") or []
    if filled:
        notes.append(
            f"merged cells {', '.join(filled[:10])}{' ...' if len(filled) > 10 else ''}: each "
            "row of a merged range got the value Excel shows (the range's top cell)"
        )
    if header_row > 1:
        notes.append(f"the header is in row {header_row}; the title rows above it were skipped")
    return ImportedData(
        gdf=gdf,
        problems=problems,
        source=path,
        rows_read=rows_read,
        encoding=enc,
        source_crs=str(cs) if crs is not None else "wgs84",
        crs_assumed=crs is None,
        lon_col=lon,
        lat_col=lat,
        row_numbering=f"spreadsheet row (header = row {header_row})",
        notes=notes,
        attributes=pd.DataFrame(data),
    )


_CRS_MARK_RE = re.compile(
    r"gcj-?02|gcj|bd-?09|wgs-?84|wgs|gps|百度|高德|火星|腾讯|baidu|amap|gaode"
)

_HEADER_CRS = (
    ("gcj02", ("gcj", "火星", "高德", "腾讯", "amap", "gaode", "tencent")),
    ("bd09", ("bd09", "bd-09", "百度", "baidu")),
    ("wgs84", ("wgs", "gps")),
)


def crs_named_in_headers(lon_col: str, lat_col: str) -> str | None:
    """The coordinate system the coordinate headers name, e.g. ``经度(GCJ02)`` -> ``"gcj02"``.

    Both headers must agree (or only one names a system); None when neither
    names one or they disagree.
    """
    found = set()
    for header in (lon_col, lat_col):
        text = unicodedata.normalize("NFKC", str(header)).lower()
        for name, marks in _HEADER_CRS:
            if any(m in text for m in marks):
                found.add(name)
                break
    return found.pop() if len(found) == 1 else None


def _other_sheets(path: Path) -> list[str]:
    """Names of the sheets after the first of a workbook ([] for other files)."""
    if path.suffix.lower() not in (".xlsx", ".xlsm"):
        return []
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True)
    try:
        return list(book.sheetnames[1:])
    finally:
        book.close()


def _projected_axes_swapped(x: np.ndarray, y: np.ndarray, cs: gcrs.CoordSystem) -> bool:
    """True when no point lies in the CRS's area of use (widened by 3 degrees) as given, but
    90 % do with x and y exchanged (a survey table's X = northing read as the easting)."""
    area = cs.crs.area_of_use if cs.crs is not None else None
    if area is None:
        return False
    w, s, e, n = area.bounds
    w, s, e, n = w - 3, s - 3, e + 3, n + 3

    def share(a: np.ndarray, b: np.ndarray) -> float:
        with np.errstate(invalid="ignore"):
            lon_, lat_ = (np.asarray(v, dtype=float) for v in gcrs.to_wgs84(a, b, cs))
        ok = np.isfinite(lon_) & np.isfinite(lat_)
        inside = ok & (lon_ >= w) & (lon_ <= e) & (lat_ >= s) & (lat_ <= n)
        return float(inside.mean()) if len(inside) else 0.0

    return share(x, y) == 0.0 and share(y, x) >= 0.9


def _refuse_metres_without_crs(frame: pd.DataFrame, lon: str, lat: str, path: Path) -> None:
    """Raise :class:`CRSError` when every coordinate is a number far beyond degrees.

    A table of projected coordinates (metres, e.g. CGCS2000 Gauss-Krüger
    x = 270203, y = 3948089) imported without ``crs=`` would otherwise be
    refused row by row as "out of range", which does not tell what to do.
    """
    cells = list(zip(frame[lon], frame[lat], strict=True))
    nums = [(_parse_number(a), _parse_number(b), a, b) for a, b in cells]
    nums = [n for n in nums if n[0] is not None and n[1] is not None]
    if not nums or not all(abs(n[0]) > 1000 or abs(n[1]) > 1000 for n in nums):
        return
    a, b = nums[0][2], nums[0][3]
    raise CRSError(
        f"the coordinates are not degrees ({lon} = {a}, {lat} = {b}): they "
        "look like metres in a projected system such as CGCS2000 / Gauss-Krüger. Say which "
        "with crs= and its EPSG code (e.g. crs=4547 for CGCS2000 3-degree zone CM 114E, "
        "crs=4546 for CM 111E, crs=3857 for Web Mercator).",
        file=str(path),
    )


def _looks_like_phone_or_code(col: str, values: pd.Series) -> bool:
    name = normalise_header(col)
    if col in SCHEMA_PERSONAL or name.endswith("id") or name == "id":
        return True
    if any(
        k in name
        for k in ("phone", "tel", "mobile", "电话", "手机", "编号", "编码", "代码", "号码", "户号")
    ):
        return True
    return bool(values.str.match(r"^[+-]?0\d").any())


#: Cells of a column looked at first when inferring its type (see :func:`_infer_types`).
_INFER_HEAD = 1000


def _infer_types(frame: pd.DataFrame) -> pd.DataFrame:
    """Turn text columns that are entirely numbers (or true/false) into numbers.

    Id, phone and code-like columns, and columns with leading zeros ("007"),
    stay text. Empty cells become missing values.
    """
    out = pd.DataFrame(index=frame.index)
    for col in frame.columns:
        s = frame[col].astype(str).str.strip()
        present = s[s != ""]
        if len(present) and not _looks_like_phone_or_code(col, present):
            # (the first cells decide most columns: a name or an address is not all
            # numbers, and then the whole column need not be parsed)
            head = present.iloc[:_INFER_HEAD]
            if head.str.lower().isin(["true", "false"]).all() and (
                present.str.lower().isin(["true", "false"]).all()
            ):
                flags = (s.str.lower().to_numpy(dtype=object) == "true").astype(object)
                flags[s.to_numpy(dtype=object) == ""] = None
                out[col] = pd.Series(flags, index=s.index, dtype=object)
                continue
            if pd.to_numeric(head, errors="coerce").notna().all():
                nums = pd.to_numeric(present, errors="coerce")
            else:
                nums = pd.Series([np.nan])
            if nums.notna().all():
                if s.index.is_unique:
                    full = nums.reindex(s.index)  # NaN where the cell is empty
                else:
                    full = pd.to_numeric(s.where(s != ""), errors="coerce")
                if (full.dropna() % 1 == 0).all() and full.notna().all():
                    out[col] = full.astype("int64")
                else:
                    out[col] = full
                continue
        cells = s.to_numpy(dtype=object).copy()
        cells[cells == ""] = None
        out[col] = pd.Series(cells, index=s.index, dtype=object)
    return out


def _unreadable(path: Path, exc: Exception, layer: str | None = None) -> InputFileError:
    """Turn a GDAL/GEOS/SQLite error about an input file into a message people can act on."""
    text = str(exc)
    low = text.lower()
    if "malformed" in low or "not a database" in low or "sqlite" in low or "truncated" in low:
        return InputFileError(
            "the file is damaged or incomplete (its database is malformed: an interrupted "
            "copy or download?); copy it again from the source",
            file=str(path),
        )
    if "closed linestring" in low or "linearring" in low:
        bad = _features_with_bad_wkb(path, layer)
        where = ", ".join(bad[:10]) if bad else "a feature"
        return InputFileError(
            f"{where}: a polygon ring is not closed (its last point differs from the first). "
            "Close the ring in the GIS that made the file and export it again.",
            file=str(path),
        )
    return InputFileError(
        f"cannot read it as a vector file ({gio._short(exc)}). Supported: GeoPackage, "
        "GeoJSON, Shapefile, KML and other GDAL formats, CSV, XLSX.",
        file=str(path),
    )


def _features_with_bad_wkb(path: Path, layer: str | None) -> list[str]:
    """Features whose geometry shapely cannot build, as 'feature N (id)'."""
    try:
        from pyogrio.raw import read as raw_read

        meta, _, wkb, fields = raw_read(path, layer=layer)
        geoms = shapely.from_wkb(wkb, on_invalid="ignore")
    except Exception:
        return []
    names = list(meta.get("fields", []))
    id_field = next((k for k, n in enumerate(names) if str(n).endswith("_id")), None)
    out = []
    for k, (w, g) in enumerate(zip(wkb, geoms, strict=True)):
        if w is not None and g is None:
            ident = f" ({fields[id_field][k]})" if id_field is not None else ""
            out.append(f"feature {k + 1}{ident}")
    return out


def shapefile_encoding(path: Path, *, ignore_cpg: bool = False) -> str | None:
    """Encoding of a Shapefile's ``.dbf`` text when nothing in the files says it.

    GDAL reads the ``.cpg`` file or the code-page byte of the ``.dbf`` header;
    when both are missing it assumes ISO-8859-1, which turns Chinese text from
    GBK/GB18030 (the usual encoding of Chinese GIS exports) or UTF-8 into
    garbage. This returns ``"utf-8"`` or ``"gb18030"`` when the ``.dbf`` records
    decode as such (strict, UTF-8 first, as for CSV), and None when a
    ``.cpg`` or a code-page mark exists (unless ``ignore_cpg``: used when the
    ``.cpg`` is wrong), the text is plain ASCII, or neither encoding fits.
    """
    found = _dbf_sample(path)
    if found is None:
        return None
    data, has_cpg = found
    if has_cpg and not ignore_cpg:
        return None
    if len(data) < 32 or (data[29] != 0 and not ignore_cpg):  # byte 29: code page id
        return None
    body = data[int.from_bytes(data[8:10], "little") :]
    if body.isascii():
        return None
    for enc in ("utf-8", "gb18030"):
        try:
            # final=False: a character cut at the end of the sample is not an error
            codecs.getincrementaldecoder(enc)().decode(body, final=False)
        except UnicodeDecodeError:
            continue
        return enc
    return None


_DBF_SAMPLE_BYTES = 16 * 1024 * 1024


def _dbf_sample(path: Path) -> tuple[bytes, bool] | None:
    """The first bytes of a Shapefile's .dbf (next to a .shp, or inside a .zip holding one
    Shapefile) and whether a .cpg comes with it; None for other files."""
    suffix = path.suffix.lower()
    if suffix == ".shp":
        siblings = {p.suffix.lower(): p for p in path.parent.glob(path.stem + ".*")}
        if ".dbf" not in siblings:
            return None
        with open(siblings[".dbf"], "rb") as fh:
            return fh.read(_DBF_SAMPLE_BYTES), ".cpg" in siblings  # a city's .dbf can be GBs
    if suffix == ".zip":
        import zipfile

        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
                dbfs = [n for n in names if n.lower().endswith(".dbf")]
                if len(dbfs) != 1:
                    return None
                stem = dbfs[0][:-4].lower()
                has_cpg = any(n.lower() == stem + ".cpg" for n in names)
                with zf.open(dbfs[0]) as fh:
                    return fh.read(_DBF_SAMPLE_BYTES), has_cpg
        except (zipfile.BadZipFile, OSError):
            return None
    return None


def _vector_to_gdf(path: Path, *, layer, crs, encoding: str | None = None) -> ImportedData:
    notes: list[str] = []
    encoding_given = encoding is not None
    if encoding is not None:
        try:
            encoding = codecs.lookup(encoding).name  # latin-1 -> iso8859-1, a name GDAL knows
        except LookupError as exc:
            raise InputFileError(
                f"unknown encoding='{encoding}' (use utf-8, gbk, gb18030, big5 ...)",
                file=str(path),
            ) from exc
    else:
        encoding = shapefile_encoding(path)
        if encoding is not None:
            notes.append(
                f"the Shapefile has no .cpg file saying how its text is encoded; "
                f"it was read as {encoding} (detected; override with encoding=)"
            )
    try:
        layers = [str(n) for n, _ in pyogrio.list_layers(path)]
    except Exception as exc:
        raise _unreadable(path, exc) from exc
    if layer is None:
        if len(layers) > 1:
            raise InputFileError(
                f"the file has {len(layers)} layers ({', '.join(layers)}); choose one with source_layer=NAME",
                file=str(path),
            )
        layer = layers[0] if layers else None
    elif str(layer) not in layers:
        raise InputFileError(
            f"no layer '{layer}' in the file (it has: {', '.join(layers)})", file=str(path)
        )
    try:
        try:
            gdf = pyogrio.read_dataframe(path, layer=layer, encoding=encoding, fid_as_index=True)
        except UnicodeDecodeError:
            # a .cpg (or code page mark) that lies: "UTF-8" on a GBK .dbf
            detected = None if encoding_given else shapefile_encoding(path, ignore_cpg=True)
            if detected is None or detected == encoding:
                raise
            gdf = pyogrio.read_dataframe(path, layer=layer, encoding=detected, fid_as_index=True)
            notes.append(
                f"the Shapefile's text is not in the encoding its .cpg names; it was read as "
                f"{detected} (detected; override with encoding=)"
            )
            encoding = detected
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"the text in the file cannot be read as {encoding or 'its declared encoding'} "
            f"({gio._short(exc)}); pass encoding= (e.g. encoding=gbk, utf-8)",
            file=str(path),
        ) from exc
    except Exception as exc:
        raise _unreadable(path, exc, layer=layer) from exc
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputFileError("the file has no geometry column", file=str(path))
    if (
        path.suffix.lower() in (".geojson", ".json")
        and "id" not in gdf.columns
        and len(gdf)
        and not np.array_equal(np.asarray(gdf.index), np.arange(len(gdf)))
    ):
        # GeoJSON features with numeric "id" members: GDAL makes them the FID, not a column
        gdf.insert(0, "id", [str(v) for v in gdf.index])
        notes.append("the features' GeoJSON \"id\" members were kept as the column 'id'")
    rows_read = len(gdf)
    gdf.index = pd.RangeIndex(1, 1 + len(gdf))
    attributes = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    if crs is None and gdf.crs is None:
        hint = " (a Shapefile whose .prj file is missing?)" if path.suffix.lower() == ".shp" else ""
        raise CRSError(
            f"the file has no coordinate system{hint}. Say which one with crs= "
            "(e.g. crs=4326, crs=gcj02, crs=4547).",
            file=str(path),
        )
    own = gdf.crs
    problems: list[RowProblem] = []
    geoms = gdf.geometry.values
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    for row in gdf.index[missing]:
        problems.append(RowProblem(int(row), "the feature has no geometry (empty or null)"))
    gdf = gdf[~missing]
    nonfinite = gcrs.nonfinite_geometries(gdf.geometry.values)
    for row, where in zip(
        gdf.index[nonfinite], _first_nonfinite(gdf.geometry.values[nonfinite]), strict=True
    ):
        problems.append(RowProblem(int(row), f"{NONFINITE_REASON} ({where})"))
    gdf = gdf[~nonfinite]
    if shapely.has_z(gdf.geometry.values).any():
        gdf = gdf.set_geometry(shapely.force_2d(gdf.geometry.values))
        notes.append("height (Z) values were dropped")
    cs = gcrs.parse_crs(crs) if crs is not None else gcrs.parse_crs(own)
    if cs.is_geographic and len(gdf):
        # swapped or out-of-range positions, judged on each feature's bounds
        b = shapely.bounds(gdf.geometry.values)
        cxs, cys = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
        bad = np.zeros(len(gdf), dtype=bool)
        for k, row in enumerate(gdf.index):
            if 3 <= cxs[k] <= 54 and 73 <= cys[k] <= 136:
                problems.append(
                    RowProblem(
                        int(row), f"x/y look swapped (x = {cxs[k]:.6f} looks like a latitude)"
                    )
                )
                bad[k] = True
            elif np.abs(b[k, [0, 2]]).max() > 180 or np.abs(b[k, [1, 3]]).max() > 90:
                problems.append(
                    RowProblem(int(row), "coordinates out of range for degrees (±180, ±90)")
                )
                bad[k] = True
        gdf = gdf[~bad]
    out = gcrs.gdf_to_wgs84(gdf, crs if crs is not None else None)
    if not cs.is_geographic and len(out):
        b = shapely.bounds(out.geometry.values)
        bad = ~np.isfinite(b).all(axis=1) | (np.abs(b[:, [0, 2]]).max(axis=1) > 180)
        for row in out.index[bad]:
            problems.append(RowProblem(int(row), f"not a valid position in {cs}"))
        out = out[~bad]
    if (
        crs is not None
        and own is not None
        and not gcrs.parse_crs(own).crs.equals(cs.crs if cs.crs is not None else "EPSG:4326")
    ):
        notes.append(f"the file says {own.to_string()}; crs={cs} was used instead")
    return ImportedData(
        gdf=out,
        problems=problems,
        source=path,
        rows_read=rows_read,
        encoding=encoding,
        source_crs=str(cs),
        row_numbering="feature number (first feature = 1)",
        notes=notes,
        attributes=attributes,
    )


#: Why a geometry with a NaN or infinite coordinate is refused.
NONFINITE_REASON = "a coordinate is not a number (NaN or infinite)"


def _first_nonfinite(geoms: np.ndarray) -> list[str]:
    """'vertex 3 is (nan, 35.64)' for each geometry (the first bad vertex)."""
    out = []
    for g in geoms:
        xy = shapely.get_coordinates(g)
        k = int(np.flatnonzero(~np.isfinite(xy).all(axis=1))[0])
        x, y = (repr(float(v)) if np.isfinite(v) else str(float(v)) for v in xy[k])
        out.append(f"x = {x}, y = {y}" if len(xy) == 1 else f"vertex {k + 1}: x = {x}, y = {y}")
    return out


def read_input(
    file: str | os.PathLike,
    *,
    layer: str | None = None,
    crs: str | int | None = None,
    lon_col: str | None = None,
    lat_col: str | None = None,
    encoding: str | None = None,
    sheet: str | int | None = None,
    extent: tuple[float, float, float, float] | None = None,
    max_distance_m: float | None = DEFAULT_MAX_DISTANCE_M,
) -> ImportedData:
    """Read a vector file or a table with coordinates into WGS84.

    Parameters
    ----------
    file
        GeoPackage, GeoJSON, Shapefile, KML (anything GDAL reads), or CSV/XLSX
        with coordinate columns.
    layer
        Layer inside a multi-layer source (GeoPackage, KML).
    crs
        Coordinate system of the input: EPSG code, ``"wgs84"``, ``"gcj02"``,
        ``"bd09"``. Overrides the file's own CRS (GCJ-02 data is usually
        labelled WGS84). Tables without ``crs`` are taken as WGS84
        (``crs_assumed`` says so); vector files without a CRS need it.
    lon_col, lat_col
        Coordinate columns of a table (default: recognised from the headers).
    encoding
        Text encoding of a CSV or of a Shapefile's .dbf (default: detected;
        see :func:`shapefile_encoding`).
    sheet
        XLSX sheet name or 1-based number (default: the first).
    extent
        WGS84 bounds of the workspace; rows farther than ``max_distance_m``
        from it are reported as problems. None skips that check.

    Returns
    -------
    ImportedData
        Good rows and problems. Nothing is raised for bad rows.

    Raises
    ------
    InputFileError, CRSError
        When the file as a whole cannot be read.
    """
    path = Path(file)
    if not path.exists():
        raise InputFileError("the input file does not exist", file=str(path))
    if path.is_dir() and path.suffix.lower() != ".gdb":
        raise InputFileError("this is a folder; give the data file itself", file=str(path))
    if path.is_file() and path.stat().st_size == 0:
        raise InputFileError(
            "the file is empty (0 bytes): an interrupted copy or export? Copy it again.",
            file=str(path),
        )
    if path.suffix.lower() == ".xls":
        raise InputFileError(
            "old Excel .xls files are not read; open it in Excel or WPS and save it as .xlsx "
            "(or as 'CSV UTF-8'), then import that file",
            file=str(path),
        )
    if path.suffix.lower() in TABLE_SUFFIXES:
        data = _table_to_gdf(
            path, crs=crs, lon_col=lon_col, lat_col=lat_col, encoding=encoding, sheet=sheet
        )
    else:
        data = _vector_to_gdf(path, layer=layer, crs=crs, encoding=encoding)
    if extent is not None and max_distance_m and len(data.gdf):
        from gridmap.join.core import geometry_xy  # points as they are, others on their surface

        rx, ry = geometry_xy(np.asarray(data.gdf.geometry.values))
        d = distance_to_extent_m(rx, ry, extent)
        far = d > max_distance_m
        for row, dist in zip(data.gdf.index[far], d[far], strict=True):
            data.problems.append(
                RowProblem(
                    int(row),
                    f"{dist / 1000:.1f} km from the workspace (more than {max_distance_m / 1000:g} km): "
                    "wrong coordinates, or the wrong crs= was given?",
                )
            )
        data.gdf = data.gdf[~far]
    data.problems.sort(key=lambda p: p.row)
    return data


# ---------------------------------------------------------------------- import


def _resolve_alias(columns: list[str], canonical: str, aliases: tuple[str, ...]) -> str | None:
    if canonical in columns:
        return canonical
    norm = {normalise_header(c): c for c in columns}
    if normalise_header(canonical) in norm:
        return norm[normalise_header(canonical)]
    if len(canonical) > 10 and canonical[:10] in columns:
        return canonical[:10]  # a Shapefile cuts field names at 10 bytes
    hits = [norm[normalise_header(a)] for a in aliases if normalise_header(a) in norm]
    hits = list(dict.fromkeys(hits))
    return hits[0] if len(hits) == 1 else None


def _id_problems(
    values: pd.Series, id_col: str, *, raw: pd.Series | None = None
) -> list[RowProblem]:
    """Empty and duplicate ids (after normalisation), by row.

    ``raw`` holds the ids as written in the file: when the rows of a duplicate
    wrote it differently (``H000001``, full-width ``Ｈ０００００１``, ``H000001`` with
    a zero-width space), the message names each row's spelling: they are
    look-alike ids that become one id.
    """
    problems = []
    empty = values.isna()
    for row in values.index[empty]:
        problems.append(RowProblem(int(row), f"empty id ({id_col})", id_col))
    present = values[~empty]
    dup = present[present.duplicated(keep=False)]
    for value, rows in dup.groupby(dup).groups.items():
        rows = sorted(int(r) for r in rows)
        written = {r: str(raw.loc[r]) for r in rows} if raw is not None else {}
        lookalike = len(set(written.values())) > 1
        for r in rows:
            others = ", ".join(str(o) for o in rows if o != r)
            if not lookalike:
                reason = f"duplicate id '{value}' (also in row {others})"
            elif r == rows[0]:
                spellings = ", ".join(f"{show_id(written[o])} in row {o}" for o in rows)
                reason = (
                    f"look-alike duplicate ids: {spellings} are all the id '{value}' once "
                    "full-width and invisible characters are folded; keep one of them or give "
                    "them different ids"
                )
            else:
                reason = (
                    f"look-alike duplicate id {show_id(written[r])} (the id '{value}' of "
                    f"row {rows[0]})"
                )
            problems.append(RowProblem(r, reason, id_col))
    return problems


def _stale_assignment_notes(ws_path: Path, layer: str, out: gpd.GeoDataFrame) -> list[str]:
    """Remind to run ``gridmap assign`` when the ids on point layers no longer fit."""
    spec = LAYERS[layer]
    if not spec.is_polygon_layer:
        if layer in POINT_LAYERS and ASSIGN_COLUMNS[0] not in out.columns:
            return [f"run 'gridmap assign' to write {', '.join(ASSIGN_COLUMNS)} onto the new layer"]
        return []
    stale = []
    for name in gio.list_layers(ws_path):
        if name in POINT_LAYERS:
            fields = pyogrio.read_info(ws_path, layer=name).get("fields", [])
            if ASSIGN_COLUMNS[0] in list(fields):
                stale.append(name)
    if not stale:
        return []
    return [
        f"the ids on {', '.join(stale)} were computed with the old '{layer}': "
        "run 'gridmap assign' again"
    ]


def _format_problems(problems: list[RowProblem], numbering: str) -> str:
    shown = "; ".join(str(p) for p in problems[:MAX_LISTED])
    more = f"; ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    rows = len({p.row for p in problems})
    return f"{rows} bad row(s) (rows are numbered by {numbering}): {shown}{more}"


def write_problem_report(path: str | os.PathLike, problems: list[RowProblem]) -> Path:
    """Write skipped rows as CSV (row, column, reason), UTF-8 with BOM for Excel."""

    def _write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8-sig", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["row", "column", "reason"])
            for p in problems:
                w.writerow([p.row, p.column or "", p.reason])

    return gio.atomic_write_file(path, _write)


def _check_polygons(
    gdf: gpd.GeoDataFrame, id_col: str, *, repair: bool, notes: list[str]
) -> tuple[gpd.GeoDataFrame, list[RowProblem]]:
    """Invalid polygons are bad rows, or repaired with ``repair`` (listed in ``notes``)."""
    from gridmap.checks.repair import make_polygonal_valid

    geoms = gdf.geometry.values
    poly = np.isin(np.asarray(gdf.geom_type.values, dtype=object), ["Polygon", "MultiPolygon"])
    if not poly.any():
        return gdf, []
    idx = np.flatnonzero(poly)
    invalid = idx[~shapely.is_valid(geoms[idx])]
    if not len(invalid):
        return gdf, []
    problems: list[RowProblem] = []
    fixed: list[str] = []
    new = np.array(geoms, dtype=object).copy()
    for k in invalid:
        ident = gdf[id_col].iloc[k] if id_col in gdf.columns else None
        label = f"{id_col} {ident}" if ident is not None else "the feature"
        reason = shapely.is_valid_reason(geoms[k])
        repaired = make_polygonal_valid(geoms[k]) if repair else None
        if repaired is not None:
            new[k] = repaired
            fixed.append(f"{ident} ({reason.split('[')[0]})")
            continue
        hint = (
            "no area is left after repair"
            if repair
            else "repair it in the source, or pass make_valid=True to repair it on import"
        )
        problems.append(
            RowProblem(int(gdf.index[k]), f"{label}: invalid polygon: {reason}; {hint}", "geometry")
        )
    if fixed:
        notes.append(
            f"repaired {len(fixed)} invalid polygon(s) with make_valid: {', '.join(fixed)}"
        )
        gdf = gdf.set_geometry(gpd.GeoSeries(new, index=gdf.index, crs=gdf.crs))
    return gdf, problems


def _check_shift(gdf: gpd.GeoDataFrame, ws_path: Path, data: ImportedData, layer: str) -> None:
    """Refuse WGS84-labelled points that fit the workspace only as GCJ-02/BD-09."""
    cs = gcrs.parse_crs(data.source_crs)
    if cs.is_shifted or cs.crs is None or not cs.crs.is_geographic or len(gdf) < 3:
        return
    if not ws_path.exists() or ws_path.stat().st_size == 0:
        return
    names = set(gio.list_layers(ws_path))
    level = next((lv for lv in POLYGON_LEVELS if lv in names and lv != layer), None)
    if level is None:
        return
    from gridmap.join.core import point_coordinates, reference_locator

    polys = gio.read_layer(ws_path, level)
    if polys is None or not len(polys):
        return
    locate = reference_locator(polys, LAYERS[level].id_column)
    x, y = point_coordinates(gdf)
    geoms = np.asarray(gdf.geometry.values)
    # points (not polygons) in WGS84, as x/y are: reused, not built again
    plain = gdf.crs is not None and gdf.crs.equals("EPSG:4326")
    plain = plain and bool((shapely.get_type_id(geoms) == 0).all())
    found = shift_suspicion(x, y, locate, points=geoms if plain else None)
    if found is None:
        return
    name, n, n_given, n_shifted = found
    app = "Amap/Gaode or Tencent" if name == "gcj02" else "Baidu"
    what = {"microgrids": "micro-grid", "communities": "community"}.get(level, level[:-1])
    raise CoordinateError(
        f"{n_given} of {n} points fall in a {what} as {cs}, but {n_shifted} of {n} do when read "
        f"as {name} ({app} coordinates are shifted by a few hundred metres). Import again with "
        f"crs={name}; if the coordinates really are WGS84, pass shift_check=False.",
        file=str(data.source),
        layer=layer,
    )


def import_layer(
    workspace: str | os.PathLike | None,
    layer: str,
    file: str | os.PathLike,
    *,
    crs: str | int | None = None,
    lon_col: str | None = None,
    lat_col: str | None = None,
    id_col: str | None = None,
    encoding: str | None = None,
    sheet: str | int | None = None,
    source_layer: str | None = None,
    skip_bad_rows: bool = False,
    report: str | os.PathLike | None = None,
    max_distance_m: float | None = DEFAULT_MAX_DISTANCE_M,
    make_valid: bool = False,
    shift_check: bool = True,
) -> ImportReport:
    """Read ``file`` and write it as ``layer`` into a workspace (replacing it).

    Checks, in order: the file is readable; coordinates are present, numeric,
    in range, not swapped and within ``max_distance_m`` of the workspace's
    polygon layers; the layer's required columns exist (obvious Chinese
    headers such as 户号 or 网格编号 are renamed, or name the id column with
    ``id_col``); ids are neither empty nor duplicated; geometry types fit the
    layer. Ids stay text (``"007"`` keeps its zeros).

    With problems and ``skip_bad_rows`` false, nothing is written and a
    :class:`~gridmap.errors.CoordinateError` / :class:`~gridmap.errors.SchemaError`
    lists the rows. With ``skip_bad_rows``, the good rows are written and the
    skipped rows go to ``report`` (default ``<input>.skipped.csv`` next to the
    input). The write is atomic (:func:`gridmap.workspace.store.write_layers`): a failed
    import leaves the workspace byte-for-byte as it was.

    Parameters
    ----------
    workspace
        Workspace GeoPackage (created if it does not exist); None = default.
    layer
        Target layer, one of :data:`gridmap.workspace.schema.LAYERS`.
    file
        Input file; see :func:`read_input` for the remaining options.
    max_distance_m
        Rows farther than this from the workspace extent are bad rows;
        None or 0 disables the check.
    make_valid
        Repair invalid polygons (self-intersections...) with
        :func:`gridmap.checks.repair.make_polygonal_valid` instead of treating
        them as bad rows; the repaired ids are listed in the report's notes.
    shift_check
        For points given as WGS84, refuse the file when they fall in the
        workspace's polygons only once read as GCJ-02 or BD-09 (coordinates
        copied from Amap or Baidu but labelled WGS84).
    """
    if layer not in LAYERS:
        raise SchemaError(f"unknown layer '{layer}'; use one of: {', '.join(LAYERS)}", layer=layer)
    spec = LAYERS[layer]
    ws_path = gio.resolve_workspace(workspace, must_exist=False)
    extent = workspace_extent(ws_path, exclude=layer) if max_distance_m else None
    picked = None
    if source_layer is None and Path(file).suffix.lower() not in TABLE_SUFFIXES | {".xls"}:
        # another workspace (or any multi-layer file) holding a layer of the same name
        try:
            names = [str(n) for n, _ in pyogrio.list_layers(file)]
        except Exception:  # unreadable: read_input explains
            names = []
        if len(names) > 1 and layer in names:
            source_layer = layer
            picked = f"the file has {len(names)} layers; its layer '{layer}' was read"
    data = read_input(
        file,
        layer=source_layer,
        crs=crs,
        lon_col=lon_col,
        lat_col=lat_col,
        encoding=encoding,
        sheet=sheet,
        extent=extent,
        max_distance_m=max_distance_m,
    )
    if picked:
        data.notes.insert(0, picked)
    src = str(data.source)
    gdf = data.gdf
    if spec.is_polygon_layer and data.lon_col is not None:
        raise InputFileError(
            f"'{layer}' is a polygon layer; a table of coordinates cannot describe polygons. "
            "Import a GeoPackage, GeoJSON, Shapefile or KML file.",
            file=src,
            layer=layer,
        )
    # required columns (with a few obvious aliases)
    columns = [c for c in gdf.columns if c != gdf.geometry.name]
    renamed: dict[str, str] = {}
    if id_col is not None:
        if id_col not in columns:
            raise SchemaError(
                f"no column '{id_col}' for id_col= (columns found: {', '.join(columns)})",
                file=src,
                layer=layer,
            )
        if id_col != spec.id_column:
            if spec.id_column in columns:
                raise SchemaError(
                    f"id_col={id_col} given but the file also has a '{spec.id_column}' column; "
                    "rename or drop one of them",
                    file=src,
                    layer=layer,
                )
            renamed[id_col] = spec.id_column
    # a Shapefile cuts field names at 10 characters: staff_phone -> staff_phon
    known = (*spec.required, *spec.optional, *spec.personal, *ASSIGN_COLUMNS, "assigned_level")
    cut = {}
    for c in dict.fromkeys(known):
        if len(c) > 10 and c not in columns and c[:10] in columns:
            cut.setdefault(c[:10], []).append(c)
    for short, full in cut.items():
        if len(full) == 1 and short not in renamed and full[0] not in renamed.values():
            renamed[short] = full[0]
    if layer == ROADS and id_col is None and spec.id_column not in columns:
        found = _resolve_alias(columns, spec.id_column, ID_ALIASES.get(layer, ()))
        if found is None:
            # number every input row (bad ones too); gdf and attributes share row numbers
            rows = data.attributes.index if data.attributes is not None else gdf.index
            numbered = pd.Series([f"R{k + 1:05d}" for k in range(len(rows))], index=rows)
            gdf = gdf.copy()
            gdf[spec.id_column] = numbered.reindex(gdf.index).to_numpy()
            if data.attributes is not None:
                data.attributes = data.attributes.copy()
                data.attributes[spec.id_column] = numbered.to_numpy()
            columns.append(spec.id_column)
            data.notes.append("the file has no road ids: numbered R00001, R00002, ...")
    for req in spec.required:
        if req in columns or req in renamed.values():
            continue
        aliases = (
            ID_ALIASES.get(layer, ())
            if req == spec.id_column
            else NAME_ALIASES
            if req == "name"
            else ()
        )
        found = _resolve_alias([c for c in columns if c not in renamed], req, aliases)
        if found is None:
            hint = " or name it with id_col=NAME" if req == spec.id_column else ""
            raise SchemaError(
                f"the required column '{req}' is missing (columns found: {', '.join(columns) or 'none'}). "
                f"Rename the column in the file{hint}.",
                file=src,
                layer=layer,
            )
        renamed[found] = req
    for opt in spec.optional:
        if opt in columns or opt in renamed.values() or opt not in OPTIONAL_ALIASES:
            continue
        found = _resolve_alias([c for c in columns if c not in renamed], opt, OPTIONAL_ALIASES[opt])
        if found is not None:
            renamed[found] = opt
    if spec.parent_id_column and spec.parent_id_column not in columns:
        found = _resolve_alias(
            [c for c in columns if c not in renamed],
            spec.parent_id_column,
            PARENT_ALIASES.get(spec.parent_id_column, ()),
        )
        if found is not None:
            renamed[found] = spec.parent_id_column
    # a GeoPackage keeps its own feature id in 'fid': a column of that name (QGIS exports,
    # spreadsheets) cannot be written, so it is kept as 'source_fid'
    for c in columns:
        if c.lower() == "fid" and c not in renamed and "source_fid" not in columns:
            renamed[c] = "source_fid"
    gdf = gdf.rename(columns=renamed)
    normalise_id_columns(gdf, gio.id_columns_of(gdf))
    problems = list(data.problems)
    # ids are checked over every input row, so a duplicate of a bad row is seen too
    attrs = data.attributes if data.attributes is not None else pd.DataFrame(gdf)
    attrs = attrs.rename(columns=renamed)
    all_ids = pd.Series(normalise_ids(attrs[spec.id_column]), index=attrs.index, dtype=object)
    problems += _id_problems(all_ids, spec.id_column, raw=attrs[spec.id_column])
    # geometry type
    types = np.asarray(gdf.geom_type.values, dtype=object)
    if spec.geometry == ("Point",):
        multi1 = (types == "MultiPoint") & (shapely.get_num_geometries(gdf.geometry.values) == 1)
        if multi1.any():
            geoms = gdf.geometry.values.copy()
            geoms[multi1] = shapely.get_geometry(geoms[multi1], 0)
            gdf = gdf.set_geometry(geoms)
            types[multi1] = "Point"
            data.notes.append(
                f"{int(multi1.sum())} single-point MultiPoint features stored as Point"
            )
    wrong = ~np.isin(types, spec.geometry)
    for row, t in zip(gdf.index[wrong], types[wrong], strict=True):
        problems.append(
            RowProblem(
                int(row),
                f"geometry is {t}; layer '{layer}' takes {'/'.join(spec.geometry)}",
                "geometry",
            )
        )
    # last line of defence: nothing with a NaN/infinite coordinate reaches the workspace
    for row in gdf.index[gcrs.nonfinite_geometries(gdf.geometry.values)]:
        if int(row) not in {p.row for p in problems}:
            problems.append(RowProblem(int(row), NONFINITE_REASON))
    gdf, invalid_problems = _check_polygons(
        gdf, spec.id_column, repair=make_valid, notes=data.notes
    )
    problems += invalid_problems
    if shift_check and not spec.is_polygon_layer:
        _check_shift(gdf, ws_path, data, layer)
    problems.sort(key=lambda p: (p.row, p.reason))
    bad_rows = {p.row for p in problems}
    report_path = None
    if problems and not skip_bad_rows:
        err = (
            CoordinateError
            if any(p.column in (data.lon_col, data.lat_col, None) for p in problems)
            else SchemaError
        )
        raise err(
            _format_problems(problems, data.row_numbering)
            + ". Nothing was written. Fix these rows or pass skip_bad_rows=True.",
            file=src,
            layer=layer,
        )
    keep = ~gdf.index.isin(list(bad_rows))
    out = gdf[keep].reset_index(drop=True)
    if len(out) == 0:
        raise InputFileError(
            "no usable rows: nothing to import"
            + (f" ({_format_problems(problems, data.row_numbering)})" if problems else ""),
            file=src,
            layer=layer,
        )
    if problems:
        report_path = (
            Path(report) if report else data.source.with_name(data.source.stem + ".skipped.csv")
        )
        write_problem_report(report_path, problems)
    gio.write_layers(ws_path, {layer: out})
    data.notes.extend(_stale_assignment_notes(ws_path, layer, out))
    return ImportReport(
        workspace=ws_path,
        layer=layer,
        source=data.source,
        rows_read=data.rows_read,
        imported=len(out),
        skipped=problems,
        encoding=data.encoding,
        source_crs=data.source_crs,
        crs_assumed=data.crs_assumed,
        row_numbering=data.row_numbering,
        report_path=report_path,
        renamed=renamed,
        notes=data.notes,
    )
