"""cryptofeed without the network: what an offline replay runs its exchange classes with.

- `load_symbols`: the exchange's own symbol mapping, its blocking REST reads
  answered with the responses a capture recorded;
- `advance`: steps one of its coroutines until it ends or waits for a REST
  response the capture has not received yet (`AwaitResponse`), with a stand-in
  running loop whose timers fire at once (cryptofeed sleeps before some reads).
"""

from __future__ import annotations

import asyncio
import json
import logging
from asyncio import events
from collections.abc import Callable, Coroutine, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cryptofeed.exchanges import EXCHANGE_MAP
from cryptofeed.symbols import Symbols, str_to_symbol

from twapcore.errors import RecordingError, UnknownExchange

__all__ = [
    "AwaitResponse",
    "NotCaptured",
    "ReplaySource",
    "VenueSymbols",
    "advance",
    "load_symbols",
    "quiet_cryptofeed",
    "symbol_cache",
]

_LOG = logging.getLogger("feedhandler")  # cryptofeed's logger


@dataclass(frozen=True, slots=True)
class ReplaySource:
    """What a replay of one venue is built from."""

    exchange_id: str  # cryptofeed's id, e.g. "BINANCE"
    origin: str  # names the capture in messages
    exchange_info: Any  # parsed exchange-info body (a list when several), for instrument sizes
    # Captured REST responses (URL, body) answering cryptofeed's symbol reads;
    # empty: `exchange_info` is given to the parser directly (hftbacktest).
    responses: tuple[tuple[str, str], ...] = ()
    # Channel -> cryptofeed symbols subscribed; None: every symbol, books and trades.
    configuration: Mapping[str, Sequence[str]] | None = None
    connections: tuple[str, ...] = ()  # the capture's websocket connections, in order


class NotCaptured(RecordingError):
    pass


class _CapturedRest:
    """Answers cryptofeed's blocking REST calls (`http_sync`) with the capture's responses."""

    def __init__(self, exchange_id: str, responses: Sequence[tuple[str, str]]) -> None:
        self._exchange_id = exchange_id
        self._bodies: dict[str, str] = {}
        for url, body in responses:
            self._bodies.setdefault(url, body)

    def read(self, address: str, *args: Any, json: bool = False, **kwargs: Any) -> Any:
        return self._answer(address, json)

    def write(self, address: str, *args: Any, json: bool = False, **kwargs: Any) -> Any:
        return self._answer(address, json)

    def _answer(self, address: str, as_json: bool) -> Any:
        body = self._bodies.get(address)
        if body is None:
            raise NotCaptured(
                f"cryptofeed's {self._exchange_id} requests {address}, which the capture does"
                " not hold (captured by another cryptofeed version?)"
            )
        # As cryptofeed parses them: numbers with a fraction become Decimals.
        return json.loads(body, parse_float=Decimal) if as_json else body


@contextmanager
def quiet_cryptofeed() -> Iterator[None]:
    # cryptofeed logs a traceback before re-raising a symbol-mapping failure;
    # the replay reports that failure itself, in one line.
    disabled = _LOG.disabled
    _LOG.disabled = True
    try:
        yield
    finally:
        _LOG.disabled = disabled


@dataclass(frozen=True, slots=True)
class VenueSymbols:
    """cryptofeed's view of a captured venue: its class (REST answered offline) and symbols."""

    feed_class: Any
    mapping: dict[str, str]  # cryptofeed symbol -> exchange symbol
    info: dict[str, Any]  # cryptofeed's symbol info (`instrument_type`, `tick_size`...)

    def instrument_type(self, symbol: str) -> str:
        """cryptofeed's instrument type of a symbol: `spot`, `perpetual`, `futures`, `option`..."""
        known = self.info.get("instrument_type", {}).get(symbol)
        if known is not None:
            return str(known)
        try:
            return str(str_to_symbol(symbol).type)
        except Exception:  # cryptofeed cannot parse its own name: say so, do not fail
            return "unknown"


