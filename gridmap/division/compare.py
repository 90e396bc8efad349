"""spopt's max-p regions as the maintained reference method for :func:`propose_division`.

spopt (PySAL) is a test/benchmark dependency, imported only here and only when
``method="maxp"`` is asked for.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np

from gridmap.division.regions import Band, DivisionError, _components


def maxp_regions(
    members: list[int],
    adj: list[set[int]],
    households: np.ndarray,
    centroids: np.ndarray,
    geoms: np.ndarray,
    band: Band,
    *,
    seed: int = 0,
) -> list[set[int]]:
    """Max-p regions (floor = the band's minimum) of one unit's micro-grids.

    Each connected component of the unit is regionalised on its own (max-p
    needs a connected graph); a component below the floor is one region.
    The attribute is the micro-grids' centroid position, so regions are
    compact; households are the threshold variable.
    """
    try:
        import libpysal
        from spopt.region import MaxPHeuristic
    except ImportError:  # pragma: no cover - the test extra installs spopt
        raise DivisionError("method 'maxp' needs the spopt package (pip install spopt)") from None
    out: list[set[int]] = []
    mset = set(members)
    uadj = [(a & mset) if i in mset else set() for i, a in enumerate(adj)]
    for comp in _components(mset, uadj):
        nodes = sorted(comp)
        total = int(households[nodes].sum())
        if len(nodes) == 1 or total < 2 * band.low:
            out.append(set(nodes))
            continue
        pos = {v: k for k, v in enumerate(nodes)}
        neigh = {pos[v]: [pos[u] for u in uadj[v]] for v in nodes}
        w = libpysal.weights.W(neigh, silence_warnings=True)
        gdf = gpd.GeoDataFrame(
            {
                "x": centroids[nodes, 0],
                "y": centroids[nodes, 1],
                "households": households[nodes].astype(float),
            },
            geometry=list(geoms[nodes]),
        )
        np.random.seed(seed)
        model = MaxPHeuristic(
            gdf, w, ["x", "y"], "households", band.low, top_n=2, max_iterations_construction=10
        )
        model.solve()
        labels = np.asarray(model.labels_)
        for lab in sorted(set(labels.tolist())):
            out.append({nodes[k] for k in np.flatnonzero(labels == lab)})
    return out
