"""twapcore: the pure, sans-I/O heart of twap.

Order books, TWAP planning, execution algorithms (twap, twap_random, vwap,
pov), paper fills, the execution state machine, candles, analytics, recordings
and offline simulation. Time is always passed in (int
nanoseconds since the epoch); prices and sizes are `Decimal`. Nothing here does
network I/O or imports a web framework; cryptofeed is used only by
`twapcore.feeds`, which is imported on demand.
"""

from twapcore.algorithms import (
    ALGORITHMS,
    ExecutionAlgorithm,
    MarketActivity,
    algorithm_named,
    load_profile,
    profile_from_trades,
)
from twapcore.analytics import (
    ExecutionReport,
    FillRow,
    MarketCounters,
    MarketTotals,
    SliceRow,
    build_report,
)
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
from twapcore.execution import OrderExecution, TwapExecution
from twapcore.fills import FILL_MODELS, LiquidityLedger, TopOfBook, WalkBook, fill_model_named
from twapcore.models import (
    NS_PER_SECOND,
    BookSnapshot,
    Candle,
    Fill,
    InstrumentInfo,
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
from twapcore.spec import OrderSpec, TwapOrderSpec
from twapcore.symbols import (
    Instrument,
    InstrumentType,
    normalize_exchange,
    normalize_symbol,
    parse_instrument,
    quantity_unit,
)

__version__ = "0.1.0"

__all__ = [
    "ALGORITHMS",
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
    "ExecutionAlgorithm",
    "ExecutionReport",
    "Fill",
    "FillRow",
    "Instrument",
    "InstrumentInfo",
    "InstrumentType",
    "InvalidDuration",
    "InvalidOrder",
    "InvalidState",
    "Level",
    "LiquidityLedger",
    "MarketActivity",
    "MarketCounters",
    "MarketTotals",
    "OrderBook",
    "OrderExecution",
    "OrderSpec",
    "OrderStatus",
    "PlannedSlice",
    "RecordingError",
    "RecordingWriter",
    "SequenceGap",
    "Side",
    "SimulationResult",
    "SkipReason",
    "SliceResult",
    "SliceRow",
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
    "algorithm_named",
    "build_report",
    "candles_from_trades",
    "fill_model_named",
    "interval_ns",
    "iter_records",
    "kraken_checksum",
    "load_profile",
    "normalize_exchange",
    "normalize_symbol",
    "parse_duration_ns",
    "parse_instrument",
    "plan_twap",
    "profile_from_trades",
    "quantity_unit",
    "read_recording",
    "simulate",
    "verify_kraken_checksum",
]
