"""A fake of any venue cryptofeed has captured: its WebSocket sessions and HTTP responses,
replayed as recorded.

A cryptofeed raw capture (``EXCH.0``, ``EXCH.http.<conn>.<n>``, ``EXCH.ws.<conn>.<n>``, see
``_captures``) holds, per WebSocket connection, the URL it opened, what the client sent and
every payload received, and every REST response by URL. That is enough to stand in for the
venue in front of cryptofeed's real class for it:

* REST: ``GET <prefix>/rest/<path>?<query>`` answers the recorded body of that path and query;
  else of that path and the same parameters but ``limit``/``depth`` (a snapshot asked with
  another depth); else the first body recorded for that path; else 404.
* WebSocket ``<prefix>/ws<tail>``: the recorded session whose URL ends in the same tail (path
  and query after the venue's endpoint address: Binance-style subscriptions in the URL); among
  several, the one whose recorded sends include what the client sends (subscribe messages,
  compared as JSON without request ids); with no sends, the sessions in turn. A session is
  replayed from its start on every connection, paced by capture time (``speed``), and the
  socket stays open when it ends. Payloads recorded as Python bytes reprs (``b'...'``: OKX,
  Huobi) go out as binary frames.

Drop, stall and down come from ``WebSocketVenue``; venue-specific faults (gaps, checksums) are
the Binance and Kraken fakes' business.
"""

from __future__ import annotations

import ast
import logging
import re
import weakref
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
from aiohttp import web

from ._captures import _cryptofeed_records
from ._replay import Pacer, WebSocketVenue

LOG = logging.getLogger(__name__)

# EXCH.0, EXCH.http.1.0, EXCH.ws.12.0 (EXCH may hold dots: BIT.COM.ws.1.0)
_FILE_RE = re.compile(r"^(?P<exchange>[A-Z0-9_.]+?)\.(?:(?:ws|http)\.\d+\.\d+|\d+)$")
_VOLATILE_KEYS = frozenset({"id", "reqid", "req_id", "cid", "nonce", "requestId", "request_id"})
_DEPTH_PARAMS = frozenset({"limit", "depth", "size", "level"})


@dataclass(frozen=True, slots=True)
class Payload:
    ts: float  # capture receive time, Unix seconds
    data: str | bytes  # bytes: a binary frame


@dataclass(frozen=True, slots=True)
class WsSession:
    """One recorded WebSocket connection."""

    name: str  # the capture file
    tail: str  # URL after the venue's endpoint address ("/stream?streams=…", or "")
    origin: float  # when it opened, Unix seconds
    sends: frozenset[str]  # what the client sent, normalised (see _normalised)
    payloads: tuple[Payload, ...]


@dataclass(frozen=True, slots=True)
class GenericCapture:
    exchange_id: str  # cryptofeed's id, e.g. "BINANCE_FUTURES"
    http: tuple[tuple[str, str, bytes], ...]  # (path, query, body) in capture order
    sessions: tuple[WsSession, ...]


def capture_exchanges(folder: Path) -> list[str]:
    """The cryptofeed exchange ids with capture files in ``folder``."""
    found = {m.group("exchange") for p in folder.iterdir() if (m := _FILE_RE.match(p.name))}
    return sorted(found)


def load_generic(folder: Path, exchange_id: str) -> GenericCapture:
    """Read every capture file of ``exchange_id`` in ``folder``."""
    files = sorted(
        p
        for p in folder.iterdir()
        if (m := _FILE_RE.match(p.name)) and m.group("exchange") == exchange_id
    )
    if not files:
        raise FileNotFoundError(f"no cryptofeed capture of {exchange_id} in {folder}")
    addresses = _ws_addresses(exchange_id)
    http: list[tuple[str, str, bytes]] = []
    sessions = []
    for path in files:
        url, origin, sends, payloads = None, None, set(), []
        for record in _cryptofeed_records(path):
            if record.kind == "http":
                parts = urlsplit(record.url)
                http.append((parts.path, parts.query, record.body.encode()))
            elif record.kind == "connect":
                url, origin = record.url, record.ts
            elif record.kind == "send":
                url = url or record.url
                sends.add(_normalised(record.body))
            elif record.kind == "recv":
                payloads.append(Payload(record.ts, _payload(record.body)))
        if url is not None or payloads:
            start = origin if origin is not None else (payloads[0].ts if payloads else 0.0)
            tail = _tail(url or "", addresses)
            sessions.append(WsSession(path.name, tail, start, frozenset(sends), tuple(payloads)))
    return GenericCapture(exchange_id, tuple(http), tuple(sessions))


@dataclass(slots=True)
class _Connection:
    candidates: list[WsSession]  # the sessions recorded at the URL it opened
    started: set[str] = field(default_factory=set)  # sessions replaying on it


