"""Where CloudTrail log objects come from: a local file or folder, or `s3://bucket/prefix`.

Both walk the delivery layout `AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/` and
only enter the date folders that can hold events of the window (folder dates are delivery
dates, so one extra day is read at each end). Digest and Insight folders are never read."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from kmsguard import safeio
from kmsguard.errors import InputError, SourceError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LOG_SUFFIXES = (".json.gz", ".json", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
_SKIPPED_DIRS = frozenset({"CloudTrail-Digest", "CloudTrail-Insight"})


@dataclass(frozen=True, slots=True)
class DateRange:
    """Delivery-folder dates to read (inclusive); None = unbounded."""

    first: date | None = None
    last: date | None = None

    @classmethod
    def around(cls, since: date | None, until: date | None) -> DateRange:
        return cls(
            since - timedelta(days=1) if since else None,
            until + timedelta(days=1) if until else None,
        )

    def days(self) -> Iterator[date]:
        assert self.first is not None
        assert self.last is not None
        d = self.first
        while d <= self.last:
            yield d
            d += timedelta(days=1)

    def keeps(self, year: int, month: int | None = None, day: int | None = None) -> bool:
        lo = (self.first.year, self.first.month, self.first.day) if self.first else None
        hi = (self.last.year, self.last.month, self.last.day) if self.last else None
        probe = (year, month, day)
        n = 1 if month is None else (2 if day is None else 3)
        if lo is not None and probe[:n] < lo[:n]:
            return False
        return not (hi is not None and probe[:n] > hi[:n])


@dataclass(frozen=True, slots=True)
class LogRef:
    """One log object: a local path, or an S3 object."""

    name: str
    path: str | None = None
    bucket: str | None = None
    key: str | None = None
    size: int = 0


class LogSource(Protocol):
    def list_logs(self, dates: DateRange) -> list[LogRef]: ...

    def fetch(self, ref: LogRef) -> bytes | str:
        """Bytes, or a local path for the worker to read itself."""
        ...


def _is_log_name(name: str) -> bool:
    return name.endswith(LOG_SUFFIXES)


def _date_part(parts: list[str]) -> tuple[int, list[int]] | None:
    """(depth below the region folder, [year, month, day] seen) when `parts` is inside a
    `CloudTrail/<region>/` folder, else None."""
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "CloudTrail":
            if i == len(parts) - 1:
                return None  # the CloudTrail folder itself
            below = parts[i + 2 :]
            nums = [int(p) for p in below[:3] if p.isdigit()]
            if len(nums) != min(len(below), 3):
                return None
            return len(below), nums
    return None


def _in_layout(parts: list[str]) -> bool:
    """Below `AWSLogs/`, only `[o-org/]<account>/CloudTrail/` is CloudTrail's: the same tree
    holds other services' logs (VPC flow logs, ELB, Config...) that must not be read."""
    if "AWSLogs" not in parts:
        return True
    below = parts[len(parts) - 1 - parts[::-1].index("AWSLogs") + 1 :]
    if below and below[0].startswith("o-"):
        below = below[1:]
    if below and not (below[0].isdigit() and len(below[0]) == 12):
        return False
    return len(below) < 2 or below[1] == "CloudTrail"


def keep_dir(parts: list[str], dates: DateRange) -> bool:
    """Whether to descend into a folder whose path components are `parts`."""
    if parts and parts[-1] in _SKIPPED_DIRS:
        return False
    if not _in_layout(parts):
        return False
    found = _date_part(parts)
    if found is None or not found[1]:
        return True
    _, nums = found
    return dates.keeps(nums[0], *(nums[1:3]))


def _only_awslogs(names: list[str]) -> list[str]:
    """Beside an `AWSLogs` folder, other folders are not CloudTrail's delivery tree."""
    return ["AWSLogs"] if "AWSLogs" in names else names


