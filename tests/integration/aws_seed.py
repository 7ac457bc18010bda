"""Seed a moto server with KMS keys across accounts and regions, exactly as a user would
with boto3 (other accounts are reached with STS AssumeRole, which moto maps by the role
ARN's account id). Shared by the `scan aws` tests and `bench/scan_aws`."""

from __future__ import annotations

import json
from typing import Any

import boto3

OWN = "123456789012"  # moto's default account
OUTSIDER = "999988887777"
ROLE = "OrganizationAccountAccessRole"


def session(url: str, account: str | None = None) -> boto3.Session:
    """A session in moto's default account, or in `account` via AssumeRole."""
    base = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    if account is None or account == OWN:
        return base
    creds = base.client("sts", endpoint_url=url).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{ROLE}", RoleSessionName="seed"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name="us-east-1",
    )


def kms(url: str, region: str, account: str | None = None) -> Any:
    return session(url, account).client("kms", region_name=region, endpoint_url=url)


def root_policy(account: str) -> dict[str, Any]:
    return statement_policy(
        {
            "Sid": "Root",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    )


def statement_policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def public_policy(account: str, actions: str | list[str] = "kms:*") -> dict[str, Any]:
    return statement_policy(
        root_policy(account)["Statement"][0],
        {
            "Sid": "Everyone",
            "Effect": "Allow",
            "Principal": "*",
            "Action": actions,
            "Resource": "*",
        },
    )


def shared_policy(account: str, partner: str, actions: list[str]) -> dict[str, Any]:
    return statement_policy(
        root_policy(account)["Statement"][0],
        {
            "Sid": "Partner",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{partner}:root"},
            "Action": actions,
            "Resource": "*",
        },
    )


def org_policy(account: str, org_id: str) -> dict[str, Any]:
    return statement_policy(
        root_policy(account)["Statement"][0],
        {
            "Sid": "Org",
            "Effect": "Allow",
            "Principal": "*",
            "Action": ["kms:Decrypt"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": org_id}},
        },
    )


def create_key(
    client: Any,
    policy: dict[str, Any] | str | None = None,
    *,
    owner: str | None = "team-a",
    alias: str | None = None,
    grants: tuple[tuple[str, tuple[str, ...]], ...] = (),
    state: str = "Enabled",
) -> str:
    """A key with the given policy, owner tag, alias, grants and state; returns its id."""
    params: dict[str, Any] = {}
    if policy is not None:
        params["Policy"] = policy if isinstance(policy, str) else json.dumps(policy)
    if owner is not None:
        params["Tags"] = [{"TagKey": "Owner", "TagValue": owner}]
    key_id = str(client.create_key(**params)["KeyMetadata"]["KeyId"])
    if alias:
        client.create_alias(AliasName=alias, TargetKeyId=key_id)
    for grantee, ops in grants:
        client.create_grant(KeyId=key_id, GranteePrincipal=grantee, Operations=list(ops))
    if state == "Disabled":
        client.disable_key(KeyId=key_id)
    elif state == "PendingDeletion":
        client.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    return key_id


def key_arn(account: str, region: str, key_id: str) -> str:
    return f"arn:aws:kms:{region}:{account}:key/{key_id}"
