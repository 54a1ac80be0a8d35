"""The only cryptofeed-aware part of twapcore.

`normalize` turns cryptofeed's L2 book and trade callbacks into twapcore models
(for live collectors); `convert` runs cryptofeed's own exchange parsers offline
to turn raw captures into recordings. Importing this package imports cryptofeed;
`import twapcore` alone never does.
"""

from twapcore.durations import parse_duration_ns
from twapcore.errors import InvalidDuration
from twapcore.feeds.convert import ConvertStats, Skipped, convert_captures
from twapcore.feeds.normalize import (
    BookTops,
    book_from_cryptofeed,
    book_from_cryptofeed_ns,
    seconds_to_ns,
    trade_from_cryptofeed,
    trade_from_cryptofeed_ns,
)

__all__ = [
    "BookTops",
    "ConvertStats",
    "InvalidDuration",
    "Skipped",
    "book_from_cryptofeed",
    "book_from_cryptofeed_ns",
    "convert_captures",
    "parse_duration_ns",
    "seconds_to_ns",
    "trade_from_cryptofeed",
    "trade_from_cryptofeed_ns",
]
