"""SQLAlchemy table models: candles, users, refresh tokens, orders, slices and fills.

Times are `int` nanoseconds since the Unix epoch (BIGINT). Prices and
quantities are `Decimal` in Python and stored as their exact decimal text (see
`DecimalText`), so a value reads back exactly as it was written on both SQLite
and PostgreSQL.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "NAMING_CONVENTION",
    "Base",
    "CandleRow",
    "DecimalText",
    "FillRow",
    "OrderRow",
    "RefreshTokenRow",
    "SliceRow",
    "UserRow",
]

# Deterministic constraint names: Alembic can only alter or drop a constraint it
# can name, and SQLite's batch mode (table rebuild) needs the names explicitly.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class DecimalText(TypeDecorator[Decimal]):
    """A `Decimal` stored as its decimal text, e.g. `"61837.63000000"`.

    Why not `Numeric(38, 18)`: SQLite has no decimal type, so SQLAlchemy stores
    NUMERIC as a float there (`0.1` comes back as `0.1000000000000000055…`), and
    PostgreSQL pads every value to the column's scale (`61837.63` comes back as
    `61837.630000000000000000`). Text is exact on both backends and keeps the
    venue's own precision; the price is that the database cannot compare or sum
    these columns numerically — that arithmetic happens in Python.
    """

    impl = Text
    cache_ok = True

    @property
    def python_type(self) -> type[Decimal]:
        return Decimal

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        # A float would already carry binary rounding error; refuse it loudly
        # rather than persisting a value nobody wrote.
        if not isinstance(value, Decimal):
            raise TypeError(
                f"{value!r} is a {type(value).__name__}, a Decimal column needs Decimal"
            )
        if not value.is_finite():
            raise ValueError(f"{value} is not a finite decimal")
        return str(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias), not a
# BIGINT one; PostgreSQL gets a 64-bit BIGSERIAL.
_ID = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class CandleRow(Base):
    """One OHLCV candle, keyed by (exchange, symbol, interval, open_ns): amending is an upsert.

    `partial`: trades of the candle may be missing (stored at a stop while open, built after
    a feed gap inside it, or rolled up from such minutes); a backfill replaces it.
    """

    __tablename__ = "candles"

    exchange: Mapped[str] = mapped_column(String(32), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    interval: Mapped[str] = mapped_column(String(8), primary_key=True)
    open_ns: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    open: Mapped[Decimal] = mapped_column(DecimalText)
    high: Mapped[Decimal] = mapped_column(DecimalText)
    low: Mapped[Decimal] = mapped_column(DecimalText)
    close: Mapped[Decimal] = mapped_column(DecimalText)
    volume: Mapped[Decimal] = mapped_column(DecimalText)
    trades: Mapped[int] = mapped_column(Integer)
    partial: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class UserRow(Base):
    """An account that owns orders; `password_hash` is the hasher's full encoded string.

    Every token carries the `token_version` it was issued at: bumping it (on
    disable, password change, refresh-token reuse) revokes all the user's tokens.
    Ids are never reused (AUTOINCREMENT on SQLite, a sequence on PostgreSQL), so
    a deleted user's tokens cannot come back to life for a new account.
    """

    __tablename__ = "users"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_ns: Mapped[int] = mapped_column(BigInteger)
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class RefreshTokenRow(Base):
    """One issued refresh token, by its `jti`; `family` is the login it descends from.

    `used_ns` is set when the token is traded for a new pair: a second use is a
    stolen (or replayed) token. Rows past `expires_s` are deleted at the user's
    next login.
    """

    __tablename__ = "refresh_tokens"

    jti: Mapped[str] = mapped_column(String(32), primary_key=True)
    family: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    expires_s: Mapped[int] = mapped_column(BigInteger)
    used_ns: Mapped[int | None] = mapped_column(BigInteger)


class OrderRow(Base):
    """A TWAP order of one user; `token_id` is the client's idempotency key, unique per user.

    `spec` is the order specification as JSON text; the slices and fills tables
    hold its history. The other columns are O(1)-size: a summary of progress
    (`filled`, `notional`, `slices_done`, `next_due_ns`, `ended_ns`,
    `market_window`) rewritten on each committed slice, and the engine lease:
    `lease_owner` (engine id) holds the order until `lease_until` (ns), and
    `version` is the fencing token, bumped on every claim and committed write, so
    an engine that lost its lease can never write. `cancel_requested_ns` marks a
    cancel the API asked for and the owning engine has not applied yet.
    """

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("user_id", "token_id"),
        Index(None, "status"),  # claims scan open orders; most rows are closed ones
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_id: Mapped[str] = mapped_column(String(128))
    exchange: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    spec: Mapped[str] = mapped_column(Text)
    quantity: Mapped[Decimal] = mapped_column(DecimalText)
    filled: Mapped[Decimal] = mapped_column(DecimalText)
    notional: Mapped[Decimal] = mapped_column(DecimalText)
    slices_done: Mapped[int] = mapped_column(Integer)
    slices_total: Mapped[int] = mapped_column(Integer)
    start_ns: Mapped[int] = mapped_column(BigInteger)
    ended_ns: Mapped[int | None] = mapped_column(BigInteger)
    market_window: Mapped[str | None] = mapped_column(Text)
    created_ns: Mapped[int] = mapped_column(BigInteger)
    updated_ns: Mapped[int] = mapped_column(BigInteger)
    next_due_ns: Mapped[int | None] = mapped_column(BigInteger, index=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64), index=True)
    lease_until: Mapped[int | None] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(BigInteger)
    cancel_requested_ns: Mapped[int | None] = mapped_column(BigInteger)


class SliceRow(Base):
    """One executed slice; the key (order_id, index) makes re-writing a slice idempotent."""

    __tablename__ = "slices"

    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    due_ns: Mapped[int] = mapped_column(BigInteger)
    executed_ns: Mapped[int] = mapped_column(BigInteger)
    target_qty: Mapped[Decimal] = mapped_column(DecimalText)
    filled_qty: Mapped[Decimal] = mapped_column(DecimalText)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    book_mid: Mapped[Decimal | None] = mapped_column(DecimalText)
    # What the market traded since the previous slice (None: not counted, e.g. server_down);
    # pov resumes from their sum after a restart.
    market_volume: Mapped[Decimal | None] = mapped_column(DecimalText)
    # Cross-venue orders: JSON [[venue, reason], ...] of the venues left out (NULL: none).
    venues_left_out: Mapped[str | None] = mapped_column(Text)
    # Markouts: the mid h seconds after the slice's fills (all at its execution time),
    # written once by the engine that executed it; `_missing` says why there was none
    # (one_sided_book, no_book). Both NULL: not measured (yet). See orders.markouts.
    markout_1s_mid: Mapped[Decimal | None] = mapped_column(DecimalText)
    markout_1s_missing: Mapped[str | None] = mapped_column(String(16))
    markout_10s_mid: Mapped[Decimal | None] = mapped_column(DecimalText)
    markout_10s_missing: Mapped[str | None] = mapped_column(String(16))
    markout_60s_mid: Mapped[Decimal | None] = mapped_column(DecimalText)
    markout_60s_missing: Mapped[str | None] = mapped_column(String(16))


class FillRow(Base):
    """One paper fill of a slice at one price level."""

    __tablename__ = "fills"
    __table_args__ = (Index(None, "order_id", "slice_index"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    slice_index: Mapped[int] = mapped_column(Integer)
    price: Mapped[Decimal] = mapped_column(DecimalText)
    qty: Mapped[Decimal] = mapped_column(DecimalText)
    ts_ns: Mapped[int] = mapped_column(BigInteger)
    venue: Mapped[str | None] = mapped_column(String(32))  # NULL: the order's one exchange
