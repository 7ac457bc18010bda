"""Speed of `kmsguard usage` against `zcat` of the same files, side by side, plus the DuckDB
runner of the Athena SQL over the same files.

    .venv/bin/python bench/usage/run.py                 # 1,000,000 events in 900 files
    .venv/bin/python bench/usage/run.py --events 100000 --files 90 --repeat 1

The tree is generated once (tests/usage/generator.py) and cached under bench/out/usage/.
Each measured command is a separate process; wall time and the peak resident memory of the
whole process tree (sampled from /proc every 20 ms) are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.usage.generator import write_bench_tree  # noqa: E402  # after sys.path

BIN = REPO / ".venv" / "bin"


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            out.extend(int(c) for c in (task / "children").read_text().split())
    except OSError:
        pass
    return out


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(
    cmd: list[str], *, stdout: int | None = subprocess.DEVNULL
) -> tuple[float, float, float]:
    """(wall seconds, peak RSS of the process tree in MB, CPU seconds of the tree)."""
    peak = 0
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            todo, total = [proc.pid], 0
            while todo:
                p = todo.pop()
                total += _rss_kb(p)
                todo.extend(_children(p))
            peak = max(peak, total)
            time.sleep(0.02)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    t.join()
    if proc.returncode not in (0,):
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {err.decode()[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, peak / 1024, cpu


def ensure_tree(events: int, files: int) -> tuple[Path, dict[str, int]]:
    root = REPO / "bench" / "out" / "usage" / f"tree-{events}-{files}"
    manifest = root / "manifest.json"
    if manifest.exists():
        return root, json.loads(manifest.read_text())
    print(f"generating {events:,} events in {files} files under {root} ...", flush=True)
    t = time.perf_counter()
    counts = write_bench_tree(root / "logs", events=events, files=files)
    manifest.write_text(json.dumps(counts))
    print(f"  generated in {time.perf_counter() - t:.0f} s", flush=True)
    return root, counts


DUCKDB_SNIPPET = """
import sys, json
from kmsguard.usage.engine_duckdb import analyze_files
files = [l.strip() for l in open(sys.argv[1]) if l.strip()]
r = analyze_files(files, threads=int(sys.argv[3]))
open(sys.argv[2], "w").write(r.to_json())
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=900)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--no-duckdb", action="store_true")
    args = ap.parse_args()

    root, counts = ensure_tree(args.events, args.files)
    logs = root / "logs"
    files = sorted(str(p) for p in logs.rglob("*.json.gz"))
    gz_mb = sum(Path(f).stat().st_size for f in files) / 1e6
    listing = root / "files.txt"
    listing.write_text("\n".join(files))
    out_fast, out_duck = root / "usage-fast.json", root / "usage-duckdb.json"
    print(
        f"input: {len(files)} files, {gz_mb:.0f} MB gzip, {counts['events']:,} events, "
        f"{counts['kms_events']:,} KMS events; {os.cpu_count()} cores; jobs={args.jobs}"
    )

    runs: dict[str, list[tuple[float, float, float]]] = {
        "zcat": [], "kmsguard usage": [], "duckdb": []
    }
    for _ in range(args.repeat):
        runs["zcat"].append(measure(["zcat", *files]))
        runs["kmsguard usage"].append(
            measure([str(BIN / "kmsguard"), "usage", str(logs), "--format", "json",
                     "-o", str(out_fast), "--jobs", str(args.jobs)])
        )
        if not args.no_duckdb:
            runs["duckdb"].append(
                measure([str(BIN / "python"), "-c", DUCKDB_SNIPPET, str(listing),
                         str(out_duck), str(args.jobs)])
            )

    fast = json.loads(out_fast.read_text())
    assert fast["kms_events"] == counts["kms_events"], "kms_events differs from the generator"
    assert fast["events_read"] == counts["events"], "events_read differs from the generator"
    calls = sum(k["calls"] for k in fast["keys"])
    print(f"check: kmsguard counted {fast['kms_events']:,} KMS events (= generator), "
          f"{len(fast['keys'])} keys, {calls:,} successful calls")
    if not args.no_duckdb:
        duck = json.loads(out_duck.read_text())
        same = duck["keys"] == fast["keys"]
        print(f"check: DuckDB (Athena SQL) report keys identical to kmsguard's: {same}")

    zcat_best = min(w for w, _, _ in runs["zcat"])
    with Path("/proc/loadavg").open() as f:
        load = f.read().split()[:3]
    print(f"\nload average during the runs (other processes share the machine): {' '.join(load)}")
    print(f"{'command':<16} {'best s':>7} {'all runs s':>18} {'KMS ev/s':>10} "
          f"{'gz MB/s':>8} {'CPU s':>6} {'peak RSS MB':>12} {'vs zcat':>8}")
    for name, rs in runs.items():
        if not rs:
            continue
        best = min(w for w, _, _ in rs)
        rss = max(m for _, m, _ in rs)
        cpu = min(c for _, _, c in rs)
        all_runs = " ".join(f"{w:.2f}" for w, _, _ in rs)
        print(f"{name:<16} {best:>7.2f} {all_runs:>18} {counts['kms_events'] / best:>10,.0f} "
              f"{gz_mb / best:>8.1f} {cpu:>6.1f} {rss:>12.0f} {zcat_best / best:>7.2f}x")
    pairs = list(zip(runs["zcat"], runs["kmsguard usage"], strict=True))
    wins = sum(1 for (z, _, _), (k, _, _) in pairs if k < z)
    ratios = " ".join(f"{z / k:.2f}x" for (z, _, _), (k, _, _) in pairs)
    print(f"\nkmsguard usage vs the zcat run just before it: {ratios} "
          f"(faster in {wins} of {len(pairs)})")


if __name__ == "__main__":
    main()
