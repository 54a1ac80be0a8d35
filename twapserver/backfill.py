"""Backfill recent candles from the venues' REST APIs when collection starts.

The server builds its candles from the trades it collects, so a fresh server has none for the
time before it started. :func:`backfill_candles` fetches the last ``backfill_minutes`` 1m
candles of every collected Binance and Kraken symbol from the venue (Binance
``GET /api/v3/klines``, Kraken ``GET /0/public/OHLC``), rolls them up into every other interval
of :data:`twapcore.candles.INTERVALS`, and stores them **only where no candle exists yet**: the
candles the server built from its own trades are the truth and are never overwritten (an
insert-or-ignore; the hub's later flushes are upserts, so they win in either order).

Rules:

* The REST base is the cryptofeed class's own REST endpoint, redirected by
  ``Settings.venue_endpoints`` (see :func:`twapserver.feeds.feed_class`); the venue's symbol
  comes from the same class's symbol mapping (cryptofeed's process cache when the collectors
  loaded it, else parsed from the venue's instruments call by that class).
* Only closed minutes before ``now_ns`` (and before the minute the hub is building) are
  backfilled. Minutes the venue reports without trades are skipped, as the server never builds
  a candle without trades.
* A rolled-up candle (5m, 1h, …) is written only for a bucket that lies wholly inside the
  backfilled window, from the 1m candles then stored (the server's own where it has them), so
  it is never an aggregate of part of its minutes.
* Blocking ``urllib`` calls run in worker threads with a short timeout. An unreachable venue,
  an HTTP error or a malformed body costs one warning line and is recorded in the
  :class:`BackfillStatus`; nothing is raised (cancellation excepted).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from twapcore.candles import INTERVALS, merge_candles
from twapcore.models import Candle
from twapserver.db.candles import fetch_candles
from twapserver.db.models import CandleRow
from twapserver.hub import MarketHub
from twapserver.settings import Settings

if TYPE_CHECKING:
    from cryptofeed.feed import Feed

__all__ = [
    "BACKFILL_VENUES",
    "REQUEST_TIMEOUT_S",
    "BackfillError",
    "BackfillStatus",
    "backfill_candles",
    "insert_missing_candles",
    "roll_up",
    "run_backfill",
]

log = logging.getLogger("twapserver.backfill")

REQUEST_TIMEOUT_S = 5.0  # per HTTP request
MINUTE_NS = INTERVALS["1m"]
_MS_NS = 1_000_000
_S_NS = 1_000_000_000
_BINANCE_PAGE = 1000  # Binance's maximum klines per request
_KRAKEN_MAX_MINUTES = 720  # Kraken answers at most the 720 most recent OHLC entries

Key = tuple[str, str]  # (exchange, symbol)


class BackfillError(Exception):
    """A venue answered something unusable (HTTP error, error body, malformed candles)."""


@dataclass
class BackfillStatus:
    """What the last backfill did, for ``/health`` (``app.state.backfill_status``).

    ``state``: ``off`` (not run: demo mode, not collecting, or ``backfill_minutes = 0``),
    ``running`` or ``done``. ``stored``: new 1m candles per (exchange, symbol); ``errors``:
    why a (exchange, symbol) could not be backfilled; ``skipped``: venues without a backfill.
    """

    state: Literal["off", "running", "done"] = "off"
    started_ns: int | None = None
    finished_ns: int | None = None
    stored: dict[Key, int] = field(default_factory=dict)
    errors: dict[Key, str] = field(default_factory=dict)
    skipped: list[Key] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view: one entry per (exchange, symbol) with its count or error."""
        keys = sorted({*self.stored, *self.errors, *self.skipped})
        return {
            "state": self.state,
            "started_ns": self.started_ns,
            "finished_ns": self.finished_ns,
            "markets": [
                {
                    "exchange": exchange,
                    "symbol": symbol,
                    "stored": self.stored.get((exchange, symbol), 0),
                    "error": self.errors.get((exchange, symbol)),
                    "skipped": (exchange, symbol) in self.skipped,
                }
                for exchange, symbol in keys
            ],
        }


# -- the venues ------------------------------------------------------------------------------


