"""A venue that cannot be reached at start: /health says why, and the feed starts once it can."""

from __future__ import annotations

from pathlib import Path

import httpx
from cryptofeed.symbols import Symbols

from tests.server.fake_venues import cryptofeed_captures, serving, wait_for
from tests.server.server_process import free_port
from twapserver.app import create_app
from twapserver.fake_exchange import FakeExchange
from twapserver.settings import Settings


async def test_unreachable_venue_is_reported_and_retried_until_it_answers(
    shared_data: Path, tmp_path: Path
) -> None:
    captures = cryptofeed_captures(shared_data)
    rest_port, ws_port = free_port(), free_port()
    Symbols.clear()
    settings = Settings(
        exchanges={"binance": ["NKN-USDT"]},
        venue_endpoints={
            "binance": {
                "ws_url": f"wss://127.0.0.1:{ws_port}/binance",
                "rest_url": f"http://127.0.0.1:{rest_port}",
            }
        },
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'twap.db'}",
        jwt_secret="tests-secret-4f9c2b7e1d8a6053-not-for-production",
        feed_retry_s=0.2,
        max_book_age_s=60,
    )
    # Ports and CA are fixed before the fake starts: the server knows where the venue will be.
    fake = FakeExchange(captures.parent, speed=0, rest_port=rest_port, ws_port=ws_port)
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(fake.ca_pem)
    app = create_app(settings.model_copy(update={"venue_ca_file": ca_file}))
    try:
        async with serving(app) as base, httpx.AsyncClient(base_url=base) as http:

            async def feed() -> dict[str, object]:
                return dict((await http.get("/health")).json()["feeds"][0])

            status = app.state.backfill_status
            await wait_for(lambda: status.state == "done", "the first backfill")
            down = await feed()
            backfill_down, first_finished = dict(status.errors), status.finished_ns
            fake.start()
            await wait_for(
                lambda: app.state.hub.book("binance", "NKN-USDT") is not None, "the retried feed"
            )
            up = await feed()
            await wait_for(
                lambda: status.finished_ns != first_finished and status.state == "done",
                "the late venue's backfill",
            )
    finally:
        fake.stop()
        Symbols.clear()

    assert (down["connected"], down["stale"]) == (False, True)
    assert str(down["last_error"]) == "cannot connect (Connection refused)"
    assert (up["connected"], up["last_error"]) == (True, None)
    assert "unreachable" in backfill_down[("binance", "NKN-USDT")]
    assert status.errors == {}
    assert ("binance", "NKN-USDT") in status.stored
