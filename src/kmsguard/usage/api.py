"""`analyze_usage`: the one entry point every caller (CLI, fixer) uses for local/S3 logs."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from kmsguard.arn import region_of
from kmsguard.errors import InputError, SourceError
from kmsguard.model import TrustZone

from . import engine_fast
from .aggregate import ScanOptions
from .report import UsageReport, build_report
from .sources import DateRange, LocalLogSource, LogRef, LogSource, open_source
from .window import parse_when, to_date

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client


def _default_s3() -> S3Client:
    import boto3

    return boto3.client("s3")


def analyze_usage(
    sources: Sequence[str | Path | LogSource],
    *,
    zone: TrustZone | None = None,
    since: str | None = None,
    until: str | None = None,
    keys: Sequence[str] = (),
    jobs: int | None = None,
    progress: engine_fast.Progress | None = None,
    on_listed: Callable[[int], None] | None = None,
    s3_client: Callable[[], S3Client] | None = None,
    max_log_bytes: int | None = None,
    deadline: float | None = None,
) -> UsageReport:
    """Read CloudTrail logs and report who used which KMS key.

    `since` / `until` accept what `--since` / `--until` do (`2025-05-20`, ISO date-times,
    `90d`); `keys` holds key ARNs or key ids (resolve aliases first with `resolve_keys`).
    With `deadline` (seconds from now), files not started by then are skipped, named, and
    the report is incomplete.
    """
    ends = time.monotonic() + deadline if deadline else None
    zone = zone or TrustZone()
    lo = parse_when(since) if since else None
    hi = parse_when(until, end=True) if until else None
    if lo and hi and lo >= hi:
        raise InputError(f"`--since {since}` is not before `--until {until}`")
    dates = DateRange.around(to_date(lo), to_date(hi, end=True))
    opened: list[LogSource] = []
    for spec in sources:
        if isinstance(spec, Path):
            opened.append(LocalLogSource(spec))
        elif isinstance(spec, str):
            opened.append(open_source(spec, s3_client or _default_s3))
        else:
            opened.append(spec)
    work: list[tuple[LogSource, LogRef]] = []
    input_errors: list[str] = []
    reason = f"not read: the --deadline of {deadline:g} s passed" if deadline else ""
    unlisted: list[tuple[str, str]] = []  # sources the deadline left unlisted
    for spec, src in zip(sources, opened, strict=True):
        if ends is not None and time.monotonic() >= ends:
            unlisted.append((f"{spec if isinstance(spec, str | Path) else src}", reason))
            continue
        try:
            work.extend((src, ref) for ref in src.list_logs(dates))
        except InputError as exc:
            if len(opened) == 1:
                raise
            input_errors.append(exc.message)  # one bad SOURCE: the others are still read
    if on_listed:
        on_listed(len(work))
    opts = ScanOptions(since=lo, until=hi, keys=frozenset(keys))
    if max_log_bytes is not None:
        opts = replace(opts, max_log_bytes=max_log_bytes)
    agg = engine_fast.run(
        work,
        opts,
        jobs=jobs,
        progress=progress,
        ends=ends,
        ends_reason=reason,
    )
    agg.skipped.extend(unlisted)
    report = build_report(
        agg, zone, since=lo, until=hi, requested_keys=tuple(keys), engine="fast"
    )
    return replace(report, input_errors=tuple(input_errors)) if input_errors else report


def resolve_keys(values: Sequence[str], kms_client: Callable[[str | None], KMSClient]) -> list[str]:
    """Key ARNs and ids pass through; aliases (`alias/x` or alias ARNs) are resolved with
    `DescribeKey` (`kms_client(region)`; region from the alias ARN, else the default)."""
    out: list[str] = []
    for v in values:
        if v.startswith("alias/") or (v.startswith("arn:") and ":alias/" in v):
            region = region_of(v)
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                meta = kms_client(region).describe_key(KeyId=v)["KeyMetadata"]
            except ClientError as exc:
                raise InputError(
                    f"cannot resolve `{v}`: {exc.response.get('Error', {}).get('Message', exc)}",
                    hint="give the key ARN or id instead of the alias",
                ) from None
            except BotoCoreError as exc:
                raise SourceError(f"cannot resolve `{v}`: {exc}") from None
            out.append(meta["Arn"])
        else:
            out.append(v)
    return out


def live_keys(regions: Sequence[str], kms_client: Callable[[str | None], KMSClient]) -> list[str]:
    """Every key ARN of the credentials' account in `regions` (KMS `ListKeys`), so keys with
    no calls in the logs can be reported as unused."""
    from botocore.exceptions import BotoCoreError, ClientError

    arns: list[str] = []
    for region in regions:
        client = kms_client(region)
        try:
            for page in client.get_paginator("list_keys").paginate():
                arns.extend(k["KeyArn"] for k in page.get("Keys", []) if "KeyArn" in k)
        except (ClientError, BotoCoreError) as exc:
            raise SourceError(
                f"cannot list the keys of region `{region}`: {exc}",
                hint="kms:ListKeys is needed for --all-keys",
            ) from None
    return sorted(set(arns))
