"""How the captures in this folder were cut from bmoscon/cryptofeed's sample_data (see PROVENANCE.md).

Run: python trim_samples.py <dir holding the original sample_data files>
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from twapcore.feeds._captures import CryptofeedCapture
from twapcore.feeds._replay import ReplaySource, load_symbols

HERE = Path(__file__).parent
LEVELS = 20  # book levels kept per side in snapshot payloads
BOOK_KEYS = {"bids", "asks", "bid", "ask"}
# exchange id -> (websocket files kept, data lines kept per file, symbols kept or None
# for all, substrings of lines dropped, snapshot books cut to LEVELS)
PLAN: dict[str, tuple[list[str], int, list[str] | None, list[str], bool]] = {
    "BITSTAMP": (["BITSTAMP.ws.1.0"], 120, None, [], True),
    # HitBTC deletes levels it expects in the book: its snapshots stay whole, so
    # two symbols are kept, and the candle channel (not converted) is dropped.
    "HITBTC": (["HITBTC.ws.1.0"], 150, ["POLY-BTC", "VET-BTC"], ["andles"], False),
    "BIT.COM": (["BIT.COM.ws.1.0", "BIT.COM.ws.2.0"], 90, None, [], True),
    "BINANCE_FUTURES": (["BINANCE_FUTURES.ws.1.0"], 150, None, [], True),
}


def _cut_books(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (v[:LEVELS] if k in BOOK_KEYS and isinstance(v, list) else _cut_books(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_cut_books(v) for v in value]
    return value


def _cut_line(prefix: str, body: str) -> str:
    try:
        parsed = json.loads(body)
    except ValueError:
        return prefix + body
    cut = _cut_books(parsed)
    return prefix + (body if cut == parsed else json.dumps(cut, separators=(",", ":")))


def _keep_entries(value: Any, natives: set[str]) -> Any:
    """Instrument lists cut to the entries naming a subscribed symbol."""
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        named = [v for v in value if natives & {str(x).lower() for x in v.values()}]
        return named if named else value
    if isinstance(value, dict):
        return {k: _keep_entries(v, natives) for k, v in value.items()}
    return value


def trim(source: Path, exchange_id: str) -> None:
    ws_files, lines, only, drop, cut_books = PLAN[exchange_id]
    info = source / f"{exchange_id}.0"
    capture = CryptofeedCapture(exchange_id, info, (), ())
    responses, configuration = capture.read_rest()
    body, _ = capture.read_info()
    symbols = load_symbols(
        ReplaySource(exchange_id, str(info), body, tuple(responses), configuration)
    )
    if only is not None:
        configuration = {
            channel: [s for s in symbols_ if s in only]
            for channel, symbols_ in configuration.items()
            if not any(d in channel for d in drop)
        }
    subscribed = {s for symbols_ in configuration.values() for s in symbols_}
    natives = {symbols.mapping[s].lower() for s in subscribed if s in symbols.mapping}
    others = {n.lower() for n in symbols.mapping.values()} - natives

    def wanted(line: str) -> bool:
        if any(d in line for d in drop):
            return False
        if only is None:
            return True
        names = {w.lower() for w in line.replace('"', " ").replace(",", " ").split()}
        return not (names & others)

    out = []
    for line in info.read_text().splitlines():
        if line.startswith("configuration: "):
            out.append("configuration: " + json.dumps(configuration, separators=(",", ":")))
            continue
        if not line.strip():
            continue
        head, _, rest = line.partition(" -> ")
        ts, _, text = rest.partition(": ")
        kept = _keep_entries(json.loads(text), natives)
        out.append(f"{head} -> {ts}: {json.dumps(kept, separators=(',', ':'))}")
    (HERE / info.name).write_text("\n".join(out) + "\n")
    last_ts = 0.0
    for name in ws_files:
        kept_lines, data = [], 0
        for line in (source / name).read_text().splitlines():
            if not wanted(line):
                continue
            if line[:1].isdigit():
                if data == lines:
                    break
                data += 1
                ts, _, payload = line.partition(": ")
                last_ts = max(last_ts, float(ts))
                kept_lines.append(_cut_line(f"{ts}: ", payload) if cut_books else line)
            elif line.strip():
                kept_lines.append(line)
        (HERE / name).write_text("\n".join(kept_lines) + "\n")
    for http in sorted(source.glob(f"{exchange_id}.http.*")):
        kept_lines = []
        for line in http.read_text().splitlines():
            head, _, rest = line.partition(" -> ")
            ts, _, text = rest.partition(": ")
            if line.strip() and float(ts) <= last_ts and wanted(line):
                kept_lines.append(_cut_line(f"{head} -> {ts}: ", text))
        (HERE / http.name).write_text("\n".join(kept_lines) + "\n")


if __name__ == "__main__":
    for exchange in PLAN:
        trim(Path(sys.argv[1]), exchange)
