"""OGC API - Features over a real uvicorn server, read by GDAL's OAPIF driver.

References are independent of the service: pyogrio reading the GeoPackage
directly, and geopandas for bbox filtering.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from api_helpers import client, get_all, running_server

from gridmap.api import Settings
from gridmap.api.state import PUBLIC_LAYERS

PAGE = 7  # small pages so paging through 'next' really happens


@pytest.fixture(scope="module")
def ws(module_sample_copy):
    return module_sample_copy


@pytest.fixture(scope="module")
def server(ws):
    with running_server(Settings(workspace=ws, default_limit=PAGE, max_limit=500)) as srv:
        yield srv


def public_layers(ws) -> list[str]:
    names = [str(n) for n, _ in pyogrio.list_layers(ws)]
    return [n for n in names if n in PUBLIC_LAYERS]


def test_landing_has_links_clients_need(server):
    base, _ = server
    with client(base) as c:
        r = c.get("/")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/json")
        rels = {link["rel"]: link["href"] for link in r.json()["links"]}
        assert {"self", "service-desc", "service-doc", "conformance", "data"} <= set(rels)
        assert rels["service-desc"] == f"{base}/api"
        assert rels["data"] == f"{base}/collections"
        conf = c.get("/conformance").json()["conformsTo"]
        for cls in ("core", "geojson", "oas30"):
            assert f"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/{cls}" in conf
        api = c.get("/api")
        assert "json" in api.headers["content-type"]
        assert "/collections/{collectionId}/items" in api.json()["paths"]
        assert c.get("/", params={"f": "json"}).status_code == 200


def test_collections_have_extents(server, ws):
    base, _ = server
    with client(base) as c:
        docs = {d["id"]: d for d in c.get("/collections").json()["collections"]}
    for name in public_layers(ws):
        ref = gpd.read_file(ws, layer=name)
        bbox = docs[name]["extent"]["spatial"]["bbox"][0]
        assert np.allclose(bbox, ref.total_bounds)
    assert "households" not in docs
    assert "grid_stats" in docs


def test_paging_returns_every_feature_once(server, ws):
    base, _ = server
    with client(base) as c:
        for name in public_layers(ws):
            ref = pyogrio.read_dataframe(ws, layer=name, read_geometry=False)
            idc = next(c for c in ref.columns if c.endswith("_id"))
            first = c.get(f"/collections/{name}/items")
            assert first.headers["content-type"].startswith("application/geo+json")
            doc = first.json()
            assert doc["numberMatched"] == len(ref)
            assert doc["numberReturned"] == min(PAGE, len(ref))
            assert "timeStamp" in doc
            feats = get_all(c, f"{base}/collections/{name}/items")
            ids = [f["id"] for f in feats]
            assert len(ids) == len(set(ids)) == len(ref)
            assert set(ids) == {str(v) for v in ref[idc]}


def test_next_prev_links_are_absolute(server):
    base, _ = server
    with client(base) as c:
        doc = c.get("/collections/microgrids/items", params={"limit": 5, "offset": 5}).json()
        links = {link["rel"]: link["href"] for link in doc["links"]}
        assert links["next"].startswith(f"{base}/collections/microgrids/items?")
        assert "offset=10" in links["next"] and "limit=5" in links["next"]
        assert "offset=0" in links["prev"]
        empty = c.get("/collections/microgrids/items", params={"offset": 10**9}).json()
        assert empty["numberReturned"] == 0 and empty["features"] == []


def test_bbox_matches_geopandas(server, ws):
    base, _ = server
    grids = gpd.read_file(ws, layer="grids")
    x0, y0, x1, y1 = grids.total_bounds
    box = (x0, y0, (x0 + x1) / 2, (y0 + y1) / 2)
    want = set(grids.loc[grids.intersects(shapely.box(*box)), "grid_id"].astype(str))
    assert 0 < len(want) < len(grids)
    with client(base) as c:
        url = f"{base}/collections/grids/items?bbox=" + ",".join(map(str, box))
        feats = get_all(c, url)
    assert {f["id"] for f in feats} == want


def test_item_by_id_and_missing(server, ws):
    base, _ = server
    grids = gpd.read_file(ws, layer="grids")
    gid = str(grids["grid_id"].iloc[3])
    with client(base) as c:
        r = c.get(f"/collections/grids/items/{gid}")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/geo+json")
        feat = r.json()
        assert feat["id"] == gid and feat["type"] == "Feature"
        got = shapely.geometry.shape(feat["geometry"])
        assert got.equals_exact(grids.geometry.iloc[3], 1e-9)
        miss = c.get("/collections/grids/items/NO-SUCH-ID")
        assert miss.status_code == 404
        assert miss.json()["error"] == "NotFoundError"
        assert c.get("/collections/nope/items").status_code == 404


GDAL_READ = """
import json, sys, pyogrio
df = pyogrio.read_dataframe(sys.argv[1], layer=sys.argv[2], PAGE_SIZE=int(sys.argv[3]))
idc = [c for c in df.columns if c.endswith("_id")][0]
print(json.dumps(sorted(str(v) for v in df[idc])))
"""


def gdal_ids(base: str, layer: str) -> list[str]:
    """Read a collection with GDAL's OAPIF driver in another process.

    (In this process GDAL would block the server thread: the test server runs
    here and pyogrio holds the interpreter while it downloads.)
    """
    out = subprocess.run(
        [sys.executable, "-c", GDAL_READ, f"OAPIF:{base}", layer, str(PAGE)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_gdal_reads_every_public_collection(server, ws):
    base, rec = server
    for name in public_layers(ws):
        ref = pyogrio.read_dataframe(ws, layer=name, read_geometry=False)
        rec.requests.clear()
        got = gdal_ids(base, name)
        idc = next(c for c in ref.columns if c.endswith("_id"))
        assert got == sorted(ref[idc].astype(str)), name
        pages = [q for p, q in rec.requests if p == f"/collections/{name}/items"]
        if len(ref) > PAGE:
            assert any("offset=" in q and "offset=0" not in q for q in pages), pages


def test_debian_ogrinfo_counts_features(server, ws):
    base, _ = server
    for name in public_layers(ws):
        n = len(pyogrio.read_dataframe(ws, layer=name, read_geometry=False))
        out = subprocess.run(
            ["ogrinfo", "-ro", "-so", f"OAPIF:{base}", name, "-oo", f"PAGE_SIZE={PAGE}"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        assert int(re.search(r"Feature Count: (\d+)", out.stdout).group(1)) == n
    # a full read pages through next links: count the features it prints
    out = subprocess.run(
        ["ogrinfo", "-ro", "-q", f"OAPIF:{base}", "microgrids", "-oo", f"PAGE_SIZE={PAGE}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    n = len(pyogrio.read_dataframe(ws, layer="microgrids", read_geometry=False))
    assert out.stdout.count("OGRFeature(microgrids)") == n


def test_api_document_is_valid_openapi_30(server):
    import schemathesis

    base, _ = server
    with client(base) as c:
        doc = c.get("/api").json()
        doc31 = c.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.0.") and doc31["openapi"].startswith("3.1.")
    schemathesis.openapi.from_dict(doc).validate()  # OpenAPI 3.0 meta-schema
    schemathesis.openapi.from_dict(doc31).validate()
    text = json.dumps(doc)
    assert '"type": "null"' not in text
    items = doc["paths"]["/collections/{collectionId}/items"]["get"]["parameters"]
    limit = next(p for p in items if p["name"] == "limit")
    assert limit["schema"]["type"] == "integer" and limit["schema"].get("nullable")


def test_gdal_sends_a_staff_key_header(tmp_path):
    from api_helpers import KEYS, write_keys
    from conftest import tiny_layers

    from gridmap.workspace import store as io

    path = tmp_path / "tiny.gpkg"
    io.write_layers(path, tiny_layers())
    keys = write_keys(tmp_path / "keys.toml", ["G1"], ["G2"])
    with running_server(Settings(workspace=path, keys_file=keys)) as (base, _):
        src = f"OAPIF:{base}"

        def count(*extra):
            cmd = ["ogrinfo", "-ro", "-so", *extra, src, "households", "-oo", "PAGE_SIZE=2"]
            return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

        anon = count()
        assert anon.returncode != 0  # households are not listed without a key
        staff = count("--config", "GDAL_HTTP_HEADERS", f"X-API-Key: {KEYS['staff1']}")
        assert staff.returncode == 0, staff.stderr
        assert "Feature Count: 3" in staff.stdout  # H1-H3 lie in G1


def test_a_stored_nan_point_never_makes_items_answer_500(tmp_path, sample_workspace):
    """A NaN coordinate that got into the workspace (a QGIS edit, an old import) is served
    as a null geometry: every page of households answers 200, so QGIS can page through."""
    from api_helpers import write_keys

    path = tmp_path / "nan.gpkg"
    shutil.copyfile(sample_workspace, path)
    hh = gpd.read_file(path, layer="households")
    bad_id = str(hh["household_id"].iloc[3])
    geoms = hh.geometry.values.copy()
    geoms[3] = shapely.Point(float("nan"), 35.64)
    hh = hh.set_geometry(gpd.GeoSeries(geoms, crs=hh.crs))
    pyogrio.write_dataframe(hh, path, layer="households", driver="GPKG")
    keys = write_keys(tmp_path / "keys.toml", ["G01"], ["G02"])
    settings = Settings(workspace=path, keys_file=keys, default_limit=500, max_limit=500)
    with running_server(settings) as (base, _):
        with client(base, "admin") as c:
            feats = get_all(c, "/collections/households/items")
            one = c.get(f"/collections/households/items/{bad_id}")
    assert one.status_code == 200, one.text
    assert one.json()["geometry"] is None
    by_id = {f["id"]: f for f in feats}
    assert len(feats) == len(hh) and by_id[bad_id]["geometry"] is None
    assert all(f["geometry"]["type"] == "Point" for f in feats if f["id"] != bad_id)
