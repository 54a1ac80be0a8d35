"""The typed reading `simulate` uses (`twapcore._typed_lines`) gives what `iter_records` gives.

`read_lines` decodes lines with msgspec into Structs of the fields `simulate`
reads and falls back to `orjson.loads` for a line the typed decoder refuses;
these tests write files of well-formed and odd lines (numbers for prices, extra
keys, long level rows, other message types, blank lines, lines cut across
chunks) and check every field against the dict `iter_records` yields, and that
malformed lines fail with `iter_records`'s errors naming FILE:LINE.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any
from unittest.mock import patch

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twapcore import RecordingError
from twapcore._typed_lines import OtherLine, TradeLine, levels_of, read_lines
from twapcore.recording import iter_records

TEXT_NUMBER = st.decimals("0", "100000", places=5).map(lambda d: format(d, "f"))
NUMBER = st.one_of(TEXT_NUMBER, st.integers(0, 10**6))  # a number where text is expected
LEVEL = st.one_of(
    st.tuples(TEXT_NUMBER, TEXT_NUMBER).map(list),
    st.tuples(NUMBER, NUMBER).map(list),
    st.tuples(TEXT_NUMBER, TEXT_NUMBER, TEXT_NUMBER).map(list),  # a longer row
)
MARKET = st.fixed_dictionaries(
    {"exchange": st.sampled_from(["binance", "kraken"]), "symbol": st.just("BTC-USDT")}
)
STAMP = st.integers(0, 2**62)


def _book() -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda market, ts, seq, bids, asks, extra: {
            "type": "book",
            **market,
            "ts_event": ts,
            "ts_recv": ts + 1,
            **seq,
            "bids": bids,
            "asks": asks,
            **extra,
        },
        MARKET,
        STAMP,
        st.one_of(st.just({}), st.fixed_dictionaries({"seq": st.one_of(st.none(), STAMP)})),
        st.lists(LEVEL, max_size=4),
        st.lists(LEVEL, max_size=4),
        st.one_of(st.just({}), st.just({"checksum": 7, "note": "x"})),
    )


def _trade() -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda market, ts, price, qty: {
            "type": "trade",
            **market,
            "side": "buy",
            "price": price,
            "qty": qty,
            "ts_event": ts,
            "ts_recv": ts,
            "trade_id": "1",
        },
        MARKET,
        STAMP,
        NUMBER,
        NUMBER,
    )


def _other() -> st.SearchStrategy[dict[str, Any]]:
    instrument = st.builds(
        lambda market, lot: {"type": "instrument", **market, "lot_size": lot},
        MARKET,
        st.one_of(st.none(), TEXT_NUMBER, st.integers(1, 9)),
    )
    note = st.builds(lambda ts: {"type": "note", "text": "feed restarted", "ts_recv": ts}, STAMP)
    return st.one_of(instrument, note)


LINE = st.one_of(
    _book().map(orjson.dumps),
    _trade().map(orjson.dumps),
    _other().map(orjson.dumps),
    st.sampled_from([b"", b"   ", b"\r"]),  # blank lines are skipped
)


def _same(line: Any, record: dict[str, Any]) -> None:
    kind = record["type"] if record["type"] in ("book", "trade", "instrument") else "other"
    assert line.kind == kind
    for name in line.__struct_fields__:
        value = getattr(line, name)
        expected = record.get(name)
        if name in ("bids", "asks"):  # raw JSON, parsed when a step needs them
            value = [list(row) for row in levels_of(value)]
            expected = [list(row) for row in expected]
        assert value == expected, name
        assert type(value) is type(expected), name


def _write(folder: str, lines: list[bytes], name: str = "m.jsonl") -> Path:
    path = Path(folder) / name
    path.write_bytes(b"\n".join(lines))
    return path


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(LINE, max_size=25), chunk=st.integers(1, 400))
def test_typed_lines_hold_the_values_iter_records_reads(lines: list[bytes], chunk: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = _write(folder, lines)
        with patch("twapcore._typed_lines._CHUNK", chunk):  # lines cut across chunks
            typed = [line for batch in read_lines(path) for line in batch]
        plain = list(iter_records(path))

    assert len(typed) == len(plain)
    for line, record in zip(typed, plain, strict=True):
        _same(line, record)


@settings(max_examples=100, deadline=None)
@given(lines=st.lists(LINE, max_size=25), chunk=st.integers(1, 400))
def test_trades_only_reading_gives_the_trades_iter_records_gives(
    lines: list[bytes], chunk: int
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = _write(folder, lines)
        with patch("twapcore._typed_lines._CHUNK", chunk):
            batches = read_lines(path, trades_only=True)
            typed = [line for batch in batches for line in batch if isinstance(line, TradeLine)]
        plain = list(iter_records(path, kind="trade"))

    assert len(typed) == len(plain)
    for line, record in zip(typed, plain, strict=True):
        _same(line, record)


@pytest.mark.parametrize(
    "bad",
    [b'{"type":"book",', b"[1, 2]", b'"type"', b'{"kind":"book"}', b'{"a":1} {"b":2}'],
)
def test_a_malformed_line_fails_as_iter_records_fails(tmp_path: Path, bad: bytes) -> None:
    good = orjson.dumps({"type": "note", "ts_recv": 1})
    path = _write(str(tmp_path), [good, good, bad, good], "bad.jsonl")
    with pytest.raises(RecordingError) as plain:
        list(iter_records(path))

    with pytest.raises(RecordingError) as typed:
        list(read_lines(path))

    assert str(typed.value) == str(plain.value)
    assert "bad.jsonl:3: " in str(typed.value)


@pytest.mark.parametrize("kind", ["book", "trade"])
def test_a_message_lacking_a_field_names_file_line_and_field(tmp_path: Path, kind: str) -> None:
    path = _write(str(tmp_path), [b"", orjson.dumps({"type": kind, "exchange": "binance"})])

    with pytest.raises(
        RecordingError, match=rf"m.jsonl:2: {kind} message lacks the field 'symbol'"
    ):
        list(read_lines(path))


def test_a_message_of_another_type_keeps_its_market_and_time(tmp_path: Path) -> None:
    path = _write(str(tmp_path), [orjson.dumps({"type": 5, "symbol": "X", "ts_recv": 3})])

    [[line]] = list(read_lines(path))

    assert line == OtherLine(5, None, "X", 3)
