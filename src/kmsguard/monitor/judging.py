"""Judging one KMS event against the key's last known state: the key's new state and the
alerts the change calls for (a change of verdict, a new exposure, a grant outside the zone,
a lost owner tag, a key private again). Pure: the engine does the judging."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from kmsguard import rules
from kmsguard.arn import partition_of
from kmsguard.aws.scan import PolicyJudge, has_owner_tag
from kmsguard.model import Assessment, TrustZone, Verdict
from kmsguard.policy import judge_grant
from kmsguard.store.policy_versions import sha256_text

from .alerts import Alert, AlertType, exposure_fields
from .events import KmsEvent, default_key_policy
from .state import KeyState

EXPOSED_VERDICTS = frozenset({str(Verdict.PUBLIC), str(Verdict.CROSS_ACCOUNT)})

_RANK = {
    "unknown": -1,
    str(Verdict.PRIVATE): 0,
    str(Verdict.UNRESOLVED): 1,
    str(Verdict.CROSS_ACCOUNT): 2,
    str(Verdict.PUBLIC): 3,
    str(Verdict.ERROR): 4,
}

_KEY_STATES = {
    "CreateKey": "Enabled",
    "ReplicateKey": "Enabled",
    "EnableKey": "Enabled",
    "DisableKey": "Disabled",
    "ScheduleKeyDeletion": "PendingDeletion",
    "CancelKeyDeletion": "Disabled",  # AWS leaves a key whose deletion is cancelled disabled
}


@dataclass(frozen=True, slots=True)
class Judged:
    state: KeyState
    alerts: tuple[Alert, ...]


def _worst(verdicts: list[str]) -> str:
    return max(verdicts, key=lambda v: _RANK.get(v, 4), default="unknown")


def _signature(assessment: Assessment) -> tuple[str, ...]:
    return tuple(sorted({f"{e.kind}:{a}" for e in assessment.exposures for a in e.actions}))


def _applied(event: KmsEvent, before: KeyState) -> KeyState:
    """The key's state with `event` as the last one applied to it."""
    return replace(before, last_event_time=event.event_time_text, last_event_id=event.event_id)


def event_alert(
    event: KmsEvent,
    before: KeyState,
    kind: AlertType,
    verdict: str,
    severity: str,
    reason: str,
    **extra: object,
) -> Alert:
    """An alert about `event` for a key last known as `before`."""
    return Alert(
        type=kind,
        key_arn=event.key_arn,
        event_id=event.event_id,
        event_name=event.event_name,
        event_time=event.event_time_text,
        account=event.account,
        region=event.region,
        actor=event.actor,
        verdict=verdict,
        previous_verdict=before.verdict,
        severity=severity,
        reason=reason,
        **extra,  # type: ignore[arg-type]  # Alert's optional fields, by name
    )


def unjudged(event: KmsEvent, before: KeyState, reason: str) -> Judged:
    """The event is recorded (it happened) but the key's verdict is unknown: an `error`."""
    alert = event_alert(
        event,
        before,
        AlertType.ERROR,
        "error",
        str(rules.rule(rules.UNREADABLE).default_severity),
        reason,
    )
    state = replace(
        _applied(event, before), verdict="error", policy_verdict="error", policy_sha256=None
    )
    return Judged(state, (alert,))


