"""/metrics: Prometheus text on every role; market-data series read from the hubs' counters."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from tests.core.builders import book
from tests.server.redis_support import require_redis
from tests.server.server_process import free_port, twapserver
from twapcore import Side, Trade
from twapserver.hub import InstrumentInfo, MarketHub
from twapserver.market import MarketView
from twapserver.metrics import MarketMetrics

MARKET = ("binance", "BTC-USDT")


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def _scrape(collector: MarketMetrics) -> dict[str, dict[tuple[str, ...], float]]:
    return {
        family.name: {tuple(s.labels.values()): s.value for s in family.samples}
        for family in collector.collect()
    }


def _hub(cls: type[MarketHub] = MarketHub) -> MarketHub:
    hub = cls(max_book_age_s=5)
    hub.register(InstrumentInfo(*MARKET))
    return hub


def test_feed_counters_are_the_hub_counts_by_kind() -> None:
    hub, collector = _hub(), MarketMetrics()
    collector.watch(hub)
    for ts in range(3):
        hub.on_book(*MARKET, book, ts_recv=ts)
    hub.on_trade(Trade(*MARKET, Side.BUY, book().asks[0].price, book().asks[0].qty, 1, 1))
    hub.on_integrity_failure(*MARKET, "gap")

    scraped = _scrape(collector)

    assert scraped["twap_feed_messages"][(*MARKET, "book")] == 3
    assert scraped["twap_feed_messages"][(*MARKET, "trade")] == 1
    assert scraped["twap_feed_resyncs"][(*MARKET, "gap")] == 1


def test_a_view_exports_book_age_but_not_its_collector_counts() -> None:
    view, collector = _hub(MarketView), MarketMetrics()
    collector.watch(view)
    view.on_book(*MARKET, book, ts_recv=time.time_ns() - 2_000_000_000)

    scraped = _scrape(collector)

    assert scraped["twap_feed_messages"] == {}
    assert 2 <= scraped["twap_book_age_seconds"][MARKET] < 60


def test_a_hub_that_is_gone_is_no_longer_exported() -> None:
    collector = MarketMetrics()
    collector.watch(_hub())  # dropped at once

    assert _scrape(collector)["twap_feed_messages"] == {}


@pytest.mark.slow
def test_the_api_serves_metrics_that_follow_the_feed(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'twap.db'}"
    with twapserver("--demo", "--demo-speed", "5", "--database-url", url, cwd=tmp_path) as base:
        first = httpx.get(base + "/metrics")
        deadline = time.monotonic() + 15
        while True:  # until the replay delivered more books than at the first scrape
            later = httpx.get(base + "/metrics")
            books = _samples(later.text, "twap_feed_messages_total")
            key = (("exchange", "binance"), ("kind", "book"), ("symbol", "BTC-USDT"))
            before = _samples(first.text, "twap_feed_messages_total").get(key, 0)
            if books.get(key, 0) > before or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        schema = httpx.get(base + "/openapi.json").json()

    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/plain")
    assert books[key] > before
    assert _samples(later.text, "twap_book_age_seconds")
    assert "/metrics" not in schema["paths"]


@pytest.mark.slow
def test_the_collect_role_serves_metrics_on_its_port(tmp_path: Path) -> None:
    redis_url = require_redis()
    port = free_port()
    env = {
        **os.environ,
        "TWAP_BUS_URL": redis_url,
        "TWAP_BUS_PREFIX": f"twaptest-metrics-{port}",
        "TWAP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'twap.db'}",
    }
    command = [sys.executable, "-c", "from twapserver.cli import main; main()", "collect"]
    process = subprocess.Popen(
        [*command, "--demo", "--demo-speed", "5", "--metrics-port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        messages: dict[tuple[tuple[str, str], ...], float] = {}
        while not any(messages.values()) and time.monotonic() < deadline:
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
                messages = _samples(text, "twap_feed_messages_total")
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read().decode()  # type: ignore[union-attr]
            time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=15)
        client = redis.Redis.from_url(redis_url)
        stale = list(client.scan_iter(match=f"{env['TWAP_BUS_PREFIX']}:*"))
        if stale:
            client.delete(*stale)

    assert any(messages.values()), "the collector's /metrics never counted a message"
    assert process.returncode == 0
