"""Benchmark: `kmsguard scan iac` against `checkov --check CKV_AWS_33` on the same generated
tree of mixed Terraform and CloudFormation files, side by side in one run.

    .venv/bin/python bench/iac/run.py [--files 5000] [--no-checkov]

Prints wall time of each, the speed-up, and recall / false positives against the
generator's ground truth. checkov is installed into bench/out/checkov-venv on first use.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
OUT = REPO / "bench" / "out"
sys.path.insert(0, str(HERE))

from generate import generate  # noqa: E402 - the generator sits beside this script

#: A throwaway virtual environment outside the repository (never the project's lock).
CHECKOV_VENV = Path(
    os.environ.get("KMSGUARD_CHECKOV_VENV", Path(tempfile.gettempdir()) / "kmsguard-checkov-venv")
)
CHECKOV_SPEC = "checkov>=3,<4"


def ensure_checkov() -> Path | None:
    exe = CHECKOV_VENV / "bin" / "checkov"
    if exe.exists():
        return exe
    print(f"installing {CHECKOV_SPEC} into {CHECKOV_VENV} ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(CHECKOV_VENV)], check=True)
        subprocess.run(
            [str(CHECKOV_VENV / "bin" / "pip"), "install", "--quiet", CHECKOV_SPEC],
            check=True,
        )
    except subprocess.CalledProcessError as exc:
        print(f"checkov could not be installed: {exc}")
        return None
    return exe if exe.exists() else None


def offline(cmd: list[str]) -> list[str]:
    """Run without any network but loopback (a fresh network namespace) when possible:
    checkov otherwise tries to reach its vendor's API."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], check=False).returncode == 0:
        return [unshare, "-n", *cmd]
    return cmd


def timed(
    cmd: list[str], stdout_path: Path, env: dict[str, str] | None = None
) -> tuple[float, int]:
    start = time.perf_counter()
    with stdout_path.open("w") as fh:
        proc = subprocess.run(
            cmd, stdout=fh, stderr=subprocess.PIPE, text=True, check=False, env=env
        )
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1, 3, 4):
        print(proc.stderr[-2000:])
    return elapsed, proc.returncode


def kmsguard_flagged(report: Path, tree: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for f in json.loads(report.read_text()):
        rel = Path(f["file"]).resolve().relative_to(tree.resolve()).as_posix()
        if f["resource"]:
            out[f"{rel}::{f['resource']}"] = f["verdict"]
    return out


def checkov_flagged(report: Path) -> set[str]:
    text = report.read_text().strip()
    if not text:
        return set()
    data: Any = json.loads(text)
    reports = data if isinstance(data, list) else [data]
    flagged: set[str] = set()
    for r in reports:
        for c in (r.get("results") or {}).get("failed_checks") or []:
            if c.get("check_id") != "CKV_AWS_33":
                continue
            rel = str(c["file_path"]).lstrip("/")
            resource = str(c["resource"])
            for prefix in ("AWS::KMS::Key.", "AWS::KMS::ReplicaKey."):
                resource = resource.removeprefix(prefix)
            flagged.add(f"{rel}::{resource}")
    return flagged


def score(truth: dict[str, Any], flagged: set[str]) -> dict[str, Any]:
    exposed = {k for k, v in truth.items() if v["exposed"]}
    safe = set(truth) - exposed
    missed = Counter(truth[k]["form"] for k in exposed - flagged)
    false_pos = Counter(truth[k]["form"] for k in safe & flagged)
    return {
        "exposed": len(exposed),
        "found": len(exposed & flagged),
        "recall": len(exposed & flagged) / len(exposed) if exposed else 1.0,
        "false_positives": len(safe & flagged),
        "missed_by_form": dict(missed),
        "false_positives_by_form": dict(false_pos),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--no-checkov", action="store_true")
    args = ap.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    tree = OUT / "iac-tree"
    truth = generate(tree, args.files)
    n_files = sum(1 for p in tree.rglob("*") if p.is_file())
    print(
        f"tree: {n_files} files, {len(truth)} KMS keys "
        f"({sum(v['exposed'] for v in truth.values())} exposed)"
    )

    kmsguard = Path(sys.executable).parent / "kmsguard"
    kg_report = OUT / "iac-kmsguard.json"
    kg_time, kg_rc = timed(
        offline([str(kmsguard), "scan", "iac", str(tree), "--format", "json"]), kg_report
    )
    kg_verdicts = kmsguard_flagged(kg_report, tree)
    kg_flagged = {k for k, v in kg_verdicts.items() if v in ("public", "cross-account")}
    kg_score = score(truth, kg_flagged)
    print(
        f"kmsguard scan iac: {kg_time:7.2f} s  exit {kg_rc}  recall "
        f"{kg_score['recall']:.3f} ({kg_score['found']}/{kg_score['exposed']})  "
        f"false positives {kg_score['false_positives']}"
    )

    results: dict[str, Any] = {
        "files": n_files,
        "keys": len(truth),
        "kmsguard": {"seconds": kg_time, **kg_score},
    }
    if not args.no_checkov:
        exe = ensure_checkov()
        if exe is None:
            results["checkov"] = {"error": "not installed"}
        else:
            ck_report = OUT / "iac-checkov.json"
            env = {
                **os.environ,
                "BC_SKIP_MAPPING": "TRUE",
                "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE",
            }
            ck_time, ck_rc = timed(
                offline(
                    [
                        str(exe),
                        "-d",
                        str(tree),
                        "--check",
                        "CKV_AWS_33",
                        "--framework",
                        "terraform",
                        "cloudformation",
                        "-o",
                        "json",
                        "--quiet",
                        "--compact",
                        "--skip-download",
                    ]
                ),
                ck_report,
                env,
            )
            ck_score = score(truth, checkov_flagged(ck_report))
            print(
                f"checkov CKV_AWS_33: {ck_time:7.2f} s  exit {ck_rc}  recall "
                f"{ck_score['recall']:.3f} ({ck_score['found']}/{ck_score['exposed']})  "
                f"false positives {ck_score['false_positives']}"
            )
            print(f"speed-up: {ck_time / kg_time:.1f}x")
            print(f"checkov missed by form: {ck_score['missed_by_form']}")
            print(f"checkov false positives by form: {ck_score['false_positives_by_form']}")
            results["checkov"] = {"seconds": ck_time, **ck_score}
            results["speedup"] = ck_time / kg_time
    print(f"kmsguard missed by form: {kg_score['missed_by_form']}")
    (OUT / "iac-bench.json").write_text(json.dumps(results, indent=2))
    print(f"results: {OUT / 'iac-bench.json'}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    sys.exit(main())
