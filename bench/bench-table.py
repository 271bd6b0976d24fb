#!/usr/bin/env python3
"""Turn `gwlb-bench --json` output into the README's Markdown benchmark table.

    ./build/bench/gwlb-bench --json > bench.json
    python3 bench/bench-table.py bench.json > table.md
"""
import json
import platform
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
    try:
        import os
        cores = os.cpu_count()
    except Exception:
        cores = "?"
    return f"{cpu}, {cores} cores, {platform.system()} {platform.release()}"


def main():
    src = open(sys.argv[1]) if len(sys.argv) > 1 else sys.stdin
    rows = json.load(src)
    print(f"Machine: {machine()}. Median of 9 runs (ns per operation; min..max in brackets).")
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
