"""Building blocks for seeded histories: observations and snapshots of made-up keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from kmsguard import rules
from kmsguard.model import Assessment, Exposure, ExposureKind, Severity, Verdict, Witness
from kmsguard.store import History, KeySnapshot, Observation, RunKind
from kmsguard.store.observations import aws_scope_unit

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
A1, A2 = "111122223333", "444455556666"


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def arn(n: int, account: str = A1, region: str = "eu-west-1") -> str:
    return f"arn:aws:kms:{region}:{account}:key/00000000-0000-4000-8000-{n:012d}"


def public_assessment(sid: str = "Open") -> Assessment:
    witness = Witness(
        principal="arn:aws:iam::999988887777:role/probe", account="999988887777",
        action="kms:Decrypt",
    )
    exposure = Exposure(
        kind=ExposureKind.PUBLIC, severity=Severity.CRITICAL, actions=("kms:Decrypt",),
        principals=("*",), statements=(sid,), witness=witness,
    )
    return Assessment.of([exposure])


def cross_assessment() -> Assessment:
    exposure = Exposure(
        kind=ExposureKind.CROSS_ACCOUNT, severity=Severity.HIGH, actions=("kms:Decrypt",),
        principals=("777788889999",), statements=("Partner",), witness=None,
    )
    return Assessment.of([exposure])


#: values a hostile tag or Sid could carry; the dashboard must show them as text
HOSTILE_TAG = "<script>window.__pwned = 1</script>"
HOSTILE_SID = '<img src=x onerror="window.__pwned = 2">'
HOSTILE_WITNESS = "</script><script>window.__pwned = 3</script>"


def aws_obs(key: str, rule: str = rules.PUBLIC_POLICY, sev: Severity = Severity.CRITICAL,
            verdict: Verdict = Verdict.PUBLIC, sid: str = "Open",
            witness: str = "someone is allowed kms:Decrypt") -> Observation:
    account, region = key.split(":")[4], key.split(":")[3]
    return Observation(
        kind=RunKind.AWS, subject=key, rule_id=rule, scope_unit=aws_scope_unit(account, region),
        display_source=key, verdict=verdict, severity=sev, account=account, region=region,
        statements=(sid,), witness=witness,
    )


def iac_obs(path: str, resource: str, sev: Severity = Severity.CRITICAL) -> Observation:
    return Observation(
        kind=RunKind.IAC, subject=path, rule_id=rules.PUBLIC_POLICY, scope_unit=path,
        display_source=path, verdict=Verdict.PUBLIC, severity=sev, resource=resource, line=3,
    )


def snap(key: str, *, owner: bool | None, verdict: str = "private",
         manager: str = "CUSTOMER", tags: tuple[tuple[str, str], ...] = ()) -> KeySnapshot:
    account, region = key.split(":")[4], key.split(":")[3]
    return KeySnapshot(
        key_arn=key, account=account, region=region, manager=manager, state="Enabled",
        verdict=verdict, severity="none", owner_tag=owner, aliases=(), tags=tags,
    )


SCOPE = [f"{A1}/eu-west-1", f"{A2}/eu-west-1"]


def seed(h: History, tmp: Path) -> dict[str, str]:
    """Five public keys opened at hour 0; resolved after 2, 4, 6 and 40 hours by complete
    scans, one still open; an incomplete scan in between resolves nothing; a cross-account
    key; a monitor event opens and resolves a sixth key (MTTR 1 h). The key left open and
    an unowned key carry hostile values (Sid, witness, tag)."""
    k = {i: arn(i) for i in range(1, 6)}
    cross = arn(9, account=A2)
    inventory = [
        snap(k[1], owner=True), snap(k[2], owner=True),
        snap(k[3], owner=False, tags=(("team", HOSTILE_TAG),)),
        snap(k[4], owner=True), snap(k[5], owner=None),  # tags unreadable: not counted
        snap(cross, owner=False),
        snap(arn(10), owner=None, manager="AWS"),
    ]
    xacct = aws_obs(cross, rules.CROSS_ACCOUNT_POLICY, Severity.HIGH, Verdict.CROSS_ACCOUNT)

    def scan(hours: float, open_keys: list[int], complete: bool = True) -> None:
        seen = [aws_obs(k[i]) for i in open_keys if i != 5]
        if 5 in open_keys:
            seen.append(aws_obs(k[5], sid=HOSTILE_SID, witness=HOSTILE_WITNESS))
        h.record_run(RunKind.AWS, SCOPE, [*seen, xacct],
                     complete=complete, finished_at=at(hours), snapshots=inventory)

    scan(0, [1, 2, 3, 4, 5])
    scan(1, [], complete=False)  # sees nothing, resolves nothing
    scan(2, [2, 3, 4, 5])  # k1: 2 h
    scan(4, [3, 4, 5])  # k2: 4 h
    scan(6, [4, 5])  # k3: 6 h
    h.record_monitor_alert(key_arn=arn(6), status="exposed", event_id="e1",
                           event_time=at(10), assessment=public_assessment())
    h.record_monitor_alert(key_arn=arn(6), status="resolved", event_id="e2", event_time=at(11))
    scan(40, [5])  # k4: 40 h
    template = str(tmp / "keys.yaml")
    for hours in (3, 5):  # the same misconfiguration blocked twice
        h.record_run(RunKind.IAC, [str(tmp)], [iac_obs(template, "Open")], complete=True,
                     fail_on=Severity.HIGH, finished_at=at(hours))
    h.record_run(RunKind.IAC, [str(tmp)], [iac_obs(template, "Other")], complete=True,
                 fail_on=Severity.HIGH, finished_at=at(30))
    return k
