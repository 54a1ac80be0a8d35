"""Demo mode: replay a recording through the hub as if it were live.

Timestamps are shifted so the replayed books look fresh; at the end the
replay starts again (with a new shift), so a demo server never runs dry.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from twapcore import NS_PER_SECOND, iter_records
from twapcore.recording import book_from_record, demo_recording, trade_from_record
from twapserver.hub import InstrumentInfo, MarketHub

__all__ = ["DEMO_RECORDING", "register_recording", "replay_forever"]

DEMO_RECORDING = demo_recording()


def register_recording(hub: MarketHub, recording: Path) -> None:
    """Register every (exchange, symbol) the recording holds, with its lot and tick sizes."""
    seen: dict[tuple[str, str], InstrumentInfo] = {}
    for record in iter_records(recording):
        key = (record.get("exchange", ""), record.get("symbol", ""))
        if record["type"] == "instrument":
            seen[key] = InstrumentInfo(
                key[0],
                key[1],
                _dec(record.get("tick_size")),
                _dec(record.get("lot_size")),
            )
        elif record["type"] in ("book", "trade") and key not in seen:
            seen[key] = InstrumentInfo(*key)
    for info in seen.values():
        hub.register(info)


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def _shifted(record: dict[str, Any], shift: int) -> dict[str, Any]:
    return {**record, "ts_event": record["ts_event"] + shift, "ts_recv": record["ts_recv"] + shift}


async def replay_forever(
    hub: MarketHub,
    recording: Path,
    speed: float = 1.0,
    clock: Callable[[], int] = time.time_ns,
) -> None:
    """Push the recording's books and trades into `hub` at `speed`× real time, looping."""
    while True:
        start_wall = clock()
        first_ts: int | None = None
        for record in iter_records(recording):
            kind = record["type"]
            if kind not in ("book", "trade"):
                continue
            if first_ts is None:
                first_ts = record["ts_recv"]
            offset = int((record["ts_recv"] - first_ts) / speed)
            delay = (start_wall + offset - clock()) / NS_PER_SECOND
            if delay > 0:
                await asyncio.sleep(delay)
            shifted = _shifted(record, start_wall + offset - record["ts_recv"])
            if kind == "book":
                hub.on_book(
                    shifted["exchange"],
                    shifted["symbol"],
                    lambda r=shifted: book_from_record(r),  # type: ignore[misc]
                    shifted["ts_recv"],
                )
            else:
                hub.on_trade(trade_from_record(shifted))
        await asyncio.sleep(0)
