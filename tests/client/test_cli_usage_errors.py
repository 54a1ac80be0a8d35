"""Usage errors of `twap` and `twapserver` are one readable line and exit code 2."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from twapclient.cli import main as twap_main
from twapserver.cli import main as twapserver_main


def _run(
    main: Callable[[], None], argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> int | str | None:
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["twap", "submit", "--exchange", "binance"], "'--symbol'"),
        (["twap", "nosuch"], "'nosuch'"),
        (["twap", "klines", "binance"], "'symbol'"),
        (["twap", "simulate", "--slices", "ten"], "'--slices'"),
        (["twapserver", "run", "--bogus"], "--bogus"),
        (["twapserver", "users", "add"], "'name'"),
    ],
)
def test_a_usage_error_is_one_line_naming_the_problem_and_exits_2(
    argv: list[str],
    named: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    main = twap_main if argv[0] == "twap" else twapserver_main

    code = _run(main, argv, monkeypatch)

    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert named in err
    assert "╭" not in err and "│" not in err
    assert f"`{argv[0]}" in err  # where the help is


@pytest.mark.parametrize("main", [twap_main, twapserver_main])
def test_help_still_prints_and_exits_0(
    main: Callable[[], None],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = _run(main, ["prog", "--help"], monkeypatch)

    out, err = capsys.readouterr()
    assert code == 0
    assert "Usage" in out and err == ""


def test_no_input_at_a_password_prompt_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def end_of_input(prompt: str = "") -> str:
        raise EOFError

    monkeypatch.setattr("getpass.getpass", end_of_input)
    monkeypatch.setenv("TWAP_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")

    code = _run(twapserver_main, ["twapserver", "users", "add", "bob"], monkeypatch)

    err = capsys.readouterr().err
    assert code == 1
    assert err.strip().endswith("error: aborted (no input)")
    assert "Traceback" not in err
