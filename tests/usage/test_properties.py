"""Property: for any mix of generated calls, both engines find exactly the generator's truth."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmsguard.usage import analyze_usage
from kmsguard.usage.engine_duckdb import analyze_files

from .generator import DENIED, KEY_A, KEY_B, KEY_P, LogTree
from .helpers import comparable, observed

ACTORS = ["alice", "app", "fas", "s3", "root", "fed", "sso", "ebs", "legacy", "partner",
          "stranger"]
ACTIONS = ["Decrypt", "Encrypt", "GenerateDataKey", "DescribeKey", "CreateGrant", "ReEncrypt"]

call = st.fixed_dictionaries(
    {
        "actor": st.sampled_from(ACTORS),
        "action": st.sampled_from(ACTIONS),
        "keys": st.sampled_from([[KEY_A], [KEY_B], [KEY_P], [KEY_A, KEY_B]]),
        "error": st.sampled_from([None, None, None, DENIED, "KMSInvalidStateException"]),
        "vpce": st.sampled_from([None, None, "vpce-0aaa", "vpce-0bbb"]),
        "context": st.sampled_from(
            [None, {"k": "v1"}, {"k": "v2"}, {"a": "1", "b": "2"}, {"k": "v3"}]
        ),
    }
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls=st.lists(call, min_size=1, max_size=30), seed=st.integers(0, 1000),
       per_file=st.integers(1, 30))
def test_engines_match_the_truth(calls: list[dict[str, object]], seed: int, per_file: int) -> None:
    tree = LogTree(seed=seed)
    for c in calls:
        keys = list(c["keys"])  # type: ignore[call-overload]
        action = str(c["action"])
        if action == "ReEncrypt" and len(keys) < 2:
            action = "Decrypt"
        if action != "ReEncrypt" and len(keys) > 1:
            keys = keys[:1]
        tree.call(
            str(c["actor"]), action, keys,
            error=c["error"],  # type: ignore[arg-type]
            vpce=c["vpce"],  # type: ignore[arg-type]
            context=c["context"],  # type: ignore[arg-type]
        )
    tree.noise(5)
    with tempfile.TemporaryDirectory() as tmp:
        files = tree.write(Path(tmp), per_file=per_file)
        report = analyze_usage([Path(tmp)], jobs=1)
        assert observed(report) == tree.expected()
        via_sql = analyze_files([str(f) for f in files])
        assert comparable(via_sql) == comparable(report)
