"""twapcore: the pure, sans-I/O heart of twap.

Order books, TWAP planning, paper fills, the execution state machine, candles,
analytics, recordings and offline simulation. Time is always passed in (int
nanoseconds since the epoch); prices and sizes are `Decimal`. Nothing here does
network I/O or imports a web framework; cryptofeed is used only by
`twapcore.feeds`, which is imported on demand.
"""

from twapcore.analytics import ExecutionReport, MarketCounters, MarketTotals, build_report
from twapcore.book import BinanceDepthSync, OrderBook, kraken_checksum, verify_kraken_checksum
from twapcore.candles import (
    INTERVALS,
    CandleBuilder,
    CandleSeries,
    candles_from_trades,
    interval_ns,
)
from twapcore.durations import parse_duration_ns
from twapcore.errors import (
    BookIntegrityError,
    ChecksumMismatch,
    InvalidDuration,
    InvalidOrder,
    InvalidState,
    RecordingError,
    SequenceGap,
    StaleBook,
    TwapError,
    UnknownExchange,
    UnknownInterval,
    UnknownSymbol,
)
from twapcore.execution import TwapExecution, TwapOrderSpec
from twapcore.fills import FILL_MODELS, LiquidityLedger, TopOfBook, WalkBook, fill_model_named
from twapcore.models import (
    NS_PER_SECOND,
    BookSnapshot,
    Candle,
    Fill,
    Level,
    OrderStatus,
    Side,
    SkipReason,
    SliceResult,
    SliceStatus,
    Trade,
)
from twapcore.recording import RecordingWriter, iter_records, read_recording
from twapcore.schedule import DEFAULT_LOT_SIZE, PlannedSlice, plan_twap
from twapcore.simulate import SimulationResult, simulate
from twapcore.symbols import normalize_exchange, normalize_symbol

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_LOT_SIZE",
    "FILL_MODELS",
    "INTERVALS",
    "NS_PER_SECOND",
    "BinanceDepthSync",
    "BookIntegrityError",
    "BookSnapshot",
    "Candle",
    "CandleBuilder",
    "CandleSeries",
    "ChecksumMismatch",
    "ExecutionReport",
    "Fill",
    "InvalidDuration",
    "InvalidOrder",
    "InvalidState",
    "Level",
    "LiquidityLedger",
    "MarketCounters",
    "MarketTotals",
    "OrderBook",
    "OrderStatus",
    "PlannedSlice",
    "RecordingError",
    "RecordingWriter",
    "SequenceGap",
    "Side",
    "SimulationResult",
    "SkipReason",
    "SliceResult",
    "SliceStatus",
    "StaleBook",
    "TopOfBook",
    "Trade",
    "TwapError",
    "TwapExecution",
    "TwapOrderSpec",
    "UnknownExchange",
    "UnknownInterval",
    "UnknownSymbol",
    "WalkBook",
    "__version__",
    "build_report",
    "candles_from_trades",
    "fill_model_named",
    "interval_ns",
    "iter_records",
    "kraken_checksum",
    "normalize_exchange",
    "normalize_symbol",
    "parse_duration_ns",
    "plan_twap",
    "read_recording",
    "simulate",
    "verify_kraken_checksum",
]
