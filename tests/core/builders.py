"""Small builders for books and orders used across twapcore tests."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from twapcore import BookSnapshot, Level, RecordingWriter, Side, TwapOrderSpec

S = 1_000_000_000


def levels(*rows: tuple[str, str]) -> tuple[Level, ...]:
    return tuple(Level(Decimal(p), Decimal(q)) for p, q in rows)


def book(
    bids: tuple[tuple[str, str], ...] = (("99", "1"), ("98", "2")),
    asks: tuple[tuple[str, str], ...] = (("101", "1"), ("102", "2")),
    ts: int = 0,
    version: int = 1,
    symbol: str = "BTC-USDT",
) -> BookSnapshot:
    return BookSnapshot("binance", symbol, levels(*bids), levels(*asks), ts, ts, None, version)


def write_rising_asks(path: Path) -> Path:
    """A recording at `path` (.gz: compressed) of 90 s of books, one a second, the ask
    rising 0.01 a second (0.5 displayed)."""
    with RecordingWriter(path) as writer:
        for i in range(90):
            writer.write(book(asks=((str(101 + i / 100), "0.5"),), ts=i * S, version=i))
    return path


def spec(
    side: Side = Side.BUY,
    quantity: str = "1",
    limit: str = "1000",
    duration: int = 60,
    slices: int = 6,
    **extra: object,
) -> TwapOrderSpec:
    return TwapOrderSpec(
        exchange="binance",
        symbol="BTC-USDT",
        side=side,
        quantity=Decimal(quantity),
        limit_price=Decimal(limit),
        duration_s=Decimal(duration),
        slices=slices,
        lot_size=Decimal("0.001"),
        **extra,  # type: ignore[arg-type]
    )
