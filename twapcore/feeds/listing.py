"""What raw captures hold, without converting them (`twap convert --list`).

Per venue: its symbols with their instrument types and subscribed channels, how
many messages the capture holds and the receive times they span, and, when
cryptofeed cannot replay it, why. Messages are counted, not parsed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twapcore.errors import TwapError
from twapcore.feeds._captures import (
    Capture,
    CryptofeedCapture,
    HftbacktestCapture,
    locate_captures,
)
from twapcore.feeds._replay import VenueSymbols, exchange_ids, load_symbols, source_for

__all__ = ["SymbolListing", "VenueListing", "describe_captures"]


@dataclass(frozen=True, slots=True)
class SymbolListing:
    symbol: str  # cryptofeed's symbol, e.g. "BTC-USDT-PERP"
    instrument_type: str  # cryptofeed's type: spot, perpetual, futures, option...
    channels: tuple[str, ...]  # cryptofeed channels subscribed, e.g. ("l2_book", "trades")
    problem: str | None = None  # why it will not convert, when known without converting


@dataclass(frozen=True, slots=True)
class VenueListing:
    """One venue's capture. Times are receive times in ns, None when it holds no message."""

    venue: str  # cryptofeed's exchange id, e.g. "BIT.COM"
    files: tuple[str, ...]
    messages: int
    first_ts: int | None
    last_ts: int | None
    symbols: tuple[SymbolListing, ...]
    problem: str | None = None  # why the venue will not convert, when known without converting

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (times as integer ns)."""
        return {
            "venue": self.venue,
            "files": list(self.files),
            "messages": self.messages,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            "problem": self.problem,
            "symbols": [
                {
                    "symbol": s.symbol,
                    "instrument_type": s.instrument_type,
                    "channels": list(s.channels),
                    "problem": s.problem,
                }
                for s in self.symbols
            ],
        }


def _files(capture: Capture) -> tuple[str, ...]:
    if isinstance(capture, CryptofeedCapture):
        paths = (capture.info_path, *capture.http_paths, *capture.ws_paths)
    elif isinstance(capture, HftbacktestCapture):
        paths = capture.paths
    else:
        paths = (capture.path,)
    return tuple(str(p) for p in paths)


def _symbols(
    capture: CryptofeedCapture | HftbacktestCapture, venue: VenueSymbols
) -> list[SymbolListing]:
    if isinstance(capture, HftbacktestCapture):
        return [
            SymbolListing(s, venue.instrument_type(s), ("l2_book", "trades"))
            for s in sorted(venue.mapping)
        ]
    _, configuration = capture.read_rest()
    channels: dict[str, list[str]] = {}
    for channel, symbols in configuration.items():
        for symbol in symbols:
            channels.setdefault(symbol, []).append(channel)
    return [
        SymbolListing(
            symbol,
            venue.instrument_type(symbol),
            tuple(sorted(channels[symbol])),
            None if symbol in venue.mapping else "not in the capture's exchange info",
        )
        for symbol in sorted(channels)
    ]


def _describe(capture: Capture) -> VenueListing:
    files = _files(capture)
    if not isinstance(capture, CryptofeedCapture | HftbacktestCapture):
        return VenueListing(capture.exchange_id, files, 0, None, None, (), capture.reason)
    venue_id = capture.exchange_id if isinstance(capture, CryptofeedCapture) else "BINANCE"
    messages, first, last = 0, None, None
    for message in capture.messages():
        messages += 1
        first = message.ts_ns if first is None else min(first, message.ts_ns)
        last = message.ts_ns if last is None else max(last, message.ts_ns)
    try:
        venue = load_symbols(source_for(capture))
    except TwapError as exc:
        return VenueListing(venue_id, files, messages, first, last, (), str(exc))
    symbols = tuple(_symbols(capture, venue))
    return VenueListing(venue_id, files, messages, first, last, symbols)


def describe_captures(captures: Sequence[str | Path]) -> list[VenueListing]:
    """What each venue's capture holds, in order of first mention; nothing is converted.

    Raises `RecordingError` for a missing file or one in no known format.
    """
    return [_describe(capture) for capture in locate_captures(captures, exchange_ids())]
