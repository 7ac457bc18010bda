"""Write the demo's CloudTrail log tree: who used the key whose policy is
`policies/02-quick-fix-wildcard.json`, in the layout CloudTrail delivers to S3.

    python src/kmsguard/demo/make_cloudtrail.py            # rewrites demo/cloudtrail/
    python src/kmsguard/demo/make_cloudtrail.py OUT_DIR    # writes OUT_DIR/AWSLogs/...

Deterministic (fixed seed, gzip without a timestamp): running it again writes the same
records. The shapes follow CloudTrail's own (and `tests/usage/generator.py`):

- three roles of the owner account call Decrypt / GenerateDataKey: a nightly batch job, an
  API service with an encryption context, and an analytics role whose calls S3 makes on its
  behalf (`invokedBy`, as `kms:ViaService` sees it);
- one outside account, 444455556666, decrypts: the owner's copy of a cross-account call names
  the caller only as `AWSAccount` (the caller's own copy is in its own trail, not here);
- a retired role is denied Encrypt (the quick-fix statement never allowed it), one call fails
  with a bad ciphertext, KMS rotates the key, and S3 / STS / EC2 records are noise.
"""

from __future__ import annotations

import gzip
import json
import random
import sys
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

OWNER = "111122223333"
OUTSIDER = "444455556666"
REGION = "eu-west-1"
KEY_ARN = f"arn:aws:kms:{REGION}:{OWNER}:key/2f6b1a9e-5c4d-4e8f-9a0b-1c2d3e4f5a6b"
START = datetime(2026, 11, 20, tzinfo=UTC)
DAYS = 8  # 2026-11-20 .. 2026-11-27
BUCKET = "orders-exports-111122223333"


def _role(name: str, uid: str, session: str, path: str = "") -> dict[str, Any]:
    return {
        "type": "AssumedRole",
        "principalId": f"{uid}:{session}",
        "arn": f"arn:aws:sts::{OWNER}:assumed-role/{name}/{session}",
        "accountId": OWNER,
        "accessKeyId": "ASIAEXAMPLEDEMOKEY01",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": uid,
                "arn": f"arn:aws:iam::{OWNER}:role/{path}{name}",
                "accountId": OWNER,
                "userName": name,
            },
            "attributes": {"creationDate": "2026-11-20T00:00:00Z", "mfaAuthenticated": "false"},
        },
    }


BATCH = _role("batch-nightly", "AROABATCHNIGHTLY0001", "nightly-run")
API = _role("orders-api", "AROAORDERSAPI000001", "i-0a1b2c3d4e5f60718", "service-role/")
ANALYTICS = dict(_role("analytics-reader", "AROAANALYTICSRDR001", "athena-query"))
ANALYTICS["invokedBy"] = "s3.amazonaws.com"
LEGACY = _role("legacy-export", "AROALEGACYEXPORT001", "cron-4711")
# the key owner's copy of a call made from another account
OUTSIDE = {
    "type": "AWSAccount",
    "principalId": "AROAPARTNERCOPY00001:copy-job",
    "accountId": OUTSIDER,
}


