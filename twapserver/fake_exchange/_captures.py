"""Read the shared captures into immutable replay timelines.

Two capture formats are understood (both described in the PROVENANCE.md next to the files):

- cryptofeed's raw-data format (``cryptofeed/BINANCE.*``, ``cryptofeed/KRAKEN.*``): text lines
  ``<url> <-> <ts>`` (connected), ``<url> <- <ts>: <json>`` (sent), ``<url> -> <ts>: <body>``
  (REST response), ``configuration: <json>`` and ``<ts>: <payload>`` (received); ``ts`` is Unix
  seconds as a float.
- hftbacktest's collector output (``hftbacktest/spot/<sym>_<YYYYMMDD>.gz``): gzip text lines
  ``<local_ts_ns> <json>``, a day per file, with the REST depth snapshot unwrapped on its own line.

Parsing is cached per data directory: the timelines are immutable, so every fake exchange in a
process (one per test) shares them.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson

CRYPTOFEED_DIR = "cryptofeed"
HFTBACKTEST_DIR = "hftbacktest/spot"


@dataclass(frozen=True, slots=True)
class BinanceMessage:
    """One combined-stream envelope as Binance pushed it."""

    ts: float  # capture receive time, Unix seconds
    stream: str  # e.g. "nknusdt@depth@100ms"
    raw: str  # the envelope text, verbatim
    data: Mapping[str, Any] | None  # parsed "data" of depth diffs and raw trades, else None


@dataclass(frozen=True, slots=True)
class BinanceSource:
    """One recorded WebSocket session; replayed from its own ``origin`` on every connection."""

    name: str
    origin: float  # capture time the replay clock starts at (connection opened), Unix seconds
    messages: tuple[BinanceMessage, ...]
    streams: frozenset[str]


@dataclass(frozen=True, slots=True)
class BinanceCapture:
    """Everything the fake needs to impersonate Binance spot."""

    exchange_info: bytes  # GET /api/v3/exchangeInfo body
    snapshots: Mapping[str, Mapping[str, Any]]  # symbol -> captured /api/v3/depth body
    sources: tuple[BinanceSource, ...]


@dataclass(frozen=True, slots=True)
class KrakenMessage:
    """One channel message (a JSON array) as Kraken pushed it."""

    ts: float  # capture receive time, Unix seconds
    pair: str  # Kraken ws name, e.g. "XBT/CHF"
    raw: str  # the message text, verbatim
    has_checksum: bool  # a book update carrying a CRC32 "c"


@dataclass(frozen=True, slots=True)
class KrakenChannel:
    """The recorded traffic of one subscription name (``book``, ``trade``, ``ticker``)."""

    name: str
    subscription: Mapping[str, Any]  # as the recorder sent it, e.g. {"name": "book", "depth": 1000}
    origin: float  # capture time of the subscribe message, Unix seconds
    statuses: Mapping[str, str]  # pair -> captured subscriptionStatus text
    messages: tuple[KrakenMessage, ...]


@dataclass(frozen=True, slots=True)
class KrakenCapture:
    """Everything the fake needs to impersonate Kraken's WebSocket API v1."""

    asset_pairs: bytes  # GET /0/public/AssetPairs body
    system_status: str  # the systemStatus event sent on connect
    channels: Mapping[str, KrakenChannel]


@dataclass(frozen=True, slots=True)
class _Record:
    kind: str  # "connect" | "send" | "http" | "config" | "recv"
    ts: float
    url: str
    body: str


def _cryptofeed_records(path: Path) -> Iterator[_Record]:
    """Yield the records of one cryptofeed raw-data file, skipping blank lines."""
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            line = line.rstrip("\n")
            if not line:
                continue
            # The prefix never contains ": " (URLs have ":9443" or "://"), the JSON may.
            head, sep, body = line.partition(": ")
            if head == "configuration":
                yield _Record("config", 0.0, "", body)
            elif not sep:
                url, _, ts = line.partition(" <-> ")
                yield _Record("connect", float(ts), url, "")
            elif " <- " in head:
                url, _, ts = head.partition(" <- ")
                yield _Record("send", float(ts), url, body)
            elif " -> " in head:
                url, _, ts = head.partition(" -> ")
                yield _Record("http", float(ts), url, body)
            else:
                yield _Record("recv", float(head), "", body)


def _rest_body(path: Path) -> bytes:
    """The body of the single REST response recorded in an ``EXCH.0`` file."""
    for record in _cryptofeed_records(path):
        if record.kind == "http":
            return record.body.encode()
    raise ValueError(f"{path} holds no REST response line")


def _binance_message(ts: float, raw: str) -> BinanceMessage:
    envelope = orjson.loads(raw)
    data = envelope["data"]
    # Only depth diffs (book state, gap injection) and raw trades (aggTrade adaptation) are
    # inspected at replay time; everything else is forwarded verbatim.
    keep = data if data.get("e") in ("depthUpdate", "trade") else None
    return BinanceMessage(ts, envelope["stream"], raw, keep)


def _binance_source(name: str, origin: float, messages: list[BinanceMessage]) -> BinanceSource:
    return BinanceSource(name, origin, tuple(messages), frozenset(m.stream for m in messages))


