"""Integration fixtures: one moto server per test session, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .moto import moto_server, point_boto3_at, reset


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def aws_env(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A clean moto server, and an environment that points boto3 at it only."""
    reset(moto_url)
    point_boto3_at(moto_url, monkeypatch, region="us-east-1")
    return moto_url