class _Trail:
    def __init__(self, seed: int = 2026) -> None:
        self.rng = random.Random(seed)
        self.by_day: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _when(self, hours: tuple[int, int] = (0, 24)) -> datetime:
        day = self.rng.randrange(DAYS)
        seconds = self.rng.randrange(hours[0] * 3600, hours[1] * 3600)
        return START + timedelta(days=day, seconds=seconds)

    def _add(self, when: datetime, rec: dict[str, Any]) -> None:
        # CloudTrail files an event under the day it delivers it (up to ~15 minutes later)
        delivered = min(when + timedelta(minutes=15), START + timedelta(days=DAYS, seconds=-1))
        self.by_day[delivered.strftime("%Y/%m/%d")].append(rec)

    def kms(
        self,
        identity: dict[str, Any],
        action: str,
        *,
        source_ip: str = "10.20.30.40",
        user_agent: str = "aws-sdk-java/2.25.31",
        context: dict[str, str] | None = None,
        error: str | None = None,
        hours: tuple[int, int] = (0, 24),
    ) -> None:
        when = self._when(hours)
        params: dict[str, Any] = {"keyId": KEY_ARN, "encryptionAlgorithm": "SYMMETRIC_DEFAULT"}
        if action.startswith("GenerateDataKey"):
            params = {"keyId": KEY_ARN, "keySpec": "AES_256"}
        if context:
            params["encryptionContext"] = context
        rec: dict[str, Any] = {
            "eventVersion": "1.11",
            "userIdentity": identity,
            "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": "kms.amazonaws.com",
            "eventName": action,
            "awsRegion": REGION,
            "sourceIPAddress": source_ip,
            "userAgent": user_agent,
            "requestParameters": params,
            "responseElements": None,
            "requestID": self._uuid(),
            "eventID": self._uuid(),
            "readOnly": True,
            "resources": [{"accountId": OWNER, "type": "AWS::KMS::Key", "ARN": KEY_ARN}],
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": OWNER,
            "eventCategory": "Management",
        }
        if identity["type"] == "AWSAccount":
            rec["sharedEventID"] = self._uuid()
        if error:
            rec["errorCode"] = error
            rec["errorMessage"] = (
                f"User: {identity.get('arn', '')} is not authorized to perform: kms:{action}"
                if error == "AccessDenied"
                else "The ciphertext is not valid."
            )
        self._add(when, rec)

    def rotation(self) -> None:
        when = START + timedelta(days=3, hours=4, minutes=12)
        self._add(
            when,
            {
                "eventVersion": "1.11",
                "userIdentity": {"accountId": OWNER, "invokedBy": "AWS Internal"},
                "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "eventSource": "kms.amazonaws.com",
                "eventName": "RotateKey",
                "awsRegion": REGION,
                "sourceIPAddress": "AWS Internal",
                "requestParameters": None,
                "eventID": self._uuid(),
                "readOnly": False,
                "resources": [{"accountId": OWNER, "type": "AWS::KMS::Key", "ARN": KEY_ARN}],
                "eventType": "AwsServiceEvent",
                "recipientAccountId": OWNER,
                "serviceEventDetails": {"keyId": KEY_ARN.rsplit("/", 1)[-1]},
            },
        )

    def noise(self, n: int) -> None:
        kinds = (
            ("s3.amazonaws.com", "GetObject", {"bucketName": BUCKET, "key": "export.csv"}),
            (
                "sts.amazonaws.com",
                "AssumeRole",
                {"roleArn": BATCH["sessionContext"]["sessionIssuer"]["arn"]},
            ),
            ("ec2.amazonaws.com", "DescribeInstances", {"maxResults": 100}),
        )
        for i in range(n):
            when = self._when()
            source, name, params = kinds[i % len(kinds)]
            self._add(
                when,
                {
                    "eventVersion": "1.11",
                    "userIdentity": API,
                    "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "eventSource": source,
                    "eventName": name,
                    "awsRegion": REGION,
                    "sourceIPAddress": "10.20.30.40",
                    "userAgent": "aws-sdk-java/2.25.31",
                    "requestParameters": params,
                    "responseElements": None,
                    "requestID": self._uuid(),
                    "eventID": self._uuid(),
                    "readOnly": True,
                    "eventType": "AwsApiCall",
                    "managementEvent": True,
                    "recipientAccountId": OWNER,
                    "eventCategory": "Management",
                },
            )


def build() -> dict[str, list[dict[str, Any]]]:
    """The records, per delivery day (`YYYY/MM/DD`)."""
    t = _Trail()
    for _ in range(40):  # the job the quick fix was made for
        t.kms(BATCH, "Decrypt", hours=(1, 4))
    for _ in range(16):
        t.kms(BATCH, "GenerateDataKey", hours=(1, 4))
    for i in range(60):
        ctx = {"tenant": f"t-{i % 3 + 1:03d}"}
        t.kms(API, "GenerateDataKey" if i % 3 == 0 else "Decrypt", context=ctx)
    for i in range(30):  # S3 decrypts objects on the role's behalf (SSE-KMS)
        t.kms(
            ANALYTICS,
            "Decrypt",
            source_ip="s3.amazonaws.com",
            user_agent="s3.amazonaws.com",
            context={"aws:s3:arn": f"arn:aws:s3:::{BUCKET}/daily/part-{i % 8:04d}.parquet"},
        )
    for _ in range(7):  # the outside account uses the wildcard
        t.kms(OUTSIDE, "Decrypt", source_ip="203.0.113.77", user_agent="aws-cli/2.17.1")
    for _ in range(3):
        t.kms(LEGACY, "Encrypt", error="AccessDenied", hours=(22, 23))
    t.kms(API, "Decrypt", error="InvalidCiphertextException", context={"tenant": "t-002"})
    t.rotation()
    t.noise(150)
    return dict(t.by_day)


def write(root: Path) -> list[Path]:
    """Write `root/AWSLogs/<owner>/CloudTrail/<region>/YYYY/MM/DD/*.json.gz`."""
    written: list[Path] = []
    rng = random.Random(11)
    for day, records in sorted(build().items()):
        records.sort(key=lambda r: (r["eventTime"], r["eventID"]))
        folder = root / "AWSLogs" / OWNER / "CloudTrail" / REGION / day
        folder.mkdir(parents=True, exist_ok=True)
        half = (len(records) + 1) // 2
        for part, chunk in enumerate((records[:half], records[half:])):
            stamp = f"{day.replace('/', '')}T{part * 12:02d}00Z"
            name = f"{OWNER}_CloudTrail_{REGION}_{stamp}_{rng.getrandbits(64):016X}.json.gz"
            data = json.dumps({"Records": chunk}, indent=None, separators=(",", ":")).encode()
            path = folder / name
            path.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
            written.append(path)
    return written


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path(__file__).resolve().parent / "cloudtrail"
    paths = write(root)
    count = sum(len(r) for r in build().values())
    print(f"wrote {count} records in {len(paths)} files under {root / 'AWSLogs'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
