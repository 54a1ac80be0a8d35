"""Example values of the wire models (`twapcore.wire`), shown by the server's /docs.

Plain data: the models put them in their JSON schema.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic.config import JsonDict, JsonValue

# One order as `OrderPublic` shows it; the other order examples build on it.
ORDER: JsonDict = {
    "token_id": "my-order-0001",
    "exchange": "binance",
    "symbol": "BTC-USDT",
    "side": "buy",
    "algorithm": "twap",
    "status": "working",
    "quantity": "0.5",
    "filled_qty": "0.125",
    "remaining_qty": "0.375",
    "average_price": "61840.12",
    "limit_price": "70000",
    "slices_done": 5,
    "slices_total": 20,
    "next_slice_ns": 1723161450000000000,
    "created_ns": 1723161300000000000,
    "updated_ns": 1723161420000000000,
}

ORDER_DETAIL: list[JsonValue] = [
    {
        **ORDER,
        "fills": [
            {
                "slice_index": 0,
                "price": "61840.12",
                "qty": "0.025",
                "ts_ns": 1723161300000000000,
            }
        ],
        "slices": [
            {
                "index": 0,
                "due_ns": 1723161300000000000,
                "executed_ns": 1723161300000210000,
                "target_qty": "0.025",
                "filled_qty": "0.025",
                "status": "filled",
                "reason": None,
                "book_mid": "61840.115",
            },
            {
                "index": 1,
                "due_ns": 1723161330000000000,
                "executed_ns": 1723161330000180000,
                "target_qty": "0.025",
                "filled_qty": "0",
                "status": "skipped",
                "reason": "stale_book",
                "book_mid": None,
            },
        ],
        "schedule": [{"index": 0, "due_ns": 1723161300000000000, "qty": "0.025"}],
        "analytics": {"average_price": "61840.12", "slippage_bps": "0.000081"},
    }
]

ORDER_ACCEPTED: list[JsonValue] = [
    {
        "status": "accepted",
        "token_id": "my-order-0001",
        "order": {**ORDER, "status": "accepted", "slices_done": 0},
        "schedule": [
            {"index": 0, "due_ns": 1723161300000000000, "qty": "0.025"},
            {"index": 1, "due_ns": 1723161330000000000, "qty": "0.025"},
        ],
    }
]

SYMBOLS: list[JsonValue] = [
    {
        "symbol": "BTC-USDT",
        "type": "spot",
        "tick_size": "0.01",
        "lot_size": "0.00001",
        "contract_size": None,
        "quantity_unit": "BTC",
        "has_book": True,
        "stale": False,
    },
    {
        "symbol": "BTC-USD-PERP",
        "type": "perpetual",
        "tick_size": "0.5",
        "lot_size": "1",
        "contract_size": "1",
        "quantity_unit": "contracts",
        "has_book": True,
        "stale": False,
    },
]

KLINES: list[JsonValue] = [
    {
        "open_time": "2024-08-08T23:55:00Z",
        "open_ns": 1723161300000000000,
        "close_ns": 1723161360000000000,
        "open": "61837.63",
        "high": "61901.10",
        "low": "61790.00",
        "close": "61850.01",
        "volume": "41.23456",
        "trades": 1532,
        "partial": False,
    }
]
