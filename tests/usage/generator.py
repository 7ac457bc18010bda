"""Generate CloudTrail log trees (as delivered to S3) with a ground-truth tally of what usage
analysis must find. The truth is computed here from the intended callers, independently of
the product's normalization code.

Covers every `userIdentity` variant (IAM user, assumed role with path, FAS via a service,
AWS service principal, root, federated user, Identity Center role, EBS's
ec2-infrastructure role, cross-account callers with both copies or only the owner's copy),
denied and failed calls, KMS service events, calls naming no key, ReEncrypt across two keys,
non-KMS noise, and the organization-trail layout."""

from __future__ import annotations

import gzip
import json
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from isal import igzip

OWNER = "111122223333"
PARTNER = "444455556666"  # in the organization (its trail is in the org trail), not trusted
STRANGER = "777788889999"  # outside the organization: only the owner's copy is seen
ORG = "o-exampleorg1"
REGION = "us-east-1"
KEY_A = f"arn:aws:kms:{REGION}:{OWNER}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_B = f"arn:aws:kms:{REGION}:{OWNER}:key/0987dcba-09fe-87dc-65ba-ab0987654321"
KEY_P = f"arn:aws:kms:{REGION}:{PARTNER}:key/5555eeee-12ab-34cd-56ef-000000000001"
KEY_UNUSED = f"arn:aws:kms:{REGION}:{OWNER}:key/ffffffff-0000-0000-0000-000000000000"
DENIED = "AccessDenied"


@dataclass(frozen=True)
class Actor:
    """A caller: its `userIdentity` in its own account's copy, and what analysis must name."""

    name: str
    identity: dict[str, Any]
    principal: str
    ptype: str
    account: str | None
    source_ip: str = "192.0.2.10"
    user_agent: str = "aws-cli/2.15.40"
    via_host: str | None = None  # service that made the call on the principal's behalf

    def via(self, region: str) -> str | None:
        if self.via_host is None:
            return None
        return self.via_host.replace(".amazonaws.com", f".{region}.amazonaws.com")


def _role(account: str, path: str, name: str, session: str, uid: str) -> dict[str, Any]:
    return {
        "type": "AssumedRole",
        "principalId": f"{uid}:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{name}/{session}",
        "accountId": account,
        "accessKeyId": "ASIAEXAMPLE",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": uid,
                "arn": f"arn:aws:iam::{account}:role/{path}{name}",
                "accountId": account,
                "userName": name,
            },
            "attributes": {"creationDate": "2025-05-20T00:00:00Z", "mfaAuthenticated": "false"},
        },
    }


