"""`twap convert` and `twap convert --list`, in-process: exit codes and what they print."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from twapclient.cli import CliError, app
from twapclient.cli_convert import EXIT_NOTHING, EXIT_SKIPPED

SAMPLES = Path(__file__).parents[1] / "core" / "data" / "cryptofeed-samples"


def _invoke(*args: str | Path) -> Result:
    result = CliRunner().invoke(app, ["convert", *map(str, args)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def _copy(exchange_id: str, folder: Path) -> Path:
    for path in SAMPLES.glob(f"{exchange_id}.*"):
        shutil.copy(path, folder / path.name)
    return folder / exchange_id


def _unknown_venue(folder: Path) -> Path:
    (folder / "BITTREX.0").write_text('configuration: {"l2_book":["BTC-USD"]}\n')
    (folder / "BITTREX.ws.1.0").write_text('1633998512.1: {"a":1}\n')
    return folder / "BITTREX"


def test_a_full_conversion_exits_0(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"

    result = _invoke(SAMPLES / "BIT.COM", "-o", out)

    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0
    assert "skipped" not in result.stderr


def test_a_conversion_with_a_skipped_venue_exits_3_naming_it(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"

    result = _invoke(_copy("BITSTAMP", tmp_path), _unknown_venue(tmp_path), "-o", out)

    assert result.exit_code == EXIT_SKIPPED == 3, result.output
    assert "skipped BITTREX:" in result.stderr
    assert out.stat().st_size > 0


def test_only_unconvertible_captures_are_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="'BITTREX'"):
        _invoke(_unknown_venue(tmp_path), "-o", tmp_path / "out.jsonl")


def test_a_capture_with_nothing_to_write_exits_2_and_leaves_no_file(tmp_path: Path) -> None:
    # Connected and subscribed, but no message came before the capture stopped.
    info = _copy("BITSTAMP", tmp_path)
    ws = tmp_path / "BITSTAMP.ws.1.0"
    ws.write_text(ws.read_text().splitlines()[0] + "\n")
    (tmp_path / "BITSTAMP.http.0.0").write_text("")
    out = tmp_path / "out.jsonl"

    result = _invoke(info, "-o", out)

    assert result.exit_code == EXIT_NOTHING == 2
    assert "nothing converted" in result.stderr
    assert not out.exists()


def test_converting_needs_an_output(tmp_path: Path) -> None:
    with pytest.raises(CliError, match="--out"):
        _invoke(SAMPLES / "BIT.COM")


def test_list_prints_each_venue_and_symbol_with_its_type(tmp_path: Path) -> None:
    result = _invoke("--list", SAMPLES / "BINANCE_FUTURES", SAMPLES / "BIT.COM")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines if not line.startswith(" ")] == [
        "BINANCE_FUTURES",
        "BIT.COM",
    ]
    rows = {line.split()[0]: line.split()[1] for line in lines if line.startswith("  ")}
    assert rows["AKRO-USDT-PERP"] == "perpetual"
    assert rows["NEAR-USDT-PERP"] == "perpetual"
    assert rows["BTC-USD"] == "spot"
    assert not list(tmp_path.iterdir())


def test_list_json_matches_the_plain_listing(tmp_path: Path) -> None:
    _copy("BITSTAMP", tmp_path)

    listed = json.loads(
        _invoke("--list", "--json", tmp_path / "BITSTAMP", _unknown_venue(tmp_path)).stdout
    )

    assert [v["venue"] for v in listed] == ["BITSTAMP", "BITTREX"]
    bitstamp, bittrex = listed
    assert bitstamp["problem"] is None and bitstamp["messages"] > 0
    assert bitstamp["first_ts"] <= bitstamp["last_ts"]
    assert {s["instrument_type"] for s in bitstamp["symbols"]} == {"spot"}
    assert "'BITTREX'" in bittrex["problem"]
