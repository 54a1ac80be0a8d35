"""Submit a TWAP order, wait until it ends, and print its execution report (sync SDK).

Run it against the demo server (no exchange access needed):

    make demo                                    # terminal 1: http://127.0.0.1:8000, ./twap.db
    .venv/bin/twapserver users add alice         # terminal 2, once: same ./twap.db
    TWAP_PASSWORD='your password' .venv/bin/python examples/submit_and_watch.py

Options: --url, --username, --side, --quantity, --limit-price, --duration (s), --slices.
The password comes from $TWAP_PASSWORD, else a prompt.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time

from rich.console import Console

from twapclient import Order, OrderMessage, TwapClient, TwapClientError
from twapclient.report import print_report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--username", default="alice")
    parser.add_argument("--side", default="buy", choices=["buy", "sell"])
    parser.add_argument("--quantity", default="0.001")
    parser.add_argument("--limit-price", default="1000000")
    parser.add_argument("--duration", default="10", help="seconds")
    parser.add_argument("--slices", type=int, default=5)
    args = parser.parse_args()
    password = os.environ.get("TWAP_PASSWORD") or getpass.getpass(f"password of {args.username}: ")
    token_id = f"example-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"

    try:
        with TwapClient(args.url) as client:
            client.login(args.username, password)
            accepted = client.submit_twap(
                token_id,
                "binance",
                "BTC-USDT",
                args.side,
                quantity=args.quantity,
                limit_price=args.limit_price,
                duration_s=args.duration,
                slices=args.slices,
            )
            print(f"accepted {token_id}: {len(accepted.schedule)} slices")

            def show(update: Order | OrderMessage) -> None:
                print(
                    f"  {update.status.value:<9} filled {update.filled_qty} / {args.quantity}"
                    f"  slices {update.slices_done}/{update.slices_total}"
                )

            # Polls every second until the order ends; give up a minute after its end time.
            order = client.wait(token_id, timeout=float(args.duration) + 60, on_update=show)
    except TwapClientError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print_report(order.report(), Console())
    return 0


if __name__ == "__main__":
    sys.exit(main())
