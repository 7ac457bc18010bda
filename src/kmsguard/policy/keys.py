"""What kmsguard knows about condition keys: which are multivalued, which identify the
caller, which only narrow the network origin, and which an attacker cannot set."""

from __future__ import annotations

MULTIVALUED: frozenset[str] = frozenset(
    {
        "aws:principalorgpaths",
        "aws:calledvia",
        "aws:tagkeys",
        "aws:principalservicenameslist",
        "aws:sourceorgpaths",
        "aws:resourceorgpaths",
        "kms:grantoperations",
        "kms:encryptioncontextkeys",
    }
)

#: Keys set for signed requests of IAM principals from their identity (modelled exactly).
IDENTITY_KEYS: frozenset[str] = frozenset(
    {
        "aws:principalaccount",
        "kms:calleraccount",
        "aws:principalarn",
        "aws:principalorgid",
        "aws:principalorgpaths",
        "aws:userid",
        "aws:principaltype",
        "aws:username",
        "aws:principalisawsservice",
    }
)

#: Present only when a service calls on behalf of a resource: absent for an IAM caller.
SERVICE_ONLY_KEYS: frozenset[str] = frozenset(
    {
        "aws:sourceaccount",
        "aws:sourcearn",
        "aws:sourceorgid",
        "aws:sourceorgpaths",
        "aws:principalservicename",
        "aws:principalservicenameslist",
    }
)

#: Set by AWS for every request from facts the caller does not choose.
CALLER_CANNOT_SET: frozenset[str] = frozenset({"aws:resourceaccount", "aws:resourceorgid"})

NETWORK_KEYS: frozenset[str] = frozenset(
    {"aws:sourceip", "aws:sourcevpc", "aws:sourcevpce", "aws:vpcsourceip"}
)
VPC_KEYS: frozenset[str] = frozenset({"aws:sourcevpc", "aws:sourcevpce", "aws:vpcsourceip"})

#: Always present; the attacker picks the value within its type.
ALWAYS_PRESENT_FREE: frozenset[str] = frozenset(
    {"aws:securetransport", "aws:currenttime", "aws:epochtime", "aws:requestedregion"}
)

#: Keys the request carries for reasons this engine models; anything else is "unknown"
#: and assumed attacker-controlled (reported as a note).
KNOWN_PREFIXES: tuple[str, ...] = (
    "aws:principaltag/",
    "aws:requesttag/",
    "aws:resourcetag/",
    "kms:encryptioncontext:",
)
KNOWN_KEYS: frozenset[str] = (
    IDENTITY_KEYS
    | SERVICE_ONLY_KEYS
    | NETWORK_KEYS
    | ALWAYS_PRESENT_FREE
    | MULTIVALUED
    | frozenset(
        {
            "aws:resourceaccount",
            "aws:resourceorgid",
            "aws:calledviafirst",
            "aws:calledvialast",
            "aws:viaawsservice",
            "aws:multifactorauthpresent",
            "aws:multifactorauthage",
            "aws:tokenissuetime",
            "aws:federatedprovider",
            "aws:sourceidentity",
            "aws:ec2instancesourcevpc",
            "aws:ec2instancesourceprivateipv4",
            "aws:isMfaPresent".lower(),
            "aws:referer",
            "aws:useragent",
            "kms:viaservice",
            "kms:encryptioncontextkeys",
            "kms:encryptionalgorithm",
            "kms:grantisforawsresource",
            "kms:granteeprincipal",
            "kms:retiringprincipal",
            "kms:grantconstrainttype",
            "kms:keyorigin",
            "kms:keyspec",
            "kms:keyusage",
            "kms:keyagreementalgorithm",
            "kms:macalgorithm",
            "kms:messagetype",
            "kms:signingalgorithm",
            "kms:multiregion",
            "kms:multiregionkeytype",
            "kms:primaryregion",
            "kms:replicaregion",
            "kms:reencryptonsamekey",
            "kms:requestalias",
            "kms:resourcealiases",
            "kms:rotationperiodindays",
            "kms:scheduleKeyDeletionPendingWindowInDays".lower(),
            "kms:bypasspolicylockoutsafetycheck",
            "kms:callerprincipal",
            "kms:wrappingalgorithm",
            "kms:wrappingkeyspec",
            "kms:validto",
            "kms:expirationmodel",
            "kms:importtype",
            "kms:recipientattestation:imagesha384",
            "kms:recipientattestation:pcr",
        }
    )
)


def is_known(key: str) -> bool:
    return key in KNOWN_KEYS or key.startswith(KNOWN_PREFIXES)