def _fetch_json(url: str, context: ssl.SSLContext | None) -> Any:
    """GET ``url`` and parse its JSON body (blocking; run it in a thread)."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        response = urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S, context=context)
    except urllib.error.HTTPError as exc:
        # The venue's own words (Binance {"code":-1121,"msg":"Invalid symbol."}) name the cause.
        with exc:
            body = exc.read(200).decode("utf-8", "replace").strip()
        detail = f": {body}" if body else ""
        raise BackfillError(f"HTTP {exc.code} {exc.reason}{detail}") from None
    with response:
        try:
            return json.load(response)
        except ValueError as exc:
            raise BackfillError(f"malformed JSON from {url}: {exc}") from None


def _decimal(value: Any, what: str) -> Decimal:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise BackfillError(f"{what} {value!r} is not a decimal string")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise BackfillError(f"{what} {value!r} is not a decimal string") from None
    if not number.is_finite():
        raise BackfillError(f"{what} {value!r} is not finite")
    return number


def _integer(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise BackfillError(f"{what} {value!r} is not an integer")
    return value


def _candle(
    exchange: str, symbol: str, open_ns: int, ohlcv: Sequence[Any], trades: Any, what: str
) -> Candle:
    if open_ns % MINUTE_NS:
        raise BackfillError(f"{what} opens at {open_ns} ns, not on a minute")
    o, h, lo, c, v = (_decimal(x, f"{what} {n}") for x, n in zip(ohlcv, "ohlcv", strict=True))
    return Candle(exchange, symbol, "1m", open_ns, o, h, lo, c, v, _integer(trades, what))


def _binance_minutes(
    base: str, native: str, key: Key, start_ns: int, end_ns: int, context: ssl.SSLContext | None
) -> list[Candle]:
    """Binance 1m klines opening in [start_ns, end_ns), paged forward 1000 at a time."""
    candles: list[Candle] = []
    start_ms, last_ms = start_ns // _MS_NS, end_ns // _MS_NS - 1
    while start_ms <= last_ms:
        query = {
            "symbol": native,
            "interval": "1m",
            "startTime": start_ms,
            "endTime": last_ms,
            "limit": _BINANCE_PAGE,
        }
        rows = _fetch_json(f"{base}/api/v3/klines?{urlencode(query)}", context)
        if not isinstance(rows, list):
            raise BackfillError(f"binance klines: expected a list, got {_excerpt(rows)}")
        for row in rows:
            # [openTime ms, open, high, low, close, volume, closeTime, quoteVolume, trades, …]
            if not isinstance(row, list) or len(row) < 9:
                raise BackfillError(f"binance kline {_excerpt(row)} is not a kline array")
            open_ms = _integer(row[0], "binance kline open time")
            candles.append(_candle(*key, open_ms * _MS_NS, row[1:6], row[8], "binance kline"))
        if len(rows) < _BINANCE_PAGE:
            break
        next_ms = candles[-1].open_ns // _MS_NS + 60_000
        if next_ms <= start_ms:
            raise BackfillError("binance klines: the venue ignored startTime")
        start_ms = next_ms
    return candles


def _kraken_minutes(
    base: str, native: str, key: Key, start_ns: int, end_ns: int, context: ssl.SSLContext | None
) -> list[Candle]:
    """Kraken 1m OHLC entries (it answers the most recent 720 at most)."""
    # The REST API takes the altname, which is the ws name without its slash (XBT/USD -> XBTUSD).
    query = {"pair": native.replace("/", ""), "interval": 1, "since": start_ns // _S_NS - 60}
    body = _fetch_json(f"{base}/0/public/OHLC?{urlencode(query)}", context)
    if not isinstance(body, dict):
        raise BackfillError(f"kraken OHLC: expected an object, got {_excerpt(body)}")
    if body.get("error"):
        raise BackfillError(f"kraken OHLC: {', '.join(map(str, body['error']))}")
    result = body.get("result")
    series = [v for k, v in result.items() if k != "last"] if isinstance(result, dict) else []
    if len(series) != 1 or not isinstance(series[0], list):
        raise BackfillError(f"kraken OHLC: no single series in {_excerpt(result)}")
    candles = []
    for row in series[0]:
        # [time s, open, high, low, close, vwap, volume, count]
        if not isinstance(row, list) or len(row) < 8:
            raise BackfillError(f"kraken OHLC entry {_excerpt(row)} is not an OHLC array")
        open_s = _integer(row[0], "kraken OHLC time")
        ohlcv = [*row[1:5], row[6]]
        candles.append(_candle(*key, open_s * _S_NS, ohlcv, row[7], "kraken OHLC entry"))
    return candles


Fetcher = Callable[[str, str, Key, int, int, ssl.SSLContext | None], list[Candle]]


@dataclass(frozen=True)
class _Venue:
    fetch: Fetcher
    max_minutes: int | None  # the most recent minutes the venue can answer, None: any


BACKFILL_VENUES: dict[str, _Venue] = {
    "binance": _Venue(_binance_minutes, None),
    "kraken": _Venue(_kraken_minutes, _KRAKEN_MAX_MINUTES),
}


def _symbol_mapping(venue: type[Feed], context: ssl.SSLContext | None) -> dict[str, str]:
    """cryptofeed's normalized -> exchange symbol mapping of ``venue`` (blocking)."""
    from cryptofeed.symbols import Symbols

    if Symbols.populated(venue.id):
        return dict(Symbols.get(venue.id)[0])
    body = _fetch_json(venue.rest_endpoints[0].route("instruments"), context)
    try:
        mapping, _info = venue._parse_symbol_data(body)
    except Exception as exc:  # cryptofeed's parsers raise whatever a bad body triggers
        raise BackfillError(f"unusable instruments list: {exc!r}") from None
    return dict(mapping)


