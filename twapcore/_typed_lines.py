"""Typed reading of recordings for `simulate`: the lines it uses as msgspec Structs.

`iter_records` parses every line into a dict with every key; `simulate` reads a
handful of fields of three message types, so it decodes each line straight
into a Struct with just those fields (prices and quantities stay the wire's
strings; they become `Decimal` exactly as from a dict), a chunk of lines at a time.
A chunk the typed decoder does not take as it is — a malformed line, another
message type, a number where a string is expected, a blank line — is read line
by line the way `iter_records` reads it, with the same errors naming FILE:LINE.

msgspec is imported only here, and this module only by `simulate`, so that
`import twapcore` stays light.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import msgspec
import orjson

from twapcore.errors import RecordingError
from twapcore.models import BookSnapshot
from twapcore.recording import _levels, open_binary

__all__ = [
    "BookLine",
    "InstrumentLine",
    "Line",
    "OtherLine",
    "TradeLine",
    "read_lines",
]

# Read and split 64 KiB at a time: measured faster than larger chunks (whose objects
# all live at once) and than iterating over the file's lines.
_CHUNK = 1 << 16


class BookLine(msgspec.Struct, tag_field="type", tag="book", gc=False):
    kind: ClassVar[str] = "book"
    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int
    bids: list[tuple[str, str]]
    asks: list[tuple[str, str]]
    seq: int | None = None

    def to_book(self, depth: int | None = None, version: int = 0) -> BookSnapshot:
        """`recording.book_from_record` of this line (optionally only `depth` levels)."""
        return BookSnapshot(
            exchange=self.exchange,
            symbol=self.symbol,
            bids=_levels(self.bids, depth),
            asks=_levels(self.asks, depth),
            ts_event=int(self.ts_event),
            ts_recv=int(self.ts_recv),
            seq=self.seq,
            version=version,
        )


class TradeLine(msgspec.Struct, tag_field="type", tag="trade", gc=False):
    kind: ClassVar[str] = "trade"
    exchange: str
    symbol: str
    ts_recv: int
    price: str
    qty: str


class InstrumentLine(msgspec.Struct, tag_field="type", tag="instrument", gc=False):
    kind: ClassVar[str] = "instrument"
    exchange: str
    symbol: str
    lot_size: str | None = None


class OtherLine(msgspec.Struct, gc=False):
    """A message of another type (never decoded as such: built from its dict)."""

    kind: ClassVar[str] = "other"
    type: Any
    exchange: Any = None
    symbol: Any = None
    ts_recv: Any = None


class _SkippedBook(msgspec.Struct, tag_field="type", tag="book", gc=False):
    """A book line when only trades are read: its fields are skipped unparsed."""


Line = BookLine | TradeLine | InstrumentLine | OtherLine
_ALL = msgspec.json.Decoder(BookLine | TradeLine | InstrumentLine)
_TRADES = msgspec.json.Decoder(_SkippedBook | TradeLine | InstrumentLine)
_REQUIRED: dict[str, tuple[type[Any], tuple[str, ...]]] = {
    "book": (BookLine, ("exchange", "symbol", "ts_event", "ts_recv", "bids", "asks")),
    "trade": (TradeLine, ("exchange", "symbol", "ts_recv", "price", "qty")),
    "instrument": (InstrumentLine, ("exchange", "symbol")),
}


def _from_json(line: bytes, path: str | Path, line_no: int) -> Line:
    """The line as `iter_records` reads it (same errors), then as a Line, values unchecked:
    they are converted where used, as from a dict."""
    try:
        record = orjson.loads(line)
        kind = record["type"]
    except orjson.JSONDecodeError as exc:
        raise RecordingError(f"{path}:{line_no}: not valid JSON ({exc})") from exc
    except (TypeError, KeyError, IndexError):
        raise RecordingError(
            f"{path}:{line_no}: a message must be an object with a 'type' field"
        ) from None
    found = _REQUIRED.get(kind) if isinstance(kind, str) else None
    if found is None:
        return OtherLine(kind, record.get("exchange"), record.get("symbol"), record.get("ts_recv"))
    cls, required = found
    missing = next((name for name in required if name not in record), None)
    if missing is not None:
        raise RecordingError(f"{path}:{line_no}: {kind} message lacks the field {missing!r}")
    fields = {name: record[name] for name in cls.__struct_fields__ if name in record}
    line_obj: Line = cls(**fields)
    return line_obj


def _one_by_one(
    lines: list[bytes], decoder: msgspec.json.Decoder[Any], path: str | Path, first_line: int
) -> list[Line]:
    out: list[Line] = []
    decode = decoder.decode
    for line_no, line in enumerate(lines, start=first_line):
        if not line.strip():
            continue
        try:
            out.append(decode(line))
        except msgspec.MsgspecError:
            out.append(_from_json(line, path, line_no))
    return out


def _chunks(path: str | Path) -> Iterator[bytes]:
    """The file's bytes in pieces of whole lines (the last may lack its newline)."""
    with open_binary(path) as handle:
        rest = b""
        while data := handle.read(_CHUNK):
            data = rest + data
            cut = data.rfind(b"\n") + 1
            rest = data[cut:]
            if cut:
                yield data[:cut]
        if rest:
            yield rest


def read_lines(
    paths: str | Path | Iterable[str | Path], *, trades_only: bool = False
) -> Iterator[list[Line]]:
    """Every message of the recordings in file order, in lists of consecutive lines.

    With `trades_only`, book lines come as `_SkippedBook` (their fields unread).
    """
    path_list = [paths] if isinstance(paths, str | Path) else list(paths)
    decoder = _TRADES if trades_only else _ALL
    decode = decoder.decode
    for path in path_list:
        first_line = 1
        for chunk in _chunks(path):
            lines = chunk.split(b"\n")
            if not lines[-1]:  # the newline ending the chunk (the last line may have none)
                lines.pop()
            try:
                # One call per line, as a blank line or two values on one line must be
                # told apart as iter_records does (decode_lines would merge them).
                batch: list[Line] = list(map(decode, lines))
            except msgspec.MsgspecError:
                batch = _one_by_one(lines, decoder, path, first_line)
            first_line += len(lines)
            yield batch
