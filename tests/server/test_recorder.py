"""Recording while collecting: the recorder on a hand-fed hub, on the fake exchange, inside the
app's lifespan, and `twapserver record` as a process stopped with SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tests.core.builders import S, levels
from tests.server.fake_venues import (
    BINANCE_SYMBOLS,
    MARKETS,
    WAIT_S,
    capture_truth,
    cryptofeed_captures,
    fake_exchange,
    top_of,
    venue_settings,
    wait_for,
)
from twapcore import BookSnapshot, Side, Trade, iter_records, read_recording
from twapserver.app import create_app
from twapserver.collectors import Collectors
from twapserver.hub import InstrumentInfo, MarketHub
from twapserver.recorder import Recorder
from twapserver.settings import Settings

STARTED = int(datetime(2024, 8, 8, 12, 0, 5, tzinfo=UTC).timestamp()) * S


@pytest.fixture
def captures(shared_data: Path) -> Path:
    return cryptofeed_captures(shared_data)


def hand_fed_hub() -> MarketHub:
    hub = MarketHub()
    hub.register(InstrumentInfo("kraken", "BTC-USD", Decimal("0.1"), Decimal("0.00000001")))
    hub.register(InstrumentInfo("binance", "BTC-USDT"))
    return hub


def push_book(hub: MarketHub, ts: int, bid: str = "99", symbol: str = "BTC-USDT") -> None:
    book = BookSnapshot("binance", symbol, levels((bid, "1")), levels(("101", "2")), ts, ts, ts)
    hub.on_book("binance", symbol, lambda: book, ts)


def push_trade(hub: MarketHub, ts: int, price: str = "100") -> None:
    hub.on_trade(Trade("binance", "BTC-USDT", Side.BUY, Decimal(price), Decimal(1), ts, ts, None))


def recorder_on(hub: MarketHub, out_dir: Path, every_ms: int = 100) -> Recorder:
    return Recorder(hub, out_dir, every_ms, clock=lambda: STARTED)


def lines(path: Path) -> list[dict[str, object]]:
    return list(iter_records(path))


def trade_fields(trade: Trade) -> tuple[object, ...]:
    """What the venue said about a trade (receive times differ between runs)."""
    return trade.exchange, trade.symbol, trade.side, trade.price, trade.qty, trade.ts_event


# -- by hand: open / tick / close ---------------------------------------------------------


def test_file_is_named_for_the_exchanges_and_the_utc_start_and_never_overwritten(
    tmp_path,
) -> None:
    hub = hand_fed_hub()

    first = recorder_on(hub, tmp_path).open()
    second = recorder_on(hub, tmp_path).open()

    assert first.name == "binance+kraken-20240808T120005Z.jsonl.gz"
    assert second.name == "binance+kraken-20240808T120005Z-2.jsonl.gz"


def test_instrument_lines_come_first_with_tick_and_lot_sizes(tmp_path) -> None:
    hub = hand_fed_hub()
    recorder = recorder_on(hub, tmp_path)
    path = recorder.open()
    push_book(hub, ts=1)

    recorder.close()

    assert [line["type"] for line in lines(path)] == ["instrument", "instrument", "book"]
    assert lines(path)[:2] == [
        {
            "type": "instrument",
            "exchange": "binance",
            "symbol": "BTC-USDT",
            "instrument_type": "spot",
            "tick_size": None,
            "lot_size": None,
            "contract_size": None,
        },
        {
            "type": "instrument",
            "exchange": "kraken",
            "symbol": "BTC-USD",
            "instrument_type": "spot",
            "tick_size": "0.1",
            "lot_size": "0.00000001",
            "contract_size": None,
        },
    ]


def test_a_tick_writes_the_latest_book_of_each_market_that_changed(tmp_path) -> None:
    hub = hand_fed_hub()
    recorder = recorder_on(hub, tmp_path)
    path = recorder.open()

    for ts, bid in ((1, "97"), (2, "98"), (3, "99")):
        push_book(hub, ts, bid)
    written = [recorder.tick()]
    written.append(recorder.tick())  # nothing changed
    push_book(hub, 4, "99")  # a new version with the same levels
    written.append(recorder.tick())
    push_book(hub, 5, "99.5")
    written.append(recorder.tick())
    recorder.close()

    books = [b for b in read_recording(path) if isinstance(b, BookSnapshot)]
    assert written == [1, 0, 0, 1]
    assert [(b.ts_recv, b.bids[0].price) for b in books] == [(3, 99), (5, Decimal("99.5"))]


def test_trades_are_written_by_the_tick_in_receive_time_order_with_the_books(tmp_path) -> None:
    hub = hand_fed_hub()
    recorder = recorder_on(hub, tmp_path)
    path = recorder.open()
    push_trade(hub, ts=3)
    push_book(hub, ts=5)
    push_trade(hub, ts=7, price="101")

    recorder.tick()
    recorder.close()

    recorded = [(line["type"], line["ts_recv"]) for line in lines(path)[2:]]
    assert recorded == [("trade", 3), ("book", 5), ("trade", 7)]
    assert (recorder.books_written, recorder.trades_written) == (1, 2)


def test_close_writes_what_is_pending_and_stops_taking_trades(tmp_path) -> None:
    hub = hand_fed_hub()
    recorder = recorder_on(hub, tmp_path)
    path = recorder.open()
    push_trade(hub, ts=1)

    recorder.close()
    push_trade(hub, ts=2)
    recorder.close()

    assert [line["ts_recv"] for line in lines(path) if line["type"] == "trade"] == [1]
    assert hub.trade_listeners == []


# -- in the event loop ----------------------------------------------------------------------


async def test_start_ticks_on_the_cadence_until_stop(tmp_path) -> None:
    hub = hand_fed_hub()
    recorder = recorder_on(hub, tmp_path, every_ms=5)
    path = recorder.start()

    push_book(hub, ts=1)
    await wait_for(lambda: recorder.books_written == 1, "the first tick")
    push_book(hub, ts=2, bid="98")
    await wait_for(lambda: recorder.books_written == 2, "the next tick")
    await recorder.stop()

    assert [b.ts_recv for b in read_recording(path)] == [1, 2]


async def test_recording_of_the_fake_exchange_holds_true_books_and_every_trade(
    captures, tmp_path
) -> None:
    truth = capture_truth(captures)
    hub = MarketHub()

    def replayed(exchange: str, symbol: str) -> bool:
        book = hub.book(exchange, symbol)
        trades = [t for t in truth.trades if (t.exchange, t.symbol) == (exchange, symbol)]
        return (
            book is not None
            and top_of(book) == truth.final_top(exchange, symbol)
            and len(hub.recent_trades(exchange, symbol)) == len(trades)
        )

    with fake_exchange(captures, 0) as fake:
        collectors = Collectors(venue_settings(fake, tmp_path), hub)
        await collectors.start()
        recorder = Recorder(hub, tmp_path / "recordings", every_ms=20)
        path = recorder.start()
        try:
            for market in MARKETS:
                await wait_for(lambda m=market: replayed(*m), f"the whole replay of {market}")
        finally:
            await collectors.stop()
            await recorder.stop()

    recorded = list(read_recording(path))
    books = [item for item in recorded if isinstance(item, BookSnapshot)]
    trades = [item for item in recorded if isinstance(item, Trade)]
    assert {(b.exchange, b.symbol): top_of(b) for b in books} == {
        m: truth.final_top(*m) for m in MARKETS
    }
    assert all(truth.is_a_true_state(b) for b in books)
    assert sorted(map(trade_fields, trades)) == sorted(map(trade_fields, truth.trades))


async def test_the_app_records_while_it_runs_when_record_dir_is_set(tmp_path) -> None:
    settings = Settings(
        demo=True,
        demo_speed=50,
        record_dir=tmp_path / "recordings",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'twap.db'}",
        jwt_secret="tests-secret-4f9c2b7e1d8a6053-not-for-production",
    )
    app = create_app(settings)

    async with app.router.lifespan_context(app):
        await wait_for(lambda: app.state.hub.book("binance", "BTC-USDT"), "a demo book")

    (path,) = (tmp_path / "recordings").iterdir()
    recorded = lines(path)
    assert path.name.startswith("binance+kraken-")  # the demo replays both venues
    assert (recorded[0]["type"], recorded[0]["lot_size"]) == ("instrument", "0.00001")
    assert any(line["type"] == "book" for line in recorded)


# -- twapserver record ------------------------------------------------------------------------


def test_record_command_writes_a_readable_recording_and_exits_on_sigterm(
    captures, tmp_path
) -> None:
    out = tmp_path / "recordings"
    with fake_exchange(captures, 0) as fake:
        # The command reads its settings from the environment; JSON for the dict fields.
        settings = venue_settings(fake, tmp_path).model_dump(mode="json")
        env = {
            **os.environ,
            "TWAP_EXCHANGES": json.dumps(settings["exchanges"]),
            "TWAP_VENUE_ENDPOINTS": json.dumps(settings["venue_endpoints"]),
            "TWAP_VENUE_CA_FILE": settings["venue_ca_file"],
        }
        command = [sys.executable, "-c", "from twapserver.cli import main; main()"]
        process = subprocess.Popen(
            [*command, "record", "--out", str(out)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            # Binance asks for each symbol's snapshot on its first diff, one after the other on
            # one connection: the last request means the three before it are in the hub.
            asyncio.run(
                wait_for(
                    lambda: (
                        all(fake.depth_requests(s.replace("-", "")) for s in BINANCE_SYMBOLS)
                        or process.poll() is not None
                    ),
                    "a depth snapshot request for every Binance symbol",
                )
            )
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=WAIT_S)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()

    (path,) = out.iterdir()
    recorded = lines(path)
    instruments = [(line["exchange"], line["symbol"]) for line in recorded[:14]]
    books = [b for b in read_recording(path) if isinstance(b, BookSnapshot)]
    assert process.returncode == 0, output
    assert f"recording to {path}" in output
    assert path.name.startswith("binance+kraken-")
    assert sorted(instruments) == sorted(MARKETS)
    assert len({b.symbol for b in books if b.exchange == "binance"}) >= 3
    assert all(capture_truth(captures).is_a_true_state(b) for b in books)
