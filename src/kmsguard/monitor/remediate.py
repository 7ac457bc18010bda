"""`--remediate`: put back the last policy the monitor judged private, when a key becomes
exposed — holding the key's lock (as `fix apply` does), only if the live policy still is
the one the alert judged, and only after the fix module's verifier accepts the old policy
as a replacement (valid, private, nobody who manages the key locked out). Never a blind
edit; every write saves the previous policy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from kmsguard.errors import KmsguardError, PolicyParseError
from kmsguard.fix.apply import restore_verified
from kmsguard.fix.kms import KeyPolicyClient
from kmsguard.model import TrustZone, Verdict
from kmsguard.policy.remediation import verify
from kmsguard.store.policy_versions import PolicyVersionStore, sha256_text

from .alerts import Alert
from .events import KmsEvent
from .state import KeyState


class PolicyRestorer:
    """A `Remediator`: restores `KeyState.last_private_policy` through `fix`."""

    def __init__(
        self,
        kms_for_region: Callable[[str], Any],
        store: PolicyVersionStore,
        *,
        zone: TrustZone,
        backup_dir: Path,
    ) -> None:
        self._kms_for_region = kms_for_region
        self._store = store
        self._zone = zone
        self._backup_dir = backup_dir

    def remediate(self, alert: Alert, event: KmsEvent, before: KeyState) -> dict[str, Any]:
        target = before.last_private_policy
        if target is None:
            return _skipped("no policy of this key was ever judged private")
        if event.policy is None:
            return _skipped("the event carries no policy to compare with the live one")
        kms = KeyPolicyClient(self._kms_for_region(event.region))
        zone = replace(self._zone, account=event.account)
        try:
            # the lock `fix apply` and `fix rollback` take: from the read to the read back,
            # no other kmsguard run changes the key (this one waits for theirs, as they do)
            with self._store.lock(event.key_arn, f"monitor --remediate {event.event_id}"):
                return self._restore(kms, event, event.policy, zone, target)
        except KmsguardError as exc:
            return {"status": "failed", "detail": exc.message}

    def _restore(
        self, kms: KeyPolicyClient, event: KmsEvent, judged: str, zone: TrustZone, target: str
    ) -> dict[str, Any]:
        """Under the key's lock: restore `target` if the live policy still is `judged`."""
        live = kms.read(event.key_arn)
        if sha256_text(live) != sha256_text(judged):
            return _skipped("the live policy changed since this event: not touching it")
        try:
            verification = verify(live, target, (), zone, key_account=event.account)
        except PolicyParseError as exc:
            return _skipped(f"the live policy cannot be read: {exc.message}")
        if not verification.ok or verification.verdict_after is not Verdict.PRIVATE:
            failed = "; ".join(f"{c.name}: {c.detail}" for c in verification.failures)
            return _skipped(
                "the last private policy fails verification: "
                + (failed or str(verification.verdict_after))
            )
        applied = restore_verified(
            kms,
            self._store,
            key_arn=event.key_arn,
            live=live,
            target=target,
            zone=zone,
            backup_dir=self._backup_dir,
            note=f"kmsguard monitor --remediate after event {event.event_id}",
        )
        return {
            "status": "applied",
            "detail": "restored the policy last judged private "
            f"(sha256 {sha256_text(target)[:12]})",
            "saved_version": applied.saved.id,
            "backup_path": str(applied.backup_path),
            "verdict_after": str(applied.verdict_after),
            "readback_matches": applied.readback_matches,
        }


def _skipped(detail: str) -> dict[str, Any]:
    return {"status": "skipped", "detail": detail}
