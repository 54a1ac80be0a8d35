"""Converting raw captures into recordings with cryptofeed's own parsers."""

from __future__ import annotations

import gzip
import json
import re
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptofeed.symbols import Symbols

from tests.conftest import shared_data_dir
from twapcore.errors import RecordingError, UnknownExchange
from twapcore.feeds import ConvertStats, InvalidDuration, convert_captures, parse_duration_ns
from twapcore.models import NS_PER_SECOND
from twapcore.recording import iter_records

Record = dict[str, Any]
Levels = list[tuple[Decimal, Decimal]]


def _records(path: Path) -> list[Record]:
    return list(iter_records(path))


def _books(records: list[Record], symbol: str | None = None) -> list[Record]:
    return [r for r in records if r["type"] == "book" and (symbol is None or r["symbol"] == symbol)]


def _levels(rows: list[list[str]]) -> Levels:
    return [(Decimal(price), Decimal(qty)) for price, qty in rows]


def _required_data() -> Path:
    found = shared_data_dir()
    if found is None:
        pytest.skip("shared captures not found: set TWAP_SHARED_DATA or place ../shared/data")
    return found


@pytest.fixture(scope="module")
def binance_capture() -> Path:
    return _required_data() / "cryptofeed" / "BINANCE.ws.1.0"


@pytest.fixture(scope="module")
def binance(binance_capture: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Record]:
    out = tmp_path_factory.mktemp("binance") / "binance.jsonl"
    convert_captures([binance_capture], out)
    return _records(out)


@pytest.fixture(scope="module")
def kraken(tmp_path_factory: pytest.TempPathFactory) -> list[Record]:
    out = tmp_path_factory.mktemp("kraken") / "kraken.jsonl"
    convert_captures([_required_data() / "cryptofeed" / "KRAKEN"], out)
    return _records(out)


def _hftbacktest_files() -> list[Path]:
    spot = _required_data() / "hftbacktest" / "spot"
    return [spot / "btcusdt_20240808.gz", spot / "btcusdt_20240809.gz"]


@pytest.fixture(scope="module")
def hftbacktest(tmp_path_factory: pytest.TempPathFactory) -> tuple[ConvertStats, list[Record]]:
    out = tmp_path_factory.mktemp("hftbacktest") / "btcusdt.jsonl.gz"
    stats = convert_captures(_hftbacktest_files(), out)
    return stats, _records(out)


# --- cryptofeed Binance capture -------------------------------------------------


def test_binance_books_have_strictly_descending_bids_and_ascending_asks(
    binance: list[Record],
) -> None:
    for book in _books(binance):
        bid_prices = [price for price, _ in _levels(book["bids"])]
        ask_prices = [price for price, _ in _levels(book["asks"])]
        assert bid_prices == sorted(set(bid_prices), reverse=True)
        assert ask_prices == sorted(set(ask_prices))


def test_binance_books_are_never_crossed(binance: list[Record]) -> None:
    for book in _books(binance):
        assert Decimal(book["bids"][0][0]) < Decimal(book["asks"][0][0])


def _rebuild_nkn_books(cryptofeed_dir: Path, depth: int) -> dict[int, tuple[Levels, Levels]]:
    """Top `depth` levels after the REST snapshot and after each later diff, by update id."""
    snapshot_line = next(
        line
        for line in (cryptofeed_dir / "BINANCE.http.0.0").read_text().splitlines()
        if "symbol=NKNUSDT&" in line
    )
    snapshot = json.loads(snapshot_line.split(" -> ", 1)[1].split(": ", 1)[1])
    sides = {side: {Decimal(p): Decimal(q) for p, q in snapshot[side]} for side in ("bids", "asks")}
    last_id = snapshot["lastUpdateId"]

    def top() -> tuple[Levels, Levels]:
        bids = sorted(sides["bids"].items(), reverse=True)[:depth]
        return bids, sorted(sides["asks"].items())[:depth]

    rebuilt = {last_id: top()}
    for line in (cryptofeed_dir / "BINANCE.ws.1.0").read_text().splitlines():
        if not line[:1].isdigit():
            continue
        message = json.loads(line.split(": ", 1)[1])
        diff = message["data"]
        if message["stream"] != "nknusdt@depth@100ms" or diff["u"] <= last_id:
            continue
        assert diff["U"] == last_id + 1
        for key, side in (("b", "bids"), ("a", "asks")):
            for price, qty in diff[key]:
                if Decimal(qty) == 0:
                    sides[side].pop(Decimal(price), None)
                else:
                    sides[side][Decimal(price)] = Decimal(qty)
        last_id = diff["u"]
        rebuilt[last_id] = top()
    return rebuilt


