"""twapcore: the pure, sans-I/O heart of twap.

Order books, TWAP planning, execution algorithms (twap, twap_random, vwap,
pov), paper fills, the execution state machine, candles, analytics, recordings
and offline simulation. Time is always passed in (int
nanoseconds since the epoch); prices and sizes are `Decimal`. Nothing here does
network I/O or imports a web framework; cryptofeed is used only by
`twapcore.feeds`, which is imported on demand.

The JSON wire models (`twapcore.wire`: `OrderPublic`, `BookMessage`, …) need
pydantic and are imported on first use, so `import twapcore` stays light.
"""

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from twapcore.wire import (
        Amount,
        Average,
        BookMessage,
        ErrorMessage,
        ExchangePublic,
        FillPublic,
        InstrumentMessage,
        KlinePublic,
        OrderAccepted,
        OrderDetail,
        OrderList,
        OrderMessage,
        OrderPublic,
        PlannedSlicePublic,
        SlicePublic,
        SymbolPublic,
        TradeMessage,
        VenueDecimal,
        WireModel,
    )

__version__ = "0.1.0"

# `twapcore.wire`'s names, loaded by `__getattr__`: pydantic and building the models
# would double the time of `import twapcore`, which simulation and research never need.
_WIRE_NAMES = frozenset(
    {
        "Amount",
        "Average",
        "BookMessage",
        "ErrorMessage",
        "ExchangePublic",
        "FillPublic",
        "InstrumentMessage",
        "KlinePublic",
        "OrderAccepted",
        "OrderDetail",
        "OrderList",
        "OrderMessage",
        "OrderPublic",
        "PlannedSlicePublic",
        "SlicePublic",
        "SymbolPublic",
        "TradeMessage",
        "VenueDecimal",
        "WireModel",
    }
)


def __getattr__(name: str) -> Any:
    if name in _WIRE_NAMES:
        from twapcore import wire

        return getattr(wire, name)
    raise AttributeError(f"module 'twapcore' has no attribute {name!r}")


__all__ = [
    "ALGORITHMS",
    "DEFAULT_LOT_SIZE",
    "FILL_MODELS",
    "INTERVALS",
    "NS_PER_SECOND",
    "Amount",
    "Average",
    "BinanceDepthSync",
    "BookIntegrityError",
    "BookMessage",
    "BookSnapshot",
    "Candle",
    "CandleBuilder",
    "CandleSeries",
    "ChecksumMismatch",
    "ErrorMessage",
    "ExchangePublic",
    "ExecutionAlgorithm",
    "ExecutionReport",
    "Fill",
    "FillPublic",
    "FillRow",
    "Instrument",
    "InstrumentInfo",
    "InstrumentMessage",
    "InstrumentType",
    "InvalidDuration",
    "InvalidOrder",
    "InvalidState",
    "KlinePublic",
    "Level",
    "LiquidityLedger",
    "MarketActivity",
    "MarketCounters",
    "MarketTotals",
    "OrderAccepted",
    "OrderBook",
    "OrderDetail",
    "OrderExecution",
    "OrderList",
    "OrderMessage",
    "OrderPublic",
    "OrderSpec",
    "OrderStatus",
    "PlannedSlice",
    "PlannedSlicePublic",
    "RecordingError",
    "RecordingWriter",
    "SequenceGap",
    "Side",
    "SimulationResult",
    "SkipReason",
    "SlicePublic",
    "SliceResult",
    "SliceRow",
    "SliceStatus",
    "StaleBook",
    "SymbolPublic",
    "TopOfBook",
    "Trade",
    "TradeMessage",
    "TwapError",
    "TwapExecution",
    "TwapOrderSpec",
    "UnknownExchange",
    "UnknownInterval",
    "UnknownSymbol",
    "VenueDecimal",
    "WalkBook",
    "WireModel",
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
