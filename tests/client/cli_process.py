"""The `twap` command line as a user runs it: a real process, with its own config folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TWAP = [sys.executable, "-c", "from twapclient.cli import main; main()"]


def run_twap(
    *args: str, config: Path, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `twap *args` with `config` as its config folder (and no TWAP_URL from outside)."""
    env = {k: v for k, v in os.environ.items() if k != "TWAP_URL"} | {
        "TWAP_CONFIG_DIR": str(config)
    }
    return subprocess.run(
        [*TWAP, *args], input=stdin, env=env, capture_output=True, text=True, timeout=timeout
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one `error: …` line of a usage error (exit 2, no traceback)."""
    assert result.returncode == 2, result
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr
    return result.stderr.rstrip("\n")


def run_submit(config: Path, token_id: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """`twap submit` of a binance BTC-USDT buy with a limit far above the market."""
    return run_twap(
        "submit", "--token-id", token_id, "--exchange", "binance", "--symbol", "BTC-USDT",
        "--side", "buy", "--limit-price", "1000000", *extra, config=config,
    )  # fmt: skip
