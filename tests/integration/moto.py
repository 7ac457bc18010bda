"""A real moto server process on 127.0.0.1 for integration tests: the same one the demo
starts (`kmsguard.demo.server.moto_server`), so the tests also prove the demo's stand-in.

Every integration test talks to it with boto3 over HTTP, exactly as production code talks
to AWS; nothing else is contacted.
"""

from __future__ import annotations

import socket
import urllib.request

import pytest

from kmsguard.demo.server import moto_server

__all__ = ["free_port", "moto_server", "point_boto3_at", "reset"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reset(url: str) -> None:
    req = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(req, timeout=10):
        pass


def point_boto3_at(url: str, monkeypatch: pytest.MonkeyPatch, region: str) -> None:
    """An environment in which boto3 reaches the moto server at `url` and nothing else:
    fake credentials, no profile, no config or credentials file of the user's."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
