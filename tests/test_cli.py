"""The command line as a user meets it: help with examples, one-line errors, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

GRIDMAP = str(Path(sys.executable).with_name("gridmap"))
COMMANDS = ["assign", "synth", "import", "validate", "coverage", "locate", "map", "serve"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [GRIDMAP, *args], capture_output=True, text=True, cwd=cwd, timeout=300, check=False
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command):
    res = run(command, "--help")
    assert res.returncode == 0, res.stderr
    assert f"gridmap {command}" in res.stdout.replace("\n", " ")


def test_missing_workspace_is_one_line_error_exit_2(tmp_path):
    res = run("assign", str(tmp_path / "missing.gpkg"))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert "missing.gpkg" in res.stderr and "not found" in res.stderr


def test_missing_layer_is_one_line_error(tiny_workspace):
    res = run("coverage", str(tiny_workspace), "--facility", "no_such_layer")
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    assert "no_such_layer" in res.stderr


def test_assign_json_is_one_document_on_stdout(tiny_workspace, tmp_path):
    out = tmp_path / "out.gpkg"
    res = run("assign", str(tiny_workspace), "--out", str(out), "--format", "json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    hh = doc["layers"]["households"]
    assert hh["total"] == 6
    assert hh["by_level"]["microgrids"] == 4
    unassigned = {u["id"]: u for u in hh["unassigned"]}
    assert unassigned["H4"]["assigned_level"] == "grids"
    assert unassigned["H5"]["assigned_level"] is None
    assert unassigned["H5"]["nearest_microgrid_m"] > 1000


def test_validate_exit_code_1_on_errors(tmp_path, tiny_layers_dict):
    from gridmap.workspace import store as io

    layers = dict(tiny_layers_dict)
    grids = layers["grids"].copy()
    grids.loc[grids.index[1], "grid_id"] = "G1"  # duplicate id
    layers["grids"] = grids
    p = tmp_path / "dup.gpkg"
    io.write_layers(p, layers)
    res = run("validate", str(p), "--format", "json")
    assert res.returncode == 1
    json.loads(res.stdout)
    clean = run("validate", "--help")
    assert clean.returncode == 0


def test_error_text_with_square_brackets_is_printed_as_is(tmp_path, tiny_workspace):
    """Headers like 'lon[deg]' in an error are user text, not rich markup."""
    src = tmp_path / "b.csv"
    src.write_text("id,lon[deg],lat[/deg]\n1,111.47,35.64\n", encoding="utf-8")
    res = run("import", "households", str(src), "-w", str(tiny_workspace), "--lon-col", "foo")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "lon[deg], lat[/deg]" in " ".join(res.stderr.split())


def test_assign_table_on_grids_only_workspace_and_odd_ids(tmp_path):
    """No micro-grids: no 'nan' cells, the title says why; ids are printed literally."""
    from conftest import tiny_layers

    from gridmap.workspace import store as io

    layers = tiny_layers()
    del layers["microgrids"]
    layers["households"]["household_id"] = [f"[red]H{k}" for k in range(1, 7)]
    ws = tmp_path / "g.gpkg"
    io.write_layers(ws, layers)
    res = run("assign", str(ws))
    assert res.returncode == 0, res.stderr
    out = " ".join(res.stdout.split())
    assert "nan" not in out
    assert "(the workspace has no micro-grids)" in out
    assert "[red]H1" in out
    assert "households" in res.stdout and "charging_piles" in res.stdout  # layer names whole


def test_assign_on_workspace_without_point_layers_says_so(tmp_path):
    from conftest import tiny_layers

    from gridmap.workspace import store as io

    ws = tmp_path / "polys.gpkg"
    io.write_layers(ws, {"grids": tiny_layers()["grids"]})
    res = run("assign", str(ws))
    assert res.returncode == 0, res.stderr
    assert "has no point layer" in " ".join(res.stdout.split())


def test_import_summary_prints_paths_literally(tmp_path):
    """A workspace or report path with square brackets is printed as it is."""
    ws = tmp_path / "[b]社区.gpkg"
    src = tmp_path / "h.csv"
    src.write_text("户号,经度,纬度\nA,111.47,35.64\nB,,\n", encoding="utf-8")
    res = run("import", "households", str(src), "-w", str(ws), "--skip-bad-rows")
    assert res.returncode == 0, res.stderr
    out = "".join(res.stdout.split())  # rich wraps long lines at the terminal width
    assert "[b]社区.gpkg" in out and "row3:emptycoordinate" in out


def test_map_include_personal_warns_with_the_flag_and_json_stays_clean(tiny_workspace, tmp_path):
    """The library warns naming include_personal; the CLI says it with the flag, on stderr."""
    out = tmp_path / "m.html"
    res = run(
        "map",
        str(tiny_workspace),
        "--out",
        str(out),
        "--basemap",
        "none",
        "--include-personal",
        "--format",
        "json",
    )
    assert res.returncode == 0, res.stderr
    assert "warning: --include-personal puts" in res.stderr
    assert "include_personal=True" not in res.stderr  # no Python warning text
    doc = json.loads(res.stdout)
    assert doc["map"] == str(out) and out.exists()


def test_library_messages_name_parameters_and_the_cli_names_flags(tiny_workspace, tmp_path):
    from gridmap.cli.options import flag_text
    from gridmap.errors import SchemaError
    from gridmap.join.assign import assign_workspace

    with pytest.raises(SchemaError) as exc:
        assign_workspace(tiny_workspace, out=tmp_path / "x.csv")
    assert f"out={tmp_path / 'x.csv'}" in str(exc.value) and "--out" not in str(exc.value)
    res = run("assign", str(tiny_workspace), "--out", str(tmp_path / "x.csv"))
    assert res.returncode == 2
    assert f"--out {tmp_path / 'x.csv'}" in res.stderr and "out=" not in res.stderr
    assert flag_text("pass skip_bad_rows=True or crs=gcj02; keep grid_id=G1") == (
        "pass --skip-bad-rows or --crs gcj02; keep grid_id=G1"
    )
    # no value: the bare flag; a full stop that ends the sentence is not a value
    assert flag_text("say which with crs= (e.g. crs=4547). Or name it with id_col=.") == (
        "say which with --crs (e.g. --crs 4547). Or name it with --id-col."
    )
    assert (
        flag_text("give both lon= and lat=; out=./x.csv")
        == "give both --lon and --lat; --out ./x.csv"
    )


def test_import_error_names_the_parameter_and_the_terminal_shows_the_flag(tiny_workspace, tmp_path):
    """The same refusal read from Python (parameters) and on the terminal (flags)."""
    from gridmap.errors import CoordinateError
    from gridmap.ingest.importer import import_layer

    src = tmp_path / "hh.csv"
    src.write_text(
        "household_id,address,lon,lat\nH1,a,111.47,35.64\nH2,b,35.64,111.47\n", encoding="utf-8"
    )
    with pytest.raises(CoordinateError) as exc:
        import_layer(tiny_workspace, "households", src, shift_check=False)
    assert "skip_bad_rows=True" in str(exc.value) and "--" not in str(exc.value)
    res = run("import", "households", str(src), "-w", str(tiny_workspace), "--no-shift-check")
    assert res.returncode == 2
    assert "--skip-bad-rows" in res.stderr and "skip_bad_rows" not in res.stderr


def test_locate_error_names_the_parameter_and_the_terminal_shows_the_flag(tiny_workspace):
    from gridmap.errors import CoordinateError
    from gridmap.lookup.matching import locate

    with pytest.raises(CoordinateError, match="give both lon= and lat="):
        locate(lon=111.47, workspace=tiny_workspace)
    res = run("locate", "--lon", "111.47", "-w", str(tiny_workspace))
    assert res.returncode == 2
    assert "give both --lon and --lat" in res.stderr and "lon=" not in res.stderr


PY_GRIDMAP = [sys.executable, "-X", "importtime", "-m", "gridmap"]  # (stderr lists the imports)


def test_a_command_that_loaded_numba_ends_with_all_its_output(sample_copy, tmp_path):
    """Once numba is loaded the program leaves without the interpreter's teardown
    (gridmap.cli.run): its JSON, written to a file, is complete, the workspace is
    committed and unlocked. The index is built here (no cache yet), which loads numba."""
    import pyogrio

    out = tmp_path / "out.json"
    with open(out, "w") as fh:
        res = subprocess.run(
            [*PY_GRIDMAP, "assign", str(sample_copy), "--format", "json"],
            stdout=fh,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
            check=False,
        )
    assert res.returncode == 0, res.stderr[-2000:]
    assert any(line.split("|")[-1].strip() == "numba" for line in res.stderr.splitlines())
    doc = json.loads(out.read_text(encoding="utf-8"))
    n = len(pyogrio.read_dataframe(sample_copy, layer="households", columns=["microgrid_id"]))
    assert doc["layers"]["households"]["total"] == n > 0
    assert not sample_copy.with_name(sample_copy.name + "-journal").exists()
    again = run("validate", str(sample_copy), "--format", "json")  # the lock was released
    assert again.returncode in (0, 1), again.stderr
