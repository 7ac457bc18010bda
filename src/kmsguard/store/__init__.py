"""Local history: saved key-policy versions, scan runs, findings with their lifecycle, key
snapshots and blocked IaC findings, in one SQLAlchemy database (a SQLite file under the
user's data directory by default; any SQLAlchemy URL via `--db` / `KMSGUARD_DB`)."""

from .database import Base, StoreError, default_db_url, open_database, resolve_db_url
from .history import EventRecord, History, RunRecord, iac_scope
from .models import FindingStatus, RunKind
from .observations import KeySnapshot, Observation, observe_aws, observe_iac, observe_policy
from .policy_versions import PolicyVersion, PolicyVersionStore, VersionReason, sha256_text

__all__ = [
    "Base",
    "EventRecord",
    "FindingStatus",
    "History",
    "KeySnapshot",
    "Observation",
    "PolicyVersion",
    "PolicyVersionStore",
    "RunKind",
    "RunRecord",
    "StoreError",
    "VersionReason",
    "default_db_url",
    "iac_scope",
    "observe_aws",
    "observe_iac",
    "observe_policy",
    "open_database",
    "resolve_db_url",
    "sha256_text",
]
