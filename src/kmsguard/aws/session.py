"""AWS sessions and their clients: the user's session (`--profile` or the default chain,
honouring AWS_ENDPOINT_URL), assumed-role sessions in other accounts, and the retry and
connection-pool configuration every client of a scan shares."""

from __future__ import annotations

import threading
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.loaders import Loader, create_loader

from kmsguard.errors import InputError

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

SESSION_NAME = "kmsguard-scan"
_DEFAULT_REGION = "us-east-1"


def open_session(profile: str | None) -> boto3.Session:
    """A boto3 session for a named profile (or the default chain); it honours
    AWS_ENDPOINT_URL."""
    from botocore.exceptions import ProfileNotFound

    try:
        return boto3.Session(profile_name=profile)
    except ProfileNotFound:
        raise InputError(
            f"no AWS profile `{profile}`", hint="list profiles with `aws configure list-profiles`"
        ) from None


def client_config(max_attempts: int, pool_size: int, timeout: float = 10.0) -> Config:
    """Adaptive retries (botocore backs off on throttling), a connection pool as large
    as the thread pool, so workers never queue for a socket, and `timeout` seconds to
    connect and for each answer (a hanging endpoint fails that call, then it is retried)."""
    return Config(
        retries={"mode": "adaptive", "max_attempts": max_attempts},
        max_pool_connections=max(10, pool_size),
        user_agent_extra="kmsguard",
        connect_timeout=timeout,
        read_timeout=timeout,
    )


class SessionClients:
    """A boto3 session and the clients made from it. `Session.client` is not thread-safe,
    so creation is serialized; the clients themselves are."""

    def __init__(self, session: boto3.Session, config: Config) -> None:
        self.session = session
        self.config = config
        self._lock = threading.Lock()

    @property
    def default_region(self) -> str:
        return self.session.region_name or _DEFAULT_REGION

    def client(self, service: str, region: str | None = None) -> Any:
        with self._lock:
            return self.session.client(
                service,  # type: ignore[call-overload]  # service is a runtime name
                region_name=region or self.default_region,
                config=self.config,
            )


def assume_role(sts: STSClient, base: SessionClients, arn: str, config: Config) -> SessionClients:
    """A session in another account (credentials last the role's default hour)."""
    creds = sts.assume_role(RoleArn=arn, RoleSessionName=SESSION_NAME)["Credentials"]
    core = botocore.session.Session()
    # one loader for every account's session: the service models are parsed once, which
    # makes each assumed-role session about three times cheaper to set up
    core.register_component("data_loader", _shared_loader())
    session = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=base.default_region,
        botocore_session=core,
    )
    return SessionClients(session, config)


@cache
def _shared_loader() -> Loader:
    return create_loader()