def test_binance_nkn_books_match_a_rebuild_from_the_rest_snapshot_and_diffs(
    binance: list[Record], binance_capture: Path
) -> None:
    rebuilt = _rebuild_nkn_books(binance_capture.parent, depth=5)
    books = _books(binance, "NKN-USDT")

    converted = {b["seq"]: (_levels(b["bids"])[:5], _levels(b["asks"])[:5]) for b in books}

    assert len(converted) > 100
    assert converted == {seq: rebuilt[seq] for seq in converted}


def test_binance_first_book_is_the_snapshot_stamped_when_it_arrived(
    binance: list[Record],
) -> None:
    first = _books(binance, "NKN-USDT")[0]

    # BINANCE.http.0.0: NKNUSDT lastUpdateId 499869752 received at 1633998512.320639,
    # after the diff that made cryptofeed ask for it (1633998512.0633569).
    assert (first["seq"], first["ts_recv"]) == (499869752, 1633998512320639000)


def test_binance_instrument_lines_come_first_with_exchange_info_filters(
    binance: list[Record],
) -> None:
    head = binance[:4]

    assert all(r["type"] == "instrument" for r in head)
    assert {r["symbol"]: (r["tick_size"], r["lot_size"]) for r in head} == {
        "BLZ-ETH": ("0.00000001", "1"),
        "LRC-BTC": ("0.00000001", "1"),
        "NKN-USDT": ("0.0001", "1"),
        "RUNE-EUR": ("0.001", "0.1"),
    }


def test_binance_aggregate_trades_become_trade_lines(binance: list[Record]) -> None:
    trades = [r for r in binance if r["type"] == "trade"]

    assert [(t["symbol"], t["side"], t["price"], t["trade_id"]) for t in trades] == [
        ("NKN-USDT", "buy", "0.35280000", "15683430"),
        ("LRC-BTC", "buy", "0.00000638", "9213679"),
    ]


def test_lines_are_in_non_decreasing_receive_order(binance: list[Record]) -> None:
    times = [r["ts_recv"] for r in binance if r["type"] != "instrument"]

    assert times == sorted(times)


def test_any_file_or_the_prefix_of_a_capture_set_selects_the_whole_set(
    binance_capture: Path, tmp_path: Path
) -> None:
    folder = binance_capture.parent
    choices = [folder / "BINANCE.0", folder / "BINANCE.http.0.0", binance_capture]
    outputs = []
    for index, capture in enumerate([*choices, folder / "BINANCE"]):
        out = tmp_path / f"{index}.jsonl"
        convert_captures([capture], out)
        outputs.append(out.read_bytes())

    assert all(output == outputs[0] for output in outputs)


def test_identical_inputs_give_byte_identical_gzip_recordings(
    binance_capture: Path, tmp_path: Path
) -> None:
    first, second = tmp_path / "a" / "out.jsonl.gz", tmp_path / "b" / "out.jsonl.gz"

    convert_captures([binance_capture], first)
    convert_captures([binance_capture], second)

    assert first.read_bytes() == second.read_bytes()


def test_every_writes_at_most_one_book_per_symbol_per_interval(
    binance: list[Record], binance_capture: Path, tmp_path: Path
) -> None:
    out = tmp_path / "every.jsonl"
    convert_captures([binance_capture], out, every_ns=NS_PER_SECOND)
    books = _books(_records(out))

    last_by_symbol: dict[str, int] = {}
    for book in books:
        previous = last_by_symbol.get(book["symbol"])
        assert previous is None or book["ts_recv"] - previous >= NS_PER_SECOND
        last_by_symbol[book["symbol"]] = book["ts_recv"]
    assert 0 < len(books) < len(_books(binance))


