"""Backfill recent candles from the venues' REST APIs when collection starts (orchestration).

The server builds its candles from the trades it collects, so a fresh server has none for the
time before it started. :func:`backfill_candles` fetches the last ``backfill_minutes`` 1m
candles of every collected symbol from its venue, rolls them up into every other interval of
:data:`twapcore.candles.INTERVALS`, and stores them **where no candle exists yet or the stored
one is partial**: a whole candle the server built from its own trades is the truth and is never
overwritten. A candle is partial when trades of it may be missing: stored while still open at
a graceful stop, built after a start or a feed (re)connect inside it, or rolled up from such
minutes or before its bucket ended (a crash leaves it so). The hub's later flushes are upserts.

Partial minutes keep appearing while the server runs (the minute of its first trade, a
reconnect), after the start's backfill: :func:`repair_partial_candles`, run every
``REPAIR_EVERY_S`` by the collecting role, backfills again the markets that have partial
candles the venue can now replace (closed, inside the window).

Fetching is the venue's business (:meth:`twapserver.venues.Venue.minute_candles`, cryptofeed's
own REST candle support): a venue whose cryptofeed class has no REST candles (Kraken in
cryptofeed 2.4) is not backfilled, which is logged once and shown in ``/health``
(``skipped``). Rules kept here:

* The REST base is the cryptofeed class's own, redirected by ``Settings.venue_endpoints``; the
  venue's symbols come from cryptofeed's process cache when the collectors loaded it, else from
  the venue's instruments call.
* Only closed minutes before ``now_ns`` (and before the minute the hub is building) are
  backfilled. Minutes the venue reports without trades are skipped, as the server never builds
  a candle without trades.
* A rolled-up candle (5m, 1h, …) is written only for a bucket that lies wholly inside the
  backfilled window, from the 1m candles then stored (the server's own where it has them), so
  it is never an aggregate of part of its minutes; it is partial when one of them still is.
* An unreachable venue, an HTTP error or a malformed body costs one warning line and is
  recorded in the :class:`BackfillStatus`; nothing is raised (cancellation excepted). A venue
  found unreachable is not asked again for its other symbols.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from twapcore.candles import INTERVALS, merge_candles
from twapcore.models import Candle
from twapserver.db.candles import (
    fetch_candles,
    fetch_partial_candles,
    store_backfilled_candles,
)
from twapserver.hub import MarketHub
from twapserver.settings import Settings

if TYPE_CHECKING:
    from cryptofeed.feed import Feed

    from twapserver.venues import Venue

__all__ = [
    "REPAIR_EVERY_S",
    "BackfillStatus",
    "backfill_candles",
    "partial_markets",
    "repair_partial_candles",
    "roll_up",
    "run_backfill",
]

log = logging.getLogger("twapserver.backfill")

MINUTE_NS = INTERVALS["1m"]
REPAIR_EVERY_S = 60.0

Key = tuple[str, str]  # (exchange, symbol)


@dataclass
class BackfillStatus:
    """What the last backfill did, for ``/health`` (``app.state.backfill_status``).

    ``state``: ``off`` (not run: demo mode, not collecting, or ``backfill_minutes = 0``),
    ``running`` or ``done``. ``stored``: 1m candles written (new, or replacing partial ones) per
    (exchange, symbol) by its last pass; ``errors``:
    why a (exchange, symbol) could not be backfilled; ``skipped``: venues without REST candles.
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


