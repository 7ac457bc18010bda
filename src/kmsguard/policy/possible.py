"""Could AWS produce this request? Every witness the engine reports must be a request a
real caller can send: a 12-digit account, a principal ARN of that account and type, a real
organization id (`o-` and 10 to 32 lower-case letters or digits) and OU path, the user's
own name as `aws:username`, a unique id of the right shape, and no key that only a service
sends. `impossible(request)` names what is wrong, or returns None."""

from __future__ import annotations

import re

from .evaluator import Request
from .keys import SERVICE_ONLY_KEYS

_ACCOUNT = re.compile(r"^\d{12}$")
_ORG = re.compile(r"^o-[a-z0-9]{10,32}$")
_NAME = r"[\w+=,.@-]+"
_PRINCIPAL = {
    "Account": re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):root$"),
    "User": re.compile(rf"^arn:aws[a-z-]*:iam::(\d{{12}}):user/(?:{_NAME}/)*({_NAME})$"),
    "AssumedRole": re.compile(rf"^arn:aws[a-z-]*:iam::(\d{{12}}):role/(?:{_NAME}/)*{_NAME}$"),
    "FederatedUser": re.compile(rf"^arn:aws[a-z-]*:sts::(\d{{12}}):federated-user/({_NAME})$"),
}


def impossible(r: Request) -> str | None:
    if r.service is not None:
        return None  # service requests are not witnesses of outside accounts
    account = r.account or ""
    if not _ACCOUNT.match(account):
        return f"account `{account}` is not 12 digits"
    shape = _PRINCIPAL.get(r.principal_type)
    m = shape.match(r.principal) if shape else None
    if m is None or m.group(1) != account:
        return f"`{r.principal}` is not a {r.principal_type} principal of account {account}"
    if r.org_id is not None and not _ORG.match(r.org_id):
        return f"organization id `{r.org_id}` is not `o-` and 10-32 lower-case letters/digits"
    ctx = {k.lower(): [v] if isinstance(v, str) else list(v) for k, v in r.context.items()}
    for k in SERVICE_ONLY_KEYS:
        if ctx.get(k):
            return f"`{k}` is only sent by AWS services, never by an IAM caller"
    for path in ctx.get("aws:principalorgpaths", []):
        if r.org_id is None or not path.startswith(f"{r.org_id}/"):
            return f"OU path `{path}` is not under the caller's organization"
    usernames = ctx.get("aws:username", [])
    if usernames and (r.principal_type != "User" or usernames != [r.principal.rsplit("/", 1)[-1]]):
        return "`aws:username` is only the calling IAM user's own name"
    for uid in ctx.get("aws:userid", []):
        if not _userid_fits(uid, r, account):
            return f"unique id `{uid}` does not fit a {r.principal_type} caller"
    derived = {
        "aws:principalaccount": account,
        "kms:calleraccount": account,
        "aws:principalarn": r.principal,
        "aws:principaltype": r.principal_type,
        "aws:principalorgid": r.org_id,
    }
    for k, v in derived.items():
        if k in ctx and ctx[k] != ([v] if v else []):
            return f"`{k}` is set by AWS from the caller, not by the request"
    return None


def _userid_fits(uid: str, r: Request, account: str) -> bool:
    match r.principal_type:
        case "Account":
            return uid == account
        case "User":
            return uid.startswith("AIDA")
        case "AssumedRole":
            return uid.startswith("AROA") and ":" in uid
        case _:
            return uid == f"{account}:{r.principal.rsplit('/', 1)[-1]}"
