"""The one id policy: how a cell of an id column (or any text cell) becomes an id string.

Rules, applied everywhere gridmap reads an id (the store, the importer, the
join, validation, lookup):

* missing values (``None``, ``NaN``, ``pd.NA``, ``NaT``) stay missing (``None``);
* a number that is a whole number is written without a decimal part: ``12``,
  ``12.0`` and ``np.float32(12)`` are all ``"12"`` (spreadsheets and
  GeoPackage REAL columns turn ``12`` into ``12.0``; people mean ``12``);
  other numbers keep their shortest form (``12.5`` -> ``"12.5"``);
* text is NFKC-normalised (full-width ``Ｇ１２`` -> ``G12``, the ideographic
  space -> a space), zero-width characters (U+200B-U+200D, U+2060, U+FEFF,
  U+00AD) are removed and surrounding whitespace is stripped;
* what is left empty is missing (``None``).

Text that looks like a number (``"12.0"``) is text: it is not rewritten.

:func:`normalise_id` is the rule for one value; :func:`normalise_ids` applies it
to a whole column with pandas string operations and numpy (no Python loop per
value for ASCII text, integer and float columns), and :func:`normalise_id_columns`
does it in place for the id columns of a frame.
"""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pandas loads where a column is normalised; one id needs none of it
    import pandas as pd

__all__ = ["ZERO_WIDTH", "normalise_id", "normalise_id_columns", "normalise_ids", "show_id"]

#: Characters removed from ids: invisible, but they make two equal-looking ids differ.
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
_ZW_TABLE = str.maketrans("", "", ZERO_WIDTH)
# whole floats below this are written through int64 (exact); larger ones too, via Python int
_INT64_SAFE = 2.0**63


def _clean_text(s: str) -> str | None:
    s = unicodedata.normalize("NFKC", s).translate(_ZW_TABLE).strip()
    return s or None


def _float_text(f: float) -> str | None:
    if f != f:  # NaN
        return None
    if f in (float("inf"), float("-inf")):
        return str(f)
    if f.is_integer():
        return str(int(f))
    return str(f)


def normalise_id(value: Any) -> str | None:
    """One id (or any text cell) as gridmap stores it; ``None`` when missing.

    Parameters
    ----------
    value
        Anything a table cell can hold: str, int, float, numpy scalars,
        ``None``/``NaN``/``pd.NA``/``NaT``.

    Returns
    -------
    str or None
        See the module docstring for the rules (``12.0`` -> ``"12"``).
    """
    if value is None:
        return None
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return _float_text(float(value))
    pandas = sys.modules.get("pandas")  # pd.NA / NaT only exist once pandas is loaded
    if pandas is not None:
        try:
            if pandas.isna(value):
                return None
        except (TypeError, ValueError):  # array-likes: not a missing scalar
            pass
    elif isinstance(value, np.datetime64 | np.timedelta64) and np.isnat(value):
        return None
    return _clean_text(str(value))


def _as_series(values: pd.Series | np.ndarray | Iterable[Any]) -> pd.Series:
    import pandas as pd

    if isinstance(values, pd.Series):
        return values
    if isinstance(values, np.ndarray):
        return pd.Series(values)
    vals = list(values)
    arr = np.empty(len(vals), dtype=object)
    arr[:] = vals
    return pd.Series(arr)


def _floats(arr: np.ndarray) -> np.ndarray:
    out = np.full(len(arr), None, dtype=object)
    finite = np.isfinite(arr)
    whole = finite & (np.trunc(arr) == arr)
    small = whole & (np.abs(arr) < _INT64_SAFE)
    if small.any():
        out[small] = arr[small].astype(np.int64).astype(str)
    rest = ~small & ~np.isnan(arr)
    if rest.any():
        out[rest] = [_float_text(float(f)) for f in arr[rest]]  # huge, inf or fractional
    return out


def _arrow_text(s: pd.Series) -> Any:
    """The column as one Arrow string array: no copy when pandas already keeps it in Arrow."""
    import pandas as pd
    import pyarrow as pa

    if isinstance(getattr(s, "array", None), pd.arrays.ArrowStringArray):
        arr = pa.array(s.array)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if pa.types.is_large_string(arr.type) or pa.types.is_string_view(arr.type):
            arr = arr.cast(pa.string())
        return arr
    return pa.array(s.to_numpy(dtype=object), type=pa.string(), from_pandas=True)