def _describe(exc: BaseException) -> str:
    from twapserver.venues import VenueError, unreachable_reason

    reason = unreachable_reason(exc)
    if reason is not None:
        return f"unreachable: {reason}"
    if isinstance(exc, VenueError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _symbol_mapping(
    venue: Venue, cls: type[Feed], context: ssl.SSLContext | None
) -> dict[str, str]:
    """cryptofeed's normalized -> exchange symbol mapping of ``cls`` (blocking)."""
    from cryptofeed.symbols import Symbols

    if not Symbols.populated(cls.id):
        venue.load_symbols(cls, context)
    return dict(Symbols.get(cls.id)[0])


# -- storage --------------------------------------------------------------------------------


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
    """Store the missing and partial 1m candles, then the missing and partial roll-ups of what
    is then stored in the window; returns the 1m candles written."""
    async with sessions() as session, session.begin():
        written = await store_backfilled_candles(session, minutes)
        stored = await fetch_candles(
            session, *key, "1m", (end_ns - start_ns) // MINUTE_NS, start_ns, end_ns
        )
        await store_backfilled_candles(session, roll_up(stored, start_ns, end_ns))
    return written


# -- the backfill ---------------------------------------------------------------------------


def _window_minutes(venue: Venue, settings: Settings) -> int:
    """``settings.backfill_minutes``, capped at what the venue serves."""
    cap = venue.backfill_max_minutes
    return settings.backfill_minutes if cap is None else min(settings.backfill_minutes, cap)


def _window_end(hub: MarketHub | None, key: Key, now_ns: int) -> int:
    """The end of the backfilled window: the current minute, or the minute the hub is
    building from its trades if older (a minute only seeded from the database is not)."""
    end = now_ns - now_ns % MINUTE_NS
    if hub is not None:
        building = hub.building_minute(*key)
        if building is not None:
            end = min(end, building)
    return end


async def _backfill_venue(
    venue: Venue,
    symbols: list[str],
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    hub: MarketHub | None,
    now_ns: int,
    status: BackfillStatus,
) -> None:
    from twapserver.feeds import FeedEndpoints

    exchange = venue.exchange
    override = settings.venue_endpoints.get(exchange)
    endpoints = FeedEndpoints(override.ws_url, override.rest_url) if override else None
    minutes = _window_minutes(venue, settings)
    if minutes < settings.backfill_minutes:
        log.debug(
            "backfill %s: %d minutes capped at %d", exchange, settings.backfill_minutes, minutes
        )

    def fail(keys: list[Key], exc: BaseException) -> None:
        reason = _describe(exc)
        log.warning(
            "candle backfill of %s %s failed: %s", exchange, ", ".join(k[1] for k in keys), reason
        )
        log.debug("candle backfill of %s failed", exchange, exc_info=exc)
        for k in keys:
            status.errors[k] = reason
            status.stored[k] = 0

    try:
        context = (
            ssl.create_default_context(cafile=str(settings.venue_ca_file))
            if settings.venue_ca_file
            else None
        )
        cls = venue.feed_class(endpoints)
        mapping = await asyncio.to_thread(_symbol_mapping, venue, cls, context)
    except Exception as exc:
        fail([(exchange, s) for s in symbols], exc)
        return
    from twapserver.venues import VenueError, unreachable_reason

    for index, symbol in enumerate(symbols):
        key = (exchange, symbol)
        try:
            if symbol not in mapping:
                raise VenueError(f"{symbol} is not listed on {exchange}")
            end = _window_end(hub, key, now_ns)
            start = end - minutes * MINUTE_NS
            fetched = await venue.minute_candles(cls, symbol, start, end, context)
            closed = {
                c.open_ns: c
                for c in fetched
                if start <= c.open_ns < end and (c.trades > 0 or c.volume > 0)
            }
            stored = await _store(sessions, key, list(closed.values()), start, end) if closed else 0
        except Exception as exc:
            if unreachable_reason(exc) is not None:  # down: do not wait for it once per symbol
                fail([(exchange, s) for s in symbols[index:]], exc)
                return
            fail([key], exc)
            continue
        status.stored[key] = stored
        log.debug("backfilled %d 1m candles of %s %s", stored, exchange, symbol)


async def partial_markets(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    hub: MarketHub | None,
    now_ns: int,
) -> dict[str, list[str]]:
    """The collected markets (by exchange) with a partial candle that a backfill as of
    ``now_ns`` would replace: its venue has REST candles, and its bucket lies wholly in the
    market's window (so a partial candle the backfill cannot reach asks for nothing)."""
    from twapserver.venues import venue_for

    found: dict[str, list[str]] = {}
    async with sessions() as session:
        for exchange, symbols in settings.exchanges.items():
            try:
                venue = venue_for(exchange)
            except ValueError:
                continue
            if not venue.has_rest_candles:
                continue
            minutes = _window_minutes(venue, settings)
            for symbol in symbols:
                end = _window_end(hub, (exchange, symbol), now_ns)
                start = end - minutes * MINUTE_NS
                partial = await fetch_partial_candles(session, exchange, symbol, INTERVALS, start)
                if any(c.open_ns + INTERVALS[c.interval] <= end for c in partial):
                    found.setdefault(exchange, []).append(symbol)
    return found


async def backfill_candles(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    hub: MarketHub | None,
    now_ns: int,
    status: BackfillStatus | None = None,
) -> dict[Key, int]:
    """Backfill the last ``settings.backfill_minutes`` of every collected symbol whose venue
    has REST candles (see the module docstring); returns the new 1m candles per (exchange,
    symbol) attempted (0 when it failed: the reason is in ``status.errors``).

    ``hub``: when given, the minute it is building (and later) is left to it. ``status`` is
    filled in as the backfill goes (a fresh one when None). Never raises but for cancellation.
    """
    from twapserver.venues import venue_for

    status = status if status is not None else BackfillStatus()
    if settings.backfill_minutes <= 0:
        return {}
    status.state, status.started_ns, status.finished_ns = "running", now_ns, None
    jobs = []
    attempted: list[Key] = []
    for exchange, symbols in settings.exchanges.items():
        keys = [(exchange, s) for s in symbols]
        try:
            venue = venue_for(exchange)
            has_candles = venue.has_rest_candles
        except ValueError as exc:  # not a cryptofeed exchange: the collectors say so too
            has_candles = False
            log.debug("no candle backfill for %s: %s", exchange, exc)
        if not has_candles:
            if not set(keys) <= set(status.skipped):  # said once, not at every late start
                log.info(
                    "no candle backfill for %s: cryptofeed has no REST candles for it", exchange
                )
                status.skipped.extend(k for k in keys if k not in status.skipped)
            continue
        attempted += keys
        jobs.append(_backfill_venue(venue, symbols, settings, sessions, hub, now_ns, status))
    await asyncio.gather(*jobs)
    status.state = "done"
    return {key: status.stored.get(key, 0) for key in attempted}


async def repair_partial_candles(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    hub: MarketHub | None,
    now_ns: int,
    status: BackfillStatus | None = None,
) -> dict[Key, int]:
    """:func:`backfill_candles` as of ``now_ns`` for the :func:`partial_markets` only;
    returns the 1m candles written per market (none asked: no market had any)."""
    if settings.backfill_minutes <= 0:
        return {}
    markets = await partial_markets(settings, sessions, hub, now_ns)
    if not markets:
        return {}
    only = settings.model_copy(update={"exchanges": markets})
    return await backfill_candles(only, sessions, hub, now_ns, status)


async def run_backfill(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    hub: MarketHub,
    status: BackfillStatus,
    clock: Callable[[], int],
    repair: bool = False,
) -> None:
    """:func:`backfill_candles` (:func:`repair_partial_candles` with ``repair``) as of
    ``clock()`` (ns), for a background task of the server: never raises but for cancellation
    (the lifespan awaits it at shutdown), and sets ``status.finished_ns`` when it ran."""
    try:
        if repair:
            if not await repair_partial_candles(settings, sessions, hub, clock(), status):
                return  # nothing to repair: the last pass's status stays
        else:
            await backfill_candles(settings, sessions, hub, clock(), status)
    except Exception:  # a bug, not a venue failure: those are recorded per symbol
        log.exception("candle backfill failed")
        status.state = "done"
    status.finished_ns = clock()
