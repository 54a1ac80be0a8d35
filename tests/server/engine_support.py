"""Shared setup of the engine tests: a test clock, a hub, orders stored as the API stores them.

The `sessions` fixture (a session maker with one user) is in `tests/server/conftest.py`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from twapcore import OrderSpec, Side, TwapExecution
from twapserver.db.models import OrderRow, SliceRow, UserRow
from twapserver.hub import InstrumentInfo, MarketHub
from twapserver.orders import repository
from twapserver.orders.engine import Engine

S = 1_000_000_000
T0 = 1_700_000_000 * S
Sessions = async_sessionmaker[AsyncSession]


class Clock:
    """A clock (int ns) the test moves by setting `now`."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


async def add_user(sessions: Sessions) -> None:
    """The one user (alice) the stored orders belong to."""
    async with sessions() as session, session.begin():
        session.add(UserRow(username="alice", password_hash="x", created_ns=0))


def hub_of(
    venues: tuple[str, ...] = ("binance",),
    symbols: tuple[str, ...] = ("BTC-USDT",),
    max_book_age_s: float = 5,
) -> MarketHub:
    """A hub with every venue × symbol registered: tick 0.01, lot 0.001."""
    hub = MarketHub(max_book_age_s=max_book_age_s)
    for venue in venues:
        for symbol in symbols:
            hub.register(InstrumentInfo(venue, symbol, Decimal("0.01"), Decimal("0.001")))
    return hub


def order_spec(token: str, **fields: Any) -> OrderSpec:
    """A twap buy of 0.6 BTC-USDT on binance in 6 slices over 60 s, limit 1000; `fields`
    change or add to it (`algorithm="pov"`, `venues=…`)."""
    values: dict[str, Any] = {
        "exchange": "binance",
        "symbol": "BTC-USDT",
        "side": Side.BUY,
        "quantity": Decimal("0.6"),
        "limit_price": Decimal(1000),
        "duration_s": Decimal(60),
        "slices": 6,
        "lot_size": Decimal("0.001"),
        "token_id": token,
    }
    return OrderSpec(**(values | fields))


async def store_order(sessions: Sessions, spec: OrderSpec, now: int) -> OrderRow:
    """Store the order of the one user as the API does (not announced to any engine)."""
    execution = TwapExecution(spec, now)
    async with sessions() as session, session.begin():
        user = (await session.execute(select(UserRow))).scalar_one()
        return await repository.insert_order(session, user.id, execution, now)


async def submit_to(engine: Engine, spec: OrderSpec, now: int) -> int:
    """Store the order and tell `engine` of it (`on_submitted`, as the bus would); its id."""
    order = await store_order(engine.sessions, spec, now)
    engine.on_submitted(order.id)
    return order.id


async def load_stored(
    sessions: Sessions, order_id: int
) -> tuple[OrderRow, list[SliceRow], TwapExecution]:
    """The order as committed: its row, its slice rows and its execution rebuilt from them."""
    async with sessions() as session:
        order = await session.get(OrderRow, order_id)
        assert order is not None
        slices, fills = await repository.load_history(session, order_id)
        return order, slices, repository.execution_from_rows(order, slices, fills)


async def stored_execution(sessions: Sessions, order_id: int) -> TwapExecution:
    """The order's execution as committed."""
    return (await load_stored(sessions, order_id))[2]
