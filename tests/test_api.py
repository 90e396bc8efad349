"""The HTTP service over a real uvicorn server: errors, limits, endpoints, reload, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import httpx
import pytest
from api_helpers import KEYS, client, free_port, running_server, write_keys
from conftest import tiny_layers

from gridmap.api import Settings
from gridmap.api.auth import KeyFileError, KeyStore, hash_key, verify_key
from gridmap.errors import GridmapError
from gridmap.workspace import store as io

MAX = 50


@pytest.fixture(scope="module")
def ws(module_sample_copy):
    return module_sample_copy


@pytest.fixture(scope="module")
def server(ws, tmp_path_factory):
    keys = write_keys(tmp_path_factory.mktemp("k") / "keys.toml", ["G01"], ["G02"])
    with running_server(Settings(workspace=ws, keys_file=keys, max_limit=MAX)) as (base, _):
        yield base


# ------------------------------------------------------------------ keys, settings
def test_hash_and_verify():
    key = "gm_1a2b3c4d_" + "s" * 40
    h = hash_key(key)
    assert h.startswith("sha256$1a2b3c4d$") and key not in h
    assert verify_key(key, h) and not verify_key(key[:-1] + "t", h)
    assert hash_key(key) == hash_key(key)  # a random key needs no salt
    import hashlib

    plain = "a-long-random-key-without-an-id"
    assert verify_key(plain, "sha256$" + hashlib.sha256(plain.encode()).hexdigest())
    assert not verify_key(plain, "sha256$zz") and not verify_key(plain, "md5$abc")
    hm = hash_key(key, secret="server-secret")
    assert hm.startswith("hmac-sha256$1a2b3c4d$") and hm != h
    assert verify_key(key, hm, secret="server-secret") and not verify_key(key, hm)
    with pytest.raises(GridmapError):
        hash_key("short-password")  # keys are random secrets, not passwords


def test_keys_from_env(monkeypatch, tmp_path):
    entries = [{"hash": hash_key("e1" * 12), "role": "staff", "grids": ["G3"], "name": "env"}]
    monkeypatch.setenv("GRIDMAP_API_KEYS", json.dumps(entries))
    monkeypatch.setenv("GRIDMAP_MAX_LIMIT", "77")
    s = Settings()
    assert s.max_limit == 77
    store = KeyStore.from_settings(s.keys_file, s.api_keys)
    p = store.authenticate("e1" * 12)
    assert p.role == "staff" and p.grids == {"G3"}
    assert store.authenticate(None).role == "public"


def test_staff_grids_in_a_key_file_are_trimmed_text(tmp_path):
    """grids = [" G01 ", 7] (a stray space, a bare number) still scope to G01 and 7."""
    keys = tmp_path / "keys.toml"
    keys.write_text(
        f'[[keys]]\nhash = "{hash_key("k" * 20)}"\nrole = "staff"\ngrids = [" G01 ", 7]\n',
        encoding="utf-8",
    )
    assert KeyStore.from_file(keys).authenticate("k" * 20).grids == {"G01", "7"}


@pytest.mark.parametrize(
    "text,problem",
    [
        ('[[keys]]\nkey = "plain"\nrole = "admin"\n', "hash"),
        (f'[[keys]]\nhash = "sha256${"0" * 64}"\nrole = "boss"\n', "role"),
        (f'[[keys]]\nhash = "sha256${"0" * 64}"\nrole = "staff"\n', "grids"),
        ('[[keys]]\nhash = "sha256$00"\nrole = "admin"\n', "hash"),
        ('[[keys]]\nhash = "scrypt$16384$8$1$00$00"\nrole = "admin"\n', "scrypt"),
        ("[[keys]\n", "TOML"),
    ],
)
def test_bad_key_file_is_named(tmp_path, text, problem):
    f = tmp_path / "keys.toml"
    f.write_text(text)
    with pytest.raises(KeyFileError) as err:
        KeyStore.from_file(f)
    assert problem in str(err.value) and "keys.toml" in str(err.value)


# ------------------------------------------------------------------ errors and limits
@pytest.mark.parametrize(
    "url,param",
    [
        ("/collections/grids/items?limit=0", "limit"),
        ("/collections/grids/items?limit=abc", "limit"),
        ("/collections/grids/items?offset=-1", "offset"),
        ("/collections/grids/items?bbox=1,2,3", "bbox"),
        ("/collections/grids/items?bbox=3,2,1,0", "bbox"),
        ("/collections/grids/items?bbox=0,0,1,100", "bbox"),
        ("/collections/grids/items?f=xml", "f="),
        ("/locate", "lon"),
        ("/locate?lon=111.4", "lon"),
        ("/locate?q=西南街1号楼&lon=111.4&lat=35.6", "not both"),
        ("/coverage?facility=service_stations&radius=-5", "radius"),
        ("/coverage?facility=service_stations&level=city", "level"),
    ],
)
def test_bad_parameters_get_422_naming_them(server, url, param):
    with client(server) as c:
        r = c.get(url)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] in ("InvalidParameter", "BadParameterError", "AddressError")
    assert param in body["message"]
    assert "--" not in body["message"], "the API names its parameters, not CLI flags"


def test_huge_limit_is_capped(server, ws):
    n = len(gpd.read_file(ws, layer="microgrids"))
    with client(server) as c:
        doc = c.get("/collections/microgrids/items", params={"limit": 10**12}).json()
    assert doc["numberMatched"] == n and doc["numberReturned"] == MAX
    nxt = next(link["href"] for link in doc["links"] if link["rel"] == "next")
    assert f"limit={MAX}" in nxt


def test_error_bodies_are_json(server):
    with client(server) as c:
        r = c.get("/collections/roadz")
        assert r.status_code == 404
        # the unknown name is not echoed (it is whatever was typed into the URL)
        assert r.json()["error"] == "LayerNotFoundError" and "roadz" not in r.text
        r = c.get("/no/such/path")
        assert r.status_code == 404 and r.json()["error"] == "NotFound"
        r = c.delete("/collections")
        assert r.status_code == 405 and r.json()["error"] == "MethodNotAllowed"


def test_healthz_and_docs(server):
    with client(server) as c:
        h = c.get("/healthz").json()
        assert h["status"] == "ok" and h["workspace"] == "community.gpkg"
        assert c.get("/docs").status_code == 200
        spec = c.get("/openapi.json").json()
        params = spec["paths"]["/locate"]["get"]["parameters"]
        assert any(p.get("examples") or p.get("schema", {}).get("examples") for p in params)


# ------------------------------------------------------------------ endpoints
def test_locate_coordinates_match_shapely(server, ws):
    micro = gpd.read_file(ws, layer="microgrids")
    with client(server) as c:
        for _, row in micro.sample(15, random_state=3).iterrows():
            p = row.geometry.representative_point()
            a = c.get("/locate", params={"lon": p.x, "lat": p.y}).json()
            owners = sorted(micro.loc[micro.covers(p), "microgrid_id"].astype(str))
            assert a["microgrid_id"] == owners[0]
            assert a["names"]["microgrid"] == row["name"]
        far = c.get("/locate", params={"lon": 100.0, "lat": 20.0}).json()
        assert far["grid_id"] is None and far["microgrid_id"] is None


def test_locate_gcj02_input(server, ws):
    from gridmap.coords.crs import wgs84_to_gcj02

    micro = gpd.read_file(ws, layer="microgrids")
    p = micro.geometry.iloc[10].representative_point()
    gx, gy = wgs84_to_gcj02(p.x, p.y)
    with client(server) as c:
        a = c.get("/locate", params={"lon": float(gx), "lat": float(gy), "crs": "gcj02"}).json()
        b = c.get("/locate", params={"lon": float(gx), "lat": float(gy)}).json()
    assert a["microgrid_id"] == str(micro["microgrid_id"].iloc[10])
    assert b["microgrid_id"] != a["microgrid_id"]  # 300-600 m off when the CRS is ignored


def test_coverage_is_the_library_answer(server, ws):
    from gridmap.analysis.coverage import compute_coverage

    ref = compute_coverage(io.load_workspace(ws), "service_stations", 500.0).to_json()
    with client(server) as c:
        r = c.get("/coverage", params={"facility": "service_stations", "radius": 500})
        assert r.status_code == 200
        got = r.json()
        z = c.get(
            "/coverage", params={"facility": "service_stations", "radius": 500, "level": "zone"}
        )
        assert c.get("/coverage", params={"facility": "nope"}).status_code in (404, 422)
    for k in ("facility", "radius_m", "distance", "households", "covered", "share"):
        assert got[k] == ref[k]
    assert got["by_grid"] == ref["by_grid"]
    assert z.json()["by_level"] == ref["by_level"]["zone"]


def test_map_is_cached_and_personal_needs_admin(server):
    with client(server) as c:
        r = c.get("/maps/overview.html")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert "<html" in r.text.lower() and "cdn.jsdelivr" not in r.text
        etag = r.headers["etag"]
        again = c.get("/maps/overview.html", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert c.get("/maps/nonexistent.html").status_code == 404
        assert c.get("/maps/overview.html", params={"personal": "true"}).status_code == 401
        names = [m["name"] for m in c.get("/maps").json()["maps"]]
        assert "overview" in names and len(names) > 1
        assert c.get(f"/maps/{names[1]}.html").status_code == 200
    with client(server, "staff1") as c:
        assert c.get("/maps/overview.html", params={"personal": "true"}).status_code == 403
    with client(server, "admin") as c:
        r = c.get("/maps/overview.html", params={"personal": "true", "lang": "en"})
        assert r.status_code == 200 and r.headers["etag"] != etag


# ------------------------------------------------------------------ reload
def _grid_name(c: httpx.Client, gid: str) -> str:
    return c.get(f"/collections/grids/items/{gid}").json()["properties"]["name"]


def test_workspace_change_is_picked_up(tmp_path):
    path = tmp_path / "tiny.gpkg"
    io.write_layers(path, tiny_layers())
    with running_server(Settings(workspace=path, reload_check_s=0)) as (base, _):
        with client(base) as c:
            assert _grid_name(c, "G1") == "一网格"
            etag = c.get("/maps/overview.html").headers.get("etag")
            grids = io.read_layer(path, "grids")
            grids.loc[grids["grid_id"] == "G1", "name"] = "新一网格"
            io.write_layers(path, {"grids": grids})  # atomic replace while serving
            assert _grid_name(c, "G1") == "新一网格"
            assert c.get("/maps/overview.html").headers["etag"] != etag
            # a broken file: keep serving the last good copy, say so in /healthz
            good = path.read_bytes()
            tmp = tmp_path / "broken.gpkg"
            tmp.write_bytes(b"not a geopackage" * 100)
            os.replace(tmp, path)
            assert _grid_name(c, "G1") == "新一网格"
            h = c.get("/healthz").json()
            assert h["status"] == "degraded" and "last good copy" in h["last_error"]
            tmp.write_bytes(good)
            os.replace(tmp, path)
            assert _grid_name(c, "G1") == "新一网格"
            assert c.get("/healthz").json()["status"] == "ok"


def test_admin_reload_endpoint(tmp_path):
    path = tmp_path / "tiny.gpkg"
    io.write_layers(path, tiny_layers())
    keys = write_keys(tmp_path / "keys.toml", ["G1"], ["G2"])
    settings = Settings(workspace=path, keys_file=keys, reload_check_s=3600)
    with running_server(settings) as (base, _):
        with client(base, "admin") as c:
            grids = io.read_layer(path, "grids")
            grids.loc[grids["grid_id"] == "G2", "name"] = "改名"
            io.write_layers(path, {"grids": grids})
            assert _grid_name(c, "G2") == "二网格"  # not checked for an hour
            assert c.post("/admin/reload").status_code == 200
            assert _grid_name(c, "G2") == "改名"


# ------------------------------------------------------------------ the CLI
def test_gridmap_serve_command(tmp_path):
    path = tmp_path / "tiny.gpkg"
    io.write_layers(path, tiny_layers())
    keys = write_keys(tmp_path / "keys.toml", ["G1"], ["G2"])
    port = free_port()
    exe = Path(sys.executable).with_name("gridmap")
    cmd = [str(exe), "serve", str(path), "--port", str(port), "--keys", str(keys)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "gridmap serve did not start"
            time.sleep(0.2)
        h = {"X-API-Key": KEYS["staff1"]}
        r = httpx.get(f"{base}/collections/households/items", headers=h, timeout=30)
        assert r.status_code == 200
        assert {f["id"] for f in r.json()["features"]} == {"H1", "H2", "H3"}
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_gridmap_serve_rejects_bad_key_file(tmp_path):
    path = tmp_path / "tiny.gpkg"
    io.write_layers(path, tiny_layers())
    (tmp_path / "keys.toml").write_text('[[keys]]\nkey = "plain"\n')
    exe = Path(sys.executable).with_name("gridmap")
    out = subprocess.run(
        [str(exe), "serve", str(path), "--keys", str(tmp_path / "keys.toml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "keys.toml" in out.stderr and "hash" in out.stderr


def test_make_key_command_prints_a_usable_entry(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "gridmap.api.auth",
            "--role",
            "staff",
            "--grids",
            "G1",
            "--name",
            "网格员",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    key = out.stderr.strip().rsplit(" ", 1)[-1]
    assert key not in out.stdout  # only the hash is written to the file
    f = tmp_path / "keys.toml"
    f.write_text(out.stdout, encoding="utf-8")
    p = KeyStore.from_file(f).authenticate(key)
    assert p.role == "staff" and p.grids == {"G1"} and p.name == "网格员"


def test_reload_under_concurrent_requests(tmp_path):
    """Requests racing with workspace rewrites all succeed and see a whole version."""
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "tiny.gpkg"
    io.write_layers(path, tiny_layers())
    names = ["一网格", "v1", "v2", "v3"]
    with running_server(Settings(workspace=path, reload_check_s=0)) as (base, _):

        def hammer(_):
            seen = []
            with client(base) as c:
                for _ in range(25):
                    r = c.get("/collections/grids/items", params={"limit": 10})
                    assert r.status_code == 200, r.text
                    feats = {f["id"]: f["properties"]["name"] for f in r.json()["features"]}
                    assert len(feats) == 4
                    seen.append(feats["G1"])
            return seen

        with ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(hammer, i) for i in range(6)]
            for name in names[1:]:
                grids = io.read_layer(path, "grids")
                grids.loc[grids["grid_id"] == "G1", "name"] = name
                io.write_layers(path, {"grids": grids})
                time.sleep(0.2)
            seen = [n for f in futures for n in f.result()]
        assert set(seen) <= set(names)
        with client(base) as c:
            assert _grid_name(c, "G1") == "v3"


def test_unknown_layers_are_admin_only(tmp_path):
    layers = tiny_layers()
    extra = layers["households"][["household_id", "head_name", "geometry"]].rename(
        columns={"household_id": "volunteer_id"}
    )
    layers["volunteers"] = extra
    path = tmp_path / "tiny.gpkg"
    io.write_layers(path, layers)
    keys = write_keys(tmp_path / "keys.toml", ["G1"], ["G2"])
    with running_server(Settings(workspace=path, keys_file=keys)) as (base, _):
        with client(base) as c:
            ids = {d["id"] for d in c.get("/collections").json()["collections"]}
            assert "volunteers" not in ids
            assert c.get("/collections/volunteers/items").status_code == 401
        with client(base, "staff1") as c:
            assert c.get("/collections/volunteers/items").status_code == 403
        with client(base, "admin") as c:
            doc = c.get("/collections/volunteers/items").json()
            assert doc["numberMatched"] == 6
            assert doc["features"][0]["properties"]["head_name"] == "赵一"


def test_gridmap_serve_refuses_a_broken_workspace(tmp_path):
    bad = tmp_path / "broken.gpkg"
    bad.write_bytes(b"not a geopackage" * 10)
    exe = Path(sys.executable).with_name("gridmap")
    out = subprocess.run(
        [str(exe), "serve", str(bad), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "broken.gpkg" in out.stderr and "Traceback" not in out.stderr


def test_gridmap_serve_says_when_the_port_is_taken(tmp_path):
    import socket

    path = tmp_path / "tiny.gpkg"
    io.write_layers(path, tiny_layers())
    exe = Path(sys.executable).with_name("gridmap")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run(
            [str(exe), "serve", str(path), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 2
    assert f"127.0.0.1:{port}" in out.stderr and "--port" in out.stderr
    assert "Traceback" not in out.stderr and "Started server" not in out.stderr
