"""The local engine: ISA-L gunzip + a msgspec decoder typed with only the needed fields, in a
pool of worker processes over batches of files. Each worker returns a partial `Aggregate`;
the parent merges them, so memory follows the number of groups, not the log size."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from kmsguard import safeio
from kmsguard.errors import KmsguardError, SourceError

from .aggregate import Aggregate, ScanOptions
from .decode import BadLogFileError, read_records
from .sources import LogRef, LogSource

#: Files per task: big enough to amortize pickling the partial aggregate, small enough for a
#: smooth progress bar and even load on 2 cores.
BATCH_FILES = 12
#: Below this many files, work in-process: a pool costs more than it saves.
INLINE_BELOW = 24

Progress = Callable[[int, int], None]  # (files done, files total)
Item = tuple[str, bytes | str]  # (name, content or local path)


def scan_items(items: Sequence[Item], opts: ScanOptions) -> Aggregate:
    """Worker entry point: read, decode and aggregate some log objects."""
    agg = Aggregate()
    for name, src in items:
        try:
            # a local file: regular files only, never more than the limit (FIFOs, devices)
            data = safeio.read_bytes(src, opts.max_log_bytes) if isinstance(src, str) else src
            records = read_records(data, opts.max_log_bytes)
        except BadLogFileError as exc:
            agg.skipped.append((name, exc.reason))
            continue
        except OSError as exc:
            agg.skipped.append((name, f"cannot read: {exc.strerror or exc}"))
            continue
        agg.files += 1
        bad_before = agg.bad_times
        agg.add_records(records, opts)
        if agg.bad_times > bad_before:
            agg.skipped.append(
                (
                    name,
                    f"{agg.bad_times - bad_before} KMS record(s) with an eventTime that is "
                    f"not a time (e.g. {agg.bad_time_sample}) were not counted",
                )
            )
    return agg


def _mp_context() -> multiprocessing.context.BaseContext:
    """fork when nothing else runs (fastest start, and no re-import of `__main__`, so a script
    without a main guard works); forkserver when threads exist (forking them is unsafe)."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def tune_allocator() -> None:
    """In a worker process: keep freed buffers in the heap instead of returning them to the
    kernel. Every file is inflated into a fresh multi-MB buffer; with glibc's defaults each
    one is mmap'ed and page-faulted anew, which costs ~10% of the run in system time."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return
    mallopt(_M_MMAP_THRESHOLD, 64 << 20)
    mallopt(_M_TRIM_THRESHOLD, 128 << 20)


_M_TRIM_THRESHOLD = -1  # glibc malloc.h
_M_MMAP_THRESHOLD = -3


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run(
    work: Sequence[tuple[LogSource, LogRef]],
    opts: ScanOptions,
    *,
    jobs: int | None = None,
    progress: Progress | None = None,
    ends: float | None = None,
    ends_reason: str = "not read before the deadline",
) -> Aggregate:
    """Read and aggregate `work`; a file not started by `ends` (time.monotonic()) is not
    read but skipped with `ends_reason`, which makes the report incomplete."""
    total = len(work)
    jobs = jobs or default_jobs()
    result = Aggregate()
    batches = [work[i : i + BATCH_FILES] for i in range(0, total, BATCH_FILES)]
    done = 0

    def fetch_batch(batch: Sequence[tuple[LogSource, LogRef]]) -> list[Item]:
        items: list[Item] = []
        for source, ref in batch:
            if ends is not None and time.monotonic() >= ends:
                result.skipped.append((ref.name, ends_reason))
                continue
            try:
                items.append((ref.name, source.fetch(ref)))
            except SourceError as exc:
                result.skipped.append((ref.name, exc.message))
        return items

    remote = any(ref.path is None for _, ref in work)
    downloader: ThreadPoolExecutor | None = None

    def load(batch: Sequence[tuple[LogSource, LogRef]]) -> list[Item]:
        nonlocal downloader
        if not remote:
            return fetch_batch(batch)
        if downloader is None:
            downloader = ThreadPoolExecutor(max_workers=8)
        parts = list(downloader.map(lambda pair: fetch_batch([pair]), batch))
        return [item for part in parts for item in part]

    try:
        if jobs <= 1 or total < INLINE_BELOW:
            for batch in batches:
                result.merge(scan_items(load(batch), opts))
                done += len(batch)
                if progress:
                    progress(done, total)
            return result
        try:
            return _run_pool(batches, load, opts, jobs, remote, result, progress, total)
        except BrokenProcessPool as exc:
            raise KmsguardError(
                f"a worker process died while reading the logs: {exc}",
                hint="retry with --jobs 1 to read in one process",
            ) from None
    finally:
        if downloader is not None:
            downloader.shutdown(wait=True)


def _run_pool(
    batches: list[Sequence[tuple[LogSource, LogRef]]],
    load: Callable[[Sequence[tuple[LogSource, LogRef]]], list[Item]],
    opts: ScanOptions,
    jobs: int,
    remote: bool,
    result: Aggregate,
    progress: Progress | None,
    total: int,
) -> Aggregate:
    done = 0
    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=_mp_context(), initializer=tune_allocator
    ) as pool:
        # start the workers now, before any download thread exists
        pool.submit(int).result()
        pending: list[tuple[Future[Aggregate], int]] = []
        limit = jobs * (2 if remote else 8)  # bounded in-flight data
        for batch in batches:
            pending.append((pool.submit(scan_items, load(batch), opts), len(batch)))
            while len(pending) >= limit:
                fut, n = pending.pop(0)
                result.merge(fut.result())
                done += n
                if progress:
                    progress(done, total)
        for fut, n in pending:
            result.merge(fut.result())
            done += n
            if progress:
                progress(done, total)
    return result
