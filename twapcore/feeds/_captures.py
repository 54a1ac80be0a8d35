"""Raw capture files in, time-stamped messages out.

Two capture formats are understood, told apart by their first line:

- cryptofeed raw data (`raw_data_collection.AsyncFileCallback`): a capture set
  is `EXCH.0` (REST exchange info + a `configuration:` line), `EXCH.http.*`
  (REST depth snapshots, `<url> -> <ts>: <body>`) and `EXCH.ws.*`
  (`<ts>: <payload>` per received message), times in float seconds;
- hftbacktest's Binance collector: gzip text `<local_ts_ns> <json>`, one symbol
  per file, the day's files to be read in order as one stream.

Nothing here drives cryptofeed: this module finds the files and yields
`CapturedMessage`s; `_replay` feeds them to cryptofeed's exchange classes.
"""

from __future__ import annotations

import ast
import gzip
import heapq
import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

import orjson

from twapcore.errors import RecordingError, UnknownExchange
from twapcore.feeds.normalize import seconds_to_ns

__all__ = [
    "Capture",
    "CapturedMessage",
    "CryptofeedCapture",
    "HftbacktestCapture",
    "MessageKind",
    "UnreplayableCapture",
    "capture_exchange_id",
    "locate_captures",
    "snapshot_key",
]

_GZIP_MAGIC = b"\x1f\x8b"
_HFTBACKTEST_LINE = re.compile(r"\d{10,20} [{\[]")
_CRYPTOFEED_LINE = re.compile(
    r"configuration: \{|\S+ (?:->|<-|<->) \d+(?:\.\d+)?(?:: |\s*$)|\d+(?:\.\d+)?: "
)


class MessageKind(Enum):
    WS = "ws"  # a websocket payload for the exchange's message handler
    SNAPSHOT = "snapshot"  # a REST response body (a depth snapshot), available from ts_ns on
    CONNECT = "connect"  # a websocket connection (re)opened: cryptofeed subscribes on it
    IGNORED = "ignored"  # read and counted, not replayed


@dataclass(frozen=True, slots=True)
class CapturedMessage:
    """One captured message; `ts_ns` is the capture host's receive time in ns."""

    ts_ns: int
    kind: MessageKind
    text: str | bytes
    path: Path
    line_no: int
    key: str = ""  # SNAPSHOT only: which request it answers, see `snapshot_key`
    # WS and CONNECT: the connection it came in on (`BINANCE.ws.1`: files `BINANCE.ws.1.0`,
    # `.1`... are one connection's rotated parts); CONNECT text is the URL connected to.
    connection: str = ""

    @property
    def origin(self) -> str:
        return f"{self.path}:{self.line_no}"


def snapshot_key(url: str) -> str:
    """What identifies a REST request: its `symbol` query parameter, else the URL.

    The symbol alone lets an hftbacktest snapshot (which carries no URL) answer the
    request cryptofeed makes for it.
    """
    symbols = parse_qs(urlsplit(url).query).get("symbol")
    return symbols[0] if symbols else url


