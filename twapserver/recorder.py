"""Record what the hub collects into a twapcore recording while the server (or `collect`) runs.

One file per run, ``DIR/<exchanges joined by +>-<UTC start, YYYYmmddTHHMMSSZ>.jsonl.gz``, in
the `twapcore.recording` format: an instrument line per collected symbol first, then book and
trade lines, which `twap simulate` replays as it would a converted capture.

Books are not written per update: the hub builds snapshots on demand, so every `every_ms` a
tick writes `hub.book()` of each market whose hub version changed since its last line (and
whose levels did; a change deeper than the hub keeps is no change here). Trades come from the
hub's trade listeners as they arrive and are written by the next tick, merged with its books
by receive time: `twap simulate` goes by file order, so lines should follow `ts_recv`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from twapcore import NS_PER_SECOND, BookSnapshot, RecordingWriter, Trade
from twapcore.recording import instrument_to_record
from twapserver.hub import MarketHub
from twapserver.settings import Settings
from twapserver.tasks import cancel_and_wait

__all__ = ["Recorder", "recorder_for"]


class Recorder:
    """Writes a recording of `hub` into `out_dir`: `open`/`tick`/`close` by hand, or
    `start`/`stop` to tick every `every_ms` milliseconds in the running event loop.

    `clock` (ns since the epoch) dates the file name.
    """

    def __init__(
        self,
        hub: MarketHub,
        out_dir: Path,
        every_ms: int = 100,
        *,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.hub = hub
        self.out_dir = Path(out_dir)
        self.every_s = every_ms / 1000
        self.clock = clock
        self.path: Path | None = None
        self.books_written = 0
        self.trades_written = 0
        self._writer: RecordingWriter | None = None
        self._written: dict[tuple[str, str], BookSnapshot] = {}  # last book line per market
        self._pending_trades: list[Trade] = []
        self._task: asyncio.Task[None] | None = None

    # --- by hand ----------------------------------------------------------------------
    def open(self) -> Path:
        """Create the file, write the instrument lines and start taking trades; its path."""
        if self._writer is not None:
            raise RuntimeError(f"the recorder is already writing {self.path}")
        self.path = self._new_path()
        self._writer = RecordingWriter(self.path)
        for exchange in self.hub.exchanges():
            for info in self.hub.instruments(exchange):
                self._writer.write_record(instrument_to_record(info))
        self.hub.trade_listeners.append(self._take_trade)
        return self.path

    def tick(self) -> int:
        """Write the books that changed and the trades taken since the last tick; how many."""
        writer = self._writer
        if writer is None:
            raise RuntimeError("the recorder is not open")
        books = [book for book in map(self._changed_book, self.hub.markets()) if book]
        trades, self._pending_trades = self._pending_trades, []
        lines: list[BookSnapshot | Trade] = [*books, *trades]
        lines.sort(key=lambda item: item.ts_recv)  # stable: a book before a trade at one ns
        for item in lines:
            writer.write(item)
        self.books_written += len(books)
        self.trades_written += len(trades)
        return len(lines)

    def close(self) -> None:
        """Write what is pending, stop taking trades and close the file. Idempotent."""
        writer = self._writer
        if writer is None:
            return
        try:
            self.tick()
        finally:
            self.hub.trade_listeners.remove(self._take_trade)
            self._writer = None
            writer.close()

    # --- in the event loop ------------------------------------------------------------
    def start(self) -> Path:
        """`open`, then tick every `every_ms` in a task of the running loop; the file's path."""
        path = self.open()
        self._task = asyncio.get_running_loop().create_task(self._tick_forever())
        return path

    async def stop(self) -> None:
        """Stop ticking and `close`; the file is closed even if ticking had failed."""
        task, self._task = self._task, None
        try:
            await cancel_and_wait(task)
        finally:
            self.close()

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            self.tick()

    # --- internals --------------------------------------------------------------------
    def _take_trade(self, trade: Trade) -> None:
        self._pending_trades.append(trade)

    def _changed_book(self, market: tuple[str, str]) -> BookSnapshot | None:
        book = self.hub.book(*market)
        last = self._written.get(market)
        if book is None or (last is not None and book.version == last.version):
            return None
        self._written[market] = book
        if last is not None and book.bids == last.bids and book.asks == last.asks:
            return None
        return book

    def _new_path(self) -> Path:
        started = datetime.fromtimestamp(self.clock() / NS_PER_SECOND, tz=UTC)
        stem = f"{'+'.join(self.hub.exchanges()) or 'recording'}-{started:%Y%m%dT%H%M%SZ}"
        path = self.out_dir / f"{stem}.jsonl.gz"
        # Two recordings started within a second must not overwrite each other.
        copy = 1
        while path.exists():
            copy += 1
            path = self.out_dir / f"{stem}-{copy}.jsonl.gz"
        return path


def recorder_for(settings: Settings, hub: MarketHub) -> Recorder | None:
    """The recorder `settings` ask for (`record_dir`, `record_every_ms`), or None."""
    if settings.record_dir is None:
        return None
    return Recorder(hub, settings.record_dir, settings.record_every_ms)
