"""Binance USD-M futures (cryptofeed ``BINANCE_FUTURES``): perpetuals (``BTC-USDT-PERP``) and
quarterly futures.

* Same wire format as Binance spot (combined streams, REST depth snapshot bridged by update
  ids; cryptofeed also checks the ``pu`` previous-update id).
* Sizes: ``/fapi/v1/exchangeInfo`` has the spot shape (``PRICE_FILTER`` tickSize, ``LOT_SIZE``
  stepSize). USD-M quantities are in the base asset, so one contract is one unit of it (the
  venue publishes no ``contractSize`` for USD-M, only for COIN-M).
* Candles: cryptofeed's REST mixin fetches ``/fapi/v1/klines``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from twapserver.venues._venue import Venue


class BinanceFutures(Venue):
    contract_size: ClassVar[Decimal | None] = Decimal(1)


VENUE = BinanceFutures