def _cryptofeed_binance(
    folder: Path, snapshots: dict[str, Mapping[str, Any]]
) -> list[BinanceSource]:
    for path in sorted(folder.glob("BINANCE.http.*")):
        for record in _cryptofeed_records(path):
            if record.kind == "http" and "/depth?" in record.url:
                symbol = re.search(r"symbol=([A-Z0-9]+)", record.url)
                if symbol:
                    snapshots[symbol.group(1)] = orjson.loads(record.body)
    sources = []
    for path in sorted(folder.glob("BINANCE.ws.*")):
        origin: float | None = None
        messages = []
        for record in _cryptofeed_records(path):
            if record.kind == "connect":
                origin = record.ts
            elif record.kind == "recv":
                messages.append(_binance_message(record.ts, record.body))
        if messages:
            start = origin if origin is not None else messages[0].ts
            sources.append(_binance_source(f"cryptofeed/{path.name}", start, messages))
    return sources


def _hftbacktest_binance(
    folder: Path, snapshots: dict[str, Mapping[str, Any]]
) -> list[BinanceSource]:
    """One source per symbol; the day files of a symbol are one session split at midnight."""
    days: dict[str, list[Path]] = {}
    for path in sorted(folder.glob("*_*.gz")):
        days.setdefault(path.name.split("_", 1)[0].upper(), []).append(path)
    sources = []
    for symbol, paths in days.items():
        messages = []
        for path in paths:
            with gzip.open(path, "rt", encoding="utf-8") as lines:
                for line in lines:
                    local_ns, _, raw = line.rstrip("\n").partition(" ")
                    ts = int(local_ns) / 1e9
                    if raw.startswith('{"lastUpdateId"'):
                        snapshots[symbol] = orjson.loads(raw)
                    elif raw:
                        messages.append(_binance_message(ts, raw))
        if messages:
            name = f"hftbacktest/{symbol.lower()}"
            sources.append(_binance_source(name, messages[0].ts, messages))
    return sources


@lru_cache(maxsize=4)
def load_binance(data_dir: Path) -> BinanceCapture:
    """Load the Binance captures under ``data_dir`` (cryptofeed required, hftbacktest optional).

    Raises ``FileNotFoundError`` naming the missing file when ``cryptofeed/BINANCE.0`` is absent.
    """
    folder = data_dir / CRYPTOFEED_DIR
    exchange_info = _rest_body(folder / "BINANCE.0")
    snapshots: dict[str, Mapping[str, Any]] = {}
    sources = _cryptofeed_binance(folder, snapshots)
    if (data_dir / HFTBACKTEST_DIR).is_dir():
        sources += _hftbacktest_binance(data_dir / HFTBACKTEST_DIR, snapshots)
    return BinanceCapture(exchange_info, MappingProxyType(snapshots), tuple(sources))


@dataclass
class _ChannelDraft:
    subscription: Mapping[str, Any]
    origin: float
    statuses: dict[str, str]
    messages: list[KrakenMessage]


def _kraken_file(path: Path, drafts: dict[str, _ChannelDraft]) -> str | None:
    """Add one connection's traffic to ``drafts``; return its systemStatus text if any."""
    system_status = None
    for record in _cryptofeed_records(path):
        if record.kind == "send":
            subscribe = orjson.loads(record.body)
            sub = subscribe["subscription"]
            drafts.setdefault(sub["name"], _ChannelDraft(sub, record.ts, {}, []))
        elif record.kind == "recv":
            message = orjson.loads(record.body)
            if isinstance(message, list):
                # [chanID, payload..., channelName, pair]; "book-1000" belongs to "book".
                name = message[-2].split("-", 1)[0]
                has_checksum = any(isinstance(part, dict) and "c" in part for part in message)
                kraken = KrakenMessage(record.ts, message[-1], record.body, has_checksum)
                drafts[name].messages.append(kraken)
            elif message.get("event") == "subscriptionStatus":
                name = message["subscription"]["name"]
                drafts[name].statuses[message["pair"]] = record.body
            elif message.get("event") == "systemStatus":
                system_status = record.body
            # Heartbeats are dropped: cryptofeed ignores them, and their silence lets its
            # 120 s no-message watchdog restart (and so loop) a finished demo replay.
    return system_status


@lru_cache(maxsize=4)
def load_kraken(data_dir: Path) -> KrakenCapture:
    """Load the Kraken captures under ``data_dir``.

    Raises ``FileNotFoundError`` naming the missing file when ``cryptofeed/KRAKEN.0`` is absent.
    """
    folder = data_dir / CRYPTOFEED_DIR
    asset_pairs = _rest_body(folder / "KRAKEN.0")
    drafts: dict[str, _ChannelDraft] = {}
    system_status = '{"event":"systemStatus","status":"online","version":"1.8.3"}'
    for path in sorted(folder.glob("KRAKEN.ws.*")):
        system_status = _kraken_file(path, drafts) or system_status
    channels = {
        name: KrakenChannel(
            name,
            MappingProxyType(dict(d.subscription)),
            d.origin,
            MappingProxyType(d.statuses),
            tuple(d.messages),
        )
        for name, d in drafts.items()
    }
    return KrakenCapture(asset_pairs, system_status, MappingProxyType(channels))
