"""`make test-latest` names failures of tests marked `lags_aws` instead of failing on them;
`make test` (the lock) runs them like any other test."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"

TESTS = """
import pytest

@pytest.mark.lags_aws("moto does not route the new protocol")
def test_lagging():
    assert False

def test_real_drift():
    assert False
"""


@pytest.mark.parametrize("latest", [True, False])
def test_lagging_failures_are_named_only_against_the_newest_releases(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, latest: bool
) -> None:
    pytester.makeconftest(CONFTEST.read_text().replace('pytest_plugins = ["pytester"]', ""))
    pytester.makeini("[pytest]\nmarkers =\n    lags_aws(reason): lags AWS\n")
    pytester.makepyfile(TESTS)
    monkeypatch.setenv("KMSGUARD_TEST_LATEST", "1" if latest else "0")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    if latest:
        result.assert_outcomes(failed=1, xfailed=1)
        result.stdout.fnmatch_lines([
            "*failures from a library lagging AWS*",
            "*test_lagging: lags AWS: moto does not route the new protocol",
        ])
    else:
        result.assert_outcomes(failed=2)
        assert "lagging AWS" not in result.stdout.str()
