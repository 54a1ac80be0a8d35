"""Typed reading of recordings for `simulate`: the lines it uses as msgspec Structs.

`iter_records` parses every line into a dict with every key; `simulate` reads a
handful of fields of three message types, so it decodes each line straight
into a Struct with just those fields (prices and quantities stay the wire's
strings; they become `Decimal` exactly as from a dict), a chunk of lines at a time.
A book's levels are kept as raw JSON (`msgspec.Raw`): most books are only seen
for their mid, whose prices `TopsReader` reads from the first level's text;
`levels_head` decodes the first levels when a step walks the book, `levels_of`
all of them when it walks deeper.
A chunk the typed decoder does not take as it is — a malformed line, another
message type, a number where a string is expected, a blank line — is read line
by line the way `iter_records` reads it, with the same errors naming FILE:LINE.

msgspec is imported only here, and this module only when `simulate` runs, so
that `import twapcore` stays light.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import msgspec
import orjson

from twapcore._construct import positional_builder
from twapcore.errors import RecordingError
from twapcore.models import BookSnapshot
from twapcore.recording import _levels, open_binary

__all__ = [
    "BookLine",
    "InstrumentLine",
    "Line",
    "OtherLine",
    "TopsReader",
    "TradeLine",
    "levels_head",
    "levels_of",
    "read_lines",
    "tops",
]

# Read and split 64 KiB at a time: measured faster than larger chunks (whose objects
# all live at once) and than iterating over the file's lines.
_CHUNK = 1 << 16


class BookLine(msgspec.Struct, tag_field="type", tag="book", gc=False):
    kind: ClassVar[str] = "book"
    # read as the dicts of `iter_records` are where both meet: record["bids"]
    __getitem__ = object.__getattribute__
    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int
    # Raw JSON when decoded (a line read by orjson holds its parsed list): see `levels_of`.
    bids: msgspec.Raw
    asks: msgspec.Raw
    seq: int | None = None

    def to_book(
        self, bids: Any, asks: Any, depth: int | None = None, version: int = 0
    ) -> BookSnapshot:
        """`recording.book_from_record` of this line, given its `levels_of` bids and asks
        (optionally only `depth` levels)."""
        return _new_book(  # `BookSnapshot(...)`, positionally (`positional_builder`)
            self.exchange,
            self.symbol,
            _levels(bids, depth),
            _levels(asks, depth),
            int(self.ts_event),
            int(self.ts_recv),
            self.seq,
            version,
        )


class TradeLine(msgspec.Struct, tag_field="type", tag="trade", gc=False):
    kind: ClassVar[str] = "trade"
    # read as the dicts of `iter_records` are where both meet: record["qty"]
    __getitem__ = object.__getattribute__
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
_new_book = positional_builder(BookSnapshot)
_LEVELS = msgspec.json.Decoder(list[tuple[str, str]])
_FIRST_PRICE = b'[["'


def levels_of(levels: Any) -> Any:
    """A side's levels as `iter_records` would give them: decoded from raw JSON (rows of
    two strings as tuples, anything else as orjson parses it), else as they are."""
    return _parsed(bytes(levels)) if type(levels) is msgspec.Raw else levels


def levels_head(levels: Any, count: int) -> tuple[Any, bool]:
    """The first `count` levels of a side as `levels_of` gives them, and False — or all
    of them, and True. A step mostly walks one or two levels of twenty.

    Raw levels are cut after the `count`-th `]` and closed: parsed as the whole is up to
    the cut, the prefix holds the first `count` rows exactly when it decodes to `count`
    rows of two strings (a `]` in a string makes fewer, a cut in a string no JSON).
    """
    if type(levels) is not msgspec.Raw:
        return levels, True
    data = bytes(levels)
    end = 0
    for _ in range(count):
        end = data.find(b"]", end) + 1
        if not end:
            break
    else:
        try:
            head = _LEVELS.decode(data[:end] + b"]")
        except msgspec.MsgspecError:  # cut in a string, at the side's end, or not rows
            pass
        else:
            if len(head) == count:
                return head, False
    return _parsed(data), True


def _parsed(data: bytes) -> Any:
    try:
        return _LEVELS.decode(data)
    except msgspec.ValidationError:
        return orjson.loads(data)


def tops(bids: Any, asks: Any) -> tuple[Any, Any] | None:
    """(`bids[0][0]`, `asks[0][0]`) — the best prices — or None when a side is empty, as
    `simulate` reads them from parsed levels; raw levels are mostly not decoded for it
    (`_first_price`). `TopsReader` reads a market's books faster."""
    bids, asks = _opened(bids), _opened(asks)
    if not bids or not asks:
        return None
    return _first_price(bids), _first_price(asks)


