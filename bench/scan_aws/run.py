"""Benchmark `kmsguard scan aws` against Prowler's KMS check and a naive sequential boto3
loop, all on the same moto server behind the fault proxy (50 ms per API call by default).

    .venv/bin/python bench/scan_aws/run.py [--keys 150] [--latency 0.05] [--no-prowler]

Prints a table (wall time, keys/s, API calls per key as counted by the proxy) and writes
bench/out/scan_aws/results.json. Prowler is installed on first use into
bench/out/prowler-venv (PyPI); if that fails the reason is recorded and the other two
still run. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from tests.integration.aws_seed import (  # noqa: E402
    OUTSIDER,
    OWN,
    create_key,
    kms,
    public_policy,
    root_policy,
    shared_policy,
)
from tests.integration.moto import moto_server  # noqa: E402

OUT = ROOT / "bench" / "out" / "scan_aws"
PROWLER_VENV = ROOT / "bench" / "out" / "prowler-venv"
PROWLER_CHECK = "kms_key_not_publicly_accessible"
VENV_BIN = Path(sys.executable).parent


# -- seeding -------------------------------------------------------------------------


def seed(url: str, n_keys: int, regions: list[str]) -> dict[str, int]:
    """n keys round-robin over regions: every 5th public, every 5th shared with an outside
    account, every 5th with an outside grant; the rest private (some without owner)."""

    def one(i: int) -> str:
        client = kms(url, regions[i % len(regions)])
        kind = (i // len(regions)) % 5
        if kind == 0:
            create_key(client, public_policy(OWN))
        elif kind == 1:
            create_key(client, shared_policy(OWN, OUTSIDER, ["kms:Decrypt"]))
        elif kind == 2:
            create_key(
                client, root_policy(OWN), grants=((f"arn:aws:iam::{OUTSIDER}:root", ("Decrypt",)),)
            )
        else:
            create_key(client, root_policy(OWN), owner=None if kind == 4 else "team")
        return ("public", "cross-account", "grant", "private", "private")[kind]

    with ThreadPoolExecutor(4) as pool:
        kinds = list(pool.map(one, range(n_keys)))
    return {k: kinds.count(k) for k in sorted(set(kinds))}


# -- the proxy -----------------------------------------------------------------------


def start_proxy(upstream: str, latency: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests" / "integration" / "fault_proxy.py"),
            "--upstream",
            upstream,
            "--latency",
            str(latency),
            "--max-seconds",
            "1800",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def proxy_counts(proxy_url: str, *, reset: bool) -> dict[str, int]:
    req = urllib.request.Request(
        f"{proxy_url}/__fault_proxy/stats", method="POST" if reset else "GET"
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return dict(json.load(resp)["operations"])


# -- contenders ----------------------------------------------------------------------


def timed(fn: Callable[[], dict[str, Any]], proxy_url: str) -> dict[str, Any]:
    proxy_counts(proxy_url, reset=True)
    started = time.monotonic()
    info = fn()
    wall = time.monotonic() - started
    ops = proxy_counts(proxy_url, reset=False)
    return {
        "wall_seconds": round(wall, 2),
        "requests": sum(ops.values()),
        "operations": ops,
        **info,
    }


def run_kmsguard(
    env: dict[str, str], regions: list[str], extra: list[str], name: str
) -> dict[str, Any]:
    out = OUT / f"{name}.json"
    cmd = [str(VENV_BIN / "kmsguard"), "scan", "aws", "--format", "json", "-o", str(out)]
    for r in regions:
        cmd += ["--region", r]
    proc = subprocess.run([*cmd, *extra], env=env, capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 3):
        return {"error": f"exit {proc.returncode}: {proc.stderr.strip()[-400:]}"}
    summary = json.loads(out.read_text())["summary"]
    return {
        "command": " ".join(["kmsguard", *cmd[1:3], *extra]),
        "keys": summary["keys_scanned"],
        "found": summary["verdicts"],
        "scan_seconds": summary["elapsed_seconds"],
    }


def run_naive(env: dict[str, str], regions: list[str]) -> dict[str, Any]:
    """What a first script would do: one region after another, one call after another."""
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
    keys = 0
    for region in regions:
        client = session.client("kms", region_name=region, endpoint_url=env["AWS_ENDPOINT_URL"])
        for key in client.list_keys()["Keys"]:
            client.describe_key(KeyId=key["KeyId"])
            client.get_key_policy(KeyId=key["KeyId"], PolicyName="default")
            client.list_grants(KeyId=key["KeyId"])
            client.list_resource_tags(KeyId=key["KeyId"])
            keys += 1
    return {"command": "sequential boto3 loop (4 calls per key, no judging)", "keys": keys}


def ensure_prowler() -> tuple[Path | None, str | None]:
    exe = PROWLER_VENV / "bin" / "prowler"
    if exe.exists():
        return exe, None
    log = OUT / "prowler-install.log"
    try:
        subprocess.run([sys.executable, "-m", "venv", str(PROWLER_VENV)], check=True)
        with log.open("w") as fh:
            subprocess.run(
                [str(PROWLER_VENV / "bin" / "pip"), "install", "--quiet", "prowler"],
                stdout=fh,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=1500,
            )
    except (subprocess.SubprocessError, OSError) as exc:
        return None, f"prowler could not be installed ({exc}); see {log}"
    return exe, None


def run_prowler(exe: Path, env: dict[str, str], regions: list[str]) -> dict[str, Any]:
    outdir = OUT / "prowler"
    cmd = [
        str(exe), "aws", "--checks", PROWLER_CHECK, "--region", *regions,
        "--output-formats", "csv", "--output-directory", str(outdir), "--no-banner",
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 3):
        return {"error": f"exit {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-400:]}"}
    newest = max(outdir.glob("*.csv"), key=lambda p: p.stat().st_mtime)
    with newest.open(newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    status = [r.get("STATUS", "") for r in rows]
    return {
        "command": f"prowler aws --checks {PROWLER_CHECK} --region ...",
        "keys": len(rows),
        "found": {"FAIL": status.count("FAIL"), "PASS": status.count("PASS")},
    }


# -- main ----------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--keys", type=int, default=150)
    parser.add_argument("--regions", default="us-east-1,eu-west-1,ap-southeast-2")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per API call")
    parser.add_argument("--no-prowler", action="store_true")
    args = parser.parse_args()
    regions = args.regions.split(",")
    OUT.mkdir(parents=True, exist_ok=True)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    base_env |= {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    }
    os.environ.update(base_env)
    results: dict[str, Any] = {"keys": args.keys, "regions": regions, "latency": args.latency}
    with moto_server() as url:
        t = time.monotonic()
        results["seeded"] = seed(url, args.keys, regions)
        print(f"seeded {args.keys} keys in {time.monotonic() - t:.1f} s: {results['seeded']}")
        proxy, proxy_url = start_proxy(url, args.latency)
        env = base_env | {"AWS_ENDPOINT_URL": proxy_url}
        os.environ["AWS_ENDPOINT_URL"] = proxy_url
        try:
            runs: dict[str, dict[str, Any]] = {}
            runs["kmsguard (defaults)"] = timed(
                lambda: run_kmsguard(env, regions, [], "kmsguard-default"), proxy_url
            )
            runs["kmsguard --max-rps 200 --workers 32"] = timed(
                lambda: run_kmsguard(
                    env, regions, ["--max-rps", "200", "--workers", "32"], "kmsguard-fast"
                ),
                proxy_url,
            )
            runs["naive sequential boto3"] = timed(lambda: run_naive(env, regions), proxy_url)
            if args.no_prowler:
                results["prowler"] = "skipped (--no-prowler)"
            else:
                exe, why = ensure_prowler()
                if exe is None:
                    results["prowler"] = why
                else:
                    runs["prowler"] = timed(lambda: run_prowler(exe, env, regions), proxy_url)
        finally:
            proxy.terminate()
            proxy.wait(timeout=10)
    results["runs"] = runs
    report(results)
    (OUT / "results.json").write_text(json.dumps(results, indent=2))
    print(f"\nwritten: {OUT / 'results.json'}")
    return 0


def report(results: dict[str, Any]) -> None:
    runs = results["runs"]
    n = results["keys"]
    print(
        f"\n{n} keys in {len(results['regions'])} regions, "
        f"{results['latency'] * 1000:.0f} ms injected per API call\n"
    )
    seeded = results["seeded"]
    print(
        f"seeded: {seeded.get('public', 0)} public, "
        f"{seeded.get('cross-account', 0)} shared with an outside account, "
        f"{seeded.get('grant', 0)} with an outside grant, {seeded.get('private', 0)} private\n"
    )
    print(f"{'contender':38} {'wall s':>8} {'keys/s':>8} {'requests':>9} {'req/key':>8}  found")
    prowler_wall = runs.get("prowler", {}).get("wall_seconds")
    for name, r in runs.items():
        if "error" in r:
            print(f"{name:38} error: {r['error']}")
            continue
        wall = r["wall_seconds"]
        found = r.get("found", "")
        print(
            f"{name:38} {wall:8.2f} {n / wall:8.1f} {r['requests']:9d} "
            f"{r['requests'] / n:8.2f}  {found}"
        )
    if prowler_wall:
        for name, r in runs.items():
            if name.startswith("kmsguard") and "error" not in r:
                print(f"speed-up of {name} over prowler: {prowler_wall / r['wall_seconds']:.1f}x")
    elif "prowler" in results:
        print(f"prowler: {results['prowler']}")


if __name__ == "__main__":
    sys.exit(main())
