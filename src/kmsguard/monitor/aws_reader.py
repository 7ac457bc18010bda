"""Reading a key's live policy for events that do not carry it (GetKeyPolicy), with one KMS
client per region from an injected boto3 session."""

from __future__ import annotations

from typing import Any

from kmsguard.fix.kms import KeyPolicyClient


class SessionClients:
    """KMS clients of one boto3 session, one per region, created when first needed."""

    def __init__(self, session: Any, config: Any = None) -> None:
        self._session = session
        self._config = config
        self._clients: dict[tuple[str, str], Any] = {}

    def client(self, service: str, region: str) -> Any:
        found = self._clients.get((service, region))
        if found is None:
            found = self._clients[(service, region)] = self._session.client(
                service, region_name=region, config=self._config
            )
        return found

    def kms(self, region: str) -> Any:
        return self.client("kms", region)


class KmsKeyReader:
    """`KeyReader`: GetKeyPolicy in the key's region."""

    def __init__(self, clients: SessionClients) -> None:
        self._clients = clients

    def policy(self, key_arn: str) -> str:
        region = key_arn.split(":")[3]
        return KeyPolicyClient(self._clients.kms(region)).read(key_arn)