class GenericVenue(WebSocketVenue):
    """Serves one ``GenericCapture`` under ``prefix`` (e.g. ``/generic/binance_futures``)."""

    def __init__(self, name: str, capture: GenericCapture, prefix: str, speed: float | None):
        super().__init__(speed)
        self.name = name
        self.capture = capture
        self.prefix = prefix
        self.rest_requests = 0
        self._turn = 0  # the next session among equals with no sends to tell them apart
        # Open connections (weak: forgotten with the connection).
        self._connections: weakref.WeakKeyDictionary[web.WebSocketResponse, _Connection] = (
            weakref.WeakKeyDictionary()
        )

    def routes(self) -> list[web.RouteDef]:
        return [
            self.route(self.prefix + "/ws{tail:.*}", self.handle),
            self.route(self.prefix + "/rest{path:/.*}", self._rest),
        ]

    # -- REST ------------------------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.Response:
        self.rest_requests += 1
        body = self.recorded_body(request.match_info["path"], request.query_string)
        if body is None:
            LOG.warning("%s: no recorded response for %s", self.name, request.path_qs)
            text = orjson.dumps({"error": f"not in the capture: {request.path_qs}"})
            return web.Response(status=404, body=text, content_type="application/json")
        return web.Response(body=body, content_type="application/json")

    def recorded_body(self, path: str, query: str) -> bytes | None:
        """The recorded body for ``path`` and ``query`` (see the module docstring)."""
        same_path = [(q, body) for p, q, body in self.capture.http if p == path]
        for recorded, body in same_path:
            if recorded == query:
                return body
        wanted = _params(query)
        for recorded, body in same_path:
            if _params(recorded) == wanted:
                return body
        return same_path[0][1] if same_path else None

    # -- WebSocket -------------------------------------------------------------------------

    def on_open(
        self, ws: web.WebSocketResponse, request: web.Request
    ) -> list[Coroutine[Any, Any, None]]:
        candidates = self._candidates(request.match_info.get("tail", "") + _query(request))
        if not candidates:
            LOG.warning("%s: no recorded session for %s", self.name, request.path_qs)
            return []
        self._connections[ws] = _Connection(candidates)
        if any(s.sends for s in candidates):
            return []  # the client's subscribe picks the session
        return [self._replay(ws, self._next(candidates))]

    def on_text(self, ws: web.WebSocketResponse, text: str) -> list[Coroutine[Any, Any, None]]:
        connection = self._connections.get(ws)
        if connection is None:
            return []
        sent = _normalised(text)
        chosen = [s for s in connection.candidates if sent in s.sends]
        if not chosen and not connection.started:
            # Not a recorded message (a subset of the recorded subscription, say): the
            # sessions in turn, as for venues that subscribe in the URL.
            chosen = [self._next(connection.candidates)]
        replays = []
        for session in chosen:
            if session.name not in connection.started:
                connection.started.add(session.name)
                replays.append(self._replay(ws, session))
        return replays

    def _next(self, candidates: list[WsSession]) -> WsSession:
        session = candidates[self._turn % len(candidates)]
        self._turn += 1
        return session

    def _candidates(self, tail: str) -> list[WsSession]:
        sessions = self.capture.sessions
        exact = [s for s in sessions if s.tail == tail]
        if exact:
            return exact
        path = tail.partition("?")[0]
        return [s for s in sessions if s.tail.partition("?")[0] == path] or list(sessions)

    async def _replay(self, ws: web.WebSocketResponse, session: WsSession) -> None:
        pacer = Pacer(self.speed, session.origin)
        for payload in session.payloads:
            await pacer.wait(payload.ts)
            await self.send(ws, payload.data)


def _ws_addresses(exchange_id: str) -> list[str]:
    """The venue's WebSocket endpoint addresses (longest first), from cryptofeed's class."""
    from cryptofeed.exchanges import EXCHANGE_MAP

    cls = EXCHANGE_MAP.get(exchange_id)
    endpoints = getattr(cls, "websocket_endpoints", None) or []
    addresses = {e.address for e in endpoints if isinstance(e.address, str)}
    addresses |= {e.sandbox for e in endpoints if isinstance(getattr(e, "sandbox", None), str)}
    return sorted(addresses, key=len, reverse=True)


def _tail(url: str, addresses: list[str]) -> str:
    for address in addresses:
        if url.startswith(address):
            return url[len(address) :]
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _query(request: web.Request) -> str:
    return f"?{request.query_string}" if request.query_string else ""


def _params(query: str) -> frozenset[tuple[str, str]]:
    return frozenset((k, v) for k, v in parse_qsl(query) if k not in _DEPTH_PARAMS)


def _normalised(text: str) -> str:
    """A sent message as JSON with sorted keys and no request ids; the text if not JSON."""
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text.strip()
    return orjson.dumps(_without_ids(message), option=orjson.OPT_SORT_KEYS).decode()


def _without_ids(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_ids(v) for k, v in value.items() if k not in _VOLATILE_KEYS}
    if isinstance(value, list):
        return [_without_ids(v) for v in value]
    return value


def _payload(body: str) -> str | bytes:
    if body.startswith(("b'", 'b"')):
        try:
            data = ast.literal_eval(body)
        except (SyntaxError, ValueError):
            return body
        if isinstance(data, bytes):
            return data
    return body
