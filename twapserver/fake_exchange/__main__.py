"""Run the fake exchange until Ctrl-C: ``python -m twapserver.fake_exchange --help``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import tempfile
import threading
from pathlib import Path

from ._server import FakeExchange


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m twapserver.fake_exchange",
        description="Replay the shared Binance/Kraken captures, and any cryptofeed capture "
        "given with --captures, on loopback in their own wire formats, for cryptofeed (and so "
        "twapserver) to connect to.",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("TWAP_SHARED_DATA", "../shared/data")),
        help="folder holding cryptofeed/ and hftbacktest/ (default: $TWAP_SHARED_DATA or "
        "../shared/data)",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="replay speed: 1 = real time, 50 = 50x faster, 0 = as fast as possible",
    )
    parser.add_argument(
        "--captures",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="a folder of cryptofeed raw captures (EXCH.0, EXCH.ws.*, EXCH.http.*) whose venues "
        "are replayed too (repeatable)",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--rest-port", type=int, default=0, help="0 = any free port")
    parser.add_argument("--ws-port", type=int, default=0, help="0 = any free port")
    parser.add_argument(
        "--ca-file",
        type=Path,
        help="where to write the throwaway CA certificate (PEM) clients must trust "
        "(default: a new temporary file)",
    )
    return parser.parse_args(argv)


def _temporary_file(prefix: str, suffix: str) -> Path:
    descriptor, name = tempfile.mkstemp(prefix=prefix, suffix=suffix)
    os.close(descriptor)
    return Path(name)


def main(argv: list[str] | None = None) -> None:
    """Start the fake, print its URLs and the CA file, serve until Ctrl-C or SIGTERM."""
    args = _parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    fake = FakeExchange(
        args.data_dir,
        speed=args.speed,
        host=args.host,
        rest_port=args.rest_port,
        ws_port=args.ws_port,
        captures=args.captures,
    )
    with fake:
        ca_file = args.ca_file or _temporary_file("fake-exchange-ca-", ".pem")
        ca_file.write_bytes(fake.ca_pem)
        print(f"REST (binance + kraken): {fake.rest_url}")
        print(f"Binance WS:              {fake.binance_ws_url}")
        print(f"Kraken WS:               {fake.kraken_ws_url}")
        for venue in fake.venues[2:]:
            print(f"{venue}: WS {fake.ws_url_of(venue)}  REST {fake.rest_url_of(venue)}")
        print(f"CA certificate (PEM):    {ca_file}")
        endpoints = json.dumps(fake.venue_endpoints(), separators=(",", ":"))
        print(f"TWAP_VENUE_ENDPOINTS='{endpoints}' TWAP_VENUE_CA_FILE={ca_file}")
        print("Ctrl-C to stop", flush=True)
        stop = threading.Event()
        # Explicit handlers: a shell starting us in the background would have SIGINT ignored,
        # and SIGTERM is what process managers send.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        stop.wait()


if __name__ == "__main__":
    main()
