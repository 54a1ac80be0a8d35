"""Recordings: JSON Lines (optionally gzip), one book or trade message per line.

A book line is exactly the WebSocket book message of the server::

    {"type":"book","exchange":"binance","symbol":"BTC-USDT","ts_event":<ns>,
     "ts_recv":<ns>,"seq":<int|null>,"bids":[["64000.10","0.512"],...],"asks":[...]}

a trade line is::

    {"type":"trade","exchange":"binance","symbol":"BTC-USDT","side":"buy",
     "price":"64000.1","qty":"0.01","ts_event":<ns>,"ts_recv":<ns>,"trade_id":"123"}

and an instrument line (first in a file, one per symbol; sizes null when unknown)::

    {"type":"instrument","exchange":"bit.com","symbol":"BTC-USD-PERP",
     "instrument_type":"perpetual","tick_size":"0.5","lot_size":"1","contract_size":"1"}

`instrument_type` and `contract_size` were added later: lines without them still
read (the type comes from the symbol, the contract size is then unknown).

Readers stream line by line in constant memory; decimals stay strings on the
wire and become `Decimal` only when a model is built.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable, Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import orjson

from twapcore._construct import new_named_tuple
from twapcore.errors import RecordingError
from twapcore.models import BookSnapshot, InstrumentInfo, Level, Side, Trade

__all__ = [
    "RecordingWriter",
    "book_from_record",
    "book_to_record",
    "demo_recording",
    "instrument_from_record",
    "instrument_to_record",
    "iter_records",
    "open_binary",
    "open_text",
    "read_recording",
    "record_from_model",
    "trade_from_record",
    "trade_to_record",
]

Record = dict[str, Any]


def demo_recording() -> Path:
    """The small recording shipped with twapcore (Binance BTC-USDT; see data/PROVENANCE.md)."""
    return Path(__file__).resolve().parent / "data" / "demo.jsonl.gz"


def open_text(path: str | Path, mode: str = "rt") -> IO[str]:
    """Open a text file, transparently gzip-compressed when its name ends in `.gz`."""
    p = Path(path)
    if "r" in mode and not p.is_file():
        raise RecordingError(f"recording {str(p)!r} does not exist or is not a file")
    if p.suffix == ".gz":
        return gzip.open(p, mode, encoding="utf-8")  # type: ignore[return-value]
    return open(p, mode, encoding="utf-8")


def open_binary(path: str | Path) -> IO[bytes]:
    """Open a recording for reading bytes, gunzipping when its name ends in `.gz`."""
    p = Path(path)
    if not p.is_file():
        raise RecordingError(f"recording {str(p)!r} does not exist or is not a file")
    if p.suffix == ".gz":
        # GzipFile.readline is Python code; a BufferedReader on top splits lines in C.
        return io.BufferedReader(gzip.GzipFile(p, "rb"), buffer_size=1 << 16)
    return open(p, "rb", buffering=1 << 16)


def iter_records(
    paths: str | Path | Iterable[str | Path], kind: str | None = None
) -> Iterator[Record]:
    """Yield every message of one or more recordings, in file order, as plain dicts.

    Hot loop of `simulate`: one `orjson.loads` per line and nothing else on the
    happy path; blank lines are skipped, anything else malformed raises. With
    `kind` only messages of that type are yielded, and a line that cannot be one
    is not parsed (nor checked): its type is spelled neither literally nor with
    an escape.
    """
    path_list = [paths] if isinstance(paths, str | Path) else list(paths)
    loads = orjson.loads
    spelled = None if kind is None else kind.encode()
    for path in path_list:
        with open_binary(path) as handle:
            for line_no, line in enumerate(handle, start=1):
                if spelled is not None and spelled not in line and b"\\" not in line:
                    continue
                try:
                    record = loads(line)
                    record_kind = record["type"]
                except orjson.JSONDecodeError as exc:
                    if not line.strip():
                        continue
                    raise RecordingError(f"{path}:{line_no}: not valid JSON ({exc})") from exc
                except (TypeError, KeyError, IndexError):
                    raise RecordingError(
                        f"{path}:{line_no}: a message must be an object with a 'type' field"
                    ) from None
                if kind is None or record_kind == kind:
                    yield record


def _dec(value: Any, what: str) -> Decimal:
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise RecordingError(f"{what} {value!r} is not a decimal number") from exc


def _levels(raw: list[Any], depth: int | None) -> tuple[Level, ...]:
    rows = raw if depth is None else raw[:depth]
    try:
        # Level(Decimal(row[0]), Decimal(row[1])) for each row without Level's Python-level
        # __new__: books are built by the thousand (a simulation builds one for most of its
        # steps, of one to a few levels, where a comprehension beats chained maps).
        return tuple([new_named_tuple(Level, (Decimal(row[0]), Decimal(row[1]))) for row in rows])
    except (InvalidOperation, TypeError, ValueError, IndexError) as exc:
        bad = next((row for row in rows if not _is_level(row)), rows)
        raise RecordingError(f"book level {bad!r} is not a [price, quantity] pair") from exc


def _is_level(row: Any) -> bool:
    try:
        Decimal(row[0]), Decimal(row[1])
    except (InvalidOperation, TypeError, ValueError, IndexError):
        return False
    return True


def book_from_record(record: Record, depth: int | None = None, version: int = 0) -> BookSnapshot:
    """Build a `BookSnapshot` from a book message (optionally keeping only `depth` levels)."""
    try:
        return BookSnapshot(
            exchange=record["exchange"],
            symbol=record["symbol"],
            bids=_levels(record["bids"], depth),
            asks=_levels(record["asks"], depth),
            ts_event=int(record["ts_event"]),
            ts_recv=int(record["ts_recv"]),
            seq=record.get("seq"),
            version=version,
        )
    except KeyError as exc:
        raise RecordingError(f"book message lacks the field {exc.args[0]!r}") from exc


def trade_from_record(record: Record) -> Trade:
    """Build a `Trade` from a trade message."""
    try:
        return Trade(
            exchange=record["exchange"],
            symbol=record["symbol"],
            side=Side(record["side"]),
            price=_dec(record["price"], "price"),
            qty=_dec(record["qty"], "quantity"),
            ts_event=int(record["ts_event"]),
            ts_recv=int(record["ts_recv"]),
            trade_id=record.get("trade_id"),
        )
    except KeyError as exc:
        raise RecordingError(f"trade message lacks the field {exc.args[0]!r}") from exc


def _fmt(value: Decimal) -> str:
    # format(..., "f") never switches to exponent notation (str(Decimal("1E-8")) would).
    return format(value, "f")


def _optional_dec(record: Record, field: str) -> Decimal | None:
    value = record.get(field)
    return None if value is None else _dec(value, field.replace("_", " "))


def instrument_from_record(record: Record) -> InstrumentInfo:
    """Build an `InstrumentInfo` from an instrument line (any field but the names may be
    missing or null: older recordings have no `contract_size`)."""
    try:
        return InstrumentInfo(
            exchange=record["exchange"],
            symbol=record["symbol"],
            tick_size=_optional_dec(record, "tick_size"),
            lot_size=_optional_dec(record, "lot_size"),
            contract_size=_optional_dec(record, "contract_size"),
        )
    except KeyError as exc:
        raise RecordingError(f"instrument message lacks the field {exc.args[0]!r}") from exc


def instrument_to_record(info: InstrumentInfo) -> Record:
    """The instrument line of `info`; unknown sizes are null."""
    return {
        "type": "instrument",
        "exchange": info.exchange,
        "symbol": info.symbol,
        "instrument_type": info.type.value,
        "tick_size": None if info.tick_size is None else _fmt(info.tick_size),
        "lot_size": None if info.lot_size is None else _fmt(info.lot_size),
        "contract_size": None if info.contract_size is None else _fmt(info.contract_size),
    }


def book_to_record(book: BookSnapshot, depth: int | None = None) -> Record:
    """The wire/recording form of a book, best levels first, at most `depth` per side."""
    bids = book.bids if depth is None else book.bids[:depth]
    asks = book.asks if depth is None else book.asks[:depth]
    return {
        "type": "book",
        "exchange": book.exchange,
        "symbol": book.symbol,
        "ts_event": book.ts_event,
        "ts_recv": book.ts_recv,
        "seq": book.seq,
        "bids": [[_fmt(lv.price), _fmt(lv.qty)] for lv in bids],
        "asks": [[_fmt(lv.price), _fmt(lv.qty)] for lv in asks],
    }


def trade_to_record(trade: Trade) -> Record:
    return {
        "type": "trade",
        "exchange": trade.exchange,
        "symbol": trade.symbol,
        "side": trade.side.value,
        "price": _fmt(trade.price),
        "qty": _fmt(trade.qty),
        "ts_event": trade.ts_event,
        "ts_recv": trade.ts_recv,
        "trade_id": trade.trade_id,
    }


def record_from_model(item: BookSnapshot | Trade, depth: int | None = None) -> Record:
    if isinstance(item, BookSnapshot):
        return book_to_record(item, depth)
    return trade_to_record(item)


def read_recording(
    paths: str | Path | Iterable[str | Path], depth: int | None = None
) -> Iterator[BookSnapshot | Trade]:
    """Yield the models of a recording; unknown message types are skipped."""
    for version, record in enumerate(iter_records(paths), start=1):
        kind = record["type"]
        if kind == "book":
            yield book_from_record(record, depth, version)
        elif kind == "trade":
            yield trade_from_record(record)


class RecordingWriter:
    """Append book and trade messages to a JSONL (or JSONL.gz) file."""

    def __init__(self, path: str | Path, depth: int | None = None) -> None:
        self.path = Path(path)
        self.depth = depth
        self.path.parent.mkdir(parents=True, exist_ok=True)
        raw: io.RawIOBase | gzip.GzipFile
        if self.path.suffix == ".gz":
            # mtime=0 keeps the output byte-identical for identical input.
            raw = gzip.GzipFile(self.path, "wb", mtime=0)
        else:
            raw = io.FileIO(self.path, "wb")
        self._raw = raw
        self._out = io.BufferedWriter(raw)
        self.count = 0

    def write(self, item: BookSnapshot | Trade) -> None:
        self.write_record(record_from_model(item, self.depth))

    def write_record(self, record: Record) -> None:
        self._out.write(orjson.dumps(record))
        self._out.write(b"\n")
        self.count += 1

    def close(self) -> None:
        self._out.flush()
        self._raw.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
