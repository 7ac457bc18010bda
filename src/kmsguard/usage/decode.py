"""Bytes of one log object -> CloudTrail records: gzip or not; `{"Records": [...]}`, a JSON
array, JSON lines, EventBridge envelopes (`detail`) or one bare record."""

from __future__ import annotations

from typing import cast

import msgspec
from isal import igzip, isal_zlib

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


def decompress(data: bytes) -> bytes:
    if not data.startswith(_GZIP_MAGIC):
        return data
    try:
        # one-shot zlib decoding is ~2x faster than igzip.decompress; CloudTrail files are a
        # single gzip member, anything after it falls back to the multi-member reader
        d = isal_zlib.decompressobj(wbits=31)
        out: bytes = d.decompress(data)
        if not d.eof:
            raise BadLogFileError("truncated gzip")
        if d.unused_data:
            out = igzip.decompress(data)  # type: ignore[no-untyped-call]  # untyped lib
    except EOFError:
        raise BadLogFileError("truncated gzip") from None
    except (OSError, _ZLIB_ERRORS) as exc:
        raise BadLogFileError(f"corrupt gzip: {exc}") from None
    return out


def read_records(data: bytes) -> list[Record]:
    text = decompress(data)
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
