"""Which accounts and regions a live scan covers: the caller's identity, Organizations
accounts, an accounts file, assume-role sessions and the enabled regions of an account."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from botocore.loaders import Loader, create_loader

from kmsguard.errors import InputError, SourceError
from kmsguard.scan_result import ReadError

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

DEFAULT_ROLE = "OrganizationAccountAccessRole"
SESSION_NAME = "kmsguard-scan"
_ACCOUNT_RE = re.compile(r"^\d{12}$")
_DEFAULT_REGION = "us-east-1"


def client_config(max_attempts: int, pool_size: int, timeout: float = 10.0) -> Config:
    """Adaptive retries (botocore backs off on throttling), a connection pool as large
    as the thread pool, so workers never queue for a socket, and `timeout` seconds to
    connect and for each answer (a hanging endpoint fails that call, then it is retried)."""
    return Config(
        retries={"mode": "adaptive", "max_attempts": max_attempts},
        max_pool_connections=max(10, pool_size),
        user_agent_extra="kmsguard",
        connect_timeout=timeout,
        read_timeout=timeout,
    )


def read_error(operation: str, exc: ClientError | BotoCoreError) -> ReadError:
    """The code and message of a failed call, as reported to the user."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return ReadError(operation, err.get("Code", "ClientError"), err.get("Message", str(exc)))
    return ReadError(operation, type(exc).__name__, str(exc))


class SessionClients:
    """A boto3 session and the clients made from it. `Session.client` is not thread-safe,
    so creation is serialized; the clients themselves are."""

    def __init__(self, session: boto3.Session, config: Config) -> None:
        self.session = session
        self.config = config
        self._lock = threading.Lock()

    @property
    def default_region(self) -> str:
        return self.session.region_name or _DEFAULT_REGION

    def client(self, service: str, region: str | None = None) -> Any:
        with self._lock:
            return self.session.client(
                service,  # type: ignore[call-overload]  # service is a runtime name
                region_name=region or self.default_region,
                config=self.config,
            )


@dataclass(frozen=True, slots=True)
class Caller:
    account: str
    arn: str
    partition: str


def caller_identity(clients: SessionClients) -> Caller:
    """Who the credentials belong to; the error a user sees when there are none."""
    try:
        ident = clients.client("sts").get_caller_identity()
    except NoCredentialsError as exc:
        raise SourceError(
            "no AWS credentials found",
            hint="set AWS_PROFILE, run `aws sso login`, or export AWS_ACCESS_KEY_ID",
        ) from exc
    except (ClientError, BotoCoreError) as exc:
        err = read_error("GetCallerIdentity", exc)
        raise SourceError(
            f"cannot identify the caller: {err.code}: `{err.message}`",
            hint="check the credentials and AWS_ENDPOINT_URL",
        ) from exc
    arn, account = ident.get("Arn"), ident.get("Account")
    if not isinstance(arn, str) or arn.count(":") < 5 or not isinstance(account, str):
        raise SourceError(
            "cannot identify the caller: GetCallerIdentity gave an unreadable answer",
            hint="check AWS_ENDPOINT_URL and any proxy in between",
        )
    return Caller(account=account, arn=arn, partition=arn.split(":")[1])


@dataclass(frozen=True, slots=True)
class Organization:
    id: str
    management_account: str
    accounts: tuple[str, ...]  # active members, sorted
    inactive: tuple[tuple[str, str], ...] = ()  # (account, status) not scanned


def describe_organization(org: Any) -> Organization:
    """The caller's organization and its active accounts (list_accounts, every page),
    read with an Organizations client."""
    try:
        info = org.describe_organization()["Organization"]
        accounts: list[str] = []
        inactive: list[tuple[str, str]] = []
        for page in org.get_paginator("list_accounts").paginate():
            listed = page.get("Accounts") if isinstance(page, dict) else None
            if not isinstance(listed, list) or not isinstance(info, dict):
                raise SourceError(
                    "cannot list the organization's accounts: an unreadable answer",
                    hint="check AWS_ENDPOINT_URL and any proxy in between",
                )
            for acct in listed:
                acct_id, status = str(acct["Id"]), str(acct.get("Status", "ACTIVE"))
                if status == "ACTIVE":
                    accounts.append(acct_id)
                else:
                    inactive.append((acct_id, status))
    except (ClientError, BotoCoreError) as exc:
        err = read_error("Organizations", exc)
        raise SourceError(
            f"cannot list the organization's accounts: {err.code}: `{err.message}`",
            hint="run from the management account or a delegated administrator, "
            "or pass --accounts FILE",
        ) from exc
    return Organization(
        id=str(info["Id"]),
        management_account=str(info.get("MasterAccountId", "")),
        accounts=tuple(sorted(accounts)),
        inactive=tuple(inactive),
    )


def read_accounts_file(path: Path) -> tuple[str, ...]:
    """Account ids, one per line (`#` comments, blank lines and a trailing name after
    whitespace or a comma are allowed); every bad line is reported at once."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read accounts file `{path}`: {exc.strerror}") from exc
    accounts: list[str] = []
    problems: list[str] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        token = re.split(r"[\s,]+", line.split("#", 1)[0].strip(), maxsplit=1)[0]
        if not token:
            continue
        if not _ACCOUNT_RE.match(token):
            problems.append(f"{path}:{lineno}: `{token}` is not a 12-digit account id")
        elif token not in accounts:
            accounts.append(token)
    if problems:
        raise InputError(
            "\n".join(problems), hint="one 12-digit account id per line; `#` starts a comment"
        )
    if not accounts:
        raise InputError(f"accounts file `{path}` lists no account")
    return tuple(accounts)


def role_arn(partition: str, account: str, role_name: str) -> str:
    return f"arn:{partition}:iam::{account}:role/{role_name}"


def assume_role(sts: STSClient, base: SessionClients, arn: str, config: Config) -> SessionClients:
    """A session in another account (credentials last the role's default hour)."""
    creds = sts.assume_role(RoleArn=arn, RoleSessionName=SESSION_NAME)["Credentials"]
    core = botocore.session.Session()
    # one loader for every account's session: the service models are parsed once, which
    # makes each assumed-role session about three times cheaper to set up
    core.register_component("data_loader", _shared_loader())
    session = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=base.default_region,
        botocore_session=core,
    )
    return SessionClients(session, config)


@cache
def _shared_loader() -> Loader:
    return create_loader()


def enabled_regions(clients: SessionClients) -> tuple[str, ...]:
    """The regions enabled for the account (opt-in regions only once opted in)."""
    resp = clients.client("ec2").describe_regions(AllRegions=False)
    regions = resp.get("Regions") if isinstance(resp, dict) else None
    if not isinstance(regions, list) or not all(
        isinstance(r, dict) and isinstance(r.get("RegionName"), str) for r in regions
    ):
        raise UnreadableAnswerError("DescribeRegions", "the answer lists no `Regions`")
    return tuple(sorted(str(r["RegionName"]) for r in regions))


class UnreadableAnswerError(Exception):
    """An answer without the fields the operation always returns (garbage, truncated)."""

    def __init__(self, operation: str, detail: str) -> None:
        super().__init__(f"{operation}: {detail}")
        self.operation = operation
        self.detail = detail
