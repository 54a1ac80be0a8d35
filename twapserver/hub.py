"""MarketHub: the latest book per (exchange, symbol), recent trades, live candles, feed health.

Feeds push into it on every message, so each push is O(1): a book update only
stores a *provider* that can produce a `BookSnapshot`; the snapshot (top-N,
Decimal levels) is built when someone asks for it, once per book version.

`MarketSource` names what readers (REST, the WS fan-out, the engine, the recorder)
use of it. Two implementations: the hub itself, fed in-process by the collectors
or the demo replay (`TWAP_BUS_URL=memory://`), and `twapserver.market.MarketView`,
a read-only copy of a collector's hub fed from Redis (`redis://…`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from twapcore import (
    NS_PER_SECOND,
    BookSnapshot,
    Candle,
    CandleSeries,
    InstrumentInfo,  # defined in twapcore.models; re-exported here for the server's modules
    Trade,
)

__all__ = [
    "CANNOT_CONNECT",
    "FeedHealth",
    "InstrumentInfo",
    "MarketHub",
    "MarketSource",
    "health_hint",
]

# How a feed's `last_error` starts when its venue could not be reached (collectors).
CANNOT_CONNECT = "cannot connect"

BookProvider = Callable[[], BookSnapshot]


@dataclass(slots=True)
class FeedHealth:
    """Health of one (exchange, symbol) feed."""

    connected: bool = False
    last_message_ns: int | None = None
    books: int = 0  # book updates ingested
    trades: int = 0  # trades ingested
    reconnects: int = 0
    gaps: int = 0
    checksum_failures: int = 0
    resyncs: int = 0
    last_error: str | None = None

    @property
    def messages(self) -> int:
        """Book and trade messages ingested."""
        return self.books + self.trades

    def age_s(self, now_ns: int) -> float | None:
        if self.last_message_ns is None:
            return None
        return max(0, now_ns - self.last_message_ns) / NS_PER_SECOND


@dataclass(slots=True)
class _Market:
    info: InstrumentInfo
    candles: CandleSeries
    health: FeedHealth = field(default_factory=FeedHealth)
    provider: BookProvider | None = None
    ts_recv: int = 0
    version: int = 0
    cached: BookSnapshot | None = None
    trades: deque[Trade] = field(default_factory=lambda: deque(maxlen=1000))
    # Trades before the next one may have been missed (a start or a (re)connect): its
    # candles are partial (`CandleSeries.gap`).
    gap_pending: bool = True


class MarketSource(Protocol):
    """Market data as its readers see it, wherever it is collected.

    Books are serialisable `BookSnapshot`s (never a live feed object); `version`
    changes with every book change, so paper fills share one liquidity ledger per
    version. Times are ns since the epoch.
    """

    # Called with every trade of a collected symbol (engine statistics, recorder).
    trade_listeners: list[Callable[[Trade], None]]
    # Called with (exchange, symbol, ts_recv) when a book arrives (the engine's markouts).
    book_listeners: list[Callable[[str, str, int], None]]

    def exchanges(self) -> list[str]: ...

    def instruments(self, exchange: str) -> list[InstrumentInfo]: ...

    def has(self, exchange: str, symbol: str) -> bool: ...

    def markets(self) -> list[tuple[str, str]]: ...

    def unknown_market(self, exchange: str, symbol: str) -> tuple[str, str] | None:
        """(reason, message) when (exchange, symbol) is not collected, else None."""

    def health(self, exchange: str, symbol: str) -> FeedHealth:
        """Feed health of a known market (KeyError for an unknown one)."""

    def book(self, exchange: str, symbol: str) -> BookSnapshot | None:
        """The latest book, or None (none yet, or being rebuilt after a gap)."""

    def is_stale(self, exchange: str, symbol: str, now_ns: int) -> bool:
        """True without a book, or when it was received over `max_book_age_s` ago."""

    def book_age_s(self, exchange: str, symbol: str, now_ns: int) -> float | None:
        """Seconds since the latest book was received; None without one."""

    def recent_trades(self, exchange: str, symbol: str) -> list[Trade]: ...

    def open_candle(self, exchange: str, symbol: str, interval: str) -> Candle | None:
        """The candle of `interval` still open (None before the first trade)."""


class MarketHub:
    """In-memory market state shared by the REST, WS and engine parts of one process."""

    # The hub counts what it ingests itself (exported as twap_feed_* metrics); a view
    # fed from the bus shows its collector's counts and must not export them again.
    ingests: ClassVar[bool] = True

    def __init__(self, max_book_age_s: float = 5.0) -> None:
        from twapserver.metrics import MARKET_METRICS  # prometheus-client only when served

        self.max_book_age_ns = int(max_book_age_s * NS_PER_SECOND)
        self._markets: dict[tuple[str, str], _Market] = {}
        self.closed_candles: list[Candle] = []
        # Stored 1m candles to continue from, per market, until it registers (restarts).
        self._candle_seeds: dict[tuple[str, str], list[Candle]] = {}
        # Called with every trade of a collected symbol (engine statistics, recorder).
        self.trade_listeners: list[Callable[[Trade], None]] = []
        # Called with (exchange, symbol, ts_recv) after a book arrived: cheap calls only (the
        # feed waits); the engine's markouts read the book only for the markets they follow.
        self.book_listeners: list[Callable[[str, str, int], None]] = []
        MARKET_METRICS.watch(self)

    # --- registration ------------------------------------------------------
    def register(self, info: InstrumentInfo) -> None:
        """Declare a collected (exchange, symbol); keeps health across re-registration."""
        key = (info.exchange, info.symbol)
        market = self._markets.get(key)
        if market is None:
            candles = CandleSeries(info.exchange, info.symbol)
            candles.seed(self._candle_seeds.pop(key, ()))
            self._markets[key] = _Market(info, candles)
        else:
            market.info = info

    def seed_candles(self, minutes: Iterable[Candle]) -> None:
        """Stored 1m candles of the current buckets (see `CandleSeries.seed`), for markets
        registered from now on: a restarted server continues its open candles."""
        for minute in minutes:
            self._candle_seeds.setdefault((minute.exchange, minute.symbol), []).append(minute)

    def open_candles(self) -> list[Candle]:
        """Every market's candles still open, of every interval, marked partial (to store at
        shutdown: the rest of their trades will not be seen by this process)."""
        return [
            candle
            for _, market in sorted(self._markets.items())
            for candle in market.candles.unfinished()
        ]

    def exchanges(self) -> list[str]:
        return sorted({exchange for exchange, _ in self._markets})

    def instruments(self, exchange: str) -> list[InstrumentInfo]:
        return [m.info for (e, _), m in sorted(self._markets.items()) if e == exchange]

    def has(self, exchange: str, symbol: str) -> bool:
        return (exchange, symbol) in self._markets

    def unknown_market(self, exchange: str, symbol: str) -> tuple[str, str] | None:
        """(reason, message) when (exchange, symbol) is not collected here, else None.

        The one wording every API (REST 404s, order rejections, WS errors) uses.
        """
        if exchange not in self.exchanges():
            known = ", ".join(self.exchanges())
            return (
                "unknown_exchange",
                f"exchange {exchange!r} is not collected by this server; collected: {known}",
            )
        if not self.has(exchange, symbol):
            known = ", ".join(i.symbol for i in self.instruments(exchange))
            return (
                "unknown_symbol",
                f"symbol {symbol!r} is not collected on {exchange}; collected: {known}",
            )
        return None

    def health(self, exchange: str, symbol: str) -> FeedHealth:
        return self._markets[(exchange, symbol)].health

    def markets(self) -> list[tuple[str, str]]:
        return sorted(self._markets)

    # --- feed events -------------------------------------------------------------
    def on_connect(self, exchange: str, symbols: list[str]) -> None:
        """A connection (re)opened for `symbols`; each open after the first is a reconnect."""
        for symbol in symbols:
            market = self._markets.get((exchange, symbol))
            if market is None:
                continue
            health = market.health
            if health.connected or health.messages:
                health.reconnects += 1
                # The minute open when the feed dropped (and every bucket holding it) lost
                # the trades of the outage; this run's trades built it, so it is not a seed.
                open_minute = market.candles.current("1m")
                if health.trades and open_minute is not None:
                    market.candles.gap(open_minute.open_ns)
            health.connected = True
            health.last_error = None
            # The hub has no clock: the first trade after the (re)connect marks the gap.
            market.gap_pending = True

    def on_feed_error(self, exchange: str, symbol: str, message: str) -> None:
        """The feed of (exchange, symbol) could not start or failed; shown by /health."""
        market = self._markets.get((exchange, symbol))
        if market is not None:
            market.health.connected = False
            market.health.last_error = message

    def on_integrity_failure(self, exchange: str, symbol: str, kind: str) -> None:
        """A sequence gap or checksum failure: stop serving the book until it is rebuilt."""
        market = self._markets.get((exchange, symbol))
        if market is None:
            return
        if kind == "gap":
            market.health.gaps += 1
        else:
            market.health.checksum_failures += 1
        market.health.resyncs += 1
        self.invalidate(exchange, symbol)

    def invalidate(self, exchange: str, symbol: str) -> None:
        """Forget the current book (it is being rebuilt); readers get None until then."""
        market = self._markets.get((exchange, symbol))
        if market is not None:
            market.provider = None
            market.cached = None

    # --- updates (hot path) ------------------------------------------------
    def on_book(self, exchange: str, symbol: str, provider: BookProvider, ts_recv: int) -> None:
        """A book changed; `provider` builds its snapshot later, on demand."""
        market = self._markets.get((exchange, symbol))
        if market is None:
            return
        market.provider = provider
        market.ts_recv = ts_recv
        market.version += 1
        market.cached = None
        health = market.health
        health.connected = True
        health.last_message_ns = ts_recv
        health.books += 1
        for listener in self.book_listeners:
            listener(exchange, symbol, ts_recv)

    def on_trade(self, trade: Trade) -> None:
        market = self._markets.get((trade.exchange, trade.symbol))
        if market is None:
            return
        market.trades.append(trade)
        market.health.last_message_ns = trade.ts_recv
        market.health.trades += 1
        if market.gap_pending:
            market.gap_pending = False
            market.candles.gap(trade.ts_event)
        changed = market.candles.add(trade)
        if changed:
            self.closed_candles.extend(changed)
        for listener in self.trade_listeners:
            listener(trade)

    # --- reads ----------------------------------------------------------------
    def book(self, exchange: str, symbol: str) -> BookSnapshot | None:
        """The latest book (built now if it changed since the last read), or None."""
        market = self._markets.get((exchange, symbol))
        if market is None or market.provider is None:
            return None
        if market.cached is None:
            snapshot = market.provider()
            # Versions are the hub's own so that fills share one liquidity ledger per change.
            market.cached = BookSnapshot(
                snapshot.exchange,
                snapshot.symbol,
                snapshot.bids,
                snapshot.asks,
                snapshot.ts_event,
                snapshot.ts_recv,
                snapshot.seq,
                market.version,
            )
        return market.cached

    def is_stale(self, exchange: str, symbol: str, now_ns: int) -> bool:
        market = self._markets.get((exchange, symbol))
        if market is None or market.provider is None:
            return True
        return now_ns - market.ts_recv > self.max_book_age_ns

    def book_age_s(self, exchange: str, symbol: str, now_ns: int) -> float | None:
        market = self._markets.get((exchange, symbol))
        if market is None or market.provider is None:
            return None
        return max(0, now_ns - market.ts_recv) / NS_PER_SECOND

    def recent_trades(self, exchange: str, symbol: str) -> list[Trade]:
        return list(self._markets[(exchange, symbol)].trades)

    def open_candle(self, exchange: str, symbol: str, interval: str) -> Candle | None:
        return self._markets[(exchange, symbol)].candles.current(interval)

    def building_minute(self, exchange: str, symbol: str) -> int | None:
        """`open_ns` of the 1m candle this hub is building from trades it received; None
        before its first trade (a minute seeded from the database after a restart may be
        hours old: it is not being built, and must not hold back a backfill)."""
        market = self._markets.get((exchange, symbol))
        if market is None or market.health.trades == 0:
            return None
        minute = market.candles.current("1m")
        return None if minute is None else minute.open_ns

    def take_closed_candles(self) -> list[Candle]:
        """Candles closed (or amended) since the last call, for persistence."""
        closed, self.closed_candles = self.closed_candles, []
        return closed


def health_hint(source: MarketSource) -> str | None:
    """What to do about the feeds' health, in plain words for /health; None when all is well
    or when nothing can be said beyond the per-feed errors.

    Every venue unreachable (the usual cause: no network) points to the offline demo.
    """
    markets = source.markets()
    unreachable = sorted(
        {
            exchange
            for exchange, symbol in markets
            if (source.health(exchange, symbol).last_error or "").startswith(CANNOT_CONNECT)
        }
    )
    if not unreachable:
        return None
    if not any(source.health(exchange, symbol).connected for exchange, symbol in markets):
        return (
            "no venue reachable: offline? Check the network (and TWAP_VENUE_ENDPOINTS), or run "
            "`make demo` (`twapserver run --demo`) for the bundled replay; retrying meanwhile"
        )
    return f"{', '.join(unreachable)} unreachable, retrying; the other venues are served"
