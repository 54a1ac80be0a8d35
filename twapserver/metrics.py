"""Prometheus metrics of every role (served at `/metrics`).

Defined once at import in prometheus-client's default registry, so every part of
a process (collectors, engine, API, WS) increments the same series. Labels are
low-cardinality by design: venue/symbol and reason codes, never users or orders.

Market-data series (`twap_feed_messages_total`, `twap_feed_resyncs_total`,
`twap_book_age_seconds`) cost the ingest path nothing: the hub already counts
in plain ints (its `FeedHealth`), and `MARKET_METRICS` reads those at scrape time.
"""

from __future__ import annotations

import time
import weakref
from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from twapserver.hub import MarketHub

__all__ = [
    "BOOK_SKEW",
    "COMMIT_LATENCY",
    "LEASE_TAKEOVERS",
    "MARKET_METRICS",
    "ORDERS_ACCEPTED",
    "ORDERS_REJECTED",
    "SLICES",
    "SLICE_LATENESS",
    "WS_CLIENTS",
    "WS_DROPPED_BOOKS",
    "exposition",
]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class MarketMetrics(Collector):
    """Exports the feed counters and book ages of every live `MarketHub` of the process."""

    def __init__(self) -> None:
        self._hubs: weakref.WeakSet[MarketHub] = weakref.WeakSet()

    def watch(self, hub: MarketHub) -> None:
        """Export `hub`'s markets for as long as it lives."""
        self._hubs.add(hub)

    def collect(self) -> Iterator[Metric]:
        now = time.time_ns()
        market = ["exchange", "symbol"]
        counts: dict[tuple[str, str, str], int] = defaultdict(int)
        resyncs: dict[tuple[str, str, str], int] = defaultdict(int)
        ages: dict[tuple[str, str], float] = {}
        for hub in list(self._hubs):
            for exchange, symbol in hub.markets():
                if hub.ingests:
                    health = hub.health(exchange, symbol)
                    counts[exchange, symbol, "book"] += health.books
                    counts[exchange, symbol, "trade"] += health.trades
                    resyncs[exchange, symbol, "gap"] += health.gaps
                    resyncs[exchange, symbol, "checksum"] += health.checksum_failures
                age = hub.book_age_s(exchange, symbol, now)
                if age is not None:
                    ages[exchange, symbol] = min(age, ages.get((exchange, symbol), age))
        messages = CounterMetricFamily(
            "twap_feed_messages", "Book and trade messages ingested", labels=[*market, "kind"]
        )
        for labels, value in sorted(counts.items()):
            messages.add_metric(labels, value)
        gaps = CounterMetricFamily(
            "twap_feed_resyncs",
            "Book sequence gaps and checksum failures",
            labels=[*market, "kind"],
        )
        for labels, value in sorted(resyncs.items()):
            gaps.add_metric(labels, value)
        book_age = GaugeMetricFamily(
            "twap_book_age_seconds", "Age of the latest book at scrape time", labels=market
        )
        for key, seconds in sorted(ages.items()):
            book_age.add_metric(key, seconds)
        yield from (messages, gaps, book_age)


MARKET_METRICS = MarketMetrics()
REGISTRY.register(MARKET_METRICS)


def exposition() -> bytes:
    """Every metric of this process in the Prometheus text format."""
    return generate_latest(REGISTRY)


ORDERS_ACCEPTED = Counter("twap_orders_accepted", "Orders accepted", ["algorithm"])
ORDERS_REJECTED = Counter("twap_orders_rejected", "Orders rejected at submission", ["reason"])
SLICES = Counter("twap_slices", "Slices executed or skipped", ["status", "reason"])
SLICE_LATENESS = Histogram(
    "twap_slice_lateness_seconds",
    "Slice start minus its due time",
    buckets=_LATENCY_BUCKETS,
)
BOOK_SKEW = Histogram(
    "twap_slice_book_skew_seconds",
    "Slice due time minus the ts_recv of the book it was priced on",
    buckets=_LATENCY_BUCKETS,
)
COMMIT_LATENCY = Histogram(
    "twap_commit_seconds", "Database commit latency", ["kind"], buckets=_LATENCY_BUCKETS
)
WS_CLIENTS = Gauge("twap_ws_clients", "Open /ws connections")
WS_DROPPED_BOOKS = Counter("twap_ws_dropped_books", "Book messages dropped for slow WS clients")
LEASE_TAKEOVERS = Counter("twap_lease_takeovers", "Orders claimed from an expired lease")
