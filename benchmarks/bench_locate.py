"""Single-lookup latency of gridmap.lookup.matching against naive baselines.

Builds a synthetic city with ``gridmap.datasets.synth.synth_layers`` (default 100,000
households, i.e. a 100,000-address registry), then times, in process, one
lookup at a time:

* address lookups (``AddressRegistry.match_address``) on address variants
  (canonical, dash form, Chinese numerals, city prefix, street typo), against a
  linear rapidfuzz scan of every normalised address (``process.extractOne``
  with ``fuzz.ratio``), the obvious alternative;
* coordinate lookups (``AddressRegistry.match_point``: owner, boundary
  distances, nearest station; and ``owners_at``: the join alone), against a
  ``geopandas.sjoin`` of a one-row GeoDataFrame per point.

The cyclic garbage collector is paused inside the timed loops (as ``timeit``
does). Reports p50/p99 latency and the share of correct owners for each, as a
Markdown table (and JSON with ``--json``).

Usage::

    .venv/bin/python benchmarks/bench_locate.py                 # 100k addresses
    .venv/bin/python benchmarks/bench_locate.py --households 20000 --microgrids 1600
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
from rapidfuzz import fuzz, process

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gridmap.datasets.synth import synth_layers
from gridmap.join.core import assign_points, build_hierarchy
from gridmap.lookup.address import normalise_text, parse_address
from gridmap.lookup.matching import AddressRegistry
from gridmap.workspace.store import Workspace

CN = "零一二三四五六七八九"


def _variants(
    addresses: list[str], streets: set[str], rng: np.random.Generator
) -> list[tuple[str, int]]:
    out = []
    for i, a in enumerate(addresses):
        s, b, u, r = parse_address(a).key
        kind = i % 5
        if kind == 0:
            q = a
        elif kind == 1:
            q = f"{s}{b}-{u}-{r}"
        elif kind == 2:
            q = f"{s}{b}栋{''.join(CN[int(d)] for d in u)}单元{''.join(CN[int(d)] for d in r)}"
        elif kind == 3:
            q = f"山西省临汾市尧都区{s}{b}号楼{u}单元{r}"
        else:  # one character missing (re-drawn when that spells another real street)
            typo = s
            for _ in range(10):
                pos = int(rng.integers(len(s)))
                typo = s[:pos] + s[pos + 1 :]
                if typo not in streets:
                    break
            q = f"{typo}{b}号楼{u}单元{r}"
        out.append((q, i))
    return out


KINDS = ("canonical", "dash", "numerals", "prefix", "typo")


def _pct(ns: list[int]) -> tuple[float, float]:
    a = np.asarray(ns, dtype=float) / 1e3  # microseconds
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def run(households: int, microgrids: int, queries: int, baseline_queries: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    layers = synth_layers(seed=seed, households=households, microgrids=microgrids)
    t_synth = time.perf_counter() - t0
    ws = Workspace(Path("bench.gpkg"), layers, (0, 0))
    t0 = time.perf_counter()
    reg = AddressRegistry.from_workspace(ws)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    reg.match_point(*layers["microgrids"].geometry.iloc[0].representative_point().coords[0])
    t_geo = time.perf_counter() - t0

    hh = layers["households"]
    truth = assign_points(hh, build_hierarchy(layers), nearest=False)
    truth_mg = truth["microgrid_id"].to_numpy(dtype=object)
    pick = rng.choice(len(hh), size=min(queries, len(hh)), replace=False)
    addrs = [str(hh["address"].iloc[k]) for k in pick]
    variants = _variants(addrs, set(reg.streets), rng)

    # --- address: gridmap (the cyclic GC is paused in timed loops, as timeit does)
    gc.collect()
    gc.disable()
    lat_ns, correct, ok, wrong_ok, wrong_examples = [], 0, 0, 0, []
    not_ok_by_kind: dict[str, int] = {}
    for q, i in variants:
        t = time.perf_counter_ns()
        res = reg.match_address(q)
        lat_ns.append(time.perf_counter_ns() - t)
        exp = truth_mg[pick[i]]
        ok += res.status == "ok"
        if res.status != "ok":
            tag = f"{KINDS[i % 5]}:{res.status}" + (" (in no micro-grid)" if exp is None else "")
            not_ok_by_kind[tag] = not_ok_by_kind.get(tag, 0) + 1
        if (res.status == "ok" and res.microgrid_id == exp) or (
            res.status == "not_found" and exp is None and res.grid_id is None
        ):
            correct += 1  # right owner, or rightly no owner (a flat outside every grid)
        elif res.status == "ok":
            wrong_ok += 1
            wrong_examples.append((q, addrs[i], res.matched_address, res.microgrid_id, exp))
    addr = {
        "p50_us": _pct(lat_ns)[0],
        "p99_us": _pct(lat_ns)[1],
        "ok_share": ok / len(variants),
        "correct_share": correct / len(variants),
        "wrong_ok": wrong_ok,
        "wrong_examples": wrong_examples[:20],
        "not_ok_by_kind": not_ok_by_kind,
        "n": len(variants),
    }

    # --- address: linear rapidfuzz scan over all normalised addresses
    norm_all = [normalise_text(a) for a in hh["address"]]
    lat_ns, correct, wrong_addr = [], 0, 0
    sub = variants[:baseline_queries]
    for q, i in sub:
        t = time.perf_counter_ns()
        _, _, k = process.extractOne(normalise_text(q), norm_all, scorer=fuzz.ratio)
        lat_ns.append(time.perf_counter_ns() - t)
        correct += truth_mg[k] == truth_mg[pick[i]]
        wrong_addr += k != pick[i]
    base_addr = {
        "p50_us": _pct(lat_ns)[0],
        "p99_us": _pct(lat_ns)[1],
        "correct_share": correct / len(sub),
        "wrong_address_share": wrong_addr / len(sub),
        "n": len(sub),
    }

    # --- coordinates
    minx, miny, maxx, maxy = layers["microgrids"].total_bounds
    xs = rng.uniform(minx, maxx, queries)
    ys = rng.uniform(miny, maxy, queries)
    ref = assign_points(
        gpd.GeoDataFrame(geometry=gpd.points_from_xy(xs, ys), crs="EPSG:4326"),
        reg.hierarchy,
        nearest=False,
    )["microgrid_id"].to_numpy(dtype=object)
    full_ns, join_ns, agree = [], [], 0
    for k in range(queries):
        t = time.perf_counter_ns()
        res = reg.match_point(xs[k], ys[k])
        full_ns.append(time.perf_counter_ns() - t)
        t = time.perf_counter_ns()
        owner, _ = reg.owners_at(xs[k], ys[k])
        join_ns.append(time.perf_counter_ns() - t)
        agree += res.microgrid_id == ref[k] and owner[0] == ref[k]
    mg = layers["microgrids"][["microgrid_id", "geometry"]]
    base_ns, base_agree = [], 0
    for k in range(min(baseline_queries, queries)):
        t = time.perf_counter_ns()
        one = gpd.GeoDataFrame(geometry=gpd.points_from_xy([xs[k]], [ys[k]]), crs="EPSG:4326")
        j = gpd.sjoin(one, mg, how="left", predicate="intersects")
        got = j["microgrid_id"].dropna().min() if j["microgrid_id"].notna().any() else None
        base_ns.append(time.perf_counter_ns() - t)
        base_agree += got == ref[k]
    coord = {
        "match_point_p50_us": _pct(full_ns)[0],
        "match_point_p99_us": _pct(full_ns)[1],
        "owners_at_p50_us": _pct(join_ns)[0],
        "owners_at_p99_us": _pct(join_ns)[1],
        "agree_with_core_join": agree / queries,
        "n": queries,
    }
    base_coord = {
        "p50_us": _pct(base_ns)[0],
        "p99_us": _pct(base_ns)[1],
        "agree_with_core_join": base_agree / len(base_ns),
        "n": len(base_ns),
    }
    gc.enable()
    return {
        "households": len(hh),
        "microgrids": len(layers["microgrids"]),
        "registry_records": len(reg),
        "streets": len(reg.streets),
        "synth_s": round(t_synth, 1),
        "registry_build_s": round(t_build, 2),
        "first_coordinate_lookup_s": round(t_geo, 2),
        "address": addr,
        "address_baseline_linear_rapidfuzz": base_addr,
        "coordinate": coord,
        "coordinate_baseline_sjoin_per_point": base_coord,
    }


def markdown(r: dict) -> str:
    a, ba, c, bc = (
        r["address"],
        r["address_baseline_linear_rapidfuzz"],
        r["coordinate"],
        r["coordinate_baseline_sjoin_per_point"],
    )
    rows = [
        "| lookup | p50 | p99 | correct owner | n |",
        "|---|---:|---:|---:|---:|",
        f"| address, gridmap registry | {a['p50_us']:.0f} µs | {a['p99_us']:.0f} µs | "
        f"{a['correct_share']:.1%} right, {a['wrong_ok']} wrong ok, rest ambiguous | {a['n']} |",
        f"| address, linear rapidfuzz scan (baseline) | {ba['p50_us']:.0f} µs | {ba['p99_us']:.0f} µs "
        f"| {ba['correct_share']:.1%}, every answer confident; {ba['wrong_address_share']:.1%} "
        f"picked another flat | {ba['n']} |",
        f"| coordinate, match_point (owner + boundary + station) | {c['match_point_p50_us']:.0f} µs "
        f"| {c['match_point_p99_us']:.0f} µs | {c['agree_with_core_join']:.1%} | {c['n']} |",
        f"| coordinate, owners_at (join only) | {c['owners_at_p50_us']:.0f} µs | "
        f"{c['owners_at_p99_us']:.0f} µs | | {c['n']} |",
        f"| coordinate, geopandas.sjoin per point (baseline) | {bc['p50_us']:.0f} µs | "
        f"{bc['p99_us']:.0f} µs | {bc['agree_with_core_join']:.1%} | {bc['n']} |",
    ]
    head = (
        f"{r['registry_records']:,} addresses on {r['streets']} streets, {r['microgrids']:,} "
        f"micro-grids; registry build {r['registry_build_s']} s, first coordinate lookup "
        f"(builds trees) {r['first_coordinate_lookup_s']} s; p50 ratio address "
        f"{ba['p50_us'] / a['p50_us']:.0f}x, coordinate {bc['p50_us'] / c['match_point_p50_us']:.1f}x "
        "(baseline / gridmap)."
    )
    not_ok = ", ".join(f"{k} {v}" for k, v in sorted(a["not_ok_by_kind"].items())) or "none"
    return head + "\n\n" + "\n".join(rows) + f"\n\nAddress answers not ok, by variant: {not_ok}."


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--households", type=int, default=100_000)
    ap.add_argument("--microgrids", type=int, default=8_200)
    ap.add_argument("--queries", type=int, default=2_000)
    ap.add_argument("--baseline-queries", type=int, default=200)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = ap.parse_args()
    r = run(args.households, args.microgrids, args.queries, args.baseline_queries, args.seed)
    print(markdown(r))
    if args.json:
        args.json.write_text(json.dumps(r, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