def actors() -> dict[str, Actor]:
    alice = {
        "type": "IAMUser",
        "principalId": "AIDAALICE0000000001",
        "arn": f"arn:aws:iam::{OWNER}:user/Alice",
        "accountId": OWNER,
        "userName": "Alice",
    }
    app = _role(OWNER, "service-role/", "orders-app", "i-0abc", "AROAORDERSAPP000001")
    fas = _role(OWNER, "", "analytics-reader", "botocore-1", "AROAANALYTICS000001")
    fas["invokedBy"] = "s3.amazonaws.com"
    sso = _role(
        OWNER,
        "aws-reserved/sso.amazonaws.com/us-east-1/",
        "AWSReservedSSO_DataEngineer_0123456789abcdef",
        "alice@example.com",
        "AROASSODATAENG00001",
    )
    ebs = _role(OWNER, "", "aws:ec2-infrastructure", "i-0123456789abcdef0", "AROAEC2INFRA0000001")
    ebs["principalId"] = f"{OWNER}:aws:ec2-infrastructure:i-0123456789abcdef0"
    fed = {
        "type": "FederatedUser",
        "principalId": f"{OWNER}:carol",
        "arn": f"arn:aws:sts::{OWNER}:federated-user/carol",
        "accountId": OWNER,
        "sessionContext": {
            "sessionIssuer": {
                "type": "IAMUser",
                "principalId": "AIDABROKER000000001",
                "arn": f"arn:aws:iam::{OWNER}:user/token-broker",
                "accountId": OWNER,
                "userName": "token-broker",
            }
        },
    }
    root = {
        "type": "Root",
        "principalId": OWNER,
        "arn": f"arn:aws:iam::{OWNER}:root",
        "accountId": OWNER,
    }
    partner = _role(PARTNER, "", "partner-etl", "etl-run-42", "AROAPARTNERETL00001")
    stranger = _role(STRANGER, "", "scanner", "probe", "AROASTRANGER0000001")
    legacy = _role(OWNER, "", "legacy-batch", "job-7781", "AROALEGACYBATCH0001")
    return {
        "alice": Actor("alice", alice, alice["arn"], "iam-user", OWNER),
        "app": Actor(
            "app", app, f"arn:aws:iam::{OWNER}:role/service-role/orders-app", "role", OWNER
        ),
        "fas": Actor(
            "fas",
            fas,
            f"arn:aws:iam::{OWNER}:role/analytics-reader",
            "role",
            OWNER,
            source_ip="s3.amazonaws.com",
            user_agent="s3.amazonaws.com",
            via_host="s3.amazonaws.com",
        ),
        "s3": Actor(
            "s3",
            {"type": "AWSService", "invokedBy": "s3.amazonaws.com"},
            "s3.amazonaws.com",
            "service",
            None,
            source_ip="s3.amazonaws.com",
        ),
        "root": Actor("root", root, root["arn"], "root", OWNER),
        "fed": Actor("fed", fed, f"arn:aws:iam::{OWNER}:user/token-broker", "iam-user", OWNER),
        "sso": Actor(
            "sso",
            sso,
            f"arn:aws:iam::{OWNER}:role/aws-reserved/sso.amazonaws.com/us-east-1/"
            "AWSReservedSSO_DataEngineer_0123456789abcdef",
            "role",
            OWNER,
        ),
        "ebs": Actor(
            "ebs",
            ebs,
            f"arn:aws:iam::{OWNER}:role/aws:ec2-infrastructure",
            "role",
            OWNER,
            source_ip="ec2.amazonaws.com",
            user_agent="ec2.amazonaws.com",
            via_host="ec2.amazonaws.com",
        ),
        "legacy": Actor("legacy", legacy, f"arn:aws:iam::{OWNER}:role/legacy-batch", "role", OWNER),
        "partner": Actor(
            "partner", partner, f"arn:aws:iam::{PARTNER}:role/partner-etl", "role", PARTNER
        ),
        # only the owner's copy exists (the stranger's trail is not ours): named by account
        "stranger": Actor(
            "stranger", stranger, f"arn:aws:iam::{STRANGER}:root", "account", STRANGER
        ),
    }


@dataclass
class Truth:
    """Expected per (key, principal): counts of successful, denied and failed calls."""

    ptype: str
    account: str | None
    actions: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    denied: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    via: set[str] = field(default_factory=set)
    vpce: set[str] = field(default_factory=set)
    context: dict[str, set[str]] = field(default_factory=dict)
    first: str = "9999"
    last: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "principal_type": self.ptype,
            "account": self.account,
            "actions": dict(sorted(self.actions.items())),
            "denied": dict(sorted(self.denied.items())),
            "errors": dict(sorted(self.errors.items())),
            "via_services": sorted(self.via),
            "vpc_endpoints": sorted(self.vpce),
            "encryption_context": {
                k: (sorted(v) if len(v) <= 5 else None) for k, v in sorted(self.context.items())
            },
            "first_seen": self.first,
            "last_seen": self.last,
        }


