"""Writes that cannot happen: a full disk, a read-only folder, a wrong option.

Each case is run for real, never mocked: a full disk is a small tmpfs mounted
for the test (``mount -t tmpfs -o size=...``, unmounted in teardown); a
read-only folder is a folder an unprivileged user (made with ``useradd``) may
not write in, and the command line runs as that user (``setpriv`` with the user's
uid and gid; the one capability it keeps, CAP_DAC_READ_SEARCH, lets it *read*
the interpreter under /root but never write anything). Every case must end in
one ``error:`` line naming the file and what to do, exit code 2, and the
workspace byte-for-byte as it was. These tests need root (as the CI runs).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hardening_util import GRIDMAP, file_hash, make_medium_workspace, temp_files_of

from gridmap.errors import WriteError
from gridmap.ingest.importer import import_layer

TEST_USER = "gridmap-nowrite"


# ---------------------------------------------------------------- helpers


def one_error_line(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    """The run failed with exit 2 and exactly one 'error:' line holding every fragment."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    for frag in fragments:
        assert frag in lines[0], f"{frag!r} not in: {lines[0]}"
    return lines[0]


def run(cmd: list[str], *, user: bool = False, cwd: Path | None = None, home: Path | None = None):
    env = dict(os.environ)
    if home is not None:
        env.update(HOME=str(home), MPLCONFIGDIR=str(home / "mpl"), XDG_CACHE_HOME=str(home))
    prefix: list[str] = []
    if user:
        prefix = [
            "setpriv",
            f"--reuid={TEST_USER}",
            f"--regid={TEST_USER}",
            "--clear-groups",
            "--inh-caps=+dac_read_search",
            "--ambient-caps=+dac_read_search",
            "--",
        ]
    return subprocess.run(
        [*prefix, GRIDMAP, *cmd], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def households_csv(path: Path, n: int, seed: int = 3) -> Path:
    """A households ledger of n rows inside the tiny test community."""
    rng = np.random.default_rng(seed)
    xs = rng.uniform(111.4702, 111.4738, n)
    ys = rng.uniform(35.6402, 35.6418, n)
    lines = ["household_id,address,lon,lat"]
    lines += [
        f"N{k:06d},东街{k % 40 + 1}号楼{k % 6 + 1}单元{k % 30 + 101}室,{x:.7f},{y:.7f}"
        for k, (x, y) in enumerate(zip(xs, ys, strict=True))
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def small_disk(tmp_path):
    """Mount a tmpfs of a given size (bytes) at a fresh folder; unmounted in teardown."""
    mounted: list[Path] = []

    def mount(size: int) -> Path:
        target = tmp_path / f"disk{len(mounted)}"
        target.mkdir()
        kib = max(64, size // 1024)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(target)], check=True
        )
        mounted.append(target)
        return target

    yield mount
    for target in reversed(mounted):
        subprocess.run(["umount", str(target)], check=True)


@pytest.fixture(scope="module")
def workspace_file(tmp_path_factory) -> Path:
    """A workspace of about 1-2 MB (the tiny community with 12,000 extra households)."""
    return make_medium_workspace(tmp_path_factory.mktemp("ws") / "ws.gpkg", 12_000)


@pytest.fixture(scope="module")
def nowrite_user():
    """An unprivileged user (created with useradd, removed afterwards if it was made here)."""
    try:
        pwd.getpwnam(TEST_USER)
        made = False
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", TEST_USER],
            check=True,
        )
        made = True
    yield TEST_USER
    if made:
        subprocess.run(["userdel", TEST_USER], check=False)


@pytest.fixture
def public_dir():
    """A fresh folder under /tmp that every user may enter (pytest's tmp_path is root's only)."""
    path = Path(tempfile.mkdtemp(prefix="gridmap-nowrite-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    for p in (path, *path.rglob("*")):
        if p.is_dir():
            p.chmod(0o755)
    shutil.rmtree(path)


@pytest.fixture(scope="module")
def nowrite_home(nowrite_user):
    """A home the test user owns, shared by this module's read-only cases: the user's numba
    and matplotlib caches are written once there, not compiled again for every case."""
    path = Path(tempfile.mkdtemp(prefix="gridmap-nowrite-home-", dir="/tmp"))
    path.chmod(0o755)
    home = path / "home"
    (home / "mpl").mkdir(parents=True)
    uid = pwd.getpwnam(nowrite_user)
    for p in (home, home / "mpl"):
        os.chown(p, uid.pw_uid, uid.pw_gid)
    yield home
    shutil.rmtree(path)


@pytest.fixture
def readonly_ws(public_dir, workspace_file, nowrite_home) -> tuple[Path, Path]:
    """(workspace in a folder the test user may not write in, a home the user owns)."""
    tmp_path = public_dir
    folder = tmp_path / "readonly"
    folder.mkdir()
    ws = folder / "ws.gpkg"
    shutil.copyfile(workspace_file, ws)
    ws.chmod(0o644)
    folder.chmod(0o555)  # read-only for everybody, root's files for another user anyway
    return ws, nowrite_home


# ---------------------------------------------------------------- disk full


def test_import_disk_full_during_copy(small_disk, workspace_file, tmp_path):
    """ENOSPC from shutil.copyfile (the temporary copy does not fit): one line, exit 2."""
    size = workspace_file.stat().st_size
    disk = small_disk(size + size // 2)
    ws = disk / "ws.gpkg"
    shutil.copyfile(workspace_file, ws)
    before = file_hash(ws)
    csv = households_csv(tmp_path / "ledger.csv", 50)
    proc = run(["import", "households", str(csv), "--workspace", str(ws)])
    one_error_line(proc, str(ws), "disk is full", "Free some disk space", "not changed")
    assert file_hash(ws) == before
    assert temp_files_of(ws) == []


def test_assign_disk_full(small_disk, workspace_file):
    size = workspace_file.stat().st_size
    disk = small_disk(size + size // 2)
    ws = disk / "ws.gpkg"
    shutil.copyfile(workspace_file, ws)
    before = file_hash(ws)
    proc = run(["assign", str(ws)])
    one_error_line(proc, str(ws), "disk is full", "not changed")
    assert file_hash(ws) == before
    assert temp_files_of(ws) == []


def test_gdal_createlayer_failure_on_full_disk_is_named(small_disk, workspace_file, tmp_path):
    """The copy fits, the new layer does not: GDAL says "Layer households already exists,
    CreateLayer failed" (it could not drop the old layer); that is a full disk too."""
    size = workspace_file.stat().st_size
    disk = small_disk(2 * size + 96 * 1024)
    ws = disk / "ws.gpkg"
    shutil.copyfile(workspace_file, ws)
    before = file_hash(ws)
    csv = households_csv(tmp_path / "big.csv", 30_000)
    with pytest.raises(WriteError) as info:
        import_layer(ws, "households", csv)
    msg = str(info.value)
    assert "disk is full" in msg and str(ws) in msg and "not changed" in msg, msg
    assert "CreateLayer" not in msg
    # the case is the one the issue names: GDAL's error, not an OSError from the copy
    assert not isinstance(info.value.__cause__, OSError), repr(info.value.__cause__)
    assert file_hash(ws) == before
    assert temp_files_of(ws) == []
    proc = run(["import", "households", str(csv), "--workspace", str(ws)])
    one_error_line(proc, str(ws), "disk is full")
    assert file_hash(ws) == before


def test_map_out_on_full_disk(small_disk, workspace_file, tmp_path):
    disk = small_disk(64 * 1024)
    out = disk / "map.html"
    proc = run(["map", str(workspace_file), "--out", str(out), "--basemap", "none"], cwd=tmp_path)
    one_error_line(proc, str(out), "disk is full")
    assert not out.exists()
    assert [p for p in disk.iterdir()] == []


# ------------------------------------------------------------ read-only folder


def test_read_only_workspace_import(readonly_ws):
    ws, home = readonly_ws
    before = file_hash(ws)
    csv = households_csv(home / "ledger.csv", 20)
    csv.chmod(0o644)
    proc = run(["import", "households", str(csv), "-w", str(ws)], user=True, home=home)
    one_error_line(proc, str(ws), "no permission to write", str(ws.parent), "not changed")
    assert file_hash(ws) == before
    assert sorted(p.name for p in ws.parent.iterdir()) == ["ws.gpkg"]


def test_read_only_workspace_assign(readonly_ws):
    ws, home = readonly_ws
    before = file_hash(ws)
    proc = run(["assign", str(ws)], user=True, home=home)
    one_error_line(proc, str(ws), "no permission to write", "Copy the workspace")
    assert file_hash(ws) == before
    assert sorted(p.name for p in ws.parent.iterdir()) == ["ws.gpkg"]


def test_read_only_workspace_still_reads(readonly_ws):
    """Commands that only read keep working in a read-only folder."""
    ws, home = readonly_ws
    proc = run(
        ["locate", "--lon", "111.4705", "--lat", "35.6405", "-w", str(ws)], user=True, home=home
    )
    assert proc.returncode == 0, proc.stderr
    assert "M01" in proc.stdout


def test_map_out_into_read_only_folder(readonly_ws):
    ws, home = readonly_ws
    for out in (ws.parent / "map.html", ws.parent / "maps" / "map.html"):
        proc = run(["map", str(ws), "--out", str(out), "--basemap", "none"], user=True, home=home)
        one_error_line(proc, str(out), "no permission to write", "output path")
        assert not out.exists()
    # the default --out is maps/<name>.html under the current folder
    proc = run(["map", str(ws), "--basemap", "none"], user=True, home=home, cwd=ws.parent)
    one_error_line(proc, "maps", "no permission to write")
    assert sorted(p.name for p in ws.parent.iterdir()) == ["ws.gpkg"]


# ------------------------------------------------------------ options


@pytest.mark.parametrize(
    "args",
    [
        ["--lon", "--lat", "60.17"],
        ["--lon", "111"],
        ["--lat", "60.17"],
        ["--lon", "abc", "--lat", "35.6"],
        ["--no-such-option"],
    ],
    ids=["lon-without-value", "lon-only", "lat-only", "not-a-number", "unknown-option"],
)
def test_locate_option_mistakes_are_one_line(args, tiny_workspace):
    proc = run(["locate", *args, "-w", str(tiny_workspace)])
    line = one_error_line(proc)
    assert "--lon" in line or "--lat" in line or "--no-such-option" in line
    assert "--help" in line or "both" in line


def test_unknown_command_is_one_line():
    one_error_line(run(["no-such-command"]), "no-such-command")