def _excerpt(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError):
        return f"unreachable: {exc.reason}"
    if isinstance(exc, BackfillError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _unreachable(exc: BaseException) -> bool:
    """A transport failure, which the venue's other symbols would hit as well."""
    return isinstance(exc, OSError) and not isinstance(exc, urllib.error.HTTPError)


# -- storage --------------------------------------------------------------------------------

_KEY = ("exchange", "symbol", "interval", "open_ns")
_VALUES = ("open", "high", "low", "close", "volume", "trades")
_INSERTS: dict[str, Any] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
_BATCH_ROWS = 1000


async def insert_missing_candles(session: AsyncSession, candles: Iterable[Candle]) -> int:
    """Insert the ``candles`` whose key is not stored yet; returns how many were inserted.

    Stored candles are left as they are (``ON CONFLICT DO NOTHING``). Runs in the session's
    transaction; the caller commits.
    """
    rows = {
        (c.exchange, c.symbol, c.interval, c.open_ns): {n: getattr(c, n) for n in _KEY + _VALUES}
        for c in candles
    }
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    try:
        insert = _INSERTS[dialect]
    except KeyError:
        raise NotImplementedError(f"candle insert supports {', '.join(_INSERTS)}") from None
    values = list(rows.values())
    inserted = 0
    for start in range(0, len(values), _BATCH_ROWS):
        statement = insert(CandleRow).values(values[start : start + _BATCH_ROWS])
        result = await session.execute(statement.on_conflict_do_nothing(index_elements=_KEY))
        inserted += max(result.rowcount, 0)  # type: ignore[attr-defined]
    return inserted


def roll_up(minutes: Iterable[Candle], start_ns: int, end_ns: int) -> list[Candle]:
    """Candles of every interval above 1m from closed 1m ``minutes``, for the buckets that lie
    wholly in [start_ns, end_ns) (where ``minutes`` is complete: a minute without a candle had
    no trades). Open of the first minute, highest high, lowest low, close of the last, summed
    volume and trades."""
    ordered = sorted(minutes, key=lambda c: c.open_ns)
    rolled = []
    for interval, length in INTERVALS.items():
        if length <= MINUTE_NS:
            continue
        buckets: dict[int, list[Candle]] = {}
        for minute in ordered:
            buckets.setdefault(minute.open_ns - minute.open_ns % length, []).append(minute)
        for bucket, group in buckets.items():
            if bucket >= start_ns and bucket + length <= end_ns:
                rolled.append(merge_candles(interval, bucket, group))
    return rolled


async def _store(
    sessions: async_sessionmaker[AsyncSession],
    key: Key,
    minutes: list[Candle],
    start_ns: int,
    end_ns: int,
) -> int:
    """Insert the missing 1m candles, then the missing roll-ups of what is stored in the window."""
    async with sessions() as session, session.begin():
        inserted = await insert_missing_candles(session, minutes)
        stored = await fetch_candles(
            session, *key, "1m", (end_ns - start_ns) // MINUTE_NS, start_ns, end_ns
        )
        await insert_missing_candles(session, roll_up(stored, start_ns, end_ns))
    return inserted


# -- the backfill ---------------------------------------------------------------------------


def _window_end(hub: MarketHub | None, key: Key, now_ns: int) -> int:
    """The end of the backfilled window: the current minute, or the hub's open one if older."""
    end = now_ns - now_ns % MINUTE_NS
    if hub is not None and hub.has(*key):
        live = hub.open_candle(*key, "1m")
        if live is not None:
            end = min(end, live.open_ns)
    return end


async def _backfill_venue(
    exchange: str,
    symbols: list[str],
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    hub: MarketHub | None,
    now_ns: int,
    status: BackfillStatus,
) -> None:
    from twapserver.feeds import FeedEndpoints, feed_class  # cryptofeed: only when collecting

    venue = BACKFILL_VENUES[exchange]
    override = settings.venue_endpoints.get(exchange)
    endpoints = FeedEndpoints(override.ws_url, override.rest_url) if override else None
    minutes = settings.backfill_minutes
    if venue.max_minutes is not None and minutes > venue.max_minutes:
        log.debug("backfill %s: %d minutes capped at %d", exchange, minutes, venue.max_minutes)
        minutes = venue.max_minutes

    def fail(keys: list[Key], exc: BaseException) -> None:
        reason = _describe(exc)
        log.warning(
            "candle backfill of %s %s failed: %s", exchange, ", ".join(k[1] for k in keys), reason
        )
        for k in keys:
            status.errors[k] = reason
            status.stored[k] = 0

    try:
        context = (
            ssl.create_default_context(cafile=str(settings.venue_ca_file))
            if settings.venue_ca_file
            else None
        )
        cls = feed_class(exchange, endpoints)
        mapping = await asyncio.to_thread(_symbol_mapping, cls, context)
        base = cls.rest_endpoints[0].address.rstrip("/")
    except Exception as exc:
        fail([(exchange, s) for s in symbols], exc)
        return
    for index, symbol in enumerate(symbols):
        key = (exchange, symbol)
        try:
            native = mapping.get(symbol)
            if native is None:
                raise BackfillError(f"{symbol} is not listed on {exchange}")
            end = _window_end(hub, key, now_ns)
            start = end - minutes * MINUTE_NS
            fetched = await asyncio.to_thread(venue.fetch, base, native, key, start, end, context)
            closed = {c.open_ns: c for c in fetched if start <= c.open_ns < end and c.trades > 0}
            stored = await _store(sessions, key, list(closed.values()), start, end) if closed else 0
        except Exception as exc:
            if _unreachable(exc):  # the venue is down: do not wait for it once per symbol
                fail([(exchange, s) for s in symbols[index:]], exc)
                return
            fail([key], exc)
            continue
        status.stored[key] = stored
        log.debug("backfilled %d 1m candles of %s %s", stored, exchange, symbol)


async def backfill_candles(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    hub: MarketHub | None,
    now_ns: int,
    status: BackfillStatus | None = None,
) -> dict[Key, int]:
    """Backfill the last ``settings.backfill_minutes`` of every collected Binance and Kraken
    symbol (see the module docstring); returns the new 1m candles per (exchange, symbol)
    attempted (0 when it failed: the reason is in ``status.errors``).

    ``hub``: when given, the minute it is building (and later) is left to it. ``status`` is
    filled in as the backfill goes (a fresh one when None). Never raises but for cancellation.
    """
    status = status if status is not None else BackfillStatus()
    if settings.backfill_minutes <= 0:
        return {}
    status.state, status.started_ns, status.finished_ns = "running", now_ns, None
    venues = []
    for exchange, symbols in settings.exchanges.items():
        if exchange not in BACKFILL_VENUES:
            log.debug("no candle backfill for %s: only %s", exchange, ", ".join(BACKFILL_VENUES))
            status.skipped.extend((exchange, s) for s in symbols)
            continue
        venues.append(_backfill_venue(exchange, symbols, settings, sessions, hub, now_ns, status))
    await asyncio.gather(*venues)
    status.state = "done"
    return {
        (exchange, symbol): status.stored.get((exchange, symbol), 0)
        for exchange, symbols in settings.exchanges.items()
        if exchange in BACKFILL_VENUES
        for symbol in symbols
    }


async def run_backfill(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    hub: MarketHub,
    status: BackfillStatus,
    clock: Callable[[], int],
) -> None:
    """:func:`backfill_candles` as of ``clock()`` (ns), for a background task of the server:
    never raises but for cancellation (the lifespan awaits it at shutdown), and sets
    ``status.finished_ns``."""
    try:
        await backfill_candles(settings, sessions, hub, clock(), status)
    except Exception:  # a bug, not a venue failure: those are recorded per symbol
        log.exception("candle backfill failed")
        status.state = "done"
    status.finished_ns = clock()
