"""Fixtures for usage analysis: one generated log tree per session, and the moto server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import aws_env, moto_url  # noqa: F401  # re-exported fixtures

from .generator import LogTree, standard_scenario


@pytest.fixture(scope="session")
def scenario() -> LogTree:
    return standard_scenario()


@pytest.fixture(scope="session")
def log_tree(scenario: LogTree, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cloudtrail")
    scenario.write(root)
    return root
