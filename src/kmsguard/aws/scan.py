"""Live AWS source: scan every customer managed KMS key of the chosen accounts and regions
with a bounded thread pool, and judge each key's policy and grants with the engine.

Work flows account -> (account, region) -> key; every step that fails is kept as a
`ScopeFailure` or a `ReadError` on the key, so nothing read-protected passes silently."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from kmsguard.arn import role_arn
from kmsguard.aws.accounts import (
    DEFAULT_ROLE,
    Caller,
    UnreadableAnswerError,
    caller_identity,
    describe_organization,
    enabled_regions,
    read_error,
)
from kmsguard.aws.keys import (
    CallCounter,
    DeadlineExceededError,
    KeyRef,
    MalformedResponseError,
    RawKey,
    instrument,
    list_region,
    read_key,
)
from kmsguard.aws.ratelimit import RateLimits
from kmsguard.aws.result import GrantFinding, KeyResult, ReadError, ScanResult, ScopeFailure
from kmsguard.aws.session import SessionClients, assume_role, client_config
from kmsguard.errors import KmsguardError, SourceError
from kmsguard.model import Assessment, TrustZone, Verdict
from kmsguard.policy import Grant, Policy, analyze_policy, judge_grant, parse_policy

T = TypeVar("T")

#: Well under KMS's default per-operation request quotas for the list and describe calls
#: the scanner makes, which production workloads of the same account and region share.
DEFAULT_MAX_RPS = 40.0
DEFAULT_WORKERS = 16
DEFAULT_MAX_ATTEMPTS = 8
#: Seconds to connect, and to wait for each answer, per HTTP attempt (botocore's default is
#: 60: one hanging region then took 9 minutes).
DEFAULT_TIMEOUT = 10.0
#: Seconds for a whole `scan aws` run unless --deadline says otherwise: a CI job gets a
#: report (exit 4, the unread named) instead of hanging on a stalled API.
DEFAULT_DEADLINE = 3600.0


@dataclass(frozen=True, slots=True)
class ScanOptions:
    regions: tuple[str, ...] = ()  # empty: every region enabled for each account
    org: bool = False  # scan every active account of the caller's organization
    accounts: tuple[str, ...] = ()  # or these accounts (assume `role_name` in each)
    role_name: str = DEFAULT_ROLE
    owner_tag_keys: tuple[str, ...] = ("owner",)
    max_rps: float | None = DEFAULT_MAX_RPS  # per account and region; None: unlimited
    workers: int = DEFAULT_WORKERS
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    timeout: float = DEFAULT_TIMEOUT  # per HTTP attempt: connect, then each read
    deadline: float | None = None  # seconds for the whole scan; what is unread: incomplete
    org_id: str | None = None
    trusted_accounts: frozenset[str] = frozenset()
    trusted_orgs: frozenset[str] = frozenset()
    trusted_org_paths: frozenset[str] = frozenset()


@dataclass(slots=True)
class ScanCounts:
    """Progress so far; handed to the progress callback after every step."""

    accounts_total: int = 0
    accounts_done: int = 0
    regions_total: int = 0
    regions_done: int = 0
    keys_total: int = 0
    keys_done: int = 0


ProgressCallback = Callable[[ScanCounts], None]


class PolicyJudge:
    """The engine, with one Assessment per distinct (policy text, zone): organizations
    reuse a handful of policies across thousands of keys. The key's ARN is part of the
    question only when some statement names a resource other than `*`.

    The engine is thread-safe (one solver context per policy). Threads that meet the same
    new policy at once share one analysis: the first analyses it, the others wait for its
    result (an organization's 18 keys with one slow policy once ran 18 analyses at once).
    """

    def __init__(self) -> None:
        self._parsed: dict[str, Policy | Assessment] = {}
        self._cache: dict[tuple[str, TrustZone, str | None], Future[Assessment]] = {}
        self._lock = threading.Lock()
        self.analyses = 0  # how many analyses ran (the rest were shared)

    def policy(self, text: str, zone: TrustZone, key_arn: str | None = None) -> Assessment:
        parsed = self._parsed.get(text)
        if parsed is None:
            parsed = self._parsed[text] = _parse(text)
        if isinstance(parsed, Assessment):
            return parsed
        arn = key_arn if _names_resources(parsed) else None
        key = (text, zone, arn)
        with self._lock:
            found = self._cache.get(key)
            mine = found is None
            if found is None:
                found = self._cache[key] = Future()
                self.analyses += 1
        if mine:
            try:
                found.set_result(analyze_policy(parsed, zone, key_arn=arn))
            except BaseException as exc:
                found.set_exception(exc)
                raise
        return found.result()

    def grant(self, raw: dict[str, Any], zone: TrustZone) -> Assessment:
        grant = Grant(
            grant_id=str(raw.get("GrantId", "")),
            grantee_principal=str(raw.get("GranteePrincipal", "")),
            retiring_principal=raw.get("RetiringPrincipal"),
            operations=tuple(str(op) for op in raw.get("Operations", ())),
            constraints=raw.get("Constraints"),
            name=raw.get("Name"),
            issuing_account=raw.get("IssuingAccount"),
        )
        return judge_grant(grant, zone)


def _parse(text: str) -> Policy | Assessment:
    """The parsed policy, or an `error` Assessment: a malformed policy is never private."""
    try:
        return parse_policy(text)
    except KmsguardError as exc:
        return Assessment.unreadable(exc.message)


def _names_resources(policy: Policy) -> bool:
    return any(st.not_resource or st.resources != ("*",) for st in policy.statements)


def has_owner_tag(tags: tuple[tuple[str, str], ...], owner_keys: tuple[str, ...]) -> bool:
    wanted = {k.casefold() for k in owner_keys}
    return any(k.casefold() in wanted and v.strip() for k, v in tags)


def judge_key(
    raw: RawKey,
    account: str,
    region: str,
    *,
    zone: TrustZone,
    judge: PolicyJudge,
    owner_keys: tuple[str, ...],
) -> KeyResult:
    meta = raw.metadata or {}
    base = KeyResult(
        arn=raw.ref.arn,
        key_id=raw.ref.key_id,
        account=account,
        region=region,
        state=meta.get("KeyState"),
        manager=meta.get("KeyManager"),
        aliases=raw.ref.aliases,
        multi_region=bool(meta.get("MultiRegion", False)),
        errors=raw.errors,
    )
    if raw.aws_managed:
        return replace(base, skipped="AWS managed key (KeyManager AWS)", errors=())
    assessment = judge.policy(raw.policy, zone, raw.ref.arn) if raw.policy is not None else None
    grant_findings: list[GrantFinding] = []
    for g in raw.grants or ():
        judged = judge.grant(g, zone)
        if judged.verdict is not Verdict.PRIVATE:
            grant_findings.append(
                GrantFinding(
                    grant_id=str(g.get("GrantId", "")),
                    name=g.get("Name") or None,
                    grantee_principal=str(g.get("GranteePrincipal", "")),
                    retiring_principal=g.get("RetiringPrincipal"),
                    operations=tuple(str(op) for op in g.get("Operations", ())),
                    assessment=judged,
                )
            )
    errors = raw.errors
    if assessment is not None and assessment.verdict is Verdict.ERROR and not assessment.undecided:
        # could not be read; an undecided analysis is its own finding (KMS008)
        errors = (*errors, *(ReadError("policy", "MalformedPolicy", e) for e in assessment.errors))
    return replace(
        base,
        tags=raw.tags or (),
        assessment=assessment,
        grant_findings=tuple(grant_findings),
        grants_total=len(raw.grants or ()),
        owner_tag=has_owner_tag(raw.tags, owner_keys) if raw.tags is not None else None,
        errors=errors,
    )


@dataclass(frozen=True, slots=True)
class _AccountOpened:
    account: str
    clients: SessionClients
    regions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _RegionListed:
    account: str
    region: str
    client: Any
    keys: tuple[KeyRef, ...]


@dataclass(frozen=True, slots=True)
class _Plan:
    """The accounts to scan and the zone of trust, before any KMS call."""

    caller: Caller
    accounts: tuple[str, ...]
    org_id: str | None
    trusted_accounts: frozenset[str]


class AwsScanner:
    """Scan with an injected boto3 session (profiles, SSO and AWS_ENDPOINT_URL all apply)."""

    def __init__(
        self,
        session: boto3.Session,
        options: ScanOptions = ScanOptions(),
        *,
        judge: PolicyJudge | None = None,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.options = options
        self.config = client_config(options.max_attempts, options.workers, options.timeout)
        self.base = SessionClients(session, self.config)
        self.judge = judge or PolicyJudge()
        self.progress = progress
        self.counter = CallCounter()
        self.limits = RateLimits(options.max_rps)
        self.counts = ScanCounts()
        self.stop = threading.Event()  # set at the deadline: no request is sent after it

    # -- planning (main thread) -------------------------------------------------------

    def _plan(self) -> _Plan:
        opts = self.options
        caller = caller_identity(self.base)
        trusted = set(opts.trusted_accounts)
        org_id = opts.org_id
        if opts.org:
            org = describe_organization(self.base.client("organizations"))
            if org_id is None or org_id == org.id:
                org_id = org.id
                trusted.update(org.accounts)  # members are inside the zone of trust
            return _Plan(caller, org.accounts, org_id, frozenset(trusted))
        accounts = opts.accounts or (caller.account,)
        return _Plan(caller, accounts, org_id, frozenset(trusted))

    def zone(self, account: str, plan: _Plan) -> TrustZone:
        orgs = set(self.options.trusted_orgs)
        if plan.org_id:
            orgs.add(plan.org_id)
        return TrustZone(
            account=account,
            trusted_accounts=plan.trusted_accounts - {account},
            trusted_orgs=frozenset(orgs),
            trusted_org_paths=self.options.trusted_org_paths,
        )

    # -- tasks (worker threads); each returns a value, none raises on an AWS error ------

    def _open_account(self, account: str, plan: _Plan) -> _AccountOpened | ScopeFailure:
        try:
            if account == plan.caller.account:
                clients = self.base
            else:
                arn = role_arn(account, self.options.role_name, plan.caller.partition)
                sts = self.base.client("sts")
                clients = assume_role(sts, self.base, arn, self.config)
        except (ClientError, BotoCoreError) as exc:
            return ScopeFailure(account, None, read_error("AssumeRole", exc))
        try:
            regions = self.options.regions or enabled_regions(clients)
        except (ClientError, BotoCoreError) as exc:
            return ScopeFailure(account, None, read_error("DescribeRegions", exc))
        except UnreadableAnswerError as exc:
            error = ReadError(exc.operation, "MalformedResponse", exc.detail)
            return ScopeFailure(account, None, error)
        return _AccountOpened(account, clients, regions)

    def _list_region(self, opened: _AccountOpened, region: str) -> _RegionListed | ScopeFailure:
        try:
            client = instrument(
                opened.clients.client("kms", region),
                self.counter,
                self.limits.bucket(opened.account, region),
                self.stop,
            )
            return _RegionListed(opened.account, region, client, list_region(client))
        except (ClientError, BotoCoreError) as exc:
            return ScopeFailure(opened.account, region, read_error("ListKeys", exc))
        except MalformedResponseError as exc:
            # an answer that cannot be read lists nothing we know of: incomplete, not clean
            error = ReadError(exc.operation, "MalformedResponse", exc.detail)
            return ScopeFailure(opened.account, region, error)

    def _read_key(self, listed: _RegionListed, ref: KeyRef, zone: TrustZone) -> KeyResult:
        raw = read_key(listed.client, ref)
        return judge_key(
            raw,
            listed.account,
            listed.region,
            zone=zone,
            judge=self.judge,
            owner_keys=self.options.owner_tag_keys,
        )

    # -- orchestration -----------------------------------------------------------------

    def _planned(self, started: float) -> _Plan:
        """`_plan` (the caller's identity, the organization's accounts) within the
        deadline: in a daemon thread, so that a stalled call cannot hold the scan."""
        if self.options.deadline is None:
            return self._plan()
        box: list[_Plan | BaseException] = []

        def plan() -> None:
            try:
                box.append(self._plan())
            except BaseException as exc:  # handed to the scanning thread below
                box.append(exc)

        thread = threading.Thread(target=plan, name="kmsguard-plan", daemon=True)
        thread.start()
        thread.join(max(0.0, started + self.options.deadline - time.monotonic()))
        if not box:
            self.stop.set()
            what = "the organization's accounts" if self.options.org else "the caller identity"
            raise SourceError(
                f"the --deadline of {self.options.deadline:g} s passed while reading {what} "
                "(sts:GetCallerIdentity, organizations:ListAccounts): no account was scanned",
                hint="retry, or give a longer --deadline (0 or none: no limit)",
            )
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]

    def scan(self) -> ScanResult:
        started = time.monotonic()
        plan = self._planned(started)
        zones = {a: self.zone(a, plan) for a in plan.accounts}
        keys: list[KeyResult] = []
        failures: list[ScopeFailure] = []
        regions_scanned = 0
        scopes: list[tuple[str, str]] = []
        self.counts.accounts_total = len(plan.accounts)
        self._report()
        # Keys wait in one queue per (account, region) and are started in turn, at most
        # `workers` at a time: a first-in-first-out pool would work through one region
        # after another and so run into that region's --max-rps while others sit idle.
        waiting: _RoundRobin[tuple[_RegionListed, KeyRef]] = _RoundRobin()
        keys_in_flight = 0
        pool = ThreadPoolExecutor(max_workers=self.options.workers, thread_name_prefix="kmsguard")
        tasks: dict[Future[Any], _Task] = {}

        def submit(task: _Task, fn: Callable[..., Any], *args: Any) -> Future[Any]:
            fut = pool.submit(fn, *args)
            tasks[fut] = task
            return fut

        ends = started + self.options.deadline if self.options.deadline is not None else None
        try:
            pending: set[Future[Any]] = {
                submit(_Task(a), self._open_account, a, plan) for a in plan.accounts
            }
            while pending:
                left = None if ends is None else max(0.0, ends - time.monotonic())
                done, pending = wait(pending, timeout=left, return_when=FIRST_COMPLETED)
                if not done:  # the deadline passed: what is unread is reported as such
                    self.stop.set()
                    self._unread(pending, tasks, waiting, keys, failures)
                    pending = set()
                    break
                for fut in done:
                    item = _outcome(fut, tasks.pop(fut))
                    if isinstance(item, _AccountOpened):
                        self.counts.accounts_done += 1
                        self.counts.regions_total += len(item.regions)
                        pending.update(
                            submit(_Task(item.account, r), self._list_region, item, r)
                            for r in item.regions
                        )
                    elif isinstance(item, _RegionListed):
                        regions_scanned += 1
                        scopes.append((item.account, item.region))
                        self.counts.regions_done += 1
                        to_read = []
                        for ref in item.keys:
                            skip = ref.aws_managed_alias
                            if skip is None:
                                to_read.append((item, ref))
                            else:
                                keys.append(_skipped(ref, item, f"AWS managed key ({skip})"))
                        self.counts.keys_total += len(to_read)
                        waiting.add(to_read)
                    elif isinstance(item, ScopeFailure):
                        failures.append(item)
                        if item.region is None:
                            self.counts.accounts_done += 1
                        else:
                            self.counts.regions_done += 1
                    else:
                        keys.append(item)
                        keys_in_flight -= 1
                        self.counts.keys_done += 1
                    self._report()
                while keys_in_flight < self.options.workers and (nxt := waiting.pop()):
                    listed, ref = nxt
                    task = _Task(listed.account, listed.region, ref)
                    pending.add(submit(task, self._read_key, listed, ref, zones[listed.account]))
                    keys_in_flight += 1
        finally:
            # after a deadline, calls still waiting for an answer end within --timeout; their
            # results are not waited for
            pool.shutdown(wait=not self.stop.is_set(), cancel_futures=True)
        return ScanResult(
            keys=tuple(sorted(keys, key=lambda k: (k.account, k.region, k.arn))),
            failures=tuple(sorted(failures, key=lambda f: (f.account, f.region or ""))),
            accounts=plan.accounts,
            regions_scanned=regions_scanned,
            api_calls=tuple(sorted(self.counter.calls.items())),
            http_requests=self.counter.requests,
            elapsed_seconds=time.monotonic() - started,
            org_id=plan.org_id,
            scopes=tuple(sorted(scopes)),
        )

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(self.counts)

    def _unread(
        self,
        pending: set[Future[Any]],
        tasks: dict[Future[Any], _Task],
        waiting: _RoundRobin[tuple[_RegionListed, KeyRef]],
        keys: list[KeyResult],
        failures: list[ScopeFailure],
    ) -> None:
        """At the deadline: every account, region and key not read yet, as unread."""
        error = ReadError(
            "scan",
            "DeadlineExceeded",
            f"not read within the --deadline of {self.options.deadline:g} s",
        )
        for fut in pending:
            fut.cancel()
            item = _failed(tasks.pop(fut), error)
            if isinstance(item, KeyResult):
                keys.append(item)
            else:
                failures.append(item)
        while (nxt := waiting.pop()) is not None:
            listed, ref = nxt
            unread = _failed(_Task(listed.account, listed.region, ref), error)
            assert isinstance(unread, KeyResult)
            keys.append(unread)


@dataclass(frozen=True, slots=True)
class _Task:
    """What a submitted task reads: an account, a region of it, or a key of that region."""

    account: str
    region: str | None = None
    key: KeyRef | None = None


def _failed(task: _Task, error: ReadError) -> KeyResult | ScopeFailure:
    if task.key is not None:
        assert task.region is not None
        return KeyResult(
            arn=task.key.arn,
            key_id=task.key.key_id,
            account=task.account,
            region=task.region,
            aliases=task.key.aliases,
            errors=(error,),
        )
    return ScopeFailure(task.account, task.region, error)


def _outcome(fut: Future[Any], task: _Task) -> Any:
    """The task's result; an exception no step expected (an answer botocore could not
    parse, the deadline) makes that key, region or account unread, never a crash or a
    silent pass."""
    try:
        return fut.result()
    except Exception as exc:  # any failure of one task is that task's
        code = "DeadlineExceeded" if isinstance(exc, DeadlineExceededError) else "Unreadable"
        operation = "scan" if task.key is None else "key"
        return _failed(task, ReadError(operation, code, f"{type(exc).__name__}: {exc}"))


class _RoundRobin(Generic[T]):
    """Several queues, served in turn."""

    def __init__(self) -> None:
        self._queues: deque[deque[T]] = deque()

    def add(self, items: Iterable[T]) -> None:
        queue = deque(items)
        if queue:
            self._queues.append(queue)

    def pop(self) -> T | None:
        if not self._queues:
            return None
        queue = self._queues[0]
        item = queue.popleft()
        if queue:
            self._queues.rotate(-1)
        else:
            self._queues.popleft()
        return item


def _skipped(ref: KeyRef, listed: _RegionListed, reason: str) -> KeyResult:
    return KeyResult(
        arn=ref.arn,
        key_id=ref.key_id,
        account=listed.account,
        region=listed.region,
        aliases=ref.aliases,
        skipped=reason,
    )
