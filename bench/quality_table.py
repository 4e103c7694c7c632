#!/usr/bin/env python3
"""The before/after table of docs/QUALITY.md from the logs of bench/quality.py.

    python3 bench/quality_table.py LABEL=LOG [LABEL=LOG ...]

Each LOG holds the JSON lines quality.py prints (pair, grain, style, content, seconds).
Prints a markdown table, a row per pair of bench/quality_pairs.txt and a column per log,
then the medians over all pairs and over the pairs that every log has.
"""
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def load(path):
    rows = {}
    for line in open(path):
        if line.startswith("{"):
            d = json.loads(line)
            rows[d["pair"]] = d
    return rows


def cell(r):
    if not r:
        return "—"
    s = f"{r['grain']:.2f} / {r['style']:.3f} / {r['content']:.3f}"
    return s + (f" / {r['seconds']:.0f}" if r.get("seconds") else "")


def medians(rows, keys):
    vals = [r for p, r in rows.items() if p in keys]
    if not vals:
        return "—"
    m = lambda k: statistics.median(v[k] for v in vals)
    return f"{m('grain'):.2f} / {m('style'):.3f} / {m('content'):.3f}"


def main():
    cols = [a.split("=", 1) for a in sys.argv[1:]]
    if not cols or any(len(c) != 2 for c in cols):
        sys.exit(__doc__)
    logs = [(label, load(path)) for label, path in cols]
    pairs = [l.split() for l in open(os.path.join(HERE, "quality_pairs.txt"))
             if l.strip() and not l.startswith("#")]
    name = lambda p: os.path.splitext(os.path.basename(p))[0]
    print("| pair | " + " | ".join(label for label, _ in logs) + " |")
    print("|---" * (len(logs) + 1) + "|")
    for i, (c, s) in enumerate(pairs, 1):
        print(f"| {i}. {name(c)} × {name(s)} | " + " | ".join(cell(r.get(i)) for _, r in logs) + " |")
    every = set(range(1, len(pairs) + 1))
    common = set.intersection(*(set(r) for _, r in logs))
    print("| median, all pairs | " + " | ".join(medians(r, every) for _, r in logs) + " |")
    if common != every:
        label = f"median, pairs {','.join(map(str, sorted(common)))}"
        print(f"| {label} | " + " | ".join(medians(r, common) for _, r in logs) + " |")


if __name__ == "__main__":
    main()
