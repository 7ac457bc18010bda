"""AWS clients of the monitor, one per (service, region), made when first needed from the
shared session helpers of `kmsguard.aws.session`; and reading a key's live policy for events
that do not carry it (GetKeyPolicy)."""

from __future__ import annotations

import threading
from typing import Any

from kmsguard.arn import region_of
from kmsguard.aws.session import SessionClients
from kmsguard.errors import InputError
from kmsguard.fix.kms import KeyPolicyClient


class RegionClients:
    """Clients of one session, kept per service and region (the consumer runs for days)."""

    def __init__(self, clients: SessionClients) -> None:
        self._clients = clients
        self._cache: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str, region: str) -> Any:
        with self._lock:
            found = self._cache.get((service, region))
            if found is None:
                found = self._cache[(service, region)] = self._clients.client(service, region)
            return found

    def kms(self, region: str) -> Any:
        return self.client("kms", region)


class KmsKeyReader:
    """`KeyReader`: GetKeyPolicy in the key's region."""

    def __init__(self, clients: RegionClients) -> None:
        self._clients = clients

    def policy(self, key_arn: str) -> str:
        region = region_of(key_arn)
        if region is None:
            raise InputError(f"`{key_arn}` is not a key ARN")
        return KeyPolicyClient(self._clients.kms(region)).read(key_arn)
