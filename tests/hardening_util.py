"""Helpers shared by the hardening tests (crash safety, concurrency, bad inputs)."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
from conftest import free_port  # noqa: F401  (re-exported for the concurrency tests)
from shapely.geometry import Point

from gridmap.workspace import store as io

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
GRIDMAP = str(VENV_BIN / "gridmap")


def load_corpus_module():
    """Import tests/data/bad/make_corpus.py (not a package) by path."""
    path = REPO / "tests" / "data" / "bad" / "make_corpus.py"
    spec = importlib.util.spec_from_file_location("gridmap_bad_corpus", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def file_hash(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def layer_hash(path: str | os.PathLike, layer: str) -> str:
    """Hash of a layer's *content* (rows in any order, columns sorted, WKB geometry).

    Independent of gridmap: read with pyogrio directly, so two files that hold
    the same table hash equal even if their bytes differ.
    """
    import pandas as pd

    df = pyogrio.read_dataframe(path, layer=layer)
    cols = sorted(c for c in df.columns if c != "geometry")
    table = pd.DataFrame({c: df[c].astype(str).where(df[c].notna(), "<NA>") for c in cols})
    if "geometry" in df:
        table["__wkb"] = [(g or b"").hex() for g in df.geometry.to_wkb()]
    row_hashes = np.sort(pd.util.hash_pandas_object(table, index=False).to_numpy())
    h = hashlib.sha256(",".join(cols).encode())
    h.update(row_hashes.tobytes())
    return h.hexdigest()


def workspace_state(path: str | os.PathLike) -> dict[str, str]:
    """Layer name -> content hash for every layer of a GeoPackage."""
    return {str(name): layer_hash(path, str(name)) for name, _ in pyogrio.list_layers(path)}


def medium_layers(n_households: int, seed: int = 8) -> dict[str, gpd.GeoDataFrame]:
    """The tiny test community with ``n_households`` extra random households.

    Large enough that writing the workspace takes a noticeable moment (so a kill
    can land mid-write), small enough to build in a second.
    """
    from conftest import tiny_layers

    layers = tiny_layers()
    rng = np.random.default_rng(seed)
    x0, y0, d = 111.47, 35.64, 0.001
    xs = rng.uniform(x0 - 0.2 * d, x0 + 4.2 * d, n_households)
    ys = rng.uniform(y0 - 0.2 * d, y0 + 2.2 * d, n_households)
    extra = gpd.GeoDataFrame(
        {
            "household_id": [f"X{k:06d}" for k in range(n_households)],
            "address": [
                f"东街{k % 50 + 1}号楼{k % 6 + 1}单元{k % 30 + 101}室" for k in range(n_households)
            ],
            "residents": rng.integers(1, 6, n_households),
            "elderly": rng.integers(0, 3, n_households),
        },
        geometry=[Point(x, y) for x, y in zip(xs, ys, strict=True)],
        crs="EPSG:4326",
    )
    hh = layers["households"]
    import pandas as pd

    layers["households"] = gpd.GeoDataFrame(
        pd.concat([hh, extra], ignore_index=True), geometry="geometry", crs="EPSG:4326"
    )
    return layers


def make_medium_workspace(path: Path, n_households: int = 20000) -> Path:
    """Write :func:`medium_layers` as a workspace at ``path``."""
    io.write_layers(path, medium_layers(n_households))
    return path


def temp_files_of(ws: Path) -> list[Path]:
    """The writer's temporary copies next to a workspace (independent of io's helper)."""
    return sorted(
        p
        for p in ws.parent.iterdir()
        if p.name.startswith(f".{ws.name}.") and ".tmp.gpkg" in p.name
    )


def run_and_kill(
    cmd: list[str],
    *,
    delay: float | None,
    ws: Path,
    after_temp: float | None = None,
    env: dict | None = None,
    timeout: float = 60.0,
) -> str:
    """Start ``cmd`` and SIGKILL it.

    With ``delay``, kill that many seconds after start. With ``after_temp``,
    wait until the writer's temporary file appears next to ``ws``, then kill
    after ``after_temp`` seconds. Returns "killed-mid-write" (the temp file was
    present at the kill), "killed" (killed before/after writing) or
    "completed" (the process exited on its own first).
    """
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    start = time.monotonic()
    try:
        if after_temp is not None:
            while proc.poll() is None and not temp_files_of(ws):
                if time.monotonic() - start > timeout:
                    raise AssertionError(f"{cmd} did not start writing within {timeout} s")
                time.sleep(0.002)
            time.sleep(after_temp)
        else:
            end = start + (delay or 0.0)
            while proc.poll() is None and time.monotonic() < end:
                time.sleep(0.002)
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace")
            assert proc.returncode == 0, f"{cmd} failed on its own (exit {proc.returncode}): {err}"
            return "completed"
        mid = bool(temp_files_of(ws))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        return "killed-mid-write" if mid else "killed"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
