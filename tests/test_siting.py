"""Maximal covering location: exact ILP equals exhaustive search; greedy bounds hold."""

from __future__ import annotations

import itertools
import math

import geopandas as gpd
import numpy as np
import pytest
import shapely
from conftest import tiny_layers
from test_coverage import UTM49, random_layers

from gridmap.analysis.siting import greedy_mclp, ilp_mclp, propose_sites
from gridmap.errors import SchemaError
from gridmap.workspace import store as io


def _instance(tmp_path, seed: int, n_cand: int = 9):
    rng = np.random.default_rng(seed)
    layers = random_layers(seed, n_hh=250, n_fac=2)
    path = tmp_path / f"s{seed}.gpkg"
    io.write_layers(path, layers)
    cx = rng.uniform(111.47, 111.4832, n_cand)
    cy = rng.uniform(35.64, 35.6472, n_cand)
    cand = gpd.GeoDataFrame(
        {"site_id": [f"C{i}" for i in range(n_cand)]},
        geometry=shapely.points(cx, cy),
        crs="EPSG:4326",
    )
    return layers, path, cand


def _brute(layers, cand, radius, k, weight="households"):
    h = layers["households"].to_crs(UTM49)
    hx, hy = h.geometry.x.to_numpy(), h.geometry.y.to_numpy()
    f = layers["service_stations"].to_crs(UTM49)
    c = cand.to_crs(UTM49)
    d_exist = np.hypot(
        hx[:, None] - f.geometry.x.to_numpy()[None, :],
        hy[:, None] - f.geometry.y.to_numpy()[None, :],
    ).min(axis=1)
    open_ = d_exist > radius
    cover = (
        np.hypot(
            hx[:, None] - c.geometry.x.to_numpy()[None, :],
            hy[:, None] - c.geometry.y.to_numpy()[None, :],
        )
        <= radius
    )
    w = np.ones(len(h)) if weight == "households" else h[weight].to_numpy(dtype=float)
    best = 0.0
    for combo in itertools.combinations(range(len(cand)), k):
        covered = cover[:, list(combo)].any(axis=1) & open_
        best = max(best, float(w[covered].sum()))
    return best, int((~open_).sum())


@pytest.mark.parametrize("seed", [11, 12, 13])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_ilp_equals_exhaustive_search(tmp_path, seed, k):
    layers, path, cand = _instance(tmp_path, seed)
    ws = io.load_workspace(path)
    sites = propose_sites(ws, "service_stations", k, 180.0, cand, distance="euclidean")
    best, already = _brute(layers, cand, 180.0, k)
    assert sites.attrs["method"].startswith("ilp")
    assert sites.attrs["gap"] == 0.0
    assert sites.attrs["value"] == pytest.approx(best)
    assert sites.attrs["already_covered"] == already
    assert sites["newly_covered"].sum() == pytest.approx(best)
    assert (np.diff(sites["newly_covered"].to_numpy()) <= 1e-9).all()  # ranked by gain
    # greedy: within the (1 - 1/e) guarantee and its bound is a true upper bound
    g = propose_sites(ws, "service_stations", k, 180.0, cand, distance="euclidean", method="greedy")
    assert g.attrs["method"] == "greedy"
    assert g.attrs["value"] >= (1 - 1 / math.e) * best - 1e-9
    assert g.attrs["bound"] >= best - 1e-9
    assert g.attrs["value"] <= best + 1e-9


def test_residents_weight_equals_exhaustive(tmp_path):
    layers, path, cand = _instance(tmp_path, 21)
    sites = propose_sites(
        io.load_workspace(path),
        "service_stations",
        2,
        200.0,
        cand,
        weight="residents",
        distance="euclidean",
    )
    best, _ = _brute(layers, cand, 200.0, 2, weight="residents")
    assert sites.attrs["value"] == pytest.approx(best)


def test_greedy_suboptimal_instance_bound_and_ilp():
    # sites A=0 {e1,e2,e3,e4}, B=1 {e1,e2,e5}, C=2 {e3,e4,e6}; k=2.
    # greedy takes A first (4) and ends at 5; the optimum B+C covers all 6.
    groups = [np.array(g) for g in ([0, 1], [0, 1], [0, 2], [0, 2], [1], [2])]
    weights = np.ones(6)
    sol = greedy_mclp(groups, weights, 3, 2)
    assert sol.value == 5.0 and sol.chosen[0] == 0
    assert sol.bound >= 6.0 and sol.gap > 0
    exact = ilp_mclp(groups, weights, 3, 2)
    assert exact is not None and exact.value == 6.0 and sorted(exact.chosen) == [1, 2]


def test_grid_centroids_and_edge_cases(tiny_workspace):
    ws = io.load_workspace(tiny_workspace)
    s = propose_sites(ws, "service_stations", 10, 60.0, "grid_centroids", distance="euclidean")
    assert len(s) <= 4
    assert any("only 4 candidate sites" in n for n in s.attrs["notes"])
    assert s.crs.to_epsg() == 4326
    assert s["candidate"].str.startswith("grid ").all()
    with pytest.raises(SchemaError):
        propose_sites(ws, "service_stations", 1, weight="income")
    with pytest.raises(SchemaError):
        propose_sites(ws, "service_stations", 1, candidates="rooftops")
    # everything already covered: nothing to propose, said so
    s = propose_sites(ws, "service_stations", 1, 5000.0, distance="euclidean")
    assert len(s) == 0 and any("already within" in n for n in s.attrs["notes"])


