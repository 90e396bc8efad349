"""The ``gridmap`` command line: thin Typer commands over the library, and ``render`` for all terminal output."""

from gridmap.cli.commands import app, main, run

__all__ = ["app", "main", "run"]
