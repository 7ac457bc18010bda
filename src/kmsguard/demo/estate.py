"""The demo's small, realistic estate on the local AWS stand-in: two accounts, three
regions, 40 customer managed keys (a few public "quick fixes", a cross-account partner key,
keys without owners, an external grant) and AWS managed keys the scan must skip.

Policies come from the bundled `policies/` folder, with the example account replaced by
the key's own account."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from .server import OWN_ACCOUNT

PARTNER_ACCOUNT = "210987654321"
ACCOUNTS = (OWN_ACCOUNT, PARTNER_ACCOUNT)
REGIONS = ("eu-west-1", "us-east-1", "eu-central-1")
ORG_ID = "o-a1b2c3d4e5"
EXAMPLE_ACCOUNT = "111122223333"  # the account the bundled policies name
OUTSIDER = "999988887777"
ROLE = "OrganizationAccountAccessRole"  # what `scan aws --accounts` assumes by default


@dataclass(frozen=True, slots=True)
class KeySpec:
    account: str
    region: str
    policy: str | None  # a bundled policy file name; None: the default policy
    owner: str | None = None
    alias: str | None = None
    external_grant: bool = False


def _plain(account: str, region: str, owners: list[str | None]) -> list[KeySpec]:
    return [KeySpec(account, region, None, owner) for owner in owners]


def specs() -> list[KeySpec]:
    own, partner = OWN_ACCOUNT, PARTNER_ACCOUNT
    return [
        # own account, eu-west-1: the quick fix, the partner share, the policy gallery
        KeySpec(own, "eu-west-1", "02-quick-fix-wildcard.json", "team-orders",
                "alias/orders-exports"),
        KeySpec(own, "eu-west-1", "05-partner-account.json", "team-data", "alias/partner-share"),
        KeySpec(own, "eu-west-1", "01-default.json", "payments", "alias/payments"),
        KeySpec(own, "eu-west-1", "06-organization-only.json", "platform", "alias/shared-org"),
        KeySpec(own, "eu-west-1", "07-vpc-endpoint-only.json", "platform", "alias/vpce-only"),
        KeySpec(own, "eu-west-1", None, "security", "alias/audit-logs"),
        *_plain(own, "eu-west-1", [None, None]),
        # own account, us-east-1: another public quick fix, an external grant
        KeySpec(own, "us-east-1", "03-via-service-only.json", "team-web", "alias/web-uploads"),
        KeySpec(own, "us-east-1", "04-via-service-and-account.json", "team-web"),
        KeySpec(own, "us-east-1", None, "team-bi", "alias/bi-exports", external_grant=True),
        *_plain(own, "us-east-1", ["team-bi", "team-bi", "team-web", None, None]),
        *_plain(own, "eu-central-1", ["finance", "finance", "finance", "hr", None]),
        # the partner-facing account: one public quick fix left, one key the monitor saw
        KeySpec(partner, "eu-west-1", "02-quick-fix-wildcard.json", "team-ml", "alias/ml-scratch"),
        KeySpec(partner, "eu-west-1", None, "billing", "alias/billing-archive"),
        *_plain(partner, "eu-west-1", ["billing", "billing", "ml", None]),
        *_plain(partner, "us-east-1", ["ml", "ml", "ml", "ml", "support", None]),
        *_plain(partner, "eu-central-1", ["hr", "hr", "hr", "hr", "hr", "hr", None]),
    ]


#: AWS managed keys (created lazily by describing their alias): listed, never judged
AWS_MANAGED = ((OWN_ACCOUNT, "eu-west-1", "alias/aws/s3"), (OWN_ACCOUNT, "eu-west-1",
               "alias/aws/ebs"), (PARTNER_ACCOUNT, "us-east-1", "alias/aws/rds"))


def _session(account: str) -> boto3.Session:
    base = boto3.Session()
    if account == OWN_ACCOUNT:
        return base
    creds = base.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{ROLE}", RoleSessionName="kmsguard-demo-seed"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def policy_text(policies: Path, name: str, account: str) -> str:
    return (policies / name).read_text(encoding="utf-8").replace(EXAMPLE_ACCOUNT, account)


@dataclass(frozen=True, slots=True)
class Estate:
    keys: dict[str, str]  # alias (or "key-N") -> key ARN
    customer_keys: int
    aws_managed: int

    def arn(self, alias: str) -> str:
        return self.keys[alias]


def seed(policies: Path) -> Estate:
    """Create the estate on the stand-in that boto3 points at (AWS_ENDPOINT_URL).

    (Not the bundled deny-guard policy: moto refuses DescribeKey to everyone when a key
    policy denies `kms:*`, which would make the demo's scans incomplete.)"""
    sessions = {a: _session(a) for a in ACCOUNTS}
    clients: dict[tuple[str, str], Any] = {}
    keys: dict[str, str] = {}
    for n, spec in enumerate(specs(), 1):
        client = clients.get((spec.account, spec.region))
        if client is None:
            client = sessions[spec.account].client("kms", region_name=spec.region)
            clients[(spec.account, spec.region)] = client
        params: dict[str, Any] = {"Description": spec.alias or f"demo key {n}"}
        if spec.policy:
            params["Policy"] = policy_text(policies, spec.policy, spec.account)
        tags = [{"TagKey": "environment", "TagValue": "demo"}]
        if spec.owner:
            tags.append({"TagKey": "owner", "TagValue": spec.owner})
        params["Tags"] = tags
        meta = client.create_key(**params)["KeyMetadata"]
        if spec.alias:
            client.create_alias(AliasName=spec.alias, TargetKeyId=meta["KeyId"])
        if spec.external_grant:
            client.create_grant(
                KeyId=meta["KeyId"],
                GranteePrincipal=f"arn:aws:iam::{OUTSIDER}:root",
                Operations=["Decrypt"],
            )
        keys[spec.alias or f"key-{n}"] = str(meta["Arn"])
    for account, region, alias in AWS_MANAGED:
        sessions[account].client("kms", region_name=region).describe_key(KeyId=alias)
    return Estate(keys, len(keys), len(AWS_MANAGED))
