"""The history store's answer to "which findings are known fixed" (`report.asff.KnownFixed`)
for `scan aws --format asff` / `--security-hub` with `--record` or `--db`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from kmsguard.report.asff import FixedFinding

if TYPE_CHECKING:
    from kmsguard.aws.result import ScanResult
    from kmsguard.store import History


class StoreKnownFixed:
    """Findings of live keys that the store has resolved, and open ones that this scan no
    longer sees in an account and region it read completely (recording the run resolves
    them). `report.asff` drops any the scan still reports or whose scope failed."""

    def __init__(self, history: History) -> None:
        self.history = history

    def known_fixed(self, result: ScanResult) -> Iterable[FixedFinding]:
        return list(self._fixed(result))

    def _fixed(self, result: ScanResult) -> Iterator[FixedFinding]:
        from kmsguard.store import FindingStatus, RunKind

        scanned = set(result.scopes) or {(k.account, k.region) for k in result.keys}
        failed = {(f.account, f.region) for f in result.failures}
        failed_accounts = {f.account for f in result.failures if f.region is None}
        current = {(f.origin.source, f.rule_id) for f in result.findings()}
        for row in self.history.findings():
            if row.kind != str(RunKind.AWS) or row.account is None or row.region is None:
                continue
            scope = (row.account, row.region)
            if scope not in scanned or scope in failed or row.account in failed_accounts:
                continue
            open_now = row.status == str(FindingStatus.OPEN)
            if open_now and (row.subject, row.rule_id) in current:
                continue
            yield FixedFinding(
                key_arn=row.subject,
                account=row.account,
                region=row.region,
                rule_id=row.rule_id,
                grant_id=row.detail_id,
                fixed_at=row.resolved_at,
            )
