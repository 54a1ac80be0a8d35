"""`twap simulate --venues binance,kraken`: the cross-venue order from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from tests.client.test_cli_simulate import _twap
from tests.core.test_execution_venues import _two_venue_recording


def test_simulate_trades_the_consolidated_book_of_the_venues(tmp_path: Path) -> None:
    _two_venue_recording(tmp_path / "two.jsonl")
    result = _twap(
        "simulate", str(tmp_path / "two.jsonl"), "--venues", "binance,kraken",
        "--quantity", "2", "--duration", "25", "--slices", "10", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {fill["venue"] for fill in report["fills"]} == {"binance", "kraken"}
    assert {row["venue"] for row in report["venues"]} == {"binance", "kraken"}

    missing = _twap("simulate", str(tmp_path / "two.jsonl"), "--venues", "binance,coinbase")
    assert missing.returncode != 0
    assert "coinbase" in missing.stderr and len(missing.stderr.strip().splitlines()) == 1
