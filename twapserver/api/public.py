"""Public market-data routes: exchanges, symbols, klines, health.

Exchanges, symbols and klines answer with twapcore's wire models (`twapcore.wire`),
which the SDK parses too; health is the server's own.
"""

from __future__ import annotations

import time
from typing import Annotated

from annotated_types import Interval as Bounds
from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from twapcore import INTERVALS, quantity_unit
from twapcore.wire import ExchangePublic, KlinePublic, SymbolPublic
from twapserver.api.deps import HubDep, SessionDep, require_market
from twapserver.api.strict import QUERY_INT, Interval, MarketName, QueryNonNegativeInt
from twapserver.db.candles import fetch_candles
from twapserver.hub import health_hint

router = APIRouter(tags=["market data"])

_NOT_FOUND = {
    404: {
        "description": "Unknown exchange or symbol",
        "content": {
            "application/json": {
                "example": {"detail": "exchange 'ftx' is not collected by this server"}
            }
        },
    }
}

ExchangePath = Annotated[MarketName, Path(description="A collected exchange, e.g. binance")]
SymbolPath = Annotated[MarketName, Path(description="A collected symbol, e.g. BTC-USDT")]


class FeedHealthPublic(BaseModel):
    exchange: str
    symbol: str
    connected: bool
    stale: bool
    last_message_age_s: float | None
    messages: int
    reconnects: int
    gaps: int
    checksum_failures: int
    resyncs: int
    last_error: str | None = Field(None, description="Why the feed is not connected, if known")


class BackfillMarketPublic(BaseModel):
    exchange: str
    symbol: str
    stored: int = Field(description="1m candles fetched from the venue's REST and stored")
    error: str | None
    skipped: bool = Field(description="The venue has no supported candle REST")


class BackfillPublic(BaseModel):
    state: str = Field(examples=["off", "running", "done"])
    started_ns: int | None
    finished_ns: int | None
    markets: list[BackfillMarketPublic]


class HealthPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ok",
                    "feeds": [
                        {
                            "exchange": "binance",
                            "symbol": "BTC-USDT",
                            "connected": True,
                            "stale": False,
                            "last_message_age_s": 0.12,
                            "messages": 48211,
                            "reconnects": 0,
                            "gaps": 0,
                            "checksum_failures": 0,
                            "resyncs": 0,
                            "last_error": None,
                        }
                    ],
                    "backfill": {
                        "state": "done",
                        "started_ns": 1723161250000000000,
                        "finished_ns": 1723161251200000000,
                        "markets": [
                            {
                                "exchange": "binance",
                                "symbol": "BTC-USDT",
                                "stored": 600,
                                "error": None,
                                "skipped": False,
                            }
                        ],
                    },
                }
            ]
        }
    )

    status: str = Field(examples=["ok", "degraded"])
    feeds: list[FeedHealthPublic]
    backfill: BackfillPublic = Field(description="Candle backfill from the venues' REST")
    hint: str | None = Field(
        None, description="What to do about the feeds' health, in plain words (e.g. offline)"
    )


@router.get("/exchanges", response_model=list[ExchangePublic])
async def list_exchanges(hub: HubDep) -> list[ExchangePublic]:
    """Exchanges this server collects, with their symbols."""
    return [
        ExchangePublic(name=e, symbols=[i.symbol for i in hub.instruments(e)])
        for e in hub.exchanges()
    ]


@router.get(
    "/exchanges/{exchange}/symbols", response_model=list[SymbolPublic], responses=_NOT_FOUND
)
async def list_symbols(exchange: ExchangePath, hub: HubDep) -> list[SymbolPublic]:
    """Symbols collected on `exchange`: instrument type, and tick, lot and contract size where
    the venue publishes them. Quantities of derivatives are in contracts."""
    if exchange not in hub.exchanges():
        raise HTTPException(404, f"exchange {exchange!r} is not collected by this server")
    now = time.time_ns()
    return [
        SymbolPublic(
            symbol=i.symbol,
            type=i.type,
            tick_size=i.tick_size,
            lot_size=i.lot_size,
            contract_size=i.contract_size,
            quantity_unit=quantity_unit(i.symbol),
            has_book=hub.book(exchange, i.symbol) is not None,
            stale=hub.is_stale(exchange, i.symbol, now),
        )
        for i in hub.instruments(exchange)
    ]


@router.get(
    "/klines/{exchange}/{symbol}",
    response_model=list[KlinePublic],
    responses={
        **_NOT_FOUND,
        422: {
            "description": "Bad interval, limit, start or end",
            "content": {
                "application/json": {
                    "example": {
                        "detail": [
                            {
                                "type": "value_error",
                                "loc": ["query", "interval"],
                                "msg": "Value error, interval '2m' is not one of: "
                                "1m, 3m, 5m, 15m, 30m, 1h, 4h, 1d",
                                "input": "2m",
                            }
                        ],
                        "message": "query.interval: Value error, interval '2m' is not one of: "
                        "1m, 3m, 5m, 15m, 30m, 1h, 4h, 1d (got '2m')",
                    }
                }
            },
        },
    },
)
async def klines(
    exchange: ExchangePath,
    symbol: SymbolPath,
    hub: HubDep,
    session: SessionDep,
    interval: Annotated[Interval, Query(description=f"One of {', '.join(INTERVALS)}")] = "1m",
    limit: Annotated[
        int, Bounds(ge=1, le=1000), QUERY_INT, Query(description="1..1000 candles")
    ] = 100,
    start: Annotated[
        QueryNonNegativeInt | None, Query(description="Earliest open time, ns since epoch")
    ] = None,
    end: Annotated[
        QueryNonNegativeInt | None,
        Query(description="Open times before this, ns since epoch (exclusive)"),
    ] = None,
) -> list[KlinePublic]:
    """OHLCV candles built from collected trades by exchange time, oldest first."""
    require_market(hub, exchange, symbol)
    stored = await fetch_candles(session, exchange, symbol, interval, limit, start, end)
    by_open = {c.open_ns: c for c in stored}
    live = hub.open_candle(exchange, symbol, interval)
    if (
        live is not None
        and (start is None or live.open_ns >= start)
        and (end is None or live.open_ns < end)
    ):
        by_open[live.open_ns] = live
    return [KlinePublic.from_candle(by_open[k]) for k in sorted(by_open)[-limit:]]


@router.get("/health", response_model=HealthPublic)
async def health(hub: HubDep, request: Request) -> HealthPublic:
    """Per venue and symbol: connected, last message age, reconnects, gaps, checksum failures;
    and what the candle backfill fetched."""
    now = time.time_ns()
    feeds = []
    for exchange, symbol in hub.markets():
        h = hub.health(exchange, symbol)
        feeds.append(
            FeedHealthPublic(
                exchange=exchange,
                symbol=symbol,
                connected=h.connected,
                stale=hub.is_stale(exchange, symbol, now),
                last_message_age_s=h.age_s(now),
                messages=h.messages,
                reconnects=h.reconnects,
                gaps=h.gaps,
                checksum_failures=h.checksum_failures,
                resyncs=h.resyncs,
                last_error=h.last_error,
            )
        )
    ok = bool(feeds) and all(f.connected and not f.stale for f in feeds)
    backfill = BackfillPublic.model_validate(request.app.state.backfill_status.as_dict())
    status = "ok" if ok else "degraded"
    return HealthPublic(status=status, feeds=feeds, backfill=backfill, hint=health_hint(hub))
