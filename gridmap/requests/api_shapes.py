"""JSON-ready values and rows of requests (for the CLI's JSON and the API)."""

from __future__ import annotations

import json
import math
from datetime import datetime

import numpy as np
import pandas as pd

#: Columns anyone may see in aggregates-only contexts (no text, no person, no position).
PUBLIC_COLUMNS = ("category", "status", "grid_id", "zone_id", "community_id")


def plain(v):
    """A JSON-safe scalar: datetimes as ISO 8601 UTC, NaN/NaT as None, numpy as Python."""
    if v is None:
        return None
    if isinstance(v, (pd.Timestamp, datetime)):
        if pd.isna(v):
            return None
        return pd.Timestamp(v).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
    if v is pd.NaT:
        return None
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if math.isnan(float(v)) else float(v)
    if isinstance(v, str):
        return v
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v


def records(df: pd.DataFrame, columns: list[str] | tuple[str, ...]) -> list[dict]:
    """Rows of ``df`` as dicts of JSON-safe values, only ``columns`` (those present)."""
    cols = [c for c in columns if c in df.columns]
    out = []
    for rec in df[cols].to_dict(orient="records"):
        row = {k: plain(v) for k, v in rec.items()}
        if isinstance(row.get("candidates"), str):
            try:
                row["candidates"] = json.loads(row["candidates"])
            except ValueError:
                pass
        out.append(row)
    return out