def _t(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


class LogTree:
    """Collects records per (recipient account, region, delivery day) and the truth."""

    def __init__(self, seed: int = 7, start: datetime | None = None, days: int = 4) -> None:
        self.rng = random.Random(seed)
        self.start = start or datetime(2025, 5, 18, tzinfo=UTC)
        self.days = days
        self.actors = actors()
        self.records: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
        self.truth: dict[tuple[str, str], Truth] = {}
        self.times: list[str] = []  # every KMS record's time (for window tests)
        self.n_records = 0

    def when(self) -> datetime:
        return self.start + timedelta(seconds=self.rng.randrange(self.days * 86400))

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _add(self, recipient: str, region: str, when: datetime, rec: dict[str, Any]) -> None:
        # delivery folder: the event's day, or the next one for late-evening events
        delivered = when + timedelta(minutes=15)
        self.records[(recipient, region, delivered.strftime("%Y/%m/%d"))].append(rec)
        self.n_records += 1

    def _record(
        self,
        identity: dict[str, Any],
        actor: Actor,
        action: str,
        keys: list[str],
        when: datetime,
        recipient: str,
        *,
        error: str | None,
        vpce: str | None,
        params: dict[str, Any] | None,
        shared: str | None,
    ) -> dict[str, Any]:
        rec: dict[str, Any] = {
            "eventVersion": "1.11",
            "userIdentity": identity,
            "eventTime": _t(when),
            "eventSource": "kms.amazonaws.com",
            "eventName": action,
            "awsRegion": REGION,
            "sourceIPAddress": actor.source_ip,
            "userAgent": actor.user_agent,
            "requestParameters": params,
            "responseElements": None,
            "requestID": self._uuid(),
            "eventID": self._uuid(),
            "readOnly": True,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": recipient,
            "eventCategory": "Management",
        }
        if keys:
            rec["resources"] = [
                {"accountId": k.split(":")[4], "type": "AWS::KMS::Key", "ARN": k} for k in keys
            ]
        if error:
            rec["errorCode"] = error
            rec["errorMessage"] = f"not authorized to perform: kms:{action}"
        if vpce:
            rec["vpcEndpointId"] = vpce
        if shared:
            rec["sharedEventID"] = shared
        return rec

    def call(
        self,
        actor_name: str,
        action: str,
        keys: list[str],
        *,
        error: str | None = None,
        vpce: str | None = None,
        context: dict[str, str] | None = None,
        key_id_only: str | None = None,
        counted: bool = True,
        when: datetime | None = None,
    ) -> None:
        """One API call: the record(s) CloudTrail delivers and what analysis must count."""
        actor = self.actors[actor_name]
        when = when or self.when()
        owner = keys[0].split(":")[4] if keys else OWNER
        params: dict[str, Any] = {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"}
        if key_id_only is not None:
            params["keyId"] = key_id_only
        elif keys:
            params["keyId"] = keys[0]
        if context and action == "ReEncrypt":  # each key is used with its own context
            params["sourceEncryptionContext"] = context
            params["destinationEncryptionContext"] = context
        elif context:
            params["encryptionContext"] = context
        record_keys = [] if key_id_only is not None else keys
        cross = actor.account is not None and actor.account != owner
        shared = self._uuid() if cross else None
        if cross and actor.account is not None and actor_name != "stranger":
            # the caller's own copy (its account's trail is part of the org trail)
            self._add(
                actor.account,
                REGION,
                when,
                self._record(
                    actor.identity, actor, action, record_keys, when, actor.account,
                    error=error, vpce=vpce, params=params, shared=shared,
                ),
            )
        if not (cross and error):  # denied cross-account calls reach only the caller's trail
            identity = actor.identity
            if cross:
                identity = {
                    "type": "AWSAccount",
                    "principalId": actor.identity["principalId"],
                    "accountId": actor.account,
                }
            self._add(
                owner,
                REGION,
                when,
                self._record(
                    identity, actor, action, record_keys, when, owner,
                    error=error, vpce=vpce, params=params, shared=shared,
                ),
            )
        self.times.append(_t(when))
        if cross and error and actor_name == "stranger":
            return  # denied cross-account: only in the stranger's own trail, which is not ours
        if not counted:
            return
        target_keys = keys
        actions = [action]
        if action == "ReEncrypt":
            pairs = [(keys[0], "ReEncryptFrom"), (keys[1], "ReEncryptTo")]
        else:
            pairs = [(k, a) for k in target_keys for a in actions]
        for key, act in pairs:
            t = self.truth.setdefault(
                (key, actor.principal), Truth(actor.ptype, actor.account)
            )
            ts = _t(when)
            t.first, t.last = min(t.first, ts), max(t.last, ts)
            via = actor.via(REGION)
            if via:
                t.via.add(via)
            if vpce:
                t.vpce.add(vpce)
            if error is None:
                t.actions[act] += 1
                for k, v in (context or {}).items():
                    t.context.setdefault(k, set()).add(v)
            else:
                t.errors[error] += 1
                if error == DENIED:
                    t.denied[act] += 1

    def service_event(self, key: str) -> None:
        when = self.when()
        rec = {
            "eventVersion": "1.11",
            "userIdentity": {"accountId": OWNER, "invokedBy": "AWS Internal"},
            "eventTime": _t(when),
            "eventSource": "kms.amazonaws.com",
            "eventName": "RotateKey",
            "awsRegion": REGION,
            "sourceIPAddress": "AWS Internal",
            "requestParameters": None,
            "eventID": self._uuid(),
            "resources": [{"accountId": OWNER, "type": "AWS::KMS::Key", "ARN": key}],
            "eventType": "AwsServiceEvent",
            "recipientAccountId": OWNER,
            "serviceEventDetails": {"keyId": key.rsplit("/", 1)[-1]},
        }
        self._add(OWNER, REGION, when, rec)
        self.times.append(_t(when))

    def noise(self, n: int) -> None:
        """Non-KMS records (with fields that must not confuse a KMS parser)."""
        for i in range(n):
            when = self.when()
            kind = i % 3
            rec: dict[str, Any] = {
                "eventVersion": "1.11",
                "userIdentity": self.actors["app"].identity,
                "eventTime": _t(when),
                "eventSource": ("s3", "sts", "ec2")[kind] + ".amazonaws.com",
                "eventName": ("GetObject", "AssumeRole", "DescribeInstances")[kind],
                "awsRegion": REGION,
                "sourceIPAddress": "10.0.0.1",
                # non-KMS parameters of other shapes, including a non-string keyId
                "requestParameters": {"bucketName": "b", "keyId": 42, "encryptionContext": [1]},
                "eventID": self._uuid(),
                "resources": [{"ARN": f"arn:aws:s3:::b/o{i}", "type": "AWS::S3::Object"}],
                "eventType": "AwsApiCall",
                "recipientAccountId": OWNER,
            }
            self._add(OWNER, REGION, when, rec)

    # -----------------------------------------------------------------------------------------

    def write(
        self,
        root: Path,
        *,
        org_id: str | None = ORG,
        per_file: int = 40,
        compress_level: int = 1,
    ) -> list[Path]:
        """Write `AWSLogs/[o-org/]<acct>/CloudTrail/<region>/YYYY/MM/DD/*.json.gz` (plus a
        digest file that must be ignored)."""
        written: list[Path] = []
        for (acct, region, day), recs in sorted(self.records.items()):
            base = root / "AWSLogs"
            if org_id:
                base = base / org_id
            folder = base / acct / "CloudTrail" / region / day
            folder.mkdir(parents=True, exist_ok=True)
            self.rng.shuffle(recs)
            for i in range(0, len(recs), per_file):
                stamp = day.replace("/", "") + f"T{i // per_file % 24:02d}00Z"
                name = f"{acct}_CloudTrail_{region}_{stamp}_{self.rng.getrandbits(64):016X}.json.gz"
                data = json.dumps({"Records": recs[i : i + per_file]}).encode()
                path = folder / name
                path.write_bytes(igzip.compress(data, compresslevel=compress_level))
                written.append(path)
            digest = base / acct / "CloudTrail-Digest" / region / day
            digest.mkdir(parents=True, exist_ok=True)
            (digest / f"{acct}_CloudTrail-Digest_{region}.json.gz").write_bytes(
                igzip.compress(b'{"awsAccountId": "1", "logFiles": []}')
            )
        return written

    def expected(self) -> dict[str, dict[str, dict[str, Any]]]:
        out: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        for (key, principal), t in sorted(self.truth.items()):
            out[key][principal] = t.as_dict()
        return dict(out)


def standard_scenario(seed: int = 7) -> LogTree:
    """Every variant, with exact expected aggregates."""
    tree = LogTree(seed=seed)
    for _ in range(5):
        tree.call("alice", "Decrypt", [KEY_A], context={"Department": "Engineering"})
    for i in range(7):
        tree.call("app", "GenerateDataKey", [KEY_A], vpce="vpce-1234abcdef5678901",
                  context={"tenant": f"t-{i % 3}"})
    for i in range(8):  # more than 5 distinct values: reported as "many"
        tree.call("fas", "Decrypt", [KEY_A], context={"aws:s3:arn": f"arn:aws:s3:::b/obj{i}"})
    for _ in range(3):
        tree.call("s3", "GenerateDataKey", [KEY_A])
    tree.call("root", "PutKeyPolicy", [KEY_A])
    tree.call("fed", "Encrypt", [KEY_B])
    tree.call("sso", "Decrypt", [KEY_B])
    for _ in range(2):
        tree.call("ebs", "Decrypt", [KEY_B], key_id_only=None,
                  context={"aws:ebs:id": "vol-0f1e2d3c4b5a69788"})
    tree.call("ebs", "CreateGrant", [KEY_B])
    tree.call("legacy", "Decrypt", [KEY_A], error=DENIED)
    tree.call("legacy", "Decrypt", [KEY_A], error=DENIED)
    tree.call("alice", "Decrypt", [KEY_A], error="InvalidCiphertextException")
    for _ in range(4):  # cross-account, both copies in the org trail: counted once each
        tree.call("partner", "Decrypt", [KEY_A])
    tree.call("partner", "Encrypt", [KEY_B], error=DENIED)  # only in the partner's trail
    tree.call("stranger", "DescribeKey", [KEY_A])  # owner's copy only -> the account
    tree.call("app", "ReEncrypt", [KEY_A, KEY_B])
    # keyId only (no resources): a bare id is resolved; an alias cannot be and is dropped
    tree.call("alice", "Encrypt", [KEY_B], key_id_only=KEY_B.rsplit("/", 1)[-1])
    tree.call("alice", "Encrypt", [], key_id_only="alias/orders", counted=False)
    # calls naming no key, KMS service events, partner's own key used by the partner
    tree.call("alice", "ListAliases", [], counted=False)
    tree.service_event(KEY_A)
    tree.call("partner", "Sign", [KEY_P])
    tree.noise(60)
    return tree


def write_bench_tree(
    root: Path,
    *,
    events: int = 1_000_000,
    files: int = 900,
    kms_fraction: float = 0.5,
    keys: int = 40,
    seed: int = 11,
) -> dict[str, int]:
    """A large tree for the speed benchmark, written file by file (bounded memory): an org
    trail over 3 accounts and 7 days; about `kms_fraction` of the records are KMS calls by
    every actor variant on `keys` keys, the rest non-KMS noise of similar size."""
    tree = LogTree(seed=seed, days=7)
    rng = tree.rng
    names = [n for n in tree.actors if n != "stranger"]
    actions = ["Decrypt", "Decrypt", "Decrypt", "GenerateDataKey", "Encrypt", "DescribeKey"]
    accounts = [OWNER, PARTNER, "222233334444"]
    # each account's trail holds the calls on its own keys (the owner's copies)
    key_arns = {
        acct: [
            f"arn:aws:kms:{REGION}:{acct}:key/{uuid.UUID(int=rng.getrandbits(128), version=4)}"
            for _ in range(keys // len(accounts) + 1)
        ]
        for acct in accounts
    }
    per_file = events // files
    kms_total = written = 0
    for i in range(files):
        n = per_file + (1 if i < events - per_file * files else 0)
        acct = accounts[i % len(accounts)]
        day = tree.start + timedelta(days=i * tree.days // files)
        recs: list[dict[str, Any]] = []
        for _ in range(n):
            when = day + timedelta(seconds=rng.randrange(86400))
            if rng.random() < kms_fraction:
                actor = tree.actors[rng.choice(names)]
                key = rng.choice(key_arns[acct])
                ctx = {"aws:s3:arn": f"arn:aws:s3:::b/o{rng.randrange(1000)}"}
                error = DENIED if rng.random() < 0.01 else None
                recs.append(
                    tree._record(
                        actor.identity, actor, rng.choice(actions), [key], when, acct,
                        error=error, vpce=None,
                        params={"keyId": key, "encryptionContext": ctx}, shared=None,
                    )
                )
                kms_total += 1
            else:
                kind = rng.randrange(3)
                recs.append({
                    "eventVersion": "1.11",
                    "userIdentity": tree.actors["app"].identity,
                    "eventTime": _t(when),
                    "eventSource": ("s3", "sts", "ec2")[kind] + ".amazonaws.com",
                    "eventName": ("GetObject", "AssumeRole", "DescribeInstances")[kind],
                    "awsRegion": REGION,
                    "sourceIPAddress": "10.0.0.1",
                    "userAgent": "aws-sdk-java/2.25.31 Linux/5.10 OpenJDK_64-Bit_Server_VM/17",
                    "requestParameters": {"bucketName": "b", "key": f"o{rng.randrange(10**6)}"},
                    "responseElements": None,
                    "requestID": tree._uuid(),
                    "eventID": tree._uuid(),
                    "readOnly": True,
                    "resources": [{"ARN": "arn:aws:s3:::b/o", "type": "AWS::S3::Object"}],
                    "eventType": "AwsApiCall",
                    "managementEvent": True,
                    "recipientAccountId": acct,
                    "eventCategory": "Management",
                })
        folder = root / "AWSLogs" / ORG / acct / "CloudTrail" / REGION / day.strftime("%Y/%m/%d")
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{acct}_CloudTrail_{REGION}_{day:%Y%m%d}T{i % 24:02d}00Z_{i:016X}.json.gz"
        data = json.dumps({"Records": recs}, separators=(",", ":")).encode()
        # zlib's default level, as CloudTrail's own files are (isal tops out at level 3)
        (folder / name).write_bytes(gzip.compress(data, compresslevel=6, mtime=0))
        written += n
    return {"events": written, "kms_events": kms_total, "files": files}
