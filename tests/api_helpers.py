"""Helpers for the API tests: a real uvicorn server in a background thread."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import uvicorn
from conftest import free_port

from gridmap.api import Settings, create_app
from gridmap.api.auth import hash_key

KEYS = {
    "admin": "gm_0000000a_test-admin-key-0001-secret",
    "public": "gm_0000000b_test-public-key-0002-secret",
    "staff1": "gm_0000000c_test-staff-key-0003-secret",
    "staff2": "test-staff-key-0004-without-key-id",  # the id-less sha256$digest form
}


def write_keys(path: Path, staff1: list[str], staff2: list[str]) -> Path:
    """A TOML key file with hashed keys for every role (the clear keys are in KEYS)."""
    entries = [
        ("admin", "admin", []),
        ("public", "public", []),
        ("staff1", "staff", staff1),
        ("staff2", "staff", staff2),
    ]
    lines = []
    for name, role, grids in entries:
        lines += [
            "[[keys]]",
            f'name = "{name}"',
            f'hash = "{hash_key(KEYS[name])}"',
            f'role = "{role}"',
        ]
        if grids:
            lines.append(f"grids = {json.dumps(grids)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Recorder:
    """ASGI middleware recording request paths and query strings."""

    def __init__(self, app) -> None:
        self.app = app
        self.requests: list[tuple[str, str]] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            self.requests.append((scope["path"], scope.get("query_string", b"").decode()))
        await self.app(scope, receive, send)


@contextlib.contextmanager
def running_server(settings: Settings) -> Iterator[tuple[str, Recorder]]:
    """Start uvicorn on 127.0.0.1 with a free port; yield (base URL, request recorder)."""
    port = free_port()
    app = Recorder(create_app(settings))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    try:
        yield base, app
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def client(base: str, key: str | None = None) -> httpx.Client:
    headers = {"X-API-Key": KEYS[key]} if key else {}
    return httpx.Client(base_url=base, headers=headers, timeout=60)


def get_all(c: httpx.Client, url: str) -> list[dict]:
    """Follow next links from ``url``; return every feature."""
    feats = []
    while url:
        r = c.get(url)
        assert r.status_code == 200, r.text
        doc = r.json()
        feats += doc["features"]
        nxt = [link["href"] for link in doc["links"] if link["rel"] == "next"]
        url = nxt[0] if nxt else None
    return feats