def _open_capture(path: Path) -> IO[str]:
    # Compression is told by content, like the format: names are not trusted.
    with open(path, "rb") as raw:
        compressed = raw.read(2) == _GZIP_MAGIC
    if compressed:
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Non-blank lines of a capture with their 1-based numbers, newline stripped."""
    try:
        with _open_capture(path) as handle:
            for line_no, line in enumerate(handle, start=1):
                line = line.rstrip("\r\n")
                if line.strip():
                    yield line_no, line
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise RecordingError(f"capture {str(path)!r} cannot be read: {exc}") from exc


def _payload(text: str) -> str | bytes:
    # Some venues' payloads (OKX, Huobi...) were captured as Python bytes reprs.
    if text.startswith(("b'", 'b"')):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text
        if isinstance(value, bytes):
            return value
    return text


@dataclass(frozen=True, slots=True)
class CryptofeedCapture:
    """The files of one cryptofeed raw-data capture of one exchange."""

    exchange_id: str  # cryptofeed's id, e.g. "BINANCE"
    info_path: Path
    http_paths: tuple[Path, ...]
    ws_paths: tuple[Path, ...]

    def read_rest(self) -> tuple[list[tuple[str, str]], dict[str, list[str]]]:
        """The REST responses cryptofeed read on starting, as (URL, body), and the configuration.

        The responses are the exchange info its symbol mapping needs; the
        configuration maps cryptofeed channels (`l2_book`, `trades`...) to the
        normalized symbols that were subscribed.
        """
        responses: list[tuple[str, str]] = []
        configuration: dict[str, list[str]] | None = None
        for line_no, line in _lines(self.info_path):
            if line.startswith("configuration: "):
                try:
                    configuration = orjson.loads(line.partition(": ")[2])
                except orjson.JSONDecodeError as exc:
                    raise RecordingError(
                        f"{self.info_path}:{line_no}: not valid JSON ({exc})"
                    ) from exc
                continue
            url, arrow, rest = line.partition(" -> ")
            body = rest.partition(": ")[2]
            if not (arrow and body):
                raise RecordingError(
                    f"{self.info_path}:{line_no}: expected '<url> -> <ts>: <body>'"
                )
            responses.append((url, body))
        if not responses:
            raise RecordingError(f"capture {str(self.info_path)!r} holds no exchange info")
        if not isinstance(configuration, dict):
            raise RecordingError(f"capture {str(self.info_path)!r} has no 'configuration:' line")
        return responses, configuration

    def read_info(self) -> tuple[Any, dict[str, list[str]]]:
        """The REST exchange-info body (a list when there were several) and the configuration."""
        responses, configuration = self.read_rest()
        bodies: list[Any] = []
        for url, body in responses:
            try:
                bodies.append(orjson.loads(body))
            except orjson.JSONDecodeError as exc:
                raise RecordingError(f"{self.info_path}: {url} is not valid JSON ({exc})") from exc
        return (bodies[0] if len(bodies) == 1 else bodies), configuration

    @property
    def connections(self) -> tuple[str, ...]:
        """The websocket connections captured (`BINANCE.ws.1`), in the order they were opened."""
        return tuple(dict.fromkeys(_connection_id(p) for p in self.ws_paths))

    def messages(self) -> Iterator[CapturedMessage]:
        """Snapshots and websocket messages of every connection, merged by receive time."""
        streams = [_http_messages(p) for p in self.http_paths]
        streams += [_ws_messages(p) for p in self.ws_paths]
        # Snapshot files come first so a snapshot wins a tie with a message.
        return heapq.merge(*streams, key=_receive_time)


def _receive_time(message: CapturedMessage) -> int:
    return message.ts_ns


def _http_messages(path: Path) -> Iterator[CapturedMessage]:
    for line_no, line in _lines(path):
        url, arrow, rest = line.partition(" -> ")
        ts, colon, body = rest.partition(": ")
        if not (arrow and colon):
            raise RecordingError(f"{path}:{line_no}: expected '<url> -> <ts>: <body>'")
        yield CapturedMessage(
            seconds_to_ns(ts), MessageKind.SNAPSHOT, body, path, line_no, snapshot_key(url)
        )


def _connection_id(path: Path) -> str:
    # `EXCH.ws.<connection>.<rotation>`: rotated files continue one connection.
    return path.name.rpartition(".")[0]


def _ws_messages(path: Path) -> Iterator[CapturedMessage]:
    connection = _connection_id(path)
    for line_no, line in _lines(path):
        if not line[0].isdigit():
            # `<url> <-> <ts>` (connected) or `<url> <- <ts>: ...` (sent by cryptofeed)
            url, connected, ts = line.partition(" <-> ")
            if connected:
                yield CapturedMessage(
                    seconds_to_ns(ts), MessageKind.CONNECT, url, path, line_no, "", connection
                )
            continue
        ts, colon, payload = line.partition(": ")
        if not colon:
            raise RecordingError(f"{path}:{line_no}: expected '<ts>: <payload>'")
        yield CapturedMessage(
            seconds_to_ns(ts), MessageKind.WS, _payload(payload), path, line_no, "", connection
        )


@dataclass(frozen=True, slots=True)
class HftbacktestCapture:
    """hftbacktest Binance collector files of one symbol, read in order as one stream."""

    symbol: str  # Binance's symbol, e.g. "BTCUSDT"
    paths: tuple[Path, ...]

    def messages(self) -> Iterator[CapturedMessage]:
        """Every line as a message: depth diffs and trades for cryptofeed, the REST snapshot."""
        for path in self.paths:
            for line_no, line in _lines(path):
                ts, _, payload = line.partition(" ")
                try:
                    ts_ns = int(ts)
                    message = orjson.loads(payload)
                except (ValueError, orjson.JSONDecodeError) as exc:
                    raise RecordingError(
                        f"{path}:{line_no}: expected '<local_ts_ns> <json>' ({exc})"
                    ) from exc
                kind, text = self._classify(message, payload, f"{path}:{line_no}")
                yield CapturedMessage(ts_ns, kind, text, path, line_no, self.symbol, self.symbol)

    def _classify(self, message: Any, payload: str, origin: str) -> tuple[MessageKind, str]:
        if not isinstance(message, dict):
            raise RecordingError(f"{origin}: expected a JSON object")
        stream = message.get("stream")
        if stream is None:
            if "lastUpdateId" in message:
                return MessageKind.SNAPSHOT, payload
            raise RecordingError(f"{origin}: neither a stream message nor a depth snapshot")
        data = message["data"]
        if data.get("s", self.symbol) != self.symbol:
            raise RecordingError(
                f"{origin}: a {data['s']} message in a {self.symbol} capture"
                " (hftbacktest captures hold one symbol per file)"
            )
        channel = stream.partition("@")[2]
        if channel == "bookTicker":
            # The best bid/ask is already in the depth book we rebuild, and a
            # recording holds books and trades only: 73% of the lines, no information.
            return MessageKind.IGNORED, payload
        if channel == "trade":
            # cryptofeed's Binance parses aggregate trades only; a raw trade has
            # the same fields, with its id under "t" where aggTrade has "a".
            data["e"] = "aggTrade"
            data["a"] = data.pop("t")
            return MessageKind.WS, orjson.dumps(message).decode()
        return MessageKind.WS, payload


@dataclass(frozen=True, slots=True)
class UnreplayableCapture:
    """A cryptofeed capture of a venue this cryptofeed cannot replay: reported, not converted."""

    exchange_id: str  # what the file name says, e.g. "BITTREX"
    path: Path
    reason: str


Capture = CryptofeedCapture | HftbacktestCapture | UnreplayableCapture


def _first_line(path: Path) -> str:
    try:
        with _open_capture(path) as handle:
            while chunk := handle.readline(4096):
                if chunk.strip():
                    return chunk
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise RecordingError(f"capture {str(path)!r} cannot be read: {exc}") from exc
    raise RecordingError(f"capture {str(path)!r} is empty")


_CAPTURE_NAME = re.compile(r"^(?P<exchange>.+?)(?:\.(?:ws|http)\.\d+)?\.\d+$")


def capture_exchange_id(path: Path, exchange_ids: Collection[str]) -> str:
    """The exchange id a cryptofeed capture file is named after: `BIT.COM` for `BIT.COM.ws.1.0`.

    Exchange ids may contain dots, so the longest known id the name starts with
    wins; a name of no known exchange raises `UnknownExchange` naming what the
    file name says (`EXCH` of `EXCH.0`, `EXCH.ws.N.R`, `EXCH.http.N.R`).
    """
    name = path.name
    matches = [e for e in exchange_ids if name == e or name.startswith(e + ".")]
    if matches:
        return max(matches, key=len)
    named = _CAPTURE_NAME.match(name)
    raise UnknownExchange(
        f"capture {str(path)!r}: {named['exchange'] if named else name!r} is not an exchange"
        " id cryptofeed knows (cryptofeed captures are named EXCHANGE.0, EXCHANGE.ws.N.0, ...)"
    )


def _natural(path: Path) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in path.name.split("."))


def _cryptofeed_set(path: Path, exchange_id: str) -> CryptofeedCapture:
    folder = path.parent
    info = folder / f"{exchange_id}.0"
    if not info.is_file():
        raise RecordingError(
            f"capture {str(path)!r}: {exchange_id}.0 (exchange info) is missing next to it"
        )
    siblings = sorted(folder.iterdir(), key=_natural)
    http = tuple(p for p in siblings if p.name.startswith(f"{exchange_id}.http."))
    ws = tuple(p for p in siblings if p.name.startswith(f"{exchange_id}.ws."))
    if not ws:
        raise RecordingError(f"capture {str(path)!r}: no {exchange_id}.ws.* files next to it")
    return CryptofeedCapture(exchange_id, info, http, ws)


def _hftbacktest_symbol(path: Path) -> str:
    for line_no, line in _lines(path):
        try:
            message = orjson.loads(line.partition(" ")[2])
        except orjson.JSONDecodeError as exc:
            raise RecordingError(f"{path}:{line_no}: not valid JSON ({exc})") from exc
        if isinstance(message, dict) and "stream" in message:
            symbol: str = message["data"].get("s") or message["stream"].partition("@")[0].upper()
            return symbol
    raise RecordingError(f"capture {str(path)!r} has no stream message to tell its symbol")


def _resolve(item: str | Path) -> Path:
    path = Path(item)
    if path.is_dir():
        raise RecordingError(
            f"capture {str(path)!r} is a directory: pass a capture file or a cryptofeed prefix"
            " such as <dir>/BINANCE"
        )
    if path.is_file():
        return path
    info = path.with_name(path.name + ".0")  # a cryptofeed prefix: <dir>/EXCHANGE
    if info.is_file():
        return info
    raise RecordingError(f"capture {str(path)!r} does not exist")


def locate_captures(captures: Sequence[str | Path], exchange_ids: Collection[str]) -> list[Capture]:
    """Group capture files into replayable sources, in order of first mention.

    Any file of a cryptofeed capture set (or its `<dir>/EXCHANGE` prefix) selects
    the whole set; hftbacktest files are grouped per symbol, keeping the given order.
    A capture of an exchange cryptofeed does not know is an `UnreplayableCapture`
    (to report); a file that is missing or in no known format raises `RecordingError`.
    """
    sources: dict[tuple[str, str], Capture] = {}
    hft_paths: dict[str, list[Path]] = {}
    for item in captures:
        path = _resolve(item)
        first = _first_line(path)
        if _HFTBACKTEST_LINE.match(first):
            symbol = _hftbacktest_symbol(path)
            paths = hft_paths.setdefault(symbol, [])
            paths.append(path)
            sources[("hftbacktest", symbol)] = HftbacktestCapture(symbol, tuple(paths))
        elif _CRYPTOFEED_LINE.match(first):
            try:
                exchange_id = capture_exchange_id(path, exchange_ids)
            except UnknownExchange as exc:
                named = _CAPTURE_NAME.match(path.name)
                unknown = named["exchange"] if named else path.name
                key = (str(path.parent.resolve()), unknown)
                sources.setdefault(key, UnreplayableCapture(unknown, path, str(exc)))
                continue
            key = (str(path.parent.resolve()), exchange_id)
            if key not in sources:
                sources[key] = _cryptofeed_set(path, exchange_id)
        else:
            raise RecordingError(
                f"capture {str(path)!r} is in no format twap knows (first line starts"
                f" {first[:60]!r}); expected a cryptofeed raw-data capture or an"
                " hftbacktest '<ts_ns> <json>' file"
            )
    return list(sources.values())
