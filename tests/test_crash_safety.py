"""Crash safety: SIGKILL ``gridmap assign`` / ``gridmap import`` at random moments.

Each test runs the real command line as a subprocess on a copy of the sample
workspace (3,500 households, 287 micro-grids), kills
it with SIGKILL many times -- half at a random moment of the whole run, half
at a random moment after the writer's temporary file appeared, so kills really
land mid-write -- and after every kill checks that the workspace

* passes SQLite's quick_check and pyogrio reads every layer;
* holds exactly the old content or exactly the new content of every layer, as
  a whole (never new households with old charging piles, never a half-written
  table);

and at the end that it validates with no errors beyond those of the old/new
reference, and that temporary files left by the kills neither confuse a later
run nor pile up (the next write removes them).

The loop is bounded: 8 kills per command (16 in all) (each kill costs about one run of the command).
"""

from __future__ import annotations

import random
import shutil
import subprocess
import time
from pathlib import Path

import pyogrio
import pytest
from hardening_util import (
    GRIDMAP,
    run_and_kill,
    temp_files_of,
    workspace_state,
)

from gridmap.ingest.importer import import_layer
from gridmap.join.core import assign_workspace
from gridmap.workspace import store as io

KILLS = 8


def _check_opens(ws: Path) -> None:
    """SQLite integrity; every layer is then read by workspace_state (pyogrio)."""
    io.check_sqlite(ws)
    assert "households" in io.list_layers(ws)