class TopsReader:
    """`tops` for one market's successive books (it runs for every book): most leave their
    best prices unchanged, so raw levels that begin as the last ones read (`[["<price>"`)
    are not read again; others written so are read as `_first_price` reads them."""

    __slots__ = ("_ask_head", "_bid_head", "_last")

    def __init__(self) -> None:
        self._bid_head = self._ask_head = b"\0"  # no JSON begins so: nothing read yet
        self._last: tuple[str, str] | None = None

    def __call__(self, bids: Any, asks: Any) -> tuple[Any, Any] | None:
        if type(bids) is msgspec.Raw and type(asks) is msgspec.Raw:
            bid_data, ask_data = bytes(bids), bytes(asks)
            if bid_data.startswith(self._bid_head) and ask_data.startswith(self._ask_head):
                return self._last
            if bid_data.startswith(_FIRST_PRICE) and ask_data.startswith(_FIRST_PRICE):
                bid_end, ask_end = bid_data.find(b'"', 3), ask_data.find(b'"', 3)
                bid, ask = bid_data[3:bid_end], ask_data[3:ask_end]
                if b"\\" not in bid and b"\\" not in ask:
                    self._bid_head, self._ask_head = (
                        bid_data[: bid_end + 1],
                        ask_data[: ask_end + 1],
                    )
                    self._last = bid.decode(), ask.decode()
                    return self._last
        return tops(bids, asks)


def _opened(levels: Any) -> Any:
    """Raw levels that hold a level (`[[`...) as their bytes; any others parsed."""
    if type(levels) is not msgspec.Raw:
        return levels
    data = bytes(levels)
    return data if data.startswith(b"[[") else _parsed(data)


def _first_price(levels: Any) -> Any:
    """`levels[0][0]`. Of raw levels written as JSON writers write them (`[["<price>",...`)
    it is read without decoding them: the price's text ends at the next quote when it
    holds no escape. (Parsed JSON holds no bytes: bytes are raw levels.)"""
    if type(levels) is bytes:
        if levels.startswith(_FIRST_PRICE):
            text = levels[3 : levels.find(b'"', 3)]
            if b"\\" not in text:
                return text.decode()
        levels = _parsed(levels)
    return levels[0][0]


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
    lines: list[bytes],
    decoder: msgspec.json.Decoder[Any],
    path: str | Path,
    first_line: int,
    ends_in_newline: bool,
) -> list[Line]:
    out: list[Line] = []
    decode = decoder.decode
    last = len(lines) - 1
    for offset, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            out.append(decode(line))
        except msgspec.MsgspecError:
            # With its newline, as iter_records parses it (orjson's errors count it).
            whole = line + b"\n" if offset < last or ends_in_newline else line
            out.append(_from_json(whole, path, first_line + offset))
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
            ends_in_newline = not lines[-1]  # (only the file's last line may lack one)
            if ends_in_newline:
                lines.pop()
            try:
                # One call per line, as a blank line or two values on one line must be
                # told apart as iter_records does (decode_lines would merge them).
                batch: list[Line] = list(map(decode, lines))
            except msgspec.MsgspecError:
                batch = _one_by_one(lines, decoder, path, first_line, ends_in_newline)
            first_line += len(lines)
            yield batch
