"""`kmsguard demo` with the `demo` extra: the whole product on a seeded local estate.

A moto server on 127.0.0.1 stands in for AWS. Each step runs the same code as the command
it prints, against a history database in the output folder (never the user's own):

1. seed the estate (2 accounts, 3 regions, 40 keys);
2. `scan aws --record`;
3. `scan iac --fail-on high --record` on the bundled templates (blocked before deployment);
4. `usage` on CloudTrail logs generated for the public quick-fix key;
5. `fix plan` + `fix apply --yes` for that key;
6. `monitor replay` of a day of key-policy events (a key made public, then fixed);
7. `scan aws --record` again: the fixed key resolves;
8. `report`: `dashboard.html` and `report.json` in the output folder.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .estate import ACCOUNTS, ORG_ID, REGIONS, ROLE, Estate, seed
from .server import OWN_ACCOUNT, moto_server, pointed_at

if TYPE_CHECKING:
    from kmsguard.store import History, RunRecord

FIX_ALIAS = "alias/orders-exports"
MONITOR_ALIAS = "alias/billing-archive"
STEPS = 8

Say = Callable[[str], None]


@dataclass
class LiveRun:
    output_dir: Path
    db_url: str
    sections: list[str] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def _section(number: int, title: str, commands: list[str], body: str) -> str:
    lines = [f"== {number}. {title} ==", *(f"$ {c}" for c in commands), "", body.rstrip()]
    return "\n".join(lines)


def run_live(base: Path, output_dir: Path, progress: Say) -> LiveRun:
    """Run the eight steps; the stand-in is stopped when this returns or raises (Ctrl-C
    included)."""
    started = time.monotonic()
    output_dir.mkdir(parents=True, exist_ok=True)
    db_path = output_dir / "kmsguard-demo.db"
    for stale in (db_path, output_dir / "kmsguard-demo.db-journal"):
        stale.unlink(missing_ok=True)
    run = LiveRun(output_dir, f"sqlite:///{db_path}")
    progress(f"[1/{STEPS}] starting the local AWS stand-in (moto on 127.0.0.1)")
    with moto_server() as url, pointed_at(url):
        progress(f"      local AWS stand-in on {url}; seeding the estate")
        estate = seed(base / "policies")
        run.sections.append(
            _section(
                1, "A local AWS estate", [f"(moto server on {url.replace('http://', '')})"],
                f"{estate.customer_keys} customer managed keys and {estate.aws_managed} AWS "
                f"managed keys in accounts {', '.join(ACCOUNTS)}, regions "
                f"{', '.join(REGIONS)}",
            )
        )
        _steps(run, base, estate, progress)
    run.seconds = time.monotonic() - started
    return run


def _history(run: LiveRun, record: Callable[[History], RunRecord]) -> str:
    """Record into the demo's history database; the line `--record` prints."""
    from kmsguard.store import History, open_database

    history = History(open_database(run.db_url))
    try:
        return f"history: {record(history).describe()}"
    finally:
        history.engine.dispose()


def _scan_command(db: str) -> str:
    regions = " ".join(f"--region {r}" for r in REGIONS)
    return (f"kmsguard scan aws --accounts accounts.txt {regions} --org-id {ORG_ID} "
            f"--record --db {db}")


def _scan_aws(run: LiveRun, name: str) -> str:

    from kmsguard.aws.scan import AwsScanner, ScanOptions
    from kmsguard.aws.session import open_session
    from kmsguard.report.aws_text import render_text
    from kmsguard.store.recording import record_aws_scan

    options = ScanOptions(
        regions=REGIONS, accounts=ACCOUNTS, role_name=ROLE, org_id=ORG_ID,
        owner_tag_keys=("owner",),
    )
    started_at = datetime.now(UTC)
    result = AwsScanner(open_session(None), options).scan()
    (run.output_dir / f"{name}.json").write_text(json.dumps(result.to_json(), indent=2))
    (run.output_dir / f"{name}.txt").write_text(render_text(result))
    recorded = _history(run, lambda h: record_aws_scan(result, h, started_at=started_at))
    s = result.summary()
    verdicts = s["verdicts"]
    assert isinstance(verdicts, dict)
    exposed = [k for k in result.judged if str(k.verdict) in ("public", "cross-account")]
    lines = [
        f"{s['keys_scanned']} keys judged, {s['keys_skipped']} AWS managed skipped: "
        f"{verdicts['public']} public, {verdicts['cross-account']} cross-account, "
        f"{verdicts['private']} private; owner tag on {s['keys_with_owner_tag']}",
        *(f"  {k.verdict:<13} {k.severity:<8} {k.aliases[0] if k.aliases else k.arn}"
          f"  ({k.account} {k.region})" for k in exposed),
        recorded,
        f"full report: {run.output_dir / (name + '.txt')}",
    ]
    return "\n".join(lines)


def _steps(run: LiveRun, base: Path, estate: Estate, progress: Say) -> None:
    db = run.db_url
    (run.output_dir / "accounts.txt").write_text("\n".join(ACCOUNTS) + "\n")
    progress(f"[2/{STEPS}] scan aws --record")
    run.sections.append(_section(2, "Scan the estate", [_scan_command(db)],
                                 _scan_aws(run, "scan-aws-1")))
    progress(f"[3/{STEPS}] scan iac --record")
    run.sections.append(_scan_iac(run, base))
    progress(f"[4/{STEPS}] usage of {FIX_ALIAS}")
    usage_file = _usage(run, base, estate)
    progress(f"[5/{STEPS}] fix plan + fix apply --yes for {FIX_ALIAS}")
    run.sections.append(_fix(run, estate, usage_file))
    progress(f"[6/{STEPS}] monitor replay of a day of events")
    run.sections.append(_monitor(run, estate))
    progress(f"[7/{STEPS}] scan aws --record again")
    run.sections.append(_section(7, "Scan again: the fixed key resolves", [_scan_command(db)],
                                 _scan_aws(run, "scan-aws-2")))
    progress(f"[8/{STEPS}] report")
    run.sections.append(_report(run))


