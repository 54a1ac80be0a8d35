"""Engine throughput: 10,000 orders on one symbol, all due at the same instants.

    python benchmarks/bench_engine.py [--orders N] [--slices N] [--spacing-s S]
                                      [--database sqlite|postgresql|both] [--book-every-ms MS]

Per database: an `Engine` (real clock, its own loops) runs on an empty database;
`--orders` orders (binance BTC-USDT, `--slices` slices `--spacing-s` apart, all
starting at the same instant a few seconds ahead) are inserted and announced on
the bus as the API does, so the engine claims them. A synthetic book (1,000,000
displayed a side) is republished every `--book-every-ms`.

Measured (through hooks this script installs, not engine instrumentation):
* lateness — slice step start minus due time, and book skew — due time minus the
  `ts_recv` of the book the slice was priced on: the engine's own SLICE_LATENESS
  and BOOK_SKEW observations, recorded by a tee on those metrics;
* committed — when each slice's `OrderUpdate` was published (after its commit),
  minus its due time; slices/s persisted = slices / (last commit - first due);
* baseline — a bare driver `executemany` of the same rows (slices, fills, order
  progress updates) in transactions of the engine's batch size, into scratch
  tables, in the same run: the ratio engine / bare is printed.

PostgreSQL: `$TWAP_BENCH_POSTGRES_URL` (default postgresql+asyncpg://postgres@127.0.0.1:5432/twap_bench),
created when missing; its `public` schema is dropped first.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import orjson
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from twapcore import BookSnapshot, Level, Side, TwapExecution, TwapOrderSpec
from twapserver import metrics
from twapserver.auth.users import create_user
from twapserver.bus import OrderUpdate
from twapserver.bus.memory import MemoryOrderEvents
from twapserver.db.engine import make_engine, make_sessionmaker, upgrade_database
from twapserver.db.models import FillRow, OrderRow, SliceRow
from twapserver.hub import InstrumentInfo, MarketHub
from twapserver.orders import repository
from twapserver.orders.committer import COMMIT_BATCH
from twapserver.orders.engine import Engine

NS = 1_000_000_000
POSTGRES_URL = os.environ.get(
    "TWAP_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/twap_bench"
)


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


class Tee:
    """Stands in for a prometheus Histogram: records each observation, then forwards it."""

    def __init__(self, histogram: Any) -> None:
        self.histogram = histogram
        self.values: list[float] = []

    def observe(self, value: float) -> None:
        self.values.append(value)
        self.histogram.observe(value)

    def labels(self, *args: Any) -> Any:
        return self.histogram.labels(*args)


@dataclass
class EngineResult:
    database: str
    orders: int
    slices: int
    fills: int
    claim_s: float
    wall_s: float
    lateness_s: list[float]
    skew_s: list[float]
    committed_s: list[float]
    slice_statuses: Counter[str] = field(default_factory=Counter)
    order_statuses: Counter[str] = field(default_factory=Counter)
    bare_s: float = 0.0

    @property
    def slices_per_s(self) -> float:
        return self.slices / self.wall_s

    @property
    def bare_per_s(self) -> float:
        return self.slices / self.bare_s


def synthetic_book(ts: int) -> BookSnapshot:
    big = Decimal(1_000_000)
    bids, asks = (Level(Decimal("59999"), big),), (Level(Decimal("60001"), big),)
    return BookSnapshot("binance", "BTC-USDT", bids, asks, ts, ts)


def engine_spec(i: int, slices: int, spacing_s: float) -> TwapOrderSpec:
    buy = i % 2 == 0
    return TwapOrderSpec(
        exchange="binance",
        symbol="BTC-USDT",
        side=Side.BUY if buy else Side.SELL,
        quantity=Decimal("0.001") * slices,
        limit_price=Decimal(70000) if buy else Decimal(50000),
        duration_s=Decimal(str(spacing_s)) * slices,
        slices=slices,
        lot_size=Decimal("0.00001"),
        token_id=f"e-{i}",
    )


async def fresh_database(kind: str, workdir: Path) -> str:
    """An empty database URL of `kind` (sqlite: a file in `workdir`)."""
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{workdir / 'engine.db'}"
    url = make_url(POSTGRES_URL)
    params = {"host": url.host, "port": url.port, "user": url.username, "password": url.password}
    try:
        connection = await asyncpg.connect(**params, database=url.database)
    except asyncpg.InvalidCatalogNameError:
        admin = await asyncpg.connect(**params, database="postgres")
        await admin.execute(f'CREATE DATABASE "{url.database}"')
        await admin.close()
        connection = await asyncpg.connect(**params, database=url.database)
    await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    await connection.close()
    return POSTGRES_URL


async def engine_bench(
    kind: str,
    orders: int,
    slices: int,
    spacing_s: float,
    workdir: Path,
    book_every_ms: float = 1.0,
    timeout_s: float = 600,
) -> EngineResult:
    """Run `orders` x `slices` slices on a real clock; see the module docstring."""
    url = await fresh_database(kind, workdir)
    await upgrade_database(url)
    db = make_engine(url)
    sessions = make_sessionmaker(db)
    hub = MarketHub(max_book_age_s=5.0)
    hub.register(InstrumentInfo("binance", "BTC-USDT", Decimal("0.01"), Decimal("0.00001")))
    events = MemoryOrderEvents()
    lateness, skew = Tee(metrics.SLICE_LATENESS), Tee(metrics.BOOK_SKEW)
    metrics.SLICE_LATENESS, metrics.BOOK_SKEW = lateness, skew  # type: ignore[assignment]
    committed: list[float] = []
    expected = orders * slices
    done = asyncio.Event()
    instants: dict[int, int] = {}  # due time -> when its last slice was committed

    def on_update(update: OrderUpdate) -> None:
        row = orjson.loads(update.payload)["slice"]
        if row is not None:
            now = time.time_ns()
            instants[row["due_ns"]] = max(instants.get(row["due_ns"], 0), now)
            committed.append((now - row["due_ns"]) / NS)
            if len(committed) == expected:
                done.set()

    events.on_update(on_update)

    def publish() -> None:
        snapshot = synthetic_book(time.time_ns())
        hub.on_book("binance", "BTC-USDT", lambda: snapshot, snapshot.ts_recv)

    async def republish_forever() -> None:
        while True:
            publish()
            await asyncio.sleep(book_every_ms / 1000)

    engine = Engine(sessions, hub, order_events=events, engine_id="bench")
    publish()
    refresher = asyncio.create_task(republish_forever())
    try:
        async with sessions() as session, session.begin():
            user = await create_user(session, "bench", "bench-password-1", now_ns=time.time_ns())
        await engine.start(run=True)  # empty database: nothing to claim
        lead_s = 3.0 + orders / 2000  # room to insert and claim everything before the first due
        first_due = time.time_ns() + int(lead_s * NS)
        ids: list[int] = []
        for start in range(0, orders, 1000):
            rows = [
                repository.new_order_values(
                    user.id, TwapExecution(engine_spec(i, slices, spacing_s), first_due), 0
                )
                for i in range(start, min(orders, start + 1000))
            ]
            async with sessions() as session, session.begin():
                ids += (await repository.insert_orders(session, rows)).values()
        claim_started = time.perf_counter()
        for order_id in ids:
            events.order_submitted(order_id)  # as the API does after its commit
        while sum(1 for i in ids if engine.live(i) is not None) < orders:
            if time.time_ns() > first_due:
                break  # report what the run shows
            await asyncio.sleep(0.01)
        claim_s = time.perf_counter() - claim_started
        await asyncio.wait_for(done.wait(), timeout_s)
        # Busy time: from each due instant to the commit of its last slice.
        wall = sum(last - due for due, last in instants.items()) / NS
        async with sessions() as session:
            fills = await session.scalar(select(func.count()).select_from(FillRow)) or 0
            slice_rows = await session.execute(
                select(SliceRow.status, SliceRow.reason, func.count()).group_by(
                    SliceRow.status, SliceRow.reason
                )
            )
            slice_statuses = Counter({f"{s}:{r or '-'}": c for s, r, c in slice_rows})
            order_rows = await session.execute(
                select(OrderRow.status, func.count()).group_by(OrderRow.status)
            )
            order_statuses = Counter({status: count for status, count in order_rows})
    finally:
        metrics.SLICE_LATENESS, metrics.BOOK_SKEW = lateness.histogram, skew.histogram
        refresher.cancel()
        await engine.stop()
    try:
        bare_s = await bare_executemany(db, kind)
    finally:
        await db.dispose()
    return EngineResult(
        kind, orders, expected, fills, claim_s, wall, lateness.values, skew.values,
        committed, slice_statuses, order_statuses, bare_s,
    )  # fmt: skip


_PROGRESS = (
    "status", "filled", "notional", "slices_done", "next_due_ns", "ended_ns", "market_window",
    "updated_ns",
)  # fmt: skip


def _plain(row: Any) -> tuple[Any, ...]:
    """A row as the driver takes it: decimals as their text (the DecimalText columns)."""
    return tuple(str(v) if isinstance(v, Decimal) else v for v in row)


async def bare_executemany(db: AsyncEngine, kind: str) -> float:
    """Seconds for the driver alone to write the run's rows again, in engine-sized batches.

    Slices and fills go to scratch copies of their tables; each order row gets the
    same progress update (the columns and values the engine wrote).
    """
    sessions = make_sessionmaker(db)
    async with sessions() as session:
        slices = (await session.execute(select(SliceRow.__table__))).all()
        fills = (await session.execute(select(FillRow.__table__))).all()
        columns = [OrderRow.__table__.c[name] for name in _PROGRESS]
        progress = {
            row[-1]: _plain(row) for row in await session.execute(select(*columns, OrderRow.id))
        }
    fills_by_slice: dict[tuple[int, int], list[tuple[Any, ...]]] = {}
    for fill in fills:
        fills_by_slice.setdefault((fill.order_id, fill.slice_index), []).append(_plain(fill))

    def marks(n: int) -> list[str]:
        return [f"${i}" if kind == "postgresql" else "?" for i in range(1, n + 1)]

    slice_sql = f"INSERT INTO bare_slices VALUES ({', '.join(marks(len(SliceRow.__table__.c)))})"
    fill_sql = f"INSERT INTO bare_fills VALUES ({', '.join(marks(len(FillRow.__table__.c)))})"
    m = marks(len(_PROGRESS) + 1)
    sets = ", ".join(f"{name} = {mark}" for name, mark in zip(_PROGRESS, m, strict=False))
    order_sql = f"UPDATE orders SET {sets} WHERE id = {m[-1]}"
    batches = []
    for start in range(0, len(slices), COMMIT_BATCH):
        batch = slices[start : start + COMMIT_BATCH]
        keys = [(row.order_id, row.index) for row in batch]
        batches.append([
            (slice_sql, [_plain(row) for row in batch]),
            (fill_sql, [f for key in keys for f in fills_by_slice.get(key, [])]),
            (order_sql, [progress[order_id] for order_id, _ in keys]),
        ])  # fmt: skip
    async with db.connect() as connection:
        like = "(LIKE {} INCLUDING ALL)" if kind == "postgresql" else "AS SELECT * FROM {} WHERE 0"
        for table in ("slices", "fills"):
            await connection.execute(text(f"DROP TABLE IF EXISTS bare_{table}"))
            await connection.execute(text(f"CREATE TABLE bare_{table} {like.format(table)}"))
        await connection.commit()
        driver: Any = (await connection.get_raw_connection()).driver_connection
        started = time.perf_counter()
        for statements in batches:
            await _transaction(driver, kind, statements)
        elapsed = time.perf_counter() - started
        for table in ("slices", "fills"):
            await connection.execute(text(f"DROP TABLE bare_{table}"))
        await connection.commit()
    return elapsed


async def _transaction(driver: Any, kind: str, statements: list[tuple[str, list[Any]]]) -> None:
    """Run `executemany`s in one transaction with the bare driver (asyncpg or aiosqlite)."""
    if kind == "postgresql":
        async with driver.transaction():
            for sql, rows in statements:
                if rows:
                    await driver.executemany(sql, rows)
        return
    for sql, rows in statements:
        if rows:
            await driver.executemany(sql, rows)
    await driver.commit()


def print_result(result: EngineResult) -> None:
    print(
        f"\n{result.database}: {result.orders} orders x {result.slices // result.orders} slices "
        f"on one symbol, all due at the same instants (claimed in {result.claim_s:.1f} s)"
    )
    header = f"{'per slice':44} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}"
    print(header)
    print("-" * len(header))
    for name, values in (
        ("book skew (due - ts_recv of its book)", result.skew_s),
        ("step start lateness (after due)", result.lateness_s),
        ("committed and announced (after due)", result.committed_s),
    ):
        print(
            f"{name:44} {pct(values, 50) * 1e3:9.1f} {pct(values, 99) * 1e3:9.1f} "
            f"{max(values) * 1e3:9.1f}"
        )
    print(
        f"{result.slices} slices ({result.fills} fills) persisted in {result.wall_s:.2f} s "
        f"(due -> last commit, summed over the due instants) = {result.slices_per_s:,.0f} "
        f"slices/s;\nbare executemany of the same rows: {result.bare_per_s:,.0f} slices/s; ratio "
        f"{result.slices_per_s / result.bare_per_s:.2f}"
    )
    print(f"slices: {dict(result.slice_statuses)}; orders: {dict(result.order_statuses)}")


def print_summary(results: list[EngineResult]) -> None:
    print("\nSUMMARY")
    rows: list[tuple[str, str, str]] = []
    for r in results:
        rows += [
            (f"[{r.database}] book skew p99 ms", f"{pct(r.skew_s, 99) * 1e3:.1f}", "< 10"),
            (f"[{r.database}] slices/s persisted", f"{r.slices_per_s:,.0f}", ">= 10,000 (pg)"),
            (
                f"[{r.database}] engine / bare executemany",
                f"{r.slices_per_s / r.bare_per_s:.2f}",
                "",
            ),
            (f"[{r.database}] committed p99 ms", f"{pct(r.committed_s, 99) * 1e3:.0f}", ""),
        ]
    width = max(len(r[0]) for r in rows)
    for name, value, target in rows:
        print(f"  {name:{width}}  {value:>10}  {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--slices", type=int, default=2, help="slices per order")
    parser.add_argument("--spacing-s", type=float, default=5.0, help="seconds between slices")
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--book-every-ms", type=float, default=1.0)
    args = parser.parse_args()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} CPUs, load average {load}; python {sys.version.split()[0]}")
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    results = []
    for kind in kinds:
        with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
            run = engine_bench(
                kind, args.orders, args.slices, args.spacing_s, Path(tmp), args.book_every_ms
            )
            results.append(asyncio.run(run))
        print_result(results[-1])
    print_summary(results)


if __name__ == "__main__":
    main()
