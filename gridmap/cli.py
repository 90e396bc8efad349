"""The ``gridmap`` command line: a thin layer over the library functions.

Each command parses its options, calls one library function and prints the
result (a rich table, or one JSON document with ``--format json``). Errors
derived from :class:`~gridmap.errors.GridmapError` become one red line and exit
code 2; no traceback for user mistakes.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from gridmap.errors import GridmapError

app = typer.Typer(
    name="gridmap",
    help="Community grid management (社区网格化管理): workspaces, joins, coverage, lookup, maps.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=False)
err_console = Console(stderr=True)


class Fmt(str, Enum):
    table = "table"
    json = "json"


WorkspaceArg = Annotated[
    Path | None,
    typer.Argument(
        help="Workspace GeoPackage (default: $GRIDMAP_WORKSPACE or the sample data/geo/community.gpkg)."
    ),
]
WorkspaceOpt = Annotated[
    Path | None, typer.Option("--workspace", "-w", help="Workspace GeoPackage (default: the sample).")
]
FormatOpt = Annotated[Fmt, typer.Option("--format", "-f", help="table for people, json for programs.")]


@app.callback()
def _root() -> None:
    """Community grid management (社区网格化管理). Run 'gridmap COMMAND --help' for examples."""


def print_json(obj) -> None:
    """Print one JSON document on stdout (UTF-8, Chinese unescaped)."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2, default=_json_default) + "\n")


def _json_default(o):
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return None if np.isnan(o) else float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, Path):
        return str(o)
    return str(o)


def progress():
    """A rich progress bar on stderr (so stdout stays clean for JSON)."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )


@app.command()
def assign(
    workspace: WorkspaceArg = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to this GeoPackage instead of in place.")
    ] = None,
    engine: Annotated[
        str, typer.Option(help="reference (shapely STRtree) or index (fast cell index).")
    ] = "reference",
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Write microgrid_id, grid_id, zone_id, community_id onto every point layer.

    Each point gets the finest polygon that covers it (boundary included; the
    smallest id wins on shared edges and overlaps). Points outside every
    micro-grid are listed with the nearest micro-grid and the distance.

    Example: gridmap assign data/geo/community.gpkg --out /tmp/assigned.gpkg
    """
    from gridmap.join import assign_workspace
    from gridmap.report import print_assign_summary

    with progress() as bar:
        bar.add_task("assigning points to grids", total=None)
        result = assign_workspace(workspace, out=out, engine=engine)
    if fmt is Fmt.json:
        print_json(result.to_dict())
    else:
        print_assign_summary(result, console)


# --- command: synth (owner adds it here) ---

# --- command: import (owner adds it here) ---

# --- command: validate (owner adds it here) ---

# --- command: coverage (owner adds it here) ---

# --- command: locate (owner adds it here) ---

# --- command: map (owner adds it here) ---

# --- command: serve (owner adds it here) ---


def main() -> None:
    """Entry point: run the app, turning GridmapError into a one-line message."""
    try:
        app(standalone_mode=False)
    except GridmapError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
