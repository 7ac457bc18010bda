"""Bytes of one log object -> CloudTrail records: gzip or not; `{"Records": [...]}`, a JSON
array, JSON lines, EventBridge envelopes (`detail`) or one bare record."""

from __future__ import annotations

from typing import cast

import msgspec
from isal import isal_zlib

from .records import Document, Record

_GZIP_MAGIC = b"\x1f\x8b"
_doc_decoder = msgspec.json.Decoder(Document | list[Document])
_line_decoder = msgspec.json.Decoder(Document)
_ZLIB_ERRORS = cast("type[Exception]", isal_zlib.error)  # stubs type it as an instance


class BadLogFileError(Exception):
    """One log object that cannot be read; the run reports it by name and goes on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


#: Most bytes one log file may hold once decompressed (CloudTrail writes files of a few MB;
#: a 4 MB gzip bomb expands to 4 GiB). Configurable with `usage --max-log-size`.
DEFAULT_MAX_LOG_BYTES = 256 * 1024 * 1024


def _too_large(limit: int) -> BadLogFileError:
    return BadLogFileError(
        f"decompresses to more than {limit / 1048576:g} MB (a gzip bomb?); not read "
        "(raise the limit with --max-log-size if it is a real log)"
    )


def decompress(data: bytes, limit: int = DEFAULT_MAX_LOG_BYTES) -> bytes:
    """The file's bytes, gunzipped (every member), never more than `limit` of them."""
    if not data.startswith(_GZIP_MAGIC):
        if len(data) > limit:
            raise _too_large(limit)
        return data
    parts: list[bytes] = []
    total = 0
    rest = data
    try:
        # one-shot zlib decoding is ~2x faster than igzip.decompress; CloudTrail files are a
        # single gzip member, any after it is read the same way
        while rest:
            d = isal_zlib.decompressobj(wbits=31)
            out: bytes = d.decompress(rest, limit + 1 - total)
            total += len(out)
            if total > limit:
                raise _too_large(limit)
            if not d.eof:
                raise BadLogFileError("truncated gzip")
            parts.append(out)
            rest = d.unused_data
            if rest and not rest.startswith(_GZIP_MAGIC):
                if rest.strip(b"\x00"):
                    raise BadLogFileError("corrupt gzip: data after the last member")
                break
    except EOFError:
        raise BadLogFileError("truncated gzip") from None
    except (OSError, _ZLIB_ERRORS) as exc:
        raise BadLogFileError(f"corrupt gzip: {exc}") from None
    return parts[0] if len(parts) == 1 else b"".join(parts)


def read_records(data: bytes, limit: int = DEFAULT_MAX_LOG_BYTES) -> list[Record]:
    text = decompress(data, limit)
    try:
        decoded = _doc_decoder.decode(text)
    except msgspec.ValidationError as exc:
        raise BadLogFileError(f"not a CloudTrail log: {exc}") from None
    except msgspec.DecodeError as exc:
        if "trailing characters" not in str(exc):
            raise BadLogFileError(f"invalid JSON: {exc}") from None
        try:
            decoded = _line_decoder.decode_lines(text)
        except msgspec.ValidationError as line_exc:
            raise BadLogFileError(f"not CloudTrail JSON lines: {line_exc}") from None
        except msgspec.DecodeError as line_exc:
            raise BadLogFileError(f"invalid JSON lines: {line_exc}") from None
    docs = decoded if isinstance(decoded, list) else [decoded]
    records: list[Record] = []
    for doc in docs:
        if doc.records is not None:
            records.extend(doc.records)
        elif doc.detail is not None:
            records.append(doc.detail)
        elif doc.event_source is not None:
            records.append(doc)
        else:
            raise BadLogFileError("not a CloudTrail log: no `Records`, `detail` or `eventSource`")
    return records
