"""Command ``serve``: the HTTP service."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gridmap.cli.options import (
    WorkspaceArg,
    err_console,
)


def serve(
    workspace: WorkspaceArg = None,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 for the LAN).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    keys: Annotated[
        Path | None,
        typer.Option(
            "--keys", help="TOML/JSON file of hashed API keys (default: $GRIDMAP_KEYS_FILE)."
        ),
    ] = None,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Run the HTTP service: OGC API - Features, /locate, /coverage, /maps.

    Without keys everyone is anonymous and sees boundaries, facilities and
    per-grid aggregates only. Make a key with 'python -m gridmap.api.auth'.

    Example: gridmap serve community.gpkg --port 8000 --keys keys.toml
    """
    import os

    import uvicorn

    from gridmap.api.auth import KeyStore
    from gridmap.api.settings import check_port_free
    from gridmap.workspace.store import list_layers, resolve_workspace

    path = resolve_workspace(workspace)
    list_layers(path)  # not a GeoPackage: one clear line now, not a server traceback
    check_port_free(host, port)
    os.environ["GRIDMAP_WORKSPACE"] = str(path.resolve())
    if keys is not None:
        # fail now with a clear message, not in a worker (hmac entries need the secret)
        KeyStore.from_file(keys, os.environ.get("GRIDMAP_KEY_SECRET"))
        os.environ["GRIDMAP_KEYS_FILE"] = str(keys.resolve())
    err_console.print(f"serving {path} on http://{host}:{port}/ (docs: /docs)", highlight=False)
    uvicorn.run(
        "gridmap.api:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
    )
