"""The one JSON-safe conversion: what a value becomes in a JSON answer or file.

Used by every JSON the project writes (``--format json``, the HTTP API, the
map's embedded data, result ``to_dict``/``to_json`` methods):

* numpy scalars become Python ones (``np.int64(3)`` -> ``3``);
* NaN, infinities, ``pd.NA`` and ``NaT`` become ``None`` (``null``): JSON has no NaN;
* paths become strings; dates and times their ISO form;
* tuples and sets become lists, mapping keys strings;
* anything else unknown becomes ``str(value)``.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["is_pandas_missing", "json_default", "json_records", "json_safe", "json_scalar"]


def is_pandas_missing(v: Any) -> bool:
    """``pd.NA`` or ``pd.NaT`` (neither exists before pandas is loaded: no import here)."""
    return type(v).__name__ in ("NAType", "NaTType") and type(v).__module__.startswith("pandas")


def json_scalar(v: Any) -> Any:
    """One scalar as a JSON-safe Python value (see the module docstring).

    Containers and unknown objects are returned unchanged; use :func:`json_safe`
    for nested data.
    """
    if v is None:
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if is_pandas_missing(v):
        return None
    return v


def json_default(o: Any) -> Any:
    """``default=`` for :func:`json.dumps`: numpy, paths, dates, sets; ``str`` otherwise.

    Python floats never reach ``default``: pass data through :func:`json_safe`
    (or ``allow_nan=False``) when NaN may occur.
    """
    if isinstance(o, np.generic):
        return json_scalar(o)
    if is_pandas_missing(o):
        return None
    if isinstance(o, PurePath):
        return str(o)
    if isinstance(o, _dt.datetime | _dt.date | _dt.time):  # (pd.Timestamp is a datetime)
        return o.isoformat()
    if isinstance(o, set | frozenset | tuple):
        return list(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def json_safe(obj: Any) -> Any:
    """A deep copy of ``obj`` that :func:`json.dumps` writes with ``allow_nan=False``.

    Parameters
    ----------
    obj
        dicts, lists, tuples, sets, arrays and scalars, nested in any way.

    Returns
    -------
    Any
        Plain Python: dict (str keys), list, str, int, float (finite), bool, None.
    """
    t = type(obj)
    if t is str or t is int or t is bool or obj is None:  # the common leaves, checked first
        return obj
    if t is float:
        return obj if math.isfinite(obj) else None
    if t is dict:
        return {k if type(k) is str else str(json_safe(k)): json_safe(v) for k, v in obj.items()}
    if t is list:
        return [json_safe(v) for v in obj]
    if isinstance(obj, Mapping):
        return {
            str(json_safe(k)) if not isinstance(k, str) else k: json_safe(v) for k, v in obj.items()
        }
    if isinstance(obj, list | tuple | set | frozenset):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [json_safe(v) for v in obj.tolist()]
    v = json_scalar(obj)
    if v is None or isinstance(v, str | bool | int | float):
        return v
    return json_safe(json_default(v))


def json_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a (Geo)DataFrame as JSON-safe dicts; the geometry column is left out."""
    geom = getattr(df, "_geometry_column_name", None) if hasattr(df, "geometry") else None
    cols = [c for c in df.columns if c != "geometry" and c != geom]
    names = [str(c) for c in cols]
    values = [_column_values(df[c]) for c in cols]
    return (
        [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]
        if cols
        else [{} for _ in range(len(df))]
    )


def _column_values(s: pd.Series) -> list[Any]:
    """One column as JSON-safe values: numbers and flags a column at a time, the rest per value."""
    kind = s.dtype.kind if isinstance(s.dtype, np.dtype) else ""
    if kind in "biu" and kind:
        return s.to_numpy().tolist()
    if kind == "f":
        a = s.to_numpy()
        out: list[Any] = a.tolist()
        bad = np.flatnonzero(~np.isfinite(a))
        for i in bad.tolist():
            out[i] = None
        return out
    return [json_safe(v) for v in s.tolist()]
