"""The Dask path must give exactly the single-machine join's answers."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from conftest import ASSIGNED_COLUMNS, free_port, points_over

from gridmap.errors import GridmapError, InputFileError
from gridmap.join.distributed import assign_dask
from gridmap.join.stream import assign_file, write_partitioned

COLS = ASSIGNED_COLUMNS


def _frame(path) -> pd.DataFrame:
    g = gpd.read_parquet(path)
    cols = ["pid", *COLS, "nearest_microgrid_m"]
    return g[cols].astype(object).where(g[cols].notna(), None).reset_index(drop=True)


def test_local_cluster_equals_single_machine(tiny_workspace, tiny_layers_dict, tmp_path):
    pts = points_over(tiny_layers_dict, 6000)
    src = write_partitioned(pts, tmp_path / "pts", rows_per_part=1500)
    single = assign_file(src, tmp_path / "single.parquet", tiny_workspace, progress=False)
    res = assign_dask(
        src, tmp_path / "dask_out", tiny_workspace, n_workers=2, processes=False, chunk_size=700
    )
    assert res.rows == single.rows == len(pts)
    nparts = -(-len(pts) // 1500)
    assert res.parts == nparts and res.workers == 2
    assert res.by_level == single.by_level
    parts = sorted((tmp_path / "dask_out").glob("part-*.parquet"))
    assert [p.name for p in parts] == [f"part-{k:05d}.parquet" for k in range(nparts)]
    pd.testing.assert_frame_equal(
        _frame(tmp_path / "dask_out"), _frame(tmp_path / "single.parquet")
    )
    # and the single-machine path equals the reference engine
    assign_file(src, tmp_path / "ref.parquet", tiny_workspace, engine="reference", progress=False)
    pd.testing.assert_frame_equal(
        _frame(tmp_path / "ref.parquet"), _frame(tmp_path / "single.parquet")
    )


def test_sample_households_on_dask(sample_copy, tmp_path):
    hh = gpd.read_file(sample_copy, layer="households")
    hh["pid"] = np.arange(len(hh))
    src = write_partitioned(hh, tmp_path / "hh", rows_per_part=1000)
    assign_file(src, tmp_path / "single.parquet", sample_copy, progress=False)
    assign_dask(src, tmp_path / "out", sample_copy, n_workers=2, processes=False)
    pd.testing.assert_frame_equal(_frame(tmp_path / "out"), _frame(tmp_path / "single.parquet"))


def test_external_scheduler_and_worker_processes(tiny_workspace, tiny_layers_dict, tmp_path):
    """A real 'dask scheduler' and 'dask worker' started as separate processes."""
    dask_bin = str(Path(sys.executable).with_name("dask"))
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [
        subprocess.Popen(
            [dask_bin, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=tmp_path,
        )
    ]
    try:
        time.sleep(2)
        procs.append(
            subprocess.Popen(
                [
                    dask_bin,
                    "worker",
                    address,
                    "--nworkers",
                    "1",
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=tmp_path,
            )
        )
        pts = points_over(tiny_layers_dict, 3000, seed=4)
        src = write_partitioned(pts, tmp_path / "pts", rows_per_part=1000)
        from distributed import Client

        with Client(address, timeout="30s") as c:
            c.wait_for_workers(1, timeout=60)
        res = assign_dask(src, tmp_path / "out", tiny_workspace, scheduler=address)
        assert res.scheduler == address and res.rows == len(pts)
        assign_file(src, tmp_path / "single.parquet", tiny_workspace, progress=False)
        pd.testing.assert_frame_equal(_frame(tmp_path / "out"), _frame(tmp_path / "single.parquet"))
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def test_unreachable_scheduler_is_a_clear_error(tiny_workspace, tiny_layers_dict, tmp_path):
    src = write_partitioned(points_over(tiny_layers_dict, 10), tmp_path / "pts", rows_per_part=10)
    port = free_port()
    with pytest.raises(GridmapError, match="cannot reach the Dask scheduler"):
        assign_dask(
            src,
            tmp_path / "out",
            tiny_workspace,
            scheduler=f"tcp://127.0.0.1:{port}",
            connect_timeout=2,
        )
    assert not (tmp_path / "out").exists()


def test_non_parquet_input_is_refused(tiny_workspace, tmp_path):
    with pytest.raises(InputFileError, match="partitioned GeoParquet"):
        assign_dask(tiny_workspace, tmp_path / "out", tiny_workspace)


def test_cli_engine_dask(tiny_workspace, tiny_layers_dict, tmp_path):
    """'gridmap assign --engine dask' with its default local cluster of worker processes."""
    import json

    gridmap = str(Path(sys.executable).with_name("gridmap"))
    pts = points_over(tiny_layers_dict, 2000, seed=7)
    src = write_partitioned(pts, tmp_path / "pts", rows_per_part=700)
    out = tmp_path / "out"
    p = subprocess.run(
        [
            gridmap,
            "assign",
            str(tiny_workspace),
            "--engine",
            "dask",
            "--points",
            str(src),
            "--out",
            str(out),
            "-f",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    doc = json.loads(p.stdout)
    assert doc["rows"] == len(pts) and doc["parts"] == 3 and doc["workers"] == 2
    assign_file(src, tmp_path / "single.parquet", tiny_workspace, progress=False)
    pd.testing.assert_frame_equal(_frame(out), _frame(tmp_path / "single.parquet"))
