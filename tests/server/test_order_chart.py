"""GET /orders/{token_id}/chart.png: the order's chart, its owner only, 501 without matplotlib."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.server.test_orders_api import Api, Clock, order, running_api
from twapserver.api import charts

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    """SQLite only: the route reads through the same repository as GET /orders/{token_id}."""
    async with running_api(f"sqlite+aiosqlite:///{tmp_path / 'twap.db'}", Clock()) as running:
        yield running


async def test_owner_gets_a_png_chart_others_404_and_without_matplotlib_501(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = await api.login("alice"), await api.login("bob")
    api.publish()
    await api.client.post("/orders/twap", json=order(), headers=alice)
    await api.tick(0)
    for _ in range(5):
        await api.tick(10)

    response = await api.client.get("/orders/t-1/chart.png", headers=alice)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.content[:8] == PNG_MAGIC
    assert struct.unpack(">II", response.content[16:24]) == (1000, 650)
    assert len(response.content) > 20_000
    other = await api.client.get("/orders/t-1/chart.png", headers=bob)
    assert other.status_code == 404
    assert "t-1" in other.json()["detail"]
    assert (await api.client.get("/orders/t-1/chart.png")).status_code == 401
    # one login pair is slow (argon2): the 501 is checked on the same app
    monkeypatch.setattr(charts, "matplotlib_available", lambda: False)
    missing = await api.client.get("/orders/t-1/chart.png", headers=alice)
    assert missing.status_code == 501
    assert "twapcore[plot]" in missing.json()["detail"]
