"""Local history: saved key-policy versions (and, later, findings and KPIs) in one
SQLAlchemy database, a SQLite file under the user's data directory by default."""

from .database import Base, StoreError, default_db_url, open_database
from .policy_versions import PolicyVersion, PolicyVersionStore, VersionReason, sha256_text

__all__ = [
    "Base",
    "PolicyVersion",
    "PolicyVersionStore",
    "StoreError",
    "VersionReason",
    "default_db_url",
    "open_database",
    "sha256_text",
]
