"""The fix plan offer from the user's inputs: read the key's policy (live or from a file),
gather the usage evidence (a usage report or CloudTrail), check that the inputs fit
together, and hand them to the planner. What `fix plan`, `fix apply` and the demo share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from kmsguard import safeio
from kmsguard.arn import account_of
from kmsguard.errors import InputError
from kmsguard.model import ZoneSpec
from kmsguard.policy.remediation import Strategy

from .evidence import load_usage_file, usage_from_cloudtrail
from .planning import Offer, make_offer

if TYPE_CHECKING:
    from .kms import KeyPolicyClient


def _ignore(_warning: str) -> None:
    pass


def offer_for(
    *,
    key: str | None,
    kms: KeyPolicyClient | None,
    policy_file: Path | None,
    usage_file: Path | None,
    cloudtrail: tuple[str, ...],
    since: str | None,
    until: str | None,
    usage_key: str | None,
    allow_no_usage: bool = False,
    strategy: str,
    keep_external: tuple[str, ...],
    zone: ZoneSpec,
    warn_window: bool = True,
    warn: Callable[[str], None] = _ignore,
) -> Offer:
    """The verified plan offer for a live key (`key`, read through `kms`) or a policy file,
    from a usage report or CloudTrail logs: what `fix plan` shows and `fix apply` applies.
    The owner account is `zone.account`, else the key's (or the usage report's only key's).
    Inputs that do not fit together are an `InputError` naming the options; `warn` receives
    what is worth saying about the evidence (window warnings unless not `warn_window`)."""
    if (policy_file is None) == (key is None):
        raise InputError("give exactly one of --policy FILE and --key ARN")
    if (usage_file is None) == (not cloudtrail):
        raise InputError(
            "give the observed usage: exactly one of --usage FILE and --cloudtrail SOURCE",
            hint="create a usage report with `kmsguard usage SOURCE... --format json`",
        )
    key_arn: str | None = None
    if key is not None:
        assert kms is not None
        key_arn = kms.key_arn(key)
        old_policy = kms.read(key_arn)
        source = key_arn
    else:
        assert policy_file is not None
        try:
            old_policy = safeio.read_text(policy_file)
        except OSError as exc:
            raise InputError(f"cannot read `{policy_file}`: {exc.strerror}") from exc
        source = str(policy_file)
    account, org_id = zone.account, zone.org_id
    usage_target = key_arn or usage_key
    key_account = account or (account_of(usage_target) if usage_target else None)
    if key_account is None and usage_file is not None:
        # the report's only key tells the owner account
        probe = load_usage_file(usage_file, None, key_account="000000000000")
        key_account = account_of(probe.key_arn) if probe.key_arn else None
    if key_account is None:
        raise InputError("the key owner's account is unknown", hint="pass --account ID (12 digits)")
    if account and key_arn and account_of(key_arn) not in (None, account):
        raise InputError(f"`--account {account}` does not own `{key_arn}`")
    if Strategy(strategy) is Strategy.ORG and not org_id:
        raise InputError(
            "the `org` strategy needs the organization id",
            hint="pass --org-id o-... (the key owner's organization)",
        )
    trust = replace(zone, account=key_account).zone()
    if usage_file is not None:
        evidence = load_usage_file(
            usage_file, usage_target, key_account=key_account, allow_missing=allow_no_usage
        )
    else:
        evidence = usage_from_cloudtrail(
            cloudtrail, usage_target, key_account=key_account, zone=trust, since=since, until=until
        )
    if evidence.empty and not allow_no_usage:
        what = f"`{usage_target}`" if usage_target else "the key"
        raise InputError(
            f"no usage evidence: {evidence.source} hold no event for {what} in the window "
            f"{evidence.describe_window()}"
            + (
                f" ({evidence.events_read} CloudTrail events read)"
                if evidence.events_read is not None
                else ""
            ),
            hint="a plan from no evidence removes access nobody was seen using: check the "
            "log folder and --since/--until, or pass --allow-no-usage to plan anyway",
        )
    for warning in (*evidence.warnings, *(evidence.window_warnings() if warn_window else ())):
        warn(warning)
    return make_offer(
        old_policy,
        evidence.callers,
        trust,
        key_account=key_account,
        strategy=Strategy(strategy),
        keep_external=frozenset(keep_external),
        org_id=org_id,
        source=source,
        key_arn=key_arn or evidence.key_arn,
        window=evidence.window,
        evidence=evidence.to_json(),
    )
