"""Load run against ``/locate`` on loopback, with the server started as the README says.

Starts ``gridmap serve WORKSPACE --port PORT`` as a subprocess on 127.0.0.1,
waits for ``/healthz``, then for each query kind (address, coordinate):

* a single-client baseline (sequential requests), and
* ``--clients`` concurrent clients (httpx.AsyncClient, one connection each),

each bounded by a request count and a time limit. Prints requests/s, p50/p99
latency and the error count, as a table and (``--json``) as one JSON document.

Key flood (``--flood-rate``, default 50 req/s): the 50-client runs are
repeated while another set of connections sends random API keys at that rate
(the attack of issue 13: before, each unknown key cost one scrypt per
configured key). The server has a key file of 20 keys. It runs twice: as
configured by default (failed keys are rate-limited per client address, so the
flood soon gets 429s) and with that limiter opened wide
(``GRIDMAP_AUTH_FAILURES_BURST``), so every flood request goes through key
verification. The server's RSS is reported before and after each flood run.

Example::

    .venv/bin/python benchmarks/bench_api.py --requests 3000 --clients 50 --client raw
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
import psutil
import pyogrio

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    workspace: Path,
    port: int,
    workers: int,
    keys: Path | None = None,
    env: dict | None = None,
) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("gridmap")
    cmd = [str(exe), "serve", str(workspace), "--port", str(port), "--log-level", "warning"]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    if keys is not None:
        cmd += ["--keys", str(keys)]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
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


def write_keys(path: Path, n: int = 20) -> Path:
    """A key file of ``n`` staff/admin keys made the documented way (hashes only)."""
    from gridmap.api.auth import hash_key, new_key

    lines = []
    for i in range(n):
        role = "admin" if i == 0 else "staff"
        lines += ["[[keys]]", f'name = "key {i}"', f'hash = "{hash_key(new_key())}"']
        lines += [f'role = "{role}"'] + ([f'grids = ["G{i % 26 + 1:02d}"]'] if i else [])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def key_flood(base: str, rate: float, connections: int, stop: asyncio.Event) -> dict:
    """Send random API keys at ``rate`` requests/s over ``connections`` until ``stop``."""
    import secrets

    host, port = base.removeprefix("http://").split(":")
    statuses: dict[int, int] = {}
    interval = connections / rate

    async def one(k: int) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        nxt = time.perf_counter() + k * interval / connections
        try:
            while not stop.is_set():
                await asyncio.sleep(max(0.0, nxt - time.perf_counter()))
                nxt += interval
                key = (
                    f"gm_{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}"
                    if k % 2
                    else secrets.token_urlsafe(40)
                )
                writer.write(
                    f"GET /locate?lon=111.47&lat=35.64 HTTP/1.1\r\nHost: {host}\r\n"
                    f"X-API-Key: {key}\r\n\r\n".encode()
                )
                try:
                    status = int((await reader.readline()).split()[1])
                    length = 0
                    while (line := await reader.readline()) not in (b"\r\n", b""):
                        name, _, value = line.decode("latin-1").partition(":")
                        if name.lower() == "content-length":
                            length = int(value)
                    await reader.readexactly(length)
                except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
                    status = -1
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, int(port))
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    tasks = [asyncio.create_task(one(k)) for k in range(connections)]
    await stop.wait()
    await asyncio.gather(*tasks, return_exceptions=True)
    return statuses


async def run_flooded(run, base, params, clients, time_limit, rate, connections):
    stop = asyncio.Event()
    flood = asyncio.create_task(key_flood(base, rate, connections, stop))
    t0 = time.perf_counter()
    try:
        lat, err, wall = await run(base, params, clients, time_limit)
    finally:
        stop.set()
    statuses = await flood
    sent = sum(statuses.values())
    return lat, err, wall, statuses, sent / (time.perf_counter() - t0)


def rss_mib(proc: subprocess.Popen) -> float:
    p = psutil.Process(proc.pid)
    total = p.memory_info().rss + sum(c.memory_info().rss for c in p.children(recursive=True))
    return round(total / 2**20, 1)


def flood_section(args, ws: Path, tmp: Path) -> list[dict]:
    """The 50-client runs with and without a concurrent random-key flood."""
    keys = write_keys(tmp / "keys.toml")
    out = []
    modes = [("limiter on", {}), ("limiter off", {"GRIDMAP_AUTH_FAILURES_BURST": "100000000"})]
    for mode, env in modes:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc = start_server(ws, port, args.workers, keys=keys, env=env)
        try:
            for kind in ("address", "coordinate"):
                warm = queries(ws, kind, 20, args.seed + 1)
                asyncio.run(run_load(base, warm, 1, 120))
                many = queries(ws, kind, args.requests, args.seed + 2)
                rss0 = rss_mib(proc)
                lat, err, wall = asyncio.run(
                    run_load_raw(base, many, args.clients, args.time_limit)
                )
                row = summarise(
                    f"{kind} {args.clients} clients ({mode})", lat, err, wall, args.clients
                )
                row.update(rss_before_mib=rss0, rss_after_mib=rss_mib(proc), flood=None)
                out.append(row)
                rss0 = rss_mib(proc)
                lat, err, wall, statuses, rate = asyncio.run(
                    run_flooded(
                        run_load_raw,
                        base,
                        many,
                        args.clients,
                        args.time_limit,
                        args.flood_rate,
                        args.flood_connections,
                    )
                )
                label = f"{kind} {args.clients} clients + flood ({mode})"
                row = summarise(label, lat, err, wall, args.clients)
                row.update(
                    rss_before_mib=rss0,
                    rss_after_mib=rss_mib(proc),
                    flood={"rate_per_s": round(rate, 1), "statuses": statuses},
                )
                out.append(row)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return out


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
    ap.add_argument(
        "workspace", nargs="?", default=str(REPO / "gridmap/datasets/data/community.gpkg")
    )
    ap.add_argument("--requests", type=int, default=3000, help="requests per concurrent run")
    ap.add_argument("--baseline-requests", type=int, default=300)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per run (cap)")
    ap.add_argument("--workers", type=int, default=1, help="server worker processes")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    ap.add_argument("--flood-rate", type=float, default=50.0, help="random keys per second")
    ap.add_argument("--flood-connections", type=int, default=10)
    ap.add_argument("--no-flood", action="store_true", help="skip the key-flood section")
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
    try:
        flood = [] if args.no_flood else flood_section(args, ws, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    doc = {
        "command": "gridmap serve WORKSPACE --port PORT"
        + (f" --workers {args.workers}" if args.workers > 1 else ""),
        "workspace": Path(args.workspace).name,
        "server_start_s": round(startup, 2),
        "cpu_count": os.cpu_count(),
        "results": results,
        "flood": flood,
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
    if flood:
        print()
        print(
            f"{'run (raw client)':44} {'req':>6} {'err':>4} {'req/s':>8} {'p50 ms':>8} "
            f"{'p99 ms':>8} {'RSS MiB':>15}  flood"
        )
        for r in flood:
            f = r["flood"]
            fl = f"{f['rate_per_s']}/s {f['statuses']}" if f else "-"
            print(
                f"{r['run']:44} {r['requests']:>6} {r['errors']:>4} {r['rps']:>8} "
                f"{r['p50_ms']:>8} {r['p99_ms']:>8} "
                f"{r['rss_before_mib']:>7}->{r['rss_after_mib']:<7}  {fl}"
            )
        for i in range(0, len(flood), 2):
            calm, hit = flood[i], flood[i + 1]
            if calm["p99_ms"]:
                print(f"{hit['run']}: p99 {hit['p99_ms'] / calm['p99_ms']:.2f}x unloaded")


if __name__ == "__main__":
    main()
