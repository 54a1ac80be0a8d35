"""The twapcore wheel installs alone and simulates, with none of the server's dependencies."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.core.conftest import WheelVenv

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
def test_twapcore_wheel_installs_alone_and_simulates(
    twapcore_wheel_venv: WheelVenv, tmp_path: Path
) -> None:
    wheel, python, env = (
        twapcore_wheel_venv.wheel,
        twapcore_wheel_venv.python,
        twapcore_wheel_venv.env,
    )
    names = zipfile.ZipFile(wheel).namelist()
    assert "twapcore/execution.py" in names
    assert "twapcore/data/demo.jsonl.gz" in names
    assert not any(
        n.startswith(("twapserver/", "twapclient/")) or "__pycache__" in n for n in names
    )

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
    assert str(python.parent.parent) in location
    assert has_fastapi.returncode != 0
