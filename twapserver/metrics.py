"""Prometheus metrics of every role (served at `/metrics`).

Defined once at import in prometheus-client's default registry, so every part of
a process (collectors, engine, API, WS) increments the same series. Labels are
low-cardinality by design: venue/symbol and reason codes, never users or orders.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "BOOK_AGE",
    "BOOK_SKEW",
    "COMMIT_LATENCY",
    "FEED_GAPS",
    "FEED_MESSAGES",
    "LEASE_TAKEOVERS",
    "ORDERS_ACCEPTED",
    "ORDERS_REJECTED",
    "SLICES",
    "SLICE_LATENESS",
    "WS_CLIENTS",
    "WS_DROPPED_BOOKS",
]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

FEED_MESSAGES = Counter(
    "twap_feed_messages", "Book and trade messages ingested", ["exchange", "symbol", "kind"]
)
FEED_GAPS = Counter(
    "twap_feed_resyncs", "Book sequence gaps and checksum failures", ["exchange", "symbol", "kind"]
)
BOOK_AGE = Gauge(
    "twap_book_age_seconds", "Age of the latest book when last read", ["exchange", "symbol"]
)
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
