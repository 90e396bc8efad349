"""Concurrent use: readers while writers rewrite the workspace, and two writers at once.

Everything here is a separate process: the HTTP service is the real
``gridmap serve`` (uvicorn) on a free port of 127.0.0.1, the writers are the
real ``gridmap import`` / ``gridmap assign`` command lines, and the lock holder
and library reader are small Python processes. The test process only talks
HTTP and starts processes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pyogrio
import pytest
from hardening_util import (
    GRIDMAP,
    REPO,
    file_hash,
    free_port,
    make_medium_workspace,
    medium_layers,
    workspace_state,
)

from gridmap.ingest.importer import import_layer
from gridmap.join.assign import assign_workspace
from gridmap.workspace import store as io

N_HOUSEHOLDS = 3000
ADMIN_KEY = "hardening-admin-key-not-secret"


def _households_file(path: Path, n: int, tag: str) -> Path:
    hh = medium_layers(n, seed=hash(tag) % 1000)["households"]
    hh["household_id"] = [f"{tag}{k:05d}" for k in range(len(hh))]
    pyogrio.write_dataframe(hh, path, layer="households", driver="GPKG")
    return path


@pytest.fixture(scope="module")
def medium(tmp_path_factory) -> Path:
    return make_medium_workspace(tmp_path_factory.mktemp("m") / "community.gpkg", N_HOUSEHOLDS)


@pytest.fixture
def ws(medium, tmp_path) -> Path:
    d = tmp_path / "ws"
    d.mkdir()
    path = d / "community.gpkg"
    shutil.copyfile(medium, path)
    return path


def _count(path: Path, layer: str) -> int:
    return len(pyogrio.read_dataframe(path, layer=layer, read_geometry=False))


# ------------------------------------------------------------------ HTTP readers


@pytest.fixture(scope="module")
def served(medium, tmp_path_factory):
    """``gridmap serve`` over a copy of the workspace on a free port: (base URL, workspace)."""
    tmp = tmp_path_factory.mktemp("served")
    ws = tmp / "ws" / "community.gpkg"
    ws.parent.mkdir()
    shutil.copyfile(medium, ws)
    port = free_port()
    env = {
        **os.environ,
        "GRIDMAP_RELOAD_CHECK_S": "0",  # look at the file on every request
        "GRIDMAP_API_KEYS": json.dumps(
            [{"hash": "sha256$" + hashlib.sha256(ADMIN_KEY.encode()).hexdigest(), "role": "admin"}]
        ),
    }
    env.pop("GRIDMAP_KEYS_FILE", None)
    log_path = tmp / "server.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [GRIDMAP, "serve", str(ws), "--port", str(port), "--log-level", "warning"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=tmp,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            assert proc.poll() is None, log_path.read_text(errors="replace")
            try:
                if httpx.get(base + "/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not come up in 60 s"
            time.sleep(0.1)
        yield base, ws
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


ADMIN = {"X-API-Key": ADMIN_KEY}


def _read_while(client: httpx.Client, busy, piles_ids: list[str]) -> tuple[list[int], list[str]]:
    """Hammer the service while ``busy()``: household counts seen, and every problem."""
    seen: list[int] = []
    problems: list[str] = []
    while busy() or len(seen) < 5:
        r = client.get("/collections/households/items", params={"limit": 1}, headers=ADMIN)
        if r.status_code != 200:
            problems.append(f"households {r.status_code}: {r.text[:200]}")
        else:
            seen.append(r.json()["numberMatched"])
        r = client.get("/collections/charging_piles/items", params={"limit": 100})
        if r.status_code != 200:
            problems.append(f"charging_piles {r.status_code}: {r.text[:200]}")
        else:
            feats = r.json()["features"]
            if sorted(f["properties"]["pile_id"] for f in feats) != piles_ids:
                problems.append(f"charging piles changed: {[f['id'] for f in feats]}")
            keys = {frozenset(f["properties"]) for f in feats}
            if len(keys) != 1:  # some with assigned ids, some without: a mix
                problems.append(f"mixed charging pile columns: {keys}")
        r = client.get("/healthz")
        if r.status_code != 200 or r.json().get("last_error"):
            problems.append(f"healthz {r.status_code}: {r.text[:300]}")
    return seen, problems


def _wait_until_served(client: httpx.Client, count: int) -> dict:
    deadline = time.monotonic() + 30
    while True:
        r = client.get("/collections/households/items", params={"limit": 1}, headers=ADMIN)
        if r.status_code == 200 and r.json()["numberMatched"] == count:
            return r.json()
        assert time.monotonic() < deadline, (
            f"the service never served the new state: {r.text[:300]}"
        )
        time.sleep(0.2)


def test_service_answers_old_or_new_during_imports(served, tmp_path):
    base, ws = served
    files = {"A": _households_file(tmp_path / "A.gpkg", 2500, "A")}
    files["B"] = _households_file(tmp_path / "B.gpkg", 1800, "B")
    n_b = _count(files["B"], "households")
    counts = {_count(ws, "households"), _count(files["A"], "households"), n_b}
    assert len(counts) == 3
    piles_ids = sorted(pyogrio.read_dataframe(ws, layer="charging_piles")["pile_id"])
    results: list[subprocess.CompletedProcess] = []

    def writer() -> None:  # each write is its own process
        for v in "AB":
            cmd = [GRIDMAP, "import", "households", str(files[v]), "--workspace", str(ws)]
            results.append(subprocess.run(cmd, capture_output=True, text=True))

    t = threading.Thread(target=writer)
    with httpx.Client(base_url=base, timeout=60) as client:
        t.start()
        seen, problems = _read_while(client, t.is_alive, piles_ids)
        t.join()
        _wait_until_served(client, n_b)
    for res in results:
        assert res.returncode == 0, res.stderr
    assert problems == []
    assert set(seen) <= counts, f"counts neither old nor new: {set(seen) - counts}"
    assert len(set(seen)) >= 2, "the service never saw the workspace change"


def test_service_answers_old_or_new_during_assign(served):
    base, ws = served
    piles_ids = sorted(pyogrio.read_dataframe(ws, layer="charging_piles")["pile_id"])
    n = _count(ws, "households")
    results: list[subprocess.CompletedProcess] = []

    def writer() -> None:
        results.append(subprocess.run([GRIDMAP, "assign", str(ws)], capture_output=True, text=True))

    t = threading.Thread(target=writer)
    with httpx.Client(base_url=base, timeout=60) as client:
        t.start()
        seen, problems = _read_while(client, t.is_alive, piles_ids)
        t.join()
        assert results[0].returncode == 0, results[0].stderr
        assert set(seen) == {n}
        assert problems == []
        deadline = time.monotonic() + 30
        while True:  # the assigned ids show up in the service
            r = client.get("/collections/charging_piles/items", params={"limit": 100})
            if all("microgrid_id" in f["properties"] for f in r.json()["features"]):
                break
            health = client.get("/healthz").json()
            assert not health.get("last_error"), health
            assert time.monotonic() < deadline, "the service never served the assigned ids"
            time.sleep(0.2)


# --------------------------------------------------------------- library readers

READER = textwrap.dedent(
    """
    import json, os, sys, time
    from gridmap.workspace import store as io
    path, seconds = sys.argv[1], float(sys.argv[2])
    loads, mixes, versions = 0, 0, set()
    end = time.monotonic() + seconds
    # read until the writer is done (it leaves PATH.done) and its last version was seen
    while time.monotonic() < end and not (os.path.exists(path + ".done") and "v1" in versions):
        ws = io.load_workspace(path, layers=["households", "charging_piles"])
        v = set(ws.layers["households"]["version"]) | set(ws.layers["charging_piles"]["version"])
        loads += 1
        versions |= v
        mixes += len(v) > 1
    print(json.dumps({"loads": loads, "mixes": mixes, "versions": sorted(versions)}))
    """
)

WRITER = textwrap.dedent(
    """
    import sys, time
    import geopandas as gpd
    from gridmap.workspace import store as io
    path, n = sys.argv[1], int(sys.argv[2])
    base = io.load_workspace(path)
    for k in range(n):
        v = "v%d" % (k % 2)
        hh = base.layers["households"].copy(); hh["version"] = v
        piles = base.layers["charging_piles"].copy(); piles["version"] = v
        io.write_layers(path, {"households": hh, "charging_piles": piles})
    open(path + ".done", "w").close()
    print("done")
    """
)


def test_library_readers_never_mix_layers_of_two_versions(ws):
    """load_workspace in one process while another rewrites two layers together."""
    base = io.load_workspace(ws)
    hh = base.layers["households"].copy()
    hh["version"] = "v0"
    piles = base.layers["charging_piles"].copy()
    piles["version"] = "v0"
    io.write_layers(ws, {"households": hh, "charging_piles": piles})

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(ws), "10"], stdout=subprocess.PIPE, text=True, env=env
    )
    reader = subprocess.run(
        [sys.executable, "-c", READER, str(ws), "60"], capture_output=True, text=True, env=env
    )
    out, _ = writer.communicate(timeout=120)
    assert writer.returncode == 0 and "done" in out
    assert reader.returncode == 0, reader.stderr
    got = json.loads(reader.stdout)
    assert got["mixes"] == 0, got
    assert got["loads"] >= 3, got
    assert got["versions"] == ["v0", "v1"], f"the reader never saw a rewrite: {got}"


# ------------------------------------------------------------------- two writers

HOLDER = textwrap.dedent(
    """
    import sys, time
    from gridmap.workspace import store as io
    with io.workspace_lock(sys.argv[1], timeout=5):
        print("locked", flush=True)
        time.sleep(float(sys.argv[2]))
    print("released", flush=True)
    """
)


def _hold_lock(ws: Path, seconds: float) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(ws), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_two_writers_are_serialised(ws, tmp_path):
    """Import and assign started together (both held up by a third writer) both finish,
    one after the other: the result is one of the two serial orders, never a blend."""
    hh = _households_file(tmp_path / "A.gpkg", 2000, "A")
    refs = []
    for order in (("import", "assign"), ("assign", "import")):
        ref = tmp_path / f"ref_{'_'.join(order)}.gpkg"
        shutil.copyfile(ws, ref)
        for step in order:
            if step == "import":
                import_layer(ref, "households", hh)
            else:
                assign_workspace(ref)
        refs.append(workspace_state(ref))
    assert refs[0] != refs[1]

    holder = _hold_lock(ws, 2.0)  # both writers must queue behind it
    # a loaded machine can keep one writer busy past the default 10 s wait: this test is
    # about serialisation, not about the wait, so the wait is long
    env = {**os.environ, "GRIDMAP_LOCK_TIMEOUT": "600"}
    procs = [
        subprocess.Popen(
            [GRIDMAP, "import", "households", str(hh), "--workspace", str(ws)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        ),
        subprocess.Popen(
            [GRIDMAP, "assign", str(ws)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        ),
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    holder.communicate(timeout=30)
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    io.check_sqlite(ws)
    assert workspace_state(ws) in refs


def test_second_writer_gets_workspace_busy(ws, tmp_path):
    hh = _households_file(tmp_path / "A.gpkg", 500, "A")
    before = file_hash(ws)
    holder = _hold_lock(ws, 60)
    try:
        env = {**os.environ, "GRIDMAP_LOCK_TIMEOUT": "0.5"}
        for cmd in (["import", "households", str(hh), "--workspace", str(ws)], ["assign", str(ws)]):
            proc = subprocess.run([GRIDMAP, *cmd], capture_output=True, text=True, env=env)
            assert proc.returncode == 2, proc.stderr
            assert "Traceback" not in proc.stderr
            assert "workspace is busy" in proc.stderr and ws.name in proc.stderr
            assert "try again" in proc.stderr.lower()
        assert file_hash(ws) == before
    finally:
        # a writer killed while holding the lock must not leave the workspace locked
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    proc = subprocess.run(
        [GRIDMAP, "assign", str(ws)],
        capture_output=True,
        text=True,
        env={**os.environ, "GRIDMAP_LOCK_TIMEOUT": "5"},
    )
    assert proc.returncode == 0, proc.stderr
    assert file_hash(ws) != before


def test_service_state_builds_on_an_assigned_workspace(ws):
    from gridmap.api.state import build_state

    assign_workspace(ws)
    state = build_state(ws)
    assert state.collections["households"].scope is not None
    assert len(state.collections["households"].frame) == _count(ws, "households")