def test_every_still_writes_the_first_book_of_each_symbol(
    binance: list[Record], binance_capture: Path, tmp_path: Path
) -> None:
    out = tmp_path / "every.jsonl"
    convert_captures([binance_capture], out, every_ns=60 * NS_PER_SECOND)

    firsts = {}
    for book in _books(binance):
        firsts.setdefault(book["symbol"], book)
    assert _books(_records(out)) == sorted(firsts.values(), key=lambda b: b["ts_recv"])


def test_book_lines_hold_at_most_depth_levels(binance_capture: Path, tmp_path: Path) -> None:
    out = tmp_path / "depth3.jsonl"
    convert_captures([binance_capture], out, depth=3)

    books = _books(_records(out))
    assert max(len(b["bids"]) for b in books) == 3
    assert max(len(b["asks"]) for b in books) == 3


def test_conversion_leaves_cryptofeeds_symbol_cache_as_it_was(
    binance_capture: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = {"normalized": {"BTC-USDT": "BTCUSDT"}, "info": {}}
    monkeypatch.setattr(Symbols, "data", {"BINANCE": live})

    convert_captures([binance_capture], tmp_path / "out.jsonl")

    assert Symbols.data == {"BINANCE": live}


def test_captures_of_several_exchanges_merge_into_one_time_ordered_recording(
    binance_capture: Path, tmp_path: Path
) -> None:
    out = tmp_path / "both.jsonl"

    stats = convert_captures([binance_capture, binance_capture.parent / "KRAKEN"], out)

    records = _records(out)
    times = [r["ts_recv"] for r in records if r["type"] != "instrument"]
    assert {exchange for exchange, _ in stats.symbols} == {"binance", "kraken"}
    assert times == sorted(times)


# --- cryptofeed Kraken capture --------------------------------------------------


def test_kraken_books_cover_the_ten_pairs_named_btc_not_xbt(kraken: list[Record]) -> None:
    symbols = {b["symbol"] for b in _books(kraken)}

    assert symbols == {
        "ADA-BTC", "BTC-CHF", "ETH-CHF", "GRT-ETH", "KSM-BTC",
        "OCEAN-BTC", "OMG-USD", "SC-EUR", "WAVES-EUR", "XMR-USD",
    }  # fmt: skip


def test_kraken_instrument_sizes_come_from_asset_pair_decimals(kraken: list[Record]) -> None:
    instruments = {r["symbol"]: r for r in kraken if r["type"] == "instrument"}

    assert (instruments["BTC-CHF"]["tick_size"], instruments["BTC-CHF"]["lot_size"]) == (
        "0.1",
        "0.00000001",
    )


def _tampered_kraken(tmp_path: Path) -> tuple[Path, int]:
    """A copy of the Kraken capture whose first checksummed update has a wrong checksum."""
    source = _required_data() / "cryptofeed"
    for path in source.glob("KRAKEN.*"):
        shutil.copy(path, tmp_path / path.name)
    book_file = tmp_path / "KRAKEN.ws.50.0"
    lines = book_file.read_text().split("\n")
    index = next(i for i, line in enumerate(lines) if '"c":"' in line)
    lines[index] = lines[index].replace('"c":"', '"c":"1', 1)
    book_file.write_text("\n".join(lines))
    return book_file, index + 1


def test_a_kraken_checksum_mismatch_is_reported_naming_the_line(tmp_path: Path) -> None:
    book_file, line_no = _tampered_kraken(tmp_path)

    stats = convert_captures([book_file], tmp_path / "out.jsonl")

    (skipped,) = stats.skipped
    assert (skipped.venue, skipped.symbol) == ("KRAKEN", None)
    assert f"{book_file}:{line_no}: book checksum" in skipped.reason
    # Only the tampered message is lost: the book it applied to was right.
    assert skipped.messages == 1


def test_a_checksum_mismatch_in_one_venue_leaves_the_other_converted(
    tmp_path: Path, binance: list[Record]
) -> None:
    book_file, _ = _tampered_kraken(tmp_path)
    for path in (_required_data() / "cryptofeed").glob("BINANCE.*"):
        shutil.copy(path, tmp_path / path.name)
    out = tmp_path / "out.jsonl"

    stats = convert_captures([book_file, tmp_path / "BINANCE"], out)

    assert [s.venue for s in stats.skipped] == ["KRAKEN"]
    assert _books(_records(out), "NKN-USDT") == _books(binance, "NKN-USDT")


# --- hftbacktest Binance capture ------------------------------------------------


@pytest.mark.slow
def test_hftbacktest_session_converts_every_message_and_trade(
    hftbacktest: tuple[ConvertStats, list[Record]],
) -> None:
    stats, records = hftbacktest

    assert (stats.messages_read, stats.trades_written) == (99_574, 19_904)
    assert sum(r["type"] == "trade" for r in records) == 19_904


@pytest.mark.slow
def test_hftbacktest_books_run_from_the_snapshot_to_the_last_diff_without_resync(
    hftbacktest: tuple[ConvertStats, list[Record]],
) -> None:
    stats, records = hftbacktest
    seqs = [b["seq"] for b in _books(records)]

    assert stats.messages_dropped == 0
    assert seqs == sorted(set(seqs))
    # First: the REST snapshot's lastUpdateId; last: the final diff's u.
    assert (seqs[0], seqs[-1]) == (50_093_239_218, 50_093_696_318)


@pytest.mark.slow
def test_hftbacktest_snapshot_is_followed_by_the_buffered_diff_that_bridges_it(
    hftbacktest: tuple[ConvertStats, list[Record]],
) -> None:
    first, second = _books(hftbacktest[1])[:2]

    # Line 6 (U=50093239208, u=50093239224) arrived before the snapshot (line 8).
    assert second["seq"] == 50_093_239_224
    assert second["ts_recv"] == first["ts_recv"] == 1_723_161_254_206_652_067


@pytest.mark.slow
def test_hftbacktest_lines_are_in_non_decreasing_receive_order(
    hftbacktest: tuple[ConvertStats, list[Record]],
) -> None:
    times = [r["ts_recv"] for r in hftbacktest[1] if r["type"] != "instrument"]

    assert times == sorted(times)


@pytest.mark.slow
def test_hftbacktest_instrument_uses_builtin_btcusdt_sizes(
    hftbacktest: tuple[ConvertStats, list[Record]],
) -> None:
    assert hftbacktest[1][0] == {
        "type": "instrument",
        "exchange": "binance",
        "symbol": "BTC-USDT",
        "instrument_type": "spot",
        "tick_size": "0.01",
        "lot_size": "0.00001",
        "contract_size": None,
    }


# --- small hand-written hftbacktest capture (no shared data needed) -------------


T = 1_700_000_000_000_000_000  # receive times, ns


def _envelope(stream: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"stream": f"ethusdt@{stream}", "data": {"s": "ETHUSDT", **data}}


def _diff(first: int, last: int, bid: str, qty: str) -> dict[str, Any]:
    data = {"e": "depthUpdate", "E": 1_700_000_000_000, "U": first, "u": last}
    return _envelope("depth@100ms", {**data, "b": [[bid, qty]], "a": []})


def _write_hftbacktest(path: Path, lines: list[tuple[int, dict[str, Any]]]) -> Path:
    with gzip.open(path, "wt") as handle:
        for ts, payload in lines:
            handle.write(f"{ts} {json.dumps(payload)}\n")
    return path


@pytest.fixture
def small_hftbacktest(tmp_path: Path) -> list[Record]:
    trade = {"e": "trade", "E": 1_700_000_000_001, "T": 1_700_000_000_001, "t": 77}
    capture = _write_hftbacktest(
        tmp_path / "ethusdt.gz",
        [
            (T + 1_000, _diff(5, 10, "99", "1")),  # older than the snapshot: skipped
            (T + 2_000, _diff(11, 12, "100", "2")),  # bridges lastUpdateId 11
            (T + 3_000, _envelope("trade", {**trade, "p": "101", "q": "0.5", "m": True})),
            (T + 4_000, _envelope("bookTicker", {"u": 12, "b": "100", "B": "2", "a": "102"})),
            (T + 5_000, {"lastUpdateId": 11, "bids": [["99", "3"]], "asks": [["102", "4"]]}),
            (T + 6_000, _diff(13, 13, "100", "0")),
        ],
    )
    out = tmp_path / "out.jsonl"
    convert_captures([capture], out)
    return _records(out)


def test_diffs_before_a_late_snapshot_are_applied_when_it_arrives(
    small_hftbacktest: list[Record],
) -> None:
    books = [(b["ts_recv"], b["seq"], b["bids"]) for b in _books(small_hftbacktest)]

    assert books == [
        (T + 5_000, 11, [["99", "3"]]),
        (T + 5_000, 12, [["100", "2"], ["99", "3"]]),
        (T + 6_000, 13, [["99", "3"]]),
    ]


def test_raw_trades_are_read_as_trades_with_their_id(small_hftbacktest: list[Record]) -> None:
    (trade,) = [r for r in small_hftbacktest if r["type"] == "trade"]

    assert (trade["ts_recv"], trade["side"], trade["price"], trade["trade_id"]) == (
        T + 3_000,
        "sell",
        "101",
        "77",
    )


def test_symbols_without_builtin_sizes_get_unknown_sizes(
    small_hftbacktest: list[Record],
) -> None:
    assert small_hftbacktest[0] == {
        "type": "instrument",
        "exchange": "binance",
        "symbol": "ETH-USDT",
        "instrument_type": "spot",
        "tick_size": None,
        "lot_size": None,
        "contract_size": None,
    }


def test_diffs_whose_snapshot_never_arrives_are_counted_as_dropped(tmp_path: Path) -> None:
    capture = _write_hftbacktest(
        tmp_path / "ethusdt.gz",
        [(T + 1_000, _diff(5, 10, "99", "1")), (T + 2_000, _diff(11, 12, "100", "2"))],
    )

    stats = convert_captures([capture], tmp_path / "out.jsonl")

    assert (stats.books_written, stats.messages_dropped) == (0, 2)
    assert [(s.venue, s.messages) for s in stats.skipped] == [("BINANCE", 2)]


# --- bad inputs -----------------------------------------------------------------


def test_a_missing_capture_raises_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.gz"

    with pytest.raises(RecordingError, match=r"nowhere\.gz"):
        convert_captures([missing], tmp_path / "out.jsonl")


def test_a_capture_of_an_unknown_exchange_raises_naming_it(tmp_path: Path) -> None:
    (tmp_path / "NOPE.0").write_text('configuration: {"l2_book":["BTC-USD"]}\n')
    (tmp_path / "NOPE.ws.1.0").write_text('1633998512.1: {"a":1}\n')

    with pytest.raises(UnknownExchange, match="'NOPE'"):
        convert_captures([tmp_path / "NOPE.ws.1.0"], tmp_path / "out.jsonl")


def test_a_file_in_no_known_format_raises_naming_it(tmp_path: Path) -> None:
    strange = tmp_path / "notes.txt"
    strange.write_text("hello, this is not a capture\n")

    with pytest.raises(RecordingError, match=r"notes\.txt"):
        convert_captures([strange], tmp_path / "out.jsonl")


def test_a_depth_below_one_level_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="depth 0"):
        convert_captures([tmp_path / "any"], tmp_path / "out.jsonl", depth=0)


# --- durations ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1s", 1_000_000_000),
        ("500ms", 500_000_000),
        ("2m", 120_000_000_000),
        ("250us", 250_000),
        ("1.5s", 1_500_000_000),
        ("10ns", 10),
        ("1h", 3_600_000_000_000),
    ],
)
def test_durations_parse_to_nanoseconds(text: str, expected: int) -> None:
    assert parse_duration_ns(text) == expected


@pytest.mark.parametrize("text", ["", "1", "s", "-1s", "0s", "1.5ns", "1 sec", "1d"])
def test_malformed_durations_raise_a_value_error_naming_them(text: str) -> None:
    with pytest.raises(InvalidDuration, match=re.escape(repr(text))) as raised:
        parse_duration_ns(text)

    assert isinstance(raised.value, ValueError)
