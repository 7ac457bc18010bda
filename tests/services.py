"""Services started by `scripts/test-services.sh` (PostgreSQL, Chromium), found through the
environment variables it exports. Missing: the test skips locally but FAILS under CI=true,
where the script must have provided it."""

from __future__ import annotations

import os

import pytest

POSTGRES_ENV = "KMSGUARD_TEST_POSTGRES_URL"
CHROMIUM_ENV = "KMSGUARD_TEST_CHROMIUM"


def require(env: str, what: str) -> str:
    value = os.environ.get(env)
    if value:
        return value
    message = f"{what} is not available (${env} unset; run scripts/test-services.sh start)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)
