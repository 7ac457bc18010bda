"""The pure policy engine: parse key policies, evaluate requests, judge exposure and grants.

No I/O, no boto3, no printing: data in, decisions (with reasons) out.
"""

from kmsguard.errors import PolicyParseError

from .actions import KMS_ACTIONS, action_severity, expand_action_patterns
from .document import Condition, Effect, Policy, PrincipalEntry, Statement, parse_policy
from .evaluator import Decision, Request, evaluate
from .exposure import analyze_policy
from .grants import Grant, judge_grant
from .owner import analyze_inferring_owner, infer_owner_account

__all__ = [
    "KMS_ACTIONS",
    "Condition",
    "Decision",
    "Effect",
    "Grant",
    "Policy",
    "PolicyParseError",
    "PrincipalEntry",
    "Request",
    "Statement",
    "action_severity",
    "analyze_inferring_owner",
    "analyze_policy",
    "evaluate",
    "expand_action_patterns",
    "infer_owner_account",
    "judge_grant",
    "parse_policy",
]
