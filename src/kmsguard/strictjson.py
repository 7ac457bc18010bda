"""JSON as policies, templates and plans may hold it: no `NaN` / `Infinity`, no number that
overflows a double or has absurdly many digits, and (for policies) no duplicate keys, which
AWS rejects. Python's `json` accepts all of these; one of them used to abort a whole run.

`loads` raises `StrictJsonError`, a `json.JSONDecodeError`, so every caller that already
reports malformed JSON per input reports these the same way."""

from __future__ import annotations

import json
import math
import re
from typing import Any

#: Far above any number a policy, template or plan holds (an epoch in ns has 19 digits),
#: far below Python's 4300-digit int conversion limit, which raises a plain ValueError.
MAX_NUMBER_DIGITS = 64


class StrictJsonError(json.JSONDecodeError):
    """Valid JSON text that no AWS document holds: a non-finite or huge number, a
    duplicate key."""


def _position(text: str, needle: str) -> int:
    found = text.find(needle)
    return max(found, 0)


def loads(text: str, *, duplicate_keys: bool = False) -> Any:
    """`json.loads` that rejects NaN, Infinity, numbers that overflow or have more than
    MAX_NUMBER_DIGITS digits, and (unless `duplicate_keys`) an object with a repeated key."""

    def bad_constant(name: str) -> Any:
        raise StrictJsonError(
            f"`{name}` is not a number a policy can hold", text, _position(text, name)
        )

    def parse_int(digits: str) -> int:
        if len(digits.lstrip("-")) > MAX_NUMBER_DIGITS:
            raise StrictJsonError(
                f"a number of {len(digits)} digits (at most {MAX_NUMBER_DIGITS})",
                text,
                _position(text, digits[:20]),
            )
        return int(digits)

    def parse_float(literal: str) -> float:
        mantissa = re.split(r"[eE]", literal, maxsplit=1)[0]
        if len(mantissa.replace("-", "").replace(".", "")) > MAX_NUMBER_DIGITS:
            raise StrictJsonError(
                f"a number of {len(literal)} characters (at most {MAX_NUMBER_DIGITS} digits)",
                text,
                _position(text, literal[:20]),
            )
        value = float(literal)
        if not math.isfinite(value):
            raise StrictJsonError(
                f"`{literal[:40]}` overflows a number", text, _position(text, literal[:20])
            )
        return value

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out and not duplicate_keys:
                shown = json.dumps(key)[:80]
                raise StrictJsonError(
                    f"duplicate key {shown} (AWS rejects a policy with a repeated key)",
                    text,
                    _nth(text, json.dumps(key), 2),
                )
            out[key] = value
        return out

    try:
        return json.loads(
            text,
            parse_constant=bad_constant,
            parse_int=parse_int,
            parse_float=parse_float,
            object_pairs_hook=pairs,
        )
    except StrictJsonError:
        raise
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # anything else json's number conversion can raise
        raise StrictJsonError(str(exc), text, 0) from None


def _nth(text: str, needle: str, n: int) -> int:
    pos = -1
    for _ in range(n):
        pos = text.find(needle, pos + 1)
        if pos < 0:
            return 0
    return pos