def test_street_nodes_need_roads(tmp_path):
    layers = tiny_layers()
    path = tmp_path / "t.gpkg"
    io.write_layers(path, layers)
    from gridmap.errors import LayerNotFoundError

    with pytest.raises(LayerNotFoundError):
        propose_sites(io.load_workspace(path), "service_stations", 1, candidates="street_nodes")


def test_network_siting_equals_exhaustive_with_networkx_distances(tmp_path):
    """Walking-distance MCLP against exhaustive search over networkx reference distances."""
    import pyproj
    from shapely.geometry import LineString, box
    from test_network import lattice_roads, reference_distances

    rng = np.random.default_rng(4)
    x0, y0 = 540_000.0, 3_944_000.0  # UTM 49N near 111.44 E, 35.64 N
    lines = [shapely.affinity.translate(g, x0, y0) for g in lattice_roads(4, 100.0)]
    hh = shapely.points(x0 + rng.uniform(-10, 310, 80), y0 + rng.uniform(-10, 310, 80))
    cand = shapely.points(x0 + rng.uniform(0, 300, 6), y0 + rng.uniform(0, 300, 6))
    existing = shapely.points([[x0 + 5, y0 + 5]])
    to_wgs = pyproj.Transformer.from_crs(UTM49, "EPSG:4326", always_xy=True)

    def wgs(geoms):
        return shapely.transform(
            geoms, lambda c: np.column_stack(to_wgs.transform(c[:, 0], c[:, 1]))
        )

    layers = {
        "grids": gpd.GeoDataFrame(
            {"grid_id": ["G1"], "name": ["一"]},
            geometry=wgs(np.array([box(x0 - 50, y0 - 50, x0 + 350, y0 + 350)])),
            crs="EPSG:4326",
        ),
        "households": gpd.GeoDataFrame(
            {"household_id": [f"H{i}" for i in range(80)]}, geometry=wgs(hh), crs="EPSG:4326"
        ),
        "service_stations": gpd.GeoDataFrame(
            {"station_id": ["S0"], "name": ["驿站"]}, geometry=wgs(existing), crs="EPSG:4326"
        ),
        "roads": gpd.GeoDataFrame(
            {"road_id": [f"R{i}" for i in range(len(lines))]},
            geometry=wgs(np.array(lines, dtype=object)),
            crs="EPSG:4326",
        ),
    }
    path = tmp_path / "n.gpkg"
    io.write_layers(path, layers)
    cand_gdf = gpd.GeoDataFrame(
        {"site_id": [f"C{i}" for i in range(6)]}, geometry=wgs(cand), crs="EPSG:4326"
    )
    radius = 150.0
    sites = propose_sites(io.load_workspace(path), "service_stations", 2, radius, cand_gdf)
    assert sites.attrs["distance"] == "network"
    lines_l = [LineString(g) for g in lines]
    d_exist = reference_distances(lines_l, hh, existing)
    open_ = d_exist > radius
    cover = np.stack(
        [reference_distances(lines_l, hh, cand[[j]]) <= radius for j in range(6)], axis=1
    )
    best = max(
        int((cover[:, list(c)].any(axis=1) & open_).sum())
        for c in itertools.combinations(range(6), 2)
    )
    assert 0 < best < open_.sum() and (~open_).sum() > 0  # a non-trivial instance
    assert sites.attrs["already_covered"] == int((~open_).sum())
    assert sites.attrs["value"] == pytest.approx(best)
    assert sites.attrs["gap"] == 0.0


def test_candidate_layer_of_the_workspace_by_name(tmp_path):
    """--candidates LAYER: a candidate layer stored in the workspace, same answer as exhaustive."""
    import json
    import subprocess
    import sys

    layers, path, cand = _instance(tmp_path, 14)
    layers["candidate_sites"] = cand
    path = tmp_path / "with_candidates.gpkg"
    io.write_layers(path, layers)
    ws = io.load_workspace(path)
    sites = propose_sites(ws, "service_stations", 2, 180.0, "candidate_sites", distance="euclidean")
    best, _ = _brute(layers, cand, 180.0, 2)
    assert sites.attrs["value"] == pytest.approx(best)
    assert set(sites["candidate"]) <= set(cand["site_id"])
    proc = subprocess.run(
        [sys.executable, "-m", "gridmap", "coverage", str(path), "--facility",
         "service_stations", "--radius", "180", "--distance", "euclidean", "--propose", "2",
         "--candidates", "candidate_sites", "--format", "json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)["proposed_sites"]
    assert doc["value"] == pytest.approx(best)
    assert {s["candidate"] for s in doc["sites"]} == set(sites["candidate"])
    with pytest.raises(SchemaError, match="point layer of the workspace"):
        propose_sites(ws, "service_stations", 1, 180.0, "no_such_layer", distance="euclidean")
