"""`pretty_json` must write what `json.dumps(obj, indent=2)` writes, for any JSON value a
report can hold (it only exists to be faster): the same text, except that a float may
spell its exponent differently (`1e16` for `1e+16`), which is the same JSON number."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kmsguard.report.json_report import pretty_json

_NO_FLOATS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.text()  # any code point: control characters, bidi marks, lone surrogates
)


def _json(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=20,
    )


@settings(max_examples=400, deadline=None)
@given(_json(_NO_FLOATS))
def test_same_text_as_json_dumps(obj: Any) -> None:
    assert pretty_json(obj) == json.dumps(obj, indent=2)


@settings(max_examples=200, deadline=None)
@given(_json(_NO_FLOATS | st.floats(allow_nan=False, allow_infinity=False)))
def test_same_value_with_floats(obj: Any) -> None:
    assert json.loads(pretty_json(obj)) == json.loads(json.dumps(obj, indent=2))


def test_hostile_text_keeps_json_escapes() -> None:
    obj = {"sid": "\x1b[2J\u202e\ud800", "empty": [], "nested": {"a": {}}}
    text = pretty_json(obj)
    assert text == json.dumps(obj, indent=2)
    assert text.isascii()
