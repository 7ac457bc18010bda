"""Hostile-input and fault tests: every input is generated here, the way an attacker (or a
broken proxy, disk or network) would produce it. The moto fixtures are the integration
suite's, so these tests drive boto3 over HTTP too."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.conftest import aws_env, moto_url
from tests.integration.fault_proxy import FaultPlan, FaultProxy

__all__ = ["aws_env", "moto_url"]


@pytest.fixture
def proxy(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """The fault proxy in front of the test's moto server; boto3 goes through it."""
    fp = FaultProxy(aws_env, FaultPlan(), max_seconds=120)
    monkeypatch.setenv("AWS_ENDPOINT_URL", fp.start())
    try:
        yield fp
    finally:
        fp.stop()
