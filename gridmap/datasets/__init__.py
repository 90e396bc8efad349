"""The packaged sample workspace (:func:`get_path`) and the seeded generator (``synth``).

Modelled on ``momepy.datasets.get_path``: the sample ships inside the package,
so ``pip install gridmap`` followed by ``gridmap map`` works in any folder.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

#: Names of the datasets shipped in the package and their files.
DATASETS = {"community": "community.gpkg"}


def get_path(name: str = "community") -> Path:
    """Return the path of a packaged dataset.

    Parameters
    ----------
    name : str
        ``"community"``: the synthetic sample community (3 zones, 26 grids,
        287 micro-grids, 3,500 households) made by ``gridmap synth``.

    Returns
    -------
    pathlib.Path
        The GeoPackage inside the installed package.

    Raises
    ------
    ValueError
        When ``name`` is not a packaged dataset.
    """
    try:
        file = DATASETS[name]
    except KeyError:
        raise ValueError(
            f"no packaged dataset {name!r}; available: {', '.join(sorted(DATASETS))}"
        ) from None
    return Path(str(resources.files("gridmap.datasets").joinpath("data", file)))


__all__ = ["DATASETS", "get_path"]