def _strings(s: pd.Series) -> np.ndarray:
    """Text cells: ASCII ones are only stripped (Arrow kernel); the others get the full rule."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = _arrow_text(s)
    if pc.all(pc.fill_null(pc.string_is_ascii(arr), True)).as_py() is not False:
        # the usual column (ASCII text and missing cells): trimmed and "" made missing in
        # Arrow, one conversion
        trimmed = pc.utf8_trim_whitespace(arr)
        trimmed = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)
        return np.asarray(trimmed.to_numpy(zero_copy_only=False), dtype=object)
    ascii_ = pc.fill_null(pc.string_is_ascii(arr), False).to_numpy(zero_copy_only=False)
    out = np.full(len(s), None, dtype=object)
    if ascii_.any():
        trimmed = pc.utf8_trim_whitespace(arr.filter(pa.array(ascii_)))
        vals = trimmed.to_numpy(zero_copy_only=False)
        vals[vals == ""] = None
        out[ascii_] = vals
    other = ~ascii_ & ~pc.is_null(arr).to_numpy(zero_copy_only=False)
    if other.any():
        out[other] = [_clean_text(v) for v in s.to_numpy(dtype=object)[other]]
    return out


def normalise_ids(values: pd.Series | np.ndarray | Iterable[Any]) -> np.ndarray:
    """:func:`normalise_id` over a whole column, vectorised.

    Parameters
    ----------
    values
        A Series, an array or any iterable of cells.

    Returns
    -------
    numpy.ndarray
        Object array of str or ``None``, same length and order as ``values``.
    """
    import pandas as pd

    s = _as_series(values)
    n = len(s)
    if n == 0:
        return np.empty(0, dtype=object)
    dt = s.dtype
    if pd.api.types.is_bool_dtype(dt):
        return np.array([normalise_id(v) for v in s.to_numpy(dtype=object)], dtype=object)
    if pd.api.types.is_integer_dtype(dt):
        missing = s.isna().to_numpy()
        out = np.full(n, None, dtype=object)
        out[~missing] = s[~missing].to_numpy(dtype=np.int64).astype(str)
        return out
    if pd.api.types.is_float_dtype(dt):
        return _floats(s.to_numpy(dtype=float, na_value=np.nan))
    kind = pd.api.types.infer_dtype(s, skipna=True)
    if kind in ("string", "empty"):
        return _strings(s)
    if kind in ("integer", "floating", "mixed-integer-float", "decimal"):
        if kind == "integer":  # Python ints in an object column (may exceed int64)
            return np.array([normalise_id(v) for v in s.to_numpy(dtype=object)], dtype=object)
        return _floats(pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan))
    # mixed kinds (text and numbers in one column, dates, ...): the scalar rule per value
    return np.array([normalise_id(v) for v in s.to_numpy(dtype=object)], dtype=object)


def normalise_id_columns(df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Normalise the given id columns of ``df`` in place (absent columns are skipped).

    Each column becomes an object column of str or ``None``. Returns ``df``.
    """
    import pandas as pd

    for col in columns:
        if col in df.columns:
            df[col] = pd.Series(normalise_ids(df[col]), index=df.index, dtype=object)
    return df


def show_id(value: object) -> str:
    """An id as written in a file, for a message about look-alike ids.

    Invisible characters are shown as escapes and full-width text is marked, so a
    worker sees why two ids that look the same are one id once normalised:
    ``'H000001\\u200b'``, ``'Ｈ０００００１' (full-width)``.

    Parameters
    ----------
    value
        The raw cell (any type; shown through ``str``).

    Returns
    -------
    str
        The quoted id, with `` (full-width)`` appended when it holds full-width characters.
    """
    text = str(value)
    shown = "".join(
        ch
        if ch.isprintable() and not unicodedata.category(ch).startswith("C") and ch != "\u00ad"
        else f"\\u{ord(ch):04x}"
        for ch in text
    )
    wide = any(unicodedata.east_asian_width(ch) == "F" for ch in text)
    return f"'{shown}'" + (" (full-width)" if wide else "")
