#!/usr/bin/env python3
"""Map nstyle.stylize over the rows of a batch manifest with Ray.

The manifest is the one `nstyle batch` reads: CSV with a header (content, style, output,
and columns named like options, e.g. style_weight) or JSON lines with the same keys;
relative paths are relative to the manifest's folder, which every worker must see at the
same path (a shared volume). Like `nstyle batch`, a row whose output exists is skipped,
outputs are written atomically, and a failed row does not stop the others.

    python deploy/ray_stylize.py jobs.csv --set size=512 --cpus-per-task 4
    python deploy/ray_stylize.py jobs.csv --address auto     # an existing Ray cluster

Each task reserves --cpus-per-task CPUs (@ray.remote(num_cpus=...)) and runs nstyle on
that many threads, so Ray packs as many transfers on a node as it has cores. Needs
`pip install ray` and the nstyle package (`pip install ./python`) on every node.
"""

import argparse
import csv
import json
import os
import pathlib
import sys
import time

import ray

KEYS = ("content", "style", "output")


def read_manifest(path: pathlib.Path) -> list:
    """Rows as dicts of text; keys normalised to snake_case, empty cells dropped."""
    text = path.read_text()
    if path.suffix in (".jsonl", ".ndjson", ".json") or text.lstrip().startswith("{"):
        raw = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        lines = [l for l in text.splitlines() if not l.lstrip().startswith("#")]
        raw = list(csv.DictReader(lines, skipinitialspace=True))
    rows = []
    for r in raw:
        row = {k.strip().replace("-", "_"): v for k, v in r.items() if v not in (None, "")}
        for k in ("content", "output", "weights", "init"):
            v = row.get(k)
            if isinstance(v, str) and v not in ("noise", "content") and not os.path.isabs(v):
                row[k] = str(path.parent / v.strip())
        if isinstance(row.get("style"), list):
            row["style"] = ";".join(row["style"])
        if "style" in row:
            row["style"] = ";".join(
                s if os.path.isabs(s) else str(path.parent / s)
                for s in (p.strip() for p in str(row["style"]).split(";")) if s
            )
        rows.append(row)
    return rows


@ray.remote(num_cpus=1)
def stylize_row(index: int, row: dict, options: dict, threads: int) -> dict:
    import nstyle  # imported on the worker

    out = pathlib.Path(row.get("output", ""))
    result = {"row": index, "output": str(out)}
    if out.is_file():
        return {**result, "status": "skipped"}
    start = time.monotonic()
    try:
        row_options = {k: v for k, v in row.items() if k not in KEYS}
        styles = str(row.get("style", "")).split(";")
        image = nstyle.stylize(
            row.get("content"),
            styles if len(styles) > 1 else styles[0],
            threads=threads,
            **{**options, **row_options},
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        nstyle.save_image(out, image)
    except (ValueError, TypeError, OSError) as e:
        return {**result, "status": "failed", "error": str(e)}
    return {**result, "status": "done", "elapsed_s": time.monotonic() - start}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("manifest", type=pathlib.Path)
    p.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                   help="an nstyle option for every row (a column overrides it), e.g. size=512")
    p.add_argument("--cpus-per-task", type=int, default=2,
                   help="CPUs each transfer reserves and uses as threads (default 2)")
    p.add_argument("--address", default=None,
                   help="Ray cluster to join (default: start a local one)")
    p.add_argument("--summary", type=pathlib.Path, default=None,
                   help="summary JSON (default: MANIFEST.ray.summary.json beside it)")
    a = p.parse_args()

    options = dict(s.split("=", 1) for s in a.set)
    rows = read_manifest(a.manifest)
    ray.init(address=a.address)
    start = time.monotonic()
    task = stylize_row.options(num_cpus=a.cpus_per_task)
    pending = [task.remote(i, r, options, a.cpus_per_task) for i, r in enumerate(rows)]
    results = []
    while pending:
        ready, pending = ray.wait(pending)
        for r in ray.get(ready):
            results.append(r)
            print(f"row {r['row']} -> {r['output']}: {r['status']} {r.get('error', '')}",
                  file=sys.stderr)
    results.sort(key=lambda r: r["row"])
    summary = {
        "manifest": str(a.manifest),
        "counts": {s: sum(r["status"] == s for r in results)
                   for s in ("done", "skipped", "failed")},
        "rows": results,
        "elapsed_s": time.monotonic() - start,
    }
    path = a.summary or a.manifest.with_name(a.manifest.stem + ".ray.summary.json")
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(json.dumps(summary, indent=2) + "\n")
    os.replace(tmp, path)
    print(f"{summary['counts']} in {summary['elapsed_s']:.1f} s; wrote {path}", file=sys.stderr)
    return 1 if summary["counts"]["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
