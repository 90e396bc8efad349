"""Crash safety: ``gridmap assign`` / ``gridmap import`` killed with SIGKILL at named steps.

The kill points come from fault injection, not from timing: with
``$GRIDMAP_CRASH_AT`` set to a step name, the writer SIGKILLs itself exactly
there (:func:`gridmap.workspace.sqlite.crash_point`). Each test runs the real
command line as a subprocess on a copy of the sample workspace (3,500
households, 287 micro-grids) and, after every kill, checks that the workspace

* passes SQLite's quick_check and pyogrio reads every layer;
* holds exactly the old content or exactly the new content of every layer, as
  a whole (never new households with old charging piles, never a half-written
  table) -- and which one is fixed by the step: old before the commit (or the
  rename), new after it;

and at the end that it validates with no errors beyond those of the old/new
reference, and that what the kills left behind (a temporary copy, a SQLite
journal) neither confuses a later run nor piles up.

Steps. ``assign`` updates its columns in place, in one SQLite transaction:
``update-mid`` (the first layer updated, changed pages already spilled into the
file, not committed) and ``update-committed`` (after the commit, before the
process would close the file and release its lock). ``import`` replaces a
whole layer by copy-and-rename: ``temp-partial`` (temporary copy made, the new
layer not yet in it), ``temp-complete`` (temporary file written and flushed,
not yet renamed) and ``replaced`` (renamed over the workspace, lock not yet
released).

No timing and no randomness: the same steps are hit on an idle or a loaded
machine.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
from pathlib import Path

import pyogrio
import pytest
from hardening_util import GRIDMAP, file_hash, temp_files_of, workspace_state

from gridmap.ingest.importer import import_layer
from gridmap.join.assign import assign_workspace
from gridmap.workspace import sqlite as gsql
from gridmap.workspace import store as io


def _run_until_crash(cmd: list[str], step: str) -> None:
    """Run ``cmd`` with the writer told to SIGKILL itself at ``step``; it must die there."""
    env = {**os.environ, gsql.CRASH_ENV: step}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == -signal.SIGKILL, (
        f"{step}: the writer did not reach the kill point (exit {proc.returncode}): {proc.stderr}"
    )


def _check_opens(ws: Path) -> None:
    """What any SQLite client does first (a read-write open rolls a hot journal back), then
    SQLite's integrity check on a read-only connection; every layer is then read by
    workspace_state (pyogrio)."""
    con = sqlite3.connect(ws)  # plain SQLite, as QGIS opens a GeoPackage: not gridmap code
    try:
        assert con.execute("PRAGMA quick_check").fetchone() == ("ok",)
    finally:
        con.close()
    assert not Path(str(ws) + "-journal").exists() or Path(str(ws) + "-journal").stat().st_size == 0
    io.check_sqlite(ws)
    assert "households" in io.list_layers(ws)


def _validation_errors(ws: Path) -> set[tuple]:
    from gridmap.checks.validation import validate

    report = validate(ws)
    return {(f.code, f.layer, tuple(f.ids or ())) for f in report.findings if f.severity == "error"}


@pytest.fixture(scope="module")
def medium(tmp_path_factory, sample_workspace) -> Path:
    """A private copy of the shipped sample workspace (3,500 households, 287 micro-grids)."""
    path = tmp_path_factory.mktemp("sample") / "community.gpkg"
    shutil.copyfile(sample_workspace, path)
    return path


@pytest.fixture(scope="module")
def assign_states(medium, tmp_path_factory):
    """(old, new, reference file) for assign on the sample."""
    old = workspace_state(medium)
    ref = tmp_path_factory.mktemp("ref") / "ref.gpkg"
    shutil.copyfile(medium, ref)
    assign_workspace(ref)  # the reference "new" state, in process (same code as the CLI)
    new = workspace_state(ref)
    assert new["households"] != old["households"]  # assign really changes the content
    assert new["charging_piles"] != old["charging_piles"]
    return old, new, ref


@pytest.mark.parametrize(("step", "expect"), [("update-mid", "old"), ("update-committed", "new")])
def test_sigkill_during_assign_leaves_old_or_new(medium, assign_states, tmp_path, step, expect):
    old, new, ref = assign_states
    ws_dir = tmp_path / "ws"
    ws_dir.mkdir()
    ws = ws_dir / "community.gpkg"
    shutil.copyfile(medium, ws)
    original = file_hash(ws)

    _run_until_crash([GRIDMAP, "assign", str(ws)], step)
    journal = Path(str(ws) + "-journal")
    if step == "update-mid":
        # the kill really landed mid-write: the file holds uncommitted pages and the
        # journal that undoes them
        assert journal.exists() and journal.stat().st_size > 0
        assert file_hash(ws) != original
    _check_opens(ws)
    state = workspace_state(ws)
    assert state == (old if expect == "old" else new), (
        f"after a kill at {step} the workspace holds a mix: "
        f"{[n for n in state if state[n] != (old if expect == 'old' else new).get(n)]}"
    )
    if expect == "old":
        assert file_hash(ws) == original  # rolled back to the very same bytes
    assert io.resolve_workspace(ws.parent) == ws

    # one more run completes and leaves nothing behind
    subprocess.run([GRIDMAP, "assign", str(ws)], check=True, capture_output=True)
    assert workspace_state(ws) == new
    assert temp_files_of(ws) == [] and not journal.exists()
    assert _validation_errors(ws) <= _validation_errors(ref)


def test_gridmap_readers_roll_back_a_killed_assign(medium, assign_states, tmp_path):
    """A read-only GDAL reader cannot roll a hot journal back ("attempt to write a readonly
    database"); gridmap's own readers do it first, so `gridmap locate` right after the
    kill answers from the old content."""
    old, _, _ = assign_states
    ws = tmp_path / "community.gpkg"
    shutil.copyfile(medium, ws)
    _run_until_crash([GRIDMAP, "assign", str(ws)], "update-mid")
    assert Path(str(ws) + "-journal").stat().st_size > 0
    r = subprocess.run(
        [GRIDMAP, "locate", "--lon", "111.47", "--lat", "35.64", "--workspace", str(ws)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "Traceback" not in r.stderr and r.returncode in (0, 1), r.stderr
    assert not Path(str(ws) + "-journal").exists()
    assert workspace_state(ws) == old


def _households_file(path: Path, source: Path, version: str) -> Path:
    """The sample's households, edited (a new column, changed counts) as a user would."""
    hh = pyogrio.read_dataframe(source, layer="households")
    hh["version"] = version
    hh["residents"] = hh["residents"] + (1 if version == "B" else 2)
    pyogrio.write_dataframe(hh, path, layer="households", driver="GPKG")
    return path


@pytest.fixture(scope="module")
def import_states(medium, tmp_path_factory):
    """(households file, old state, new state, reference file) for an import."""
    d = tmp_path_factory.mktemp("imp")
    f = _households_file(d / "households_B.gpkg", medium, "B")
    old = workspace_state(medium)
    ref = d / "ref_B.gpkg"
    shutil.copyfile(medium, ref)
    import_layer(ref, "households", f)  # reference state, in process (same code as the CLI)
    new = workspace_state(ref)
    assert new["households"] != old["households"]
    # the other layers are untouched by an import of households
    assert {k: v for k, v in new.items() if k != "households"} == {
        k: v for k, v in old.items() if k != "households"
    }
    return f, old, new, ref


@pytest.mark.parametrize(
    ("step", "expect"),
    [("temp-partial", "old"), ("temp-complete", "old"), ("replaced", "new")],
)
def test_sigkill_during_import_leaves_old_or_new(medium, import_states, tmp_path, step, expect):
    f, old, new, ref = import_states
    ws_dir = tmp_path / "ws"
    ws_dir.mkdir()
    ws = ws_dir / "community.gpkg"
    shutil.copyfile(medium, ws)
    original = file_hash(ws)
    cmd = [GRIDMAP, "import", "households", str(f), "--workspace", str(ws)]

    _run_until_crash(cmd, step)
    if step in ("temp-partial", "temp-complete"):
        assert len(temp_files_of(ws)) == 1  # killed while its temporary copy existed
        assert file_hash(ws) == original  # the workspace itself was never touched
    else:
        assert temp_files_of(ws) == []
    _check_opens(ws)
    state = workspace_state(ws)
    assert state == (old if expect == "old" else new), (
        f"after a kill at {step} the workspace holds a mix: "
        f"{[n for n in state if state[n] != (old if expect == 'old' else new).get(n)]}"
    )
    # a stale temporary copy must not make the folder look like it holds two workspaces
    assert io.resolve_workspace(ws.parent) == ws

    subprocess.run(cmd, check=True, capture_output=True)
    assert workspace_state(ws) == new
    assert temp_files_of(ws) == []  # the next write removed what the kill left
    assert _validation_errors(ws) <= _validation_errors(ref)


def test_every_step_is_tested():
    tested = {"update-mid", "update-committed", "temp-partial", "temp-complete", "replaced"}
    assert tested == set(gsql.CRASH_STEPS)


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