def judge_event(
    event: KmsEvent,
    before: KeyState,
    policy: str | None,
    *,
    zone: TrustZone,
    judge: PolicyJudge,
    owner_keys: tuple[str, ...],
) -> Judged:
    """`policy` is the key's policy after the event when the event sets one (None for events
    that leave the policy alone)."""
    state = replace(
        _applied(event, before), key_state=_KEY_STATES.get(event.event_name, before.key_state)
    )
    alerts: list[Alert] = []

    def alert(kind: AlertType, verdict: str, severity: str, reason: str, **extra: object) -> None:
        alerts.append(event_alert(event, before, kind, verdict, severity, reason, **extra))

    assessment: Assessment | None = None
    if policy is None and event.default_policy:
        policy = default_key_policy(event.account, partition_of(event.key_arn))
    if policy is not None:
        assessment = judge.policy(policy, zone, event.key_arn)
        state = replace(
            state,
            policy_verdict=str(assessment.verdict),
            exposure_signature=_signature(assessment),
            policy_sha256=sha256_text(policy),
            last_private_policy=(
                policy if assessment.verdict is Verdict.PRIVATE else state.last_private_policy
            ),
        )
    if event.event_name == "CreateGrant" and event.grant is not None:
        judged = judge_grant(event.grant, zone)
        if judged.verdict is not Verdict.PRIVATE:
            grants = [g for g in state.external_grants if g[0] != event.grant.grant_id]
            state = replace(
                state,
                external_grants=(*grants, (event.grant.grant_id, str(judged.verdict))),
            )
            actions, exposures, witness = exposure_fields(judged)
            alert(
                AlertType.GRANT,
                str(judged.verdict),
                str(judged.severity),
                f"grant to {event.grant.grantee_principal} reaches outside the zone of trust",
                grant_id=event.grant.grant_id,
                exposed_actions=actions,
                exposures=exposures,
                witness=witness,
            )
    if event.event_name in ("RetireGrant", "RevokeGrant") and event.grant_id is not None:
        state = replace(
            state, external_grants=tuple(g for g in state.external_grants if g[0] != event.grant_id)
        )
    state = _owner(event, before, state, owner_keys, alert)

    verdicts = [v for _, v in state.external_grants]
    if state.policy_verdict is not None:
        verdicts.append(state.policy_verdict)
    # nothing known about the policy and no outside grant: the verdict is unknown (never a
    # pass; the next policy event decides)
    verdict = _worst(verdicts) if verdicts else "unknown"
    was_exposed = before.verdict in EXPOSED_VERDICTS
    now_exposed = verdict in EXPOSED_VERDICTS
    state = replace(state, verdict=verdict)
    state = replace(
        state,
        severity=_severity(assessment, state, before),
        exposed_since=(
            (before.exposed_since if was_exposed else event.event_time_text)
            if now_exposed
            else None
        ),
    )
    if assessment is not None:
        _policy_alerts(assessment, before, state.exposed_since, alert)
    if was_exposed and verdict == str(Verdict.PRIVATE):
        alert(
            AlertType.RESOLVED,
            verdict,
            "none",
            f"the key is private again (was {before.verdict})",
            exposed_since=before.exposed_since,
        )
    # the alert list keeps a stable order: exposure first, then grant / owner / resolved
    order = {t: i for i, t in enumerate(AlertType)}
    return Judged(state, tuple(sorted(alerts, key=lambda a: order[a.type])))


def _policy_alerts(
    assessment: Assessment, before: KeyState, exposed_since: str | None, alert: _AlertFn
) -> None:
    verdict = str(assessment.verdict)
    if verdict == str(Verdict.ERROR):
        alert(
            AlertType.ERROR,
            verdict,
            str(rules.rule(rules.UNREADABLE).default_severity),
            "the policy in the event cannot be judged: " + "; ".join(assessment.errors),
        )
        return
    if verdict not in EXPOSED_VERDICTS:
        return
    new_exposures = set(_signature(assessment)) - set(before.exposure_signature)
    if verdict == before.policy_verdict and not new_exposures:
        return  # still exposed the same way: told before
    actions, exposures, witness = exposure_fields(assessment)
    if before.policy_verdict == verdict:
        reason = "the policy exposes more: " + ", ".join(sorted(new_exposures))
    else:
        reason = f"the policy made the key {verdict} (was {before.policy_verdict or 'unknown'})"
    alert(
        AlertType.EXPOSED,
        verdict,
        str(assessment.severity),
        reason,
        exposed_actions=actions,
        exposures=exposures,
        witness=witness,
        exposed_since=exposed_since,
    )


class _AlertFn(Protocol):  # the shape of the local `alert` helper
    def __call__(
        self, kind: AlertType, verdict: str, severity: str, reason: str, **extra: object
    ) -> None: ...


def _owner(
    event: KmsEvent,
    before: KeyState,
    state: KeyState,
    owner_keys: tuple[str, ...],
    alert: _AlertFn,
) -> KeyState:
    wanted = {k.casefold() for k in owner_keys}
    owner = state.owner_tag
    if event.event_name in ("CreateKey", "ReplicateKey"):
        owner = has_owner_tag(event.tags_set, owner_keys)
    elif event.event_name == "TagResource":
        for key, value in event.tags_set:
            if key.casefold() in wanted:
                owner = bool(value.strip())
    elif event.event_name == "UntagResource" and any(
        k.casefold() in wanted for k in event.tags_removed
    ):
        owner = False
    if (
        owner is False
        and before.owner_tag is not False
        and event.event_name
        in (
            "TagResource",
            "UntagResource",
        )
    ):
        alert(
            AlertType.OWNER_TAG_REMOVED,
            state.verdict,
            str(rules.rule(rules.MISSING_OWNER_TAG).default_severity),
            "no owner tag ("
            + ", ".join(owner_keys)
            + ") with a non-empty value is left on the key",
        )
    return replace(state, owner_tag=owner)


def _severity(assessment: Assessment | None, state: KeyState, before: KeyState) -> str:
    if state.verdict not in EXPOSED_VERDICTS and state.policy_verdict not in EXPOSED_VERDICTS:
        return "none"
    if assessment is not None:
        return str(assessment.severity)
    return before.severity
