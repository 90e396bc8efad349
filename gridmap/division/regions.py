"""The shared pieces of every re-division method: the household band, contiguity, compactness."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely

from gridmap.errors import GridmapError


class DivisionError(GridmapError):
    """A division cannot be proposed (bad band, missing layers)."""


@dataclass(frozen=True)
class Band:
    """Households per grid: the inclusive range a proposed grid should hold."""

    low: int
    high: int

    @classmethod
    def parse(cls, text: str | tuple[int, int]) -> Band:
        """``"300-500"`` (or a tuple) -> Band; an error names the parameter ``households``."""
        if isinstance(text, tuple):
            lo, hi = text
        else:
            s = str(text).replace("–", "-").replace("~", "-").replace(" ", "")
            try:
                a, b = s.split("-")
                lo, hi = int(a), int(b)
            except ValueError:
                raise DivisionError(
                    f"households must be a range like 300-500; got '{text}'"
                ) from None
        if lo < 1 or hi < lo:
            raise DivisionError(f"households range {lo}-{hi} is empty or not positive")
        return cls(int(lo), int(hi))

    def contains(self, n: float) -> bool:
        return self.low <= n <= self.high


def contiguity(
    polygons: np.ndarray, *, min_shared_m: float = 1.0, lengths: dict | None = None
) -> list[set[int]]:
    """Rook neighbours of metric polygons: boundaries sharing ≥ ``min_shared_m`` of line.

    ``lengths``, when given, is filled with the shared length of each pair ``(i, j)``, i < j.
    """
    n = len(polygons)
    adj: list[set[int]] = [set() for _ in range(n)]
    if n < 2:
        return adj
    tree = shapely.STRtree(polygons)
    a, b = tree.query(polygons, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if len(a) == 0:
        return adj
    bounds = shapely.boundary(polygons)
    shared = shapely.length(shapely.intersection(bounds[a], bounds[b]))
    ok = shared >= min_shared_m
    for i, j, s in zip(a[ok], b[ok], shared[ok], strict=True):
        adj[int(i)].add(int(j))
        adj[int(j)].add(int(i))
        if lengths is not None:
            lengths[(int(i), int(j))] = float(s)
    return adj


def polsby_popper(geoms: np.ndarray) -> np.ndarray:
    """4πA/P² of metric geometries (0 where the perimeter is 0)."""
    a = shapely.area(geoms)
    p = shapely.length(geoms)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(p > 0, 4 * math.pi * a / (p * p), 0.0)
    return out


def _components(nodes: set[int], adj: list[set[int]]) -> list[set[int]]:
    left, out = set(nodes), []
    while left:
        start = left.pop()
        comp, stack = {start}, [start]
        while stack:
            v = stack.pop()
            for w in adj[v]:
                if w in left:
                    left.discard(w)
                    comp.add(w)
                    stack.append(w)
        out.append(comp)
    return out


def _connected(nodes: set[int], adj: list[set[int]]) -> bool:
    return len(nodes) <= 1 or len(_components(nodes, adj)) == 1
