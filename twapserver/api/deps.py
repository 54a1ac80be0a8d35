"""FastAPI dependencies shared by the routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.ext.asyncio import AsyncSession

from twapserver.hub import MarketHub
from twapserver.settings import Settings


def get_hub(request: Request) -> MarketHub:
    hub: MarketHub = request.app.state.hub
    return hub


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


HubDep = Annotated[MarketHub, Depends(get_hub)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]


def require_market(hub: MarketHub, exchange: str, symbol: str) -> None:
    """404 naming the exchange or symbol that this server does not collect."""
    if exchange not in hub.exchanges():
        raise HTTPException(404, f"exchange {exchange!r} is not collected by this server")
    if not hub.has(exchange, symbol):
        known = ", ".join(i.symbol for i in hub.instruments(exchange))
        raise HTTPException(
            404, f"symbol {symbol!r} is not collected on {exchange}; collected: {known}"
        )
