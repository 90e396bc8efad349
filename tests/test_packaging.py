"""The package as a user installs it: a wheel built from the repo, in a fresh venv, in an empty folder.

Offline: the wheel is built without build isolation (setuptools comes from the
test environment) and installed with ``--no-index --no-deps``; the fresh venv
sees the test environment's third-party packages through a plain ``.pth``
line (so the wheel's own ``gridmap`` is the one imported, not the source tree).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)
    assert res.returncode == 0, f"{cmd}\n{res.stdout}\n{res.stderr}"
    return res


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the source (the work tree stays clean)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(
        REPO / "gridmap", src / "gridmap", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    out = tmp_path_factory.mktemp("dist")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(out),
            str(src),
        ]
    )
    (whl,) = out.glob("gridmap-*.whl")
    return whl


def test_wheel_holds_the_sample_the_standards_and_the_assets(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "gridmap/datasets/data/community.gpkg" in names
    assert "gridmap/analysis/standards.toml" in names
    assert any(n.startswith("gridmap/maps/assets/") for n in names)
    assert any(n.endswith("/licenses/LICENSE") or n.endswith("/LICENSE") for n in names)
    # the packaged sample is the very file of the repository
    with zipfile.ZipFile(wheel) as z:
        packed = z.read("gridmap/datasets/data/community.gpkg")
    assert packed == (REPO / "gridmap" / "datasets" / "data" / "community.gpkg").read_bytes()


def test_installed_wheel_makes_the_map_in_an_empty_folder(wheel, tmp_path):
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    py = venv / "bin" / "python"
    site = Path(
        _run(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
        ).stdout.strip()
    )
    # third-party packages from the test environment; its editable gridmap is not loaded
    # (a plain path line does not run that directory's own .pth files)
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(py),
            "install",
            "--no-deps",
            "--no-index",
            str(wheel),
        ]
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GRIDMAP_WORKSPACE")}
    empty = tmp_path / "empty"
    empty.mkdir()
    where = _run(
        [str(py), "-c", "import gridmap.datasets as d; print(d.__file__); print(d.get_path())"],
        cwd=empty,
        env=env,
    ).stdout.split()
    assert all(Path(p).is_relative_to(site) for p in where), where
    res = _run(
        [str(venv / "bin" / "gridmap"), "map", "--out", "x.html", "--basemap", "none"],
        cwd=empty,
        env=env,
    )
    html = (empty / "x.html").read_text(encoding="utf-8")
    assert "map written" in res.stdout
    assert "L.map" in html or "leaflet" in html.lower()
    assert sorted(p.name for p in empty.iterdir()) == ["x.html"]
