#!/usr/bin/env python3
"""Turn `gwlb-bench --json` output into the README's Markdown benchmark table.

    ./build/bench/gwlb-bench --json > bench.json
    python3 bench/bench-table.py bench.json > table.md

Several JSON files (separate runs of the whole program, e.g. spread over a
few minutes on a shared machine) give one row per benchmark: the median of
the runs' medians, and the smallest min and largest max seen.
"""
import json
import os
import platform
import statistics
import sys


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def merge(runs):
    """One row per (name, params, threads), in first-seen order."""
    order, rows = [], {}
    for run in runs:
        for r in run:
            k = (r["name"], r.get("params", ""), r["threads"])
            if k not in rows:
                order.append(k)
                rows[k] = {"first": r, "medians": [], "mins": [], "maxs": []}
            rows[k]["medians"].append(r["ns_per_op"])
            rows[k]["mins"].append(r["ns_min"])
            rows[k]["maxs"].append(r["ns_max"])
    out = []
    for k in order:
        e = rows[k]
        r = dict(e["first"])
        r["ns_per_op"] = statistics.median(e["medians"])
        r["ns_min"] = min(e["mins"])
        r["ns_max"] = max(e["maxs"])
        r["runs"] = len(e["medians"])
        if r.get("target_ns") is not None:
            r["target_met"] = r["ns_per_op"] <= r["target_ns"]
        out.append(r)
    return out


def main():
    paths = sys.argv[1:]
    runs = [json.load(open(p)) for p in paths] if paths else [json.load(sys.stdin)]
    rows = merge(runs)
    n = len(runs)
    what = "each run's median of 9 repetitions" if n == 1 else (
        f"median over {n} separate runs of each run's median of 9 repetitions")
    print(f"Machine: {machine()}. ns per operation: {what}; min..max over all repetitions in brackets.")
    print()
    print("| benchmark | params | threads | ns/op median | [min..max] | target | met | memory |")
    print("|---|---|---:|---:|---|---:|---|---|")
    for r in rows:
        target = r.get("target_ns")
        met = "" if target is None else ("yes" if r.get("target_met") else "**no**")
        mem = ""
        if "bytes" in r:
            mem = f"{r['bytes']:.1f} B {r.get('bytes_unit', '')}".strip()
        print(
            f"| {r['name']} | {r.get('params', '')} | {r['threads']} | {r['ns_per_op']:.1f} "
            f"| [{r['ns_min']:.1f}..{r['ns_max']:.1f}] | {'' if target is None else f'{target:g}'} "
            f"| {met} | {mem} |"
        )


if __name__ == "__main__":
    main()