def load_symbols(source: ReplaySource) -> VenueSymbols:
    """Run cryptofeed's symbol mapping of the venue on the capture's REST responses.

    Leaves cryptofeed's process-wide symbol cache as it was; raises
    `UnknownExchange` or `RecordingError` naming the capture when it cannot.
    """
    feed_class = EXCHANGE_MAP.get(source.exchange_id)
    if feed_class is None:
        raise UnknownExchange(
            f"{source.origin}: {source.exchange_id!r} is not an exchange cryptofeed knows"
        )
    # A subclass, so this replay's REST answers reach no other feed.
    offline = type(
        feed_class.__name__,
        (feed_class,),
        {"http_sync": _CapturedRest(source.exchange_id, source.responses)},
    )
    with symbol_cache(feed_class.id):
        try:
            if source.responses:
                mapping, info = _symbol_mapping(offline, source.exchange_info)
            else:
                mapping, info = feed_class._parse_symbol_data(source.exchange_info)
        except NotCaptured as exc:
            raise RecordingError(f"{source.origin}: {exc}") from exc
        except Exception as exc:
            raise RecordingError(
                f"{source.origin}: cryptofeed cannot read its exchange info ({exc!r}; captured"
                " by another cryptofeed version?)"
            ) from exc
    return VenueSymbols(offline, dict(mapping), dict(info))


def _symbol_mapping(offline: Any, exchange_info: Any) -> tuple[Any, Any]:
    """cryptofeed's `symbol_mapping`, its REST reads answered from the capture.

    When it asks for a response the capture lacks (a capture by a cryptofeed
    version that read other endpoints), its parser gets the bodies the capture
    holds, as the offline replay always did; if that fails too, the missing
    response is the reason reported.
    """
    try:
        with quiet_cryptofeed():
            mapping = offline.symbol_mapping(refresh=True)
        return mapping, Symbols.get(offline.id)[1]
    except NotCaptured as missing:
        try:
            parsed: tuple[Any, Any] = offline._parse_symbol_data(exchange_info)
        except Exception:
            raise missing from None
        return parsed


@contextmanager
def symbol_cache(exchange_id: str) -> Iterator[None]:
    # cryptofeed reads symbols from a process-wide cache (and fills it with what
    # it fetched). Put back what was there, so live feeds built later see live symbols.
    previous = Symbols.data.get(exchange_id)
    try:
        yield
    finally:
        if previous is None:
            Symbols.data.pop(exchange_id, None)
        else:
            Symbols.data[exchange_id] = previous


class AwaitResponse:
    """Yielded by an offline REST read whose response the capture has not received yet."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key

    def __await__(self) -> Generator[AwaitResponse, None, None]:
        yield self


def _nothing() -> None:
    return None


class _ReplayLoop:
    """The running loop cryptofeed's coroutines see while replayed: every timer fires at once.

    cryptofeed sleeps before some snapshot reads (Bitstamp 5 s, Crypto.com 1 s);
    offline, the capture's receive times already hold those waits. Only what
    `asyncio.sleep` and `asyncio.Future` use is here: anything else cryptofeed
    would ask of a loop offline (tasks, sockets) fails, and is reported.
    """

    def get_debug(self) -> bool:
        return False

    def create_future(self) -> asyncio.Future[Any]:
        return asyncio.Future(loop=self)  # type: ignore[arg-type]

    def call_later(
        self, delay: float, callback: Callable[..., object], *args: Any, context: Any = None
    ) -> asyncio.TimerHandle:
        callback(*args)
        return asyncio.TimerHandle(0.0, _nothing, (), self)  # type: ignore[arg-type]

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        return None


_REPLAY_LOOP = _ReplayLoop()


def advance(step: Coroutine[Any, Any, Any]) -> str | None:
    """Run a cryptofeed coroutine until it ends (None) or waits for a response (its key).

    Offline, nothing else waits: callbacks and captured reads answer at once, and
    sleeps end at once. The replay loop stands in for any running loop only
    while the coroutine runs, so a replay also works inside a server's loop.
    """
    outer = events._get_running_loop()
    events._set_running_loop(_REPLAY_LOOP)  # type: ignore[arg-type]
    try:
        while True:
            awaited = step.send(None)
            if type(awaited) is AwaitResponse:
                return awaited.key
            if awaited is not None:
                step.close()
                raise RecordingError(
                    "cryptofeed's handler waited on real I/O during an offline replay"
                )
    except StopIteration:
        return None
    finally:
        events._set_running_loop(outer)