def _calibrate(cmd: list[str], ws: Path) -> tuple[float, float]:
    """Run ``cmd`` to completion; return (total seconds, seconds the temp file existed)."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t_temp = t_gone = None
    while proc.poll() is None:
        present = bool(temp_files_of(ws))
        if t_temp is None and present:
            t_temp = time.monotonic()
        elif t_temp is not None and t_gone is None and not present:
            t_gone = time.monotonic()
        time.sleep(0.001)
    end = time.monotonic()
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    assert proc.returncode == 0, err
    assert t_temp is not None, "the writer never made a temporary file next to the workspace"
    return end - start, (t_gone or end) - t_temp


def _validation_errors(ws: Path) -> set[tuple]:
    from gridmap.checks.validation import validate

    report = validate(ws)
    return {(f.code, f.layer, tuple(f.ids or ())) for f in report.findings if f.severity == "error"}


def _kill_loop(
    cmd: list[str],
    ws: Path,
    allowed: list[dict[str, str]],
    seed: int,
    timing: tuple[float, float],
    kills: int = KILLS,
) -> dict[str, int]:
    """Kill ``cmd`` ``kills`` times; after each, the workspace must be in one ``allowed`` state.

    ``timing`` is (seconds for a whole run, seconds the writer's temp file exists).
    """
    total, window = timing
    rng = random.Random(seed)
    outcomes = {"killed": 0, "killed-mid-write": 0, "completed": 0}
    for k in range(kills):
        if k % 2 == 0:
            outcome = run_and_kill(cmd, delay=rng.uniform(0.1 * total, 1.3 * total), ws=ws)
        else:
            outcome = run_and_kill(cmd, delay=None, after_temp=rng.uniform(0, 0.7 * window), ws=ws)
        outcomes[outcome] += 1
        _check_opens(ws)
        state = workspace_state(ws)
        assert state in allowed, (
            f"after kill {k} ({outcome}) the workspace holds a mix: "
            f"{[n for n in state if all(state[n] != a.get(n) for a in allowed)]} match no version"
        )
        # a stale temporary copy must not make the folder look like it holds two workspaces
        assert io.resolve_workspace(ws.parent) == ws
    return outcomes


def _calibrate_copy(cmd: list[str], ws: Path) -> tuple[float, float]:
    """Time ``cmd`` on a scratch copy of ``ws`` (the kill loop's workspace stays old)."""
    scratch_dir = ws.parent / "calibrate"
    scratch_dir.mkdir(exist_ok=True)
    scratch = scratch_dir / ws.name
    shutil.copyfile(ws, scratch)
    cmd2 = [str(scratch) if c == str(ws) else c for c in cmd]
    return _calibrate(cmd2, scratch)


@pytest.fixture(scope="module")
def medium(tmp_path_factory, sample_workspace) -> Path:
    """A private copy of the shipped sample workspace (3,500 households, 287 micro-grids)."""
    path = tmp_path_factory.mktemp("sample") / "community.gpkg"
    shutil.copyfile(sample_workspace, path)
    return path


def test_sigkill_during_assign_leaves_old_or_new(medium, tmp_path):
    ws_dir = tmp_path / "ws"
    ws_dir.mkdir()
    ws = ws_dir / "community.gpkg"
    shutil.copyfile(medium, ws)
    old = workspace_state(ws)
    ref = tmp_path / "ref.gpkg"
    shutil.copyfile(medium, ref)
    assign_workspace(ref)  # the reference "new" state, in process (same code as the CLI)
    new = workspace_state(ref)
    assert new["households"] != old["households"]  # assign really changes the content
    assert new["charging_piles"] != old["charging_piles"]

    cmd = [GRIDMAP, "assign", str(ws)]
    outcomes = _kill_loop(cmd, ws, [old, new], seed=8, timing=_calibrate_copy(cmd, ws))
    print("assign kill outcomes:", outcomes)
    assert outcomes["killed-mid-write"] >= 2, outcomes  # kills really landed mid-write

    # one more run completes; it removes the temporary files the kills left behind
    subprocess.run([GRIDMAP, "assign", str(ws)], check=True, capture_output=True)
    assert workspace_state(ws) == new
    assert temp_files_of(ws) == []
    assert _validation_errors(ws) <= _validation_errors(ref)


def _households_file(path: Path, source: Path, version: str) -> Path:
    """The sample's households, edited (a new column, changed counts) as a user would."""
    hh = pyogrio.read_dataframe(source, layer="households")
    hh["version"] = version
    hh["residents"] = hh["residents"] + (1 if version == "B" else 2)
    pyogrio.write_dataframe(hh, path, layer="households", driver="GPKG")
    return path


def test_sigkill_during_import_leaves_old_or_new(medium, tmp_path):
    ws_dir = tmp_path / "ws"
    ws_dir.mkdir()
    ws = ws_dir / "community.gpkg"
    shutil.copyfile(medium, ws)
    files = {v: _households_file(tmp_path / f"households_{v}.gpkg", medium, v) for v in "AB"}
    old = workspace_state(ws)
    allowed = [old]
    refs = {}
    for v, f in files.items():
        ref = tmp_path / f"ref_{v}.gpkg"
        shutil.copyfile(medium, ref)
        import_layer(ref, "households", f)  # reference state, in process (same code as the CLI)
        refs[v] = ref
        allowed.append(workspace_state(ref))
    assert allowed[1]["households"] != old["households"] != allowed[2]["households"]
    # the other layers are untouched by an import of households
    assert {k: v for k, v in allowed[1].items() if k != "households"} == {
        k: v for k, v in old.items() if k != "households"
    }

    # import A, then B, each killed KILLS/2 times: every state seen must be old, A or B
    def cmd(v: str) -> list[str]:
        return [GRIDMAP, "import", "households", str(files[v]), "--workspace", str(ws)]

    timing = _calibrate_copy(cmd("A"), ws)
    outcomes = {"killed": 0, "killed-mid-write": 0, "completed": 0}
    for i, v in enumerate("AB"):
        got = _kill_loop(cmd(v), ws, allowed, seed=80 + i, timing=timing, kills=KILLS // 2)
        for key in outcomes:
            outcomes[key] += got[key]
    print("import kill outcomes:", outcomes)
    assert outcomes["killed-mid-write"] >= 2, outcomes

    subprocess.run(
        [GRIDMAP, "import", "households", str(files["B"]), "--workspace", str(ws)],
        check=True,
        capture_output=True,
    )
    assert workspace_state(ws) == allowed[2]
    assert temp_files_of(ws) == []
    assert _validation_errors(ws) <= _validation_errors(refs["B"])


def test_stale_temp_files_are_ignored_and_cleaned(tiny_workspace):
    """Leftovers of a killed writer: a hidden temp copy with a journal, plus the lock file."""
    ws = tiny_workspace
    stale = ws.parent / f".{ws.name}.k1ll3d{io.TMP_SUFFIX}"
    shutil.copyfile(ws, stale)
    (ws.parent / (stale.name + "-journal")).write_bytes(b"\0" * 512)
    half = stale.read_bytes()
    stale.write_bytes(half[: len(half) // 2])  # killed mid-copy: a truncated temp file
    other = ws.parent / ".other.gpkg.abc.tmp.gpkg"  # another workspace's temp: not ours to delete
    other.write_bytes(b"x")
    before = workspace_state(ws)

    # readers ignore it
    assert io.resolve_workspace(ws.parent) == ws
    assert set(io.load_workspace(ws.parent).layers) == set(before)
    # the next writer removes it (it holds the lock, so no live writer owns the temp file)
    assert sorted(io.stale_temp_files(ws)) == sorted([stale, ws.parent / (stale.name + "-journal")])
    subprocess.run([GRIDMAP, "assign", str(ws)], check=True, capture_output=True)
    assert temp_files_of(ws) == []
    assert other.exists()
    assert workspace_state(ws)["grids"] == before["grids"]
