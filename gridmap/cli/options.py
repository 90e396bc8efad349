"""What every command module shares: the consoles, the option types, JSON output, the progress bar.

Kept light (typer and rich only) so that ``gridmap --help`` and ``gridmap locate``
start fast: commands import the library inside their function bodies.
"""

from __future__ import annotations

import json
import re
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


#: Library parameters that the command line spells as a switch.
SWITCHES = {
    "skip_bad_rows=True": "--skip-bad-rows",
    "make_valid=True": "--make-valid",
    "shift_check=False": "--no-shift-check",
    "include_personal=True": "--include-personal",
    "fix=True": "--fix",
}
#: Library parameters that the command line spells as an option with a value.
VALUED = (
    "crs",
    "encoding",
    "lon_col",
    "lat_col",
    "id_col",
    "sheet",
    "source_layer",
    "layer",
    "column",
    "distance",
    "out",
    "basemap",
    "lang",
    "seed",
    "lon",
    "lat",
    "points",
    "radius",
    "standards",
)
_VALUED_RE = re.compile(r"(?<![\w-])(" + "|".join(VALUED) + r")=")
#: What may follow ``name=`` when no value is given: a space, a separator, the end,
#: or a full stop/question mark that ends the sentence.
_NO_VALUE_RE = re.compile(r"[\s,;:)]|[.?](?:\s|$)|$")


def flag_text(message: str) -> str:
    """A library message as the command line says it: ``crs=4326`` -> ``--crs 4326``.

    Library messages name parameters (they are also read from Python and over
    HTTP); the CLI names its flags: ``skip_bad_rows=True`` -> ``--skip-bad-rows``,
    ``crs=`` (no value) -> ``--crs``, ``lon_col=X`` -> ``--lon-col X``.
    """
    for param, flag in SWITCHES.items():
        message = message.replace(param, flag)

    def flag(m: re.Match[str]) -> str:
        name = "--" + m.group(1).replace("_", "-")
        return name if _NO_VALUE_RE.match(message, m.end()) else name + " "

    return _VALUED_RE.sub(flag, message)


def print_json(obj: Any) -> None:
    """Print one JSON document on stdout (UTF-8, Chinese unescaped, no NaN).

    Indented for reading; a large document (a list of thousands of points) is
    written compact, which is several times faster.
    """
    from gridmap.policy.jsonsafe import json_safe

    safe = json_safe(obj)
    text = json.dumps(safe, ensure_ascii=False, allow_nan=False)
    if len(text) < 200_000:
        text = json.dumps(safe, ensure_ascii=False, allow_nan=False, indent=2)
    sys.stdout.write(text + "\n")


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
