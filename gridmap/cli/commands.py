"""The ``gridmap`` command line: a thin layer over the library functions.

This module holds the Typer app and :func:`main`; each command lives in the
module of its group (:mod:`gridmap.cli.workspace`, :mod:`gridmap.cli.analysis`,
:mod:`gridmap.cli.lookup`, :mod:`gridmap.cli.maps`, :mod:`gridmap.cli.serve`)
and is registered here with one line. Each command parses its options, calls
one library function and prints the result (a rich table from
:mod:`gridmap.cli.render`, or one JSON document with ``--format json``). Errors
derived from :class:`~gridmap.errors.GridmapError` become one red line and exit
code 2; no traceback for user mistakes.
"""

from __future__ import annotations

import os
import sys

import typer

from gridmap.cli import analysis, division, lookup, maps, serve, workspace
from gridmap.cli import requests as requests_cli
from gridmap.cli.options import err_console, flag_text, print_json
from gridmap.errors import GridmapError

__all__ = ["app", "main", "print_json"]

app = typer.Typer(
    name="gridmap",
    help="Community grid management (社区网格化管理): workspaces, joins, coverage, lookup, maps.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Community grid management (社区网格化管理). Run 'gridmap COMMAND --help' for examples."""


# One line per command, in the order 'gridmap --help' lists them.
app.command()(workspace.assign)
app.command()(workspace.synth)
app.command("import")(workspace.import_cmd)
app.command()(workspace.validate)
app.command()(analysis.coverage)
app.command()(lookup.locate)
app.command("map")(maps.map_)
app.command()(serve.serve)
app.add_typer(requests_cli.app, name="requests")
app.command()(division.divide)
app.command()(division.codes)


def main() -> None:
    """Entry point: run the app, turning GridmapError into a one-line message."""
    try:
        code = app(standalone_mode=False)
        # with standalone_mode=False click returns typer.Exit's code instead of exiting
        if isinstance(code, int) and code != 0:
            sys.exit(code)
    except GridmapError as exc:
        _fail(flag_text(str(exc)))  # the library names parameters; say the flags
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except OSError as exc:
        # a write the library did not map (disk full, read-only folder): one line, exit 2
        from gridmap.errors import os_write_error

        _fail(str(os_write_error(exc, exc.filename or "the output file")))
    except Exception as exc:
        if not _is_usage_error(exc):
            raise
        if not exc.format_message():  # no_args_is_help: the help was printed
            sys.exit(exc.exit_code)
        # a wrong option or value (click/typer usage error): one line, exit 2
        command = getattr(getattr(exc, "ctx", None), "command_path", None) or "gridmap"
        _fail(f"{exc.format_message()} (see '{command} --help')")


def run() -> None:
    """The ``gridmap`` program (``python -m gridmap``): :func:`main`, then a quick exit.

    When a command succeeded after loading numba, the process ends without the
    interpreter's teardown: numba and LLVM take about 0.15 s to shut down, and
    nothing of the command is left to close by then (its files are written and
    closed, its locks released). Output is flushed first. Errors, and commands
    that never loaded numba, exit the ordinary way.
    """
    main()
    if "numba" in sys.modules:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            return  # a closed or broken pipe: let the interpreter report it as usual
        os._exit(0)


def _is_usage_error(exc: BaseException) -> bool:
    """True for click's usage errors, from click itself or from the copy typer vendors."""
    import click

    kinds: list[type] = [click.exceptions.ClickException]
    try:  # typer >= 0.20 ships its own click as typer._click
        from typer._click import exceptions as vendored

        kinds.append(vendored.ClickException)
    except ImportError:
        pass
    return isinstance(exc, tuple(kinds))


def _fail(message: str) -> None:
    """Print one ``error:`` line on stderr and exit with code 2."""
    from rich.markup import escape

    # escape: file names and headers such as 'lon[deg]' are not rich markup
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(2)