class LocalLogSource:
    def __init__(self, root: Path) -> None:
        self.root = root

    def list_logs(self, dates: DateRange) -> list[LogRef]:
        root = self.root
        if root.is_file():
            return [LogRef(name=str(root), path=str(root), size=root.stat().st_size)]
        if root.exists() and not root.is_dir():
            raise InputError(
                f"`{root}` is {safeio.not_regular_message(root.stat().st_mode)}",
                hint="give a folder of CloudTrail logs, a log file, or s3://bucket/prefix",
            )
        if not root.is_dir():
            raise InputError(
                f"`{root}` does not exist",
                hint="give a folder of CloudTrail logs, a log file, or s3://bucket/prefix",
            )
        refs: list[LogRef] = []
        for dirpath, dirnames, filenames in os.walk(root):
            base = Path(dirpath)
            parts = list(base.parts)
            dirnames[:] = sorted(d for d in _only_awslogs(dirnames) if keep_dir([*parts, d], dates))
            for f in sorted(filenames):
                if _is_log_name(f):
                    p = base / f
                    refs.append(LogRef(name=str(p), path=str(p), size=p.stat().st_size))
        return refs

    def fetch(self, ref: LogRef) -> bytes | str:
        assert ref.path is not None
        return ref.path


def parse_s3_url(url: str) -> tuple[str, str]:
    rest = url[len("s3://") :]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise InputError(f"`{url}` names no bucket", hint="use s3://bucket/prefix")
    return bucket, prefix


class S3LogSource:
    """Lists with `Delimiter='/'` level by level; in a region folder with a bounded window it
    lists only the day folders of the window."""

    def __init__(self, url: str, client: S3Client) -> None:
        self.url = url
        self.bucket, self.prefix = parse_s3_url(url)
        self.client = client
        self.list_calls = 0

    def _list(self, prefix: str, delimiter: bool) -> tuple[list[str], list[LogRef]]:
        from botocore.exceptions import BotoCoreError, ClientError

        dirs: list[str] = []
        objs: list[LogRef] = []
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            pages = (
                paginator.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/")
                if delimiter
                else paginator.paginate(Bucket=self.bucket, Prefix=prefix)
            )
            for page in pages:
                self.list_calls += 1
                dirs.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
                for o in page.get("Contents", []):
                    key = o["Key"]
                    if _is_log_name(key) and not key.endswith("/"):
                        objs.append(
                            LogRef(
                                name=f"s3://{self.bucket}/{key}",
                                bucket=self.bucket,
                                key=key,
                                size=o.get("Size", 0),
                            )
                        )
        except (ClientError, BotoCoreError) as exc:
            raise SourceError(
                f"cannot list `s3://{self.bucket}/{prefix}`: {exc}",
                hint="check the bucket name and s3:ListBucket permission",
            ) from None
        return dirs, objs

    def list_logs(self, dates: DateRange) -> list[LogRef]:
        prefix = self.prefix
        if prefix and not prefix.endswith("/"):
            if _is_log_name(prefix):
                return [LogRef(name=self.url, bucket=self.bucket, key=prefix)]
            prefix += "/"
        refs: list[LogRef] = []
        self._walk(prefix, dates, refs)
        return refs

    def _walk(self, prefix: str, dates: DateRange, out: list[LogRef]) -> None:
        parts = [p for p in prefix.split("/") if p]
        found = _date_part(parts)
        bounded = dates.first is not None and dates.last is not None
        if found is not None and found[0] == 0 and bounded:
            # region folder: go straight to the day folders of the window
            for day in dates.days():
                _, objs = self._list(f"{prefix}{day:%Y/%m/%d}/", delimiter=False)
                out.extend(objs)
            return
        if found is not None and found[0] >= 3:
            _, objs = self._list(prefix, delimiter=False)
            out.extend(objs)
            return
        dirs, objs = self._list(prefix, delimiter=True)
        out.extend(objs)
        names = {d.rstrip("/").rsplit("/", 1)[-1]: d for d in dirs}
        for sub in (names[n] for n in _only_awslogs(list(names))):
            if keep_dir([p for p in sub.split("/") if p], dates):
                self._walk(sub, dates, out)

    def fetch(self, ref: LogRef) -> bytes | str:
        from botocore.exceptions import BotoCoreError, ClientError

        assert ref.bucket is not None
        assert ref.key is not None
        try:
            return self.client.get_object(Bucket=ref.bucket, Key=ref.key)["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise SourceError(f"cannot read `{ref.name}`: {exc}") from None


def open_source(spec: str, s3_client: Callable[[], S3Client]) -> LogSource:
    """`s3://...` -> S3LogSource (client made on demand), else a local path."""
    if spec.startswith("s3://"):
        return S3LogSource(spec, s3_client())
    if "://" in spec:
        raise InputError(
            f"`{spec}` is not a supported source", hint="use a path or s3://bucket/prefix"
        )
    return LocalLogSource(Path(spec))
