"""The twapcore wheel installs alone and simulates, with none of the server's dependencies."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

SIMULATE = """
import sys
from decimal import Decimal
import twapcore
from twapcore import BookSnapshot, Level, RecordingWriter, Side, TwapOrderSpec, simulate
path = sys.argv[1]
with RecordingWriter(path) as w:
    for i in range(30):
        w.write(BookSnapshot("binance", "BTC-USDT", (Level(Decimal(99), Decimal(1)),),
                             (Level(Decimal(101), Decimal(1)),), i * 10**9, i * 10**9))
spec = TwapOrderSpec("binance", "BTC-USDT", Side.BUY, Decimal("0.5"), Decimal(102), Decimal(20),
                     slices=5)
report = simulate(path, [spec]).reports[0]
print(report.status, report.filled_qty, twapcore.__file__)
"""


@pytest.mark.slow
def test_twapcore_wheel_installs_alone_and_simulates(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(tmp_path / "dist"),
            str(REPO_ROOT / "packaging" / "twapcore"),
        ],
        check=True,
    )
    wheel = next((tmp_path / "dist").glob("twapcore-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "twapcore/execution.py" in names
    assert "twapcore/data/demo.jsonl.gz" in names
    assert not any(
        n.startswith(("twapserver/", "twapclient/")) or "__pycache__" in n for n in names
    )
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True)
    python = tmp_path / "venv" / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--quiet", str(wheel)], check=True)
    # A clean environment: a PYTHONPATH pointing at the repo would shadow the wheel.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    ran = subprocess.run(
        [python, "-c", SIMULATE, str(tmp_path / "rec.jsonl")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    has_fastapi = subprocess.run([python, "-c", "import fastapi"], capture_output=True, env=env)

    status, filled, location = ran.stdout.split()
    assert (status, filled) == ("completed", "0.50000000")
    assert str(tmp_path / "venv") in location
    assert has_fastapi.returncode != 0
