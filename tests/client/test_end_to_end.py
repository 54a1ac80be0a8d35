"""From raw exchange captures to TWAP reports, through the `twap` command line."""

from __future__ import annotations

import json
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from tests.client.cli_process import TWAP


def _twap(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*TWAP, *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.conftest import shared_data_dir

    data = shared_data_dir()
    if data is None:
        pytest.skip("shared captures not found: set TWAP_SHARED_DATA or place ../shared/data")
    out = tmp_path_factory.mktemp("recordings")
    spot = data / "hftbacktest" / "spot"
    _twap(
        "convert",
        str(spot / "btcusdt_20240808.gz"),
        str(spot / "btcusdt_20240809.gz"),
        "-o",
        str(out / "binance.jsonl.gz"),
    )
    _twap("convert", str(data / "cryptofeed" / "KRAKEN.ws.50.0"), "-o", str(out / "kraken.jsonl"))
    return {"binance": out / "binance.jsonl.gz", "kraken": out / "kraken.jsonl"}


CASES = [
    ("binance", "BTC-USDT", "buy", "2", "70000", "600", "20"),
    ("binance", "BTC-USDT", "sell", "2", "50000", "600", "20"),
    ("kraken", "BTC-CHF", "buy", "0.5", "60000", "25", "5"),
    ("kraken", "BTC-CHF", "sell", "0.5", "50000", "25", "5"),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("exchange", "symbol", "side", "qty", "limit", "duration", "slices"), CASES
)
def test_simulated_report_is_internally_consistent(
    recordings: dict[str, Path],
    exchange: str,
    symbol: str,
    side: str,
    qty: str,
    limit: str,
    duration: str,
    slices: str,
) -> None:
    result = _twap(
        "simulate",
        str(recordings[exchange]),
        "--exchange",
        exchange,
        "--symbol",
        symbol,
        "--side",
        side,
        "--quantity",
        qty,
        "--limit-price",
        limit,
        "--duration",
        duration,
        "--slices",
        slices,
        "--json",
    )
    report = json.loads(result.stdout)
    filled = Decimal(report["filled_qty"])
    slice_fills = sum(Decimal(s["filled_qty"]) for s in report["slices"])
    fill_prices = [Decimal(s["average_price"]) for s in report["slices"] if s["average_price"]]

    assert filled > 0
    assert slice_fills == filled <= Decimal(qty)
    assert len(report["slices"]) == int(slices)
    low, high = Decimal(report["min_fill_price"]), Decimal(report["max_fill_price"])
    assert low <= Decimal(report["average_price"]) <= high
    assert all(low <= p <= high for p in fill_prices)
    if side == "buy":
        assert high <= Decimal(limit)
    else:
        assert low >= Decimal(limit)
    assert report["arrival_mid"] is not None


@pytest.mark.slow
def test_binance_report_uses_the_capture_trades_for_vwap(recordings: dict[str, Path]) -> None:
    result = _twap(
        "simulate",
        str(recordings["binance"]),
        "--quantity",
        "1",
        "--limit-price",
        "70000",
        "--duration",
        "300",
        "--slices",
        "10",
        "--json",
    )
    report = json.loads(result.stdout)

    assert report["market_vwap_source"] == "trades"
    assert Decimal(report["market_volume"]) > 0
    assert Decimal(0) < Decimal(report["participation_rate"]) < 1