def _scan_iac(run: LiveRun, base: Path) -> str:

    from kmsguard.iac.pipeline import scan_paths
    from kmsguard.model import Severity, Verdict, ZoneSpec
    from kmsguard.report.iac_text import render_text
    from kmsguard.store.recording import record_iac_scan

    from .cli_support import cwd

    with cwd(base):
        started_at = datetime.now(UTC)
        findings, files = scan_paths([Path("iac")], ZoneSpec(OWN_ACCOUNT).zone())
        active = [f for f in findings if f.suppressed is None]
        incomplete = any(f.verdict in (Verdict.ERROR, Verdict.UNRESOLVED) for f in active)
        recorded = _history(
            run,
            lambda h: record_iac_scan(findings, [Path("iac")], h, fail_on=Severity.HIGH,
                                      complete=not incomplete, started_at=started_at),
        )
    body = render_text(findings, files) + "\n" + recorded
    command = (f"kmsguard scan iac iac/ --account {OWN_ACCOUNT} --fail-on high --record "
               f"--db {run.db_url}")
    return _section(3, "Templates in CI: blocked before deployment", [command], body)


def _usage(run: LiveRun, base: Path, estate: Estate) -> Path:
    from kmsguard.model import ZoneSpec
    from kmsguard.report.usage_text import render_text as render_usage
    from kmsguard.usage import analyze_usage

    from .events import retarget_cloudtrail

    trail = run.output_dir / "cloudtrail"
    retarget_cloudtrail(base / "cloudtrail", trail, account=OWN_ACCOUNT,
                        key_arn=estate.arn(FIX_ALIAS))
    usage = analyze_usage([trail], zone=ZoneSpec(OWN_ACCOUNT).zone(), jobs=1)
    usage_file = run.output_dir / "usage.json"
    usage_file.write_text(usage.to_json(), encoding="utf-8")
    run.sections.append(
        _section(4, f"Who uses {FIX_ALIAS} (CloudTrail)",
                 [f"kmsguard usage cloudtrail/ --account {OWN_ACCOUNT} --format json "
                  "-o usage.json"],
                 render_usage(usage))
    )
    return usage_file


def _fix(run: LiveRun, estate: Estate, usage_file: Path) -> str:
    import boto3

    from kmsguard.fix.apply import apply_plan
    from kmsguard.fix.kms import KeyPolicyClient
    from kmsguard.fix.offer import offer_for
    from kmsguard.model import ZoneSpec
    from kmsguard.report.fix_text import render_fix_result, render_offer
    from kmsguard.store import PolicyVersionStore, open_database

    arn = estate.arn(FIX_ALIAS)
    kms = KeyPolicyClient(boto3.Session().client("kms", region_name=arn.split(":")[3]))
    offer = offer_for(
        key=arn, kms=kms, policy_file=None, usage_file=usage_file, cloudtrail=(), since=None,
        until=None, usage_key=None, strategy="principals", keep_external=(),
        zone=ZoneSpec(OWN_ACCOUNT),
    )
    (run.output_dir / "fix-plan.json").write_text(json.dumps(offer.to_json(), indent=2))
    engine = open_database(run.db_url)
    try:
        result = apply_plan(kms, PolicyVersionStore(engine), offer.saved(), key=arn,
                            confirm=True, backup_dir=run.output_dir / "backups")
    finally:
        engine.dispose()
    commands = [
        f"kmsguard fix plan --key {arn} --usage usage.json --format json -o fix-plan.json",
        f"kmsguard fix apply --key {arn} --plan fix-plan.json --yes --db {run.db_url}",
    ]
    return _section(5, f"A verified fix for {FIX_ALIAS}, applied", commands,
                    render_offer(offer) + "\n\n" + render_fix_result(result))


def _monitor(run: LiveRun, estate: Estate) -> str:
    from .events import monitor_day, write_events
    from .replay import replay

    arn = estate.arn(MONITOR_ALIAS)
    events_file = run.output_dir / "monitor-events.json"
    records = monitor_day(arn, datetime.now(UTC) - timedelta(days=1))
    write_events(events_file, records)
    lines = replay(events_file, run.db_url)
    command = (f"kmsguard monitor replay monitor-events.json --record --no-stdout "
               f"--db {run.db_url}")
    return _section(6, f"A day of key-policy events ({MONITOR_ALIAS})", [command],
                    "\n".join(lines))


def _report(run: LiveRun) -> str:
    from kmsguard.report.dashboard import render_dashboard
    from kmsguard.report.kpi_text import render_kpis_text
    from kmsguard.store.kpis import kpi_report

    run.report = kpi_report(run.db_url, None)
    (run.output_dir / "report.json").write_text(json.dumps(run.report, indent=2) + "\n")
    (run.output_dir / "dashboard.html").write_text(render_dashboard(run.report))
    commands = [
        f"kmsguard report --db {run.db_url}",
        f"kmsguard report --db {run.db_url} --format json -o report.json",
        f"kmsguard report --db {run.db_url} --format html -o dashboard.html",
    ]
    return _section(8, "The KPIs", commands, render_kpis_text(run.report))
