"""Fixtures of the monitor's tests: a monitor on a real SQLite file with alerts collected."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kmsguard.monitor import CollectingSink, Monitor, MonitorConfig
from kmsguard.monitor.state_sql import SqlMonitorState
from kmsguard.store import open_database
from tests.integration.moto import moto_server, point_boto3_at, reset


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.sqlite3'}"


@pytest.fixture
def sql_state(db_url: str) -> SqlMonitorState:
    return SqlMonitorState(open_database(db_url))


@pytest.fixture
def sink() -> CollectingSink:
    return CollectingSink()


@pytest.fixture
def monitor(sql_state: SqlMonitorState, sink: CollectingSink) -> Monitor:
    return Monitor(sql_state, sink, config=MonitorConfig())


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def aws_env(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A clean moto server, and an environment that points boto3 at it only."""
    reset(moto_url)
    point_boto3_at(moto_url, monkeypatch, region="eu-west-1")
    return moto_url
