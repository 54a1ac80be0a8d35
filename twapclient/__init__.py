"""twapclient: the Python SDK of the twap server, and the `twap` command line.

    from twapclient import TwapClient

    with TwapClient("http://127.0.0.1:8000") as client:
        client.login("alice", "correct horse battery")
        accepted = client.submit_twap(
            "my-order-1", "binance", "BTC-USDT", "buy", quantity="0.01",
            limit_price="70000", duration_s=600, slices=20,
        )
        print(client.wait("my-order-1", timeout=900).status)  # completed, …

`AsyncTwapClient` has the same methods (awaited; its `wait()` follows the
WebSocket, polling only as a fallback) and `stream()`, the live WebSocket of
books and order updates. Every error is a `TwapClientError`.
"""

from twapclient._async_client import AsyncTwapClient
from twapclient._client import TwapClient
from twapclient._exceptions import (
    ApiError,
    AuthenticationError,
    NotFoundError,
    OrderRejected,
    ServerError,
    StreamError,
    TransportError,
    TwapClientError,
    ValidationError,
    WaitTimeout,
)
from twapclient._models import (
    Backfill,
    BackfillMarket,
    BookMessage,
    ErrorMessage,
    ExchangeInfo,
    FeedHealth,
    Fill,
    Health,
    Kline,
    Order,
    OrderAccepted,
    OrderDetail,
    OrderMessage,
    OrderPage,
    PlannedSlice,
    SliceRecord,
    StreamMessage,
    SymbolInfo,
    Tokens,
)
from twapclient._stream import StreamOptions, TwapStream

__version__ = "0.1.0"

__all__ = [
    "ApiError",
    "AsyncTwapClient",
    "AuthenticationError",
    "Backfill",
    "BackfillMarket",
    "BookMessage",
    "ErrorMessage",
    "ExchangeInfo",
    "FeedHealth",
    "Fill",
    "Health",
    "Kline",
    "NotFoundError",
    "Order",
    "OrderAccepted",
    "OrderDetail",
    "OrderMessage",
    "OrderPage",
    "OrderRejected",
    "PlannedSlice",
    "ServerError",
    "SliceRecord",
    "StreamError",
    "StreamMessage",
    "StreamOptions",
    "SymbolInfo",
    "Tokens",
    "TransportError",
    "TwapClient",
    "TwapClientError",
    "TwapStream",
    "ValidationError",
    "WaitTimeout",
    "__version__",
]
