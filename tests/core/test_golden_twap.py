"""TWAP stays byte-identical through the algorithm seam.

The data files were produced by the code before the seam existed:
`golden_demo_twap_report.json` is `twap simulate --demo --json`, and
`golden_twap_states.json` is `to_state()` of the two executions `_run_states`
builds. The report may gain keys; every key it had keeps its value. The report's
decimals were rewritten once by `twapcore.formatting.format_decimal` (trailing
zeros and exponents removed: `"1.00000"` is `"1"`, `"1E+12"` is `"1000000000000"`),
the values unchanged, and `market_vwap` (a computed average) once by `format_average`
(15 significant digits instead of 28).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from twapcore import LiquidityLedger, Side, SkipReason, TwapExecution, TwapOrderSpec, simulate
from twapcore.recording import book_from_record, demo_recording, iter_records

DATA = Path(__file__).parent / "data"


def _run_states() -> list[dict[str, Any]]:
    books = [
        r
        for r in iter_records(demo_recording())
        if r["type"] == "book" and (r["exchange"], r["symbol"]) == ("binance", "BTC-USDT")
    ]
    states = []
    for side, limit, slices in ((Side.BUY, "61840", 12), (Side.SELL, "61830", 7)):
        spec = TwapOrderSpec(
            "binance",
            "BTC-USDT",
            side,
            Decimal("0.9"),
            Decimal(limit),
            Decimal(50),
            slices=slices,
            lot_size=Decimal("0.00001"),
            token_id="g",
        )
        execution = TwapExecution(spec, books[0]["ts_recv"])
        ledger = LiquidityLedger()
        i = 0
        while (due := execution.next_due_ns) is not None:
            while i + 1 < len(books) and books[i + 1]["ts_recv"] <= due:
                i += 1
            if execution.next_index == 3:
                execution.skip(due, SkipReason.SERVER_DOWN)
                continue
            execution.step(due, book_from_record(books[i], version=i), ledger)
        states.append(execution.to_state())
    return states


def test_twap_states_are_byte_identical_to_the_pre_seam_ones() -> None:
    expected = (DATA / "golden_twap_states.json").read_bytes()

    actual = orjson.dumps(_run_states(), option=orjson.OPT_INDENT_2)

    assert actual == expected


def test_demo_report_keeps_every_pre_seam_figure() -> None:
    golden = orjson.loads((DATA / "golden_demo_twap_report.json").read_bytes())
    spec = TwapOrderSpec(
        "binance", "BTC-USDT", Side.BUY, Decimal(1), Decimal("1e12"), Decimal(60), slices=10
    )

    report = orjson.loads(orjson.dumps(simulate(demo_recording(), [spec]).reports[0].to_dict()))

    assert {k: report[k] for k in golden if k != "slices"} == {
        k: v for k, v in golden.items() if k != "slices"
    }
    assert [
        {k: row[k] for k in old}
        for row, old in zip(report["slices"], golden["slices"], strict=True)
    ] == golden["slices"]
