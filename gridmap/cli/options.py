"""What every command module shares: the consoles, the option types, JSON output, the progress bar.

Kept light (typer and rich only) so that ``gridmap --help`` and ``gridmap locate``
start fast: commands import the library inside their function bodies.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

console = Console(stderr=False)
err_console = Console(stderr=True)


class Fmt(StrEnum):
    """Output format of a command: ``table`` for people, ``json`` for programs."""

    table = "table"
    json = "json"


WorkspaceArg = Annotated[
    Path | None,
    typer.Argument(
        help="Workspace GeoPackage (default: $GRIDMAP_WORKSPACE or the packaged sample)."
    ),
]
WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace GeoPackage (default: the sample)."),
]
FormatOpt = Annotated[
    Fmt, typer.Option("--format", "-f", help="table for people, json for programs.")
]


def print_json(obj: Any) -> None:
    """Print one JSON document on stdout (UTF-8, Chinese unescaped, no NaN)."""
    from gridmap.policy.jsonsafe import json_safe

    sys.stdout.write(json.dumps(json_safe(obj), ensure_ascii=False, indent=2) + "\n")


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
        # off when stderr is a file or a pipe: it would leave a blank line before an error
        disable=not err_console.is_terminal,
    )
