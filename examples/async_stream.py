"""Stream live top-of-book updates over the WebSocket (async SDK).

Run it against the demo server (no exchange access needed):

    make demo                                    # terminal 1: http://127.0.0.1:8000, ./twap.db
    .venv/bin/twapserver users add alice         # terminal 2, once: same ./twap.db
    TWAP_PASSWORD='your password' .venv/bin/python examples/async_stream.py --count 5

Options: --url, --username, --exchange, --symbol, --count (book messages to print).
The password comes from $TWAP_PASSWORD, else a prompt. The stream reconnects by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys

from twapclient import AsyncTwapClient, BookMessage, ErrorMessage, TwapClientError


async def stream_books(url: str, username: str, password: str, args: argparse.Namespace) -> None:
    async with AsyncTwapClient(url) as client:
        await client.login(username, password)
        async with client.stream() as stream:
            await stream.subscribe_book(args.exchange, args.symbol)
            seen = 0
            async for message in stream:
                if isinstance(message, ErrorMessage):
                    print(f"server says: {message.message}", file=sys.stderr)
                elif isinstance(message, BookMessage) and message.bids and message.asks:
                    bid, ask = message.bids[0], message.asks[0]
                    print(
                        f"{message.exchange} {message.symbol}  bid {bid.qty} @ {bid.price}"
                        f"  |  ask {ask.qty} @ {ask.price}  (spread {ask.price - bid.price})"
                    )
                    seen += 1
                    if seen == args.count:
                        return


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--username", default="alice")
    parser.add_argument("--exchange", default="binance")
    parser.add_argument("--symbol", default="BTC-USDT")
    parser.add_argument("--count", type=int, default=10)
    args = parser.parse_args()
    password = os.environ.get("TWAP_PASSWORD") or getpass.getpass(f"password of {args.username}: ")
    try:
        asyncio.run(stream_books(args.url, args.username, password, args))
    except TwapClientError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
