"""Load run against ``/locate`` on loopback, with the server started as the README says.

Starts ``gridmap serve WORKSPACE --port PORT`` as a subprocess on 127.0.0.1,
waits for ``/healthz``, then for each query kind (address, coordinate):

* a single-client baseline (sequential requests), and
* ``--clients`` concurrent clients (httpx.AsyncClient, one connection each),

each bounded by a request count and a time limit. Prints requests/s, p50/p99
latency and the error count, as a table and (``--json``) as one JSON document.

Example::

    .venv/bin/python benchmarks/bench_api.py --requests 3000 --clients 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx
import numpy as np
import pyogrio

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(workspace: Path, port: int, workers: int) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("gridmap")
    cmd = [str(exe), "serve", str(workspace), "--port", str(port), "--log-level", "warning"]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("server died: " + proc.stderr.read().decode()[-2000:])
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit("server did not start within 120 s")


def queries(workspace: Path, kind: str, n: int, seed: int) -> list[dict]:
    hh = pyogrio.read_dataframe(workspace, layer="households")
    rng = random.Random(seed)
    rows = [rng.randrange(len(hh)) for _ in range(n)]
    if kind == "address":
        return [{"q": str(hh["address"].iloc[i])} for i in rows]
    return [{"lon": hh.geometry.iloc[i].x, "lat": hh.geometry.iloc[i].y} for i in rows]


async def run_load(
    base: str, params: list[dict], clients: int, time_limit: float
) -> tuple[list[float], int, float]:
    """Send ``params`` with ``clients`` concurrent connections; return latencies (s)."""
    lat: list[float] = []
    errors = 0
    samples: list[str] = []
    it = iter(params)
    stop = time.perf_counter() + time_limit
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        for p in it:
            if time.perf_counter() > stop:
                return
            t0 = time.perf_counter()
            try:
                r = await client.get("/locate", params=p)
                ok = r.status_code == 200
                why = f"HTTP {r.status_code}: {r.text[:120]}"
            except httpx.HTTPError as exc:
                ok, why = False, repr(exc)[:160]
            lat.append(time.perf_counter() - t0)
            if not ok:
                errors += 1
                if len(samples) < 3:
                    samples.append(why)

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        wall = time.perf_counter() - t0
    for why in samples:
        print("error:", why, file=sys.stderr)
    return lat, errors, wall


async def run_load_raw(
    base: str, params: list[dict], clients: int, time_limit: float
) -> tuple[list[float], int, float]:
    """Like :func:`run_load`, with a minimal HTTP/1.1 keep-alive client on asyncio streams.

    httpx costs about as much CPU per request as the server does, and on a small
    machine the load generator then measures itself; this client does almost no
    work per request, so the figures are the server's.
    """
    host, port = base.removeprefix("http://").split(":")
    lat: list[float] = []
    errors = 0
    samples: list[str] = []
    it = iter(params)
    stop = time.perf_counter() + time_limit

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for p in it:
                if time.perf_counter() > stop:
                    return
                path = "/locate?" + urlencode(p)
                t0 = time.perf_counter()
                try:
                    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
                    status = int((await reader.readline()).split()[1])
                    length = 0
                    while (line := await reader.readline()) not in (b"\r\n", b""):
                        name, _, value = line.decode("latin-1").partition(":")
                        if name.lower() == "content-length":
                            length = int(value)
                    body = await reader.readexactly(length)
                    ok, why = status == 200, f"HTTP {status}: {body[:120]!r}"
                except (OSError, ValueError, IndexError, asyncio.IncompleteReadError) as exc:
                    ok, why = False, repr(exc)[:160]
                lat.append(time.perf_counter() - t0)
                if not ok:
                    errors += 1
                    if len(samples) < 3:
                        samples.append(why)
                    if why.startswith(("Incomplete", "Connection")):
                        writer.close()
                        reader, writer = await asyncio.open_connection(host, int(port))
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    wall = time.perf_counter() - t0
    for why in samples:
        print("error:", why, file=sys.stderr)
    return lat, errors, wall


def summarise(label: str, lat: list[float], errors: int, wall: float, clients: int) -> dict:
    a = np.array(lat) * 1000
    return {
        "run": label,
        "clients": clients,
        "requests": len(lat),
        "errors": errors,
        "seconds": round(wall, 2),
        "rps": round(len(lat) / wall, 1) if wall else None,
        "p50_ms": round(float(np.percentile(a, 50)), 2) if len(a) else None,
        "p99_ms": round(float(np.percentile(a, 99)), 2) if len(a) else None,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("workspace", nargs="?", default=str(REPO / "gridmap/datasets/data/community.gpkg"))
    ap.add_argument("--requests", type=int, default=3000, help="requests per concurrent run")
    ap.add_argument("--baseline-requests", type=int, default=300)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per run (cap)")
    ap.add_argument("--workers", type=int, default=1, help="server worker processes")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    ap.add_argument(
        "--client",
        choices=["raw", "httpx", "both"],
        default="both",
        help="load generator: raw asyncio streams, httpx.AsyncClient, or both",
    )
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="bench_api_"))
    ws = tmp / "community.gpkg"
    shutil.copyfile(args.workspace, ws)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    proc = start_server(ws, port, args.workers)
    startup = time.perf_counter() - t0
    results = []
    try:
        runners = {"raw": run_load_raw, "httpx": run_load}
        chosen = ["raw", "httpx"] if args.client == "both" else [args.client]
        for kind in ("address", "coordinate"):
            warm = queries(ws, kind, 20, args.seed + 1)
            asyncio.run(run_load(base, warm, 1, 120))  # builds the address registry
            for name in chosen:
                run = runners[name]
                single = queries(ws, kind, args.baseline_requests, args.seed)
                lat, err, wall = asyncio.run(run(base, single, 1, args.time_limit))
                results.append(summarise(f"{kind} {name} 1 client", lat, err, wall, 1))
                many = queries(ws, kind, args.requests, args.seed + 2)
                lat, err, wall = asyncio.run(run(base, many, args.clients, args.time_limit))
                label = f"{kind} {name} {args.clients} clients"
                results.append(summarise(label, lat, err, wall, args.clients))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
    doc = {
        "command": "gridmap serve WORKSPACE --port PORT"
        + (f" --workers {args.workers}" if args.workers > 1 else ""),
        "workspace": Path(args.workspace).name,
        "server_start_s": round(startup, 2),
        "cpu_count": os.cpu_count(),
        "results": results,
    }
    if args.json:
        print(json.dumps(doc, indent=2))
        return
    print(f"server: {doc['command']} (ready in {doc['server_start_s']} s), cpus {os.cpu_count()}")
    print(f"{'run':32} {'req':>6} {'err':>4} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for r in results:
        print(
            f"{r['run']:32} {r['requests']:>6} {r['errors']:>4} {r['rps']:>8} "
            f"{r['p50_ms']:>8} {r['p99_ms']:>8}"
        )
    for i in range(0, len(results), 2):
        one, many = results[i], results[i + 1]
        if one["rps"]:
            print(f"{many['run']}: {many['rps'] / one['rps']:.2f}x the single-client throughput")


if __name__ == "__main__":
    main()
