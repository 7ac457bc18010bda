"""Everything kmsguard prints comes partly from input an attacker may write: Sids, tag
values, encryption context, ARNs, file names. One place neutralises it per output kind:

- `terminal`: control characters (ESC/OSC sequences, newlines, carriage returns, C1
  controls, bidirectional overrides) shown as visible escapes, so a value can neither
  drive the terminal nor forge a line of the report;
- `csv_cell`: a cell that a spreadsheet would run as a formula is prefixed with `'`
  (OWASP's CSV injection advice: cells starting with = + - @ tab or CR);
- `xml_text`: characters XML 1.0 cannot hold at all, shown as visible escapes, so the
  document stays well-formed (ElementTree escapes the rest).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# C0 controls, DEL, C1 controls, and the Unicode bidi / line-separator controls that can
# reorder or break what a reader sees
_TERMINAL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# the same, but tab and newline are kept: for a multi-line message the program wrote
_TERMINAL_KEEP_LINES = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
# not allowed anywhere in an XML 1.0 document
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _visible(m: re.Match[str]) -> str:
    c = m.group(0)
    code = ord(c)
    if c == "\n":
        return "\\n"
    if c == "\r":
        return "\\r"
    if c == "\t":
        return "\\t"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal(text: str) -> str:
    """One line of text safe to print: every control character shown as an escape."""
    return _TERMINAL.sub(_visible, text)


def terminal_message(text: str) -> str:
    """A message of several lines the program composed: escapes all but newline and tab."""
    return _TERMINAL_KEEP_LINES.sub(_visible, text)


def terminal_lines(lines: Iterable[str]) -> str:
    """Lines joined by newlines, each escaped as one line (a newline inside one of them,
    from input, cannot start a line of its own)."""
    return "\n".join(terminal(line) for line in lines)


def csv_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text, never evaluates."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


def xml_text(text: str) -> str:
    """Text an XML 1.0 document can hold."""
    return _XML_ILLEGAL.sub(_visible, text)
