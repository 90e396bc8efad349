"""What a whole-workspace assign did: counts per level and the points left outside.

Kept free of pandas and geopandas, so that the in-place assign
(:mod:`gridmap.join.inplace`) and its command start quickly; the DataFrame
views load pandas on first use.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gridmap.workspace.schema import LEVEL_COLUMN, NEAREST_COLUMN, NEAREST_DIST_COLUMN

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["AssignResult", "LayerAssignment"]


def _plain(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


@dataclass
class LayerAssignment:
    """Summary of the join for one point layer.

    Attributes
    ----------
    layer, total
        The point layer and its number of features.
    by_level
        Level (``microgrids`` ... ``communities``, ``none``) -> points whose
        finest owner is that level.
    no_geometry
        Ids of the features without a usable position.
    unassigned_ids, unassigned_levels, nearest_ids, nearest_m
        The points no micro-grid covers, in layer order: id, finest owning
        level (None: no polygon at all), nearest micro-grid and its distance
        in metres.
    """

    layer: str
    total: int
    by_level: dict[str, int]
    no_geometry: list[str]
    unassigned_ids: np.ndarray
    unassigned_levels: np.ndarray
    nearest_ids: np.ndarray
    nearest_m: np.ndarray

    @property
    def in_microgrid(self) -> int:
        return self.by_level.get("microgrids", 0)

    @property
    def n_unassigned(self) -> int:
        return len(self.unassigned_ids)

    def unassigned_records(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The points outside every micro-grid as JSON-safe dicts (the first ``limit``)."""
        n = self.n_unassigned if limit is None else min(limit, self.n_unassigned)
        return [
            {
                "id": _plain(self.unassigned_ids[i]),
                LEVEL_COLUMN: _plain(self.unassigned_levels[i]),
                NEAREST_COLUMN: _plain(self.nearest_ids[i]),
                NEAREST_DIST_COLUMN: _plain(self.nearest_m[i]),
            }
            for i in range(n)
        ]

    @property
    def unassigned(self) -> pd.DataFrame:
        """The same list as a DataFrame (columns id, assigned_level, nearest_*)."""
        import pandas as pd

        return pd.DataFrame(
            {
                "id": pd.Series(self.unassigned_ids, dtype=object),
                LEVEL_COLUMN: pd.Series(self.unassigned_levels, dtype=object),
                NEAREST_COLUMN: pd.Series(self.nearest_ids, dtype=object),
                NEAREST_DIST_COLUMN: np.asarray(self.nearest_m, dtype=float),
            }
        )


@dataclass
class AssignResult:
    """What :func:`gridmap.join.core.assign_workspace` did.

    ``frames`` (layer -> the points with their new columns) is built on first
    use where the assign ran in place without holding the layers in memory.
    """

    workspace: Path
    written_to: Path | None
    layers: dict[str, LayerAssignment]
    _frames: dict[str, Any] | None = field(repr=False, default=None)
    _load_frames: Callable[[], dict[str, Any]] | None = field(repr=False, default=None)

    @property
    def frames(self) -> dict[str, Any]:
        if self._frames is None:
            self._frames = self._load_frames() if self._load_frames is not None else {}
        return self._frames

    def to_dict(self) -> dict:
        return {
            "workspace": str(self.workspace),
            "written_to": str(self.written_to) if self.written_to else None,
            "layers": {
                name: {
                    "total": la.total,
                    "by_level": la.by_level,
                    "no_geometry": la.no_geometry,
                    "unassigned": la.unassigned_records(),
                }
                for name, la in self.layers.items()
            },
        }
