"""Which accounts and regions a live scan covers: the caller's identity, Organizations
accounts, an accounts file, assume-role sessions and the enabled regions of an account."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from kmsguard import safeio
from kmsguard.arn import partition_of
from kmsguard.aws.result import ReadError
from kmsguard.aws.session import SessionClients
from kmsguard.errors import InputError, SourceError

if TYPE_CHECKING:
    pass

DEFAULT_ROLE = "OrganizationAccountAccessRole"
_ACCOUNT_RE = re.compile(r"^\d{12}$")


def read_error(operation: str, exc: ClientError | BotoCoreError) -> ReadError:
    """The code and message of a failed call, as reported to the user."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return ReadError(operation, err.get("Code", "ClientError"), err.get("Message", str(exc)))
    return ReadError(operation, type(exc).__name__, str(exc))


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
    return Caller(account=account, arn=arn, partition=partition_of(arn))


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
        text = safeio.read_text(path)
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
