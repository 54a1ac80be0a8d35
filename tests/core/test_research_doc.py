"""docs/research.md: every Python snippet runs, in order, against the twapcore wheel installed alone.

The wheel's virtualenv is the one of tests/core/test_packaging.py (a session
fixture, built once). The optional extras (matplotlib, pandas) are not
downloaded again: the packages they import are linked, one by one, from this
environment into a folder on the venv's PYTHONPATH — never twapcore, twapserver,
twapclient or any server dependency, so the snippets see the wheel's twapcore.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.core.conftest import WheelVenv

DOC = REPO_ROOT / "docs" / "research.md"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Imports what the snippets' extras import; prints the top-level site-packages entries used.
_EXTRAS_USED = """
import sys, sysconfig
from matplotlib.figure import Figure
from matplotlib.backends.backend_agg import FigureCanvasAgg
import pandas
fig = Figure(); FigureCanvasAgg(fig); fig.subplots().plot([1, 2], [1, 2])
import io; fig.savefig(io.BytesIO(), format="png")
site = sysconfig.get_paths()["purelib"]
tops = set()
for module in list(sys.modules.values()):
    path = getattr(module, "__file__", None) or ""
    if path.startswith(site + "/"):
        tops.add(path[len(site) + 1:].split("/")[0])
print(site)
print("\\n".join(sorted(tops)))
"""
_OURS = ("twapcore", "twapserver", "twapclient", "_twap", "__editable__")


def snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def _extras_dir(target: Path) -> Path:
    out = subprocess.run(
        [sys.executable, "-c", _EXTRAS_USED], check=True, capture_output=True, text=True
    ).stdout.split("\n")
    site, tops = Path(out[0]), [t for t in out[1:] if t]
    target.mkdir()
    for top in tops:
        if top.startswith(_OURS):
            continue
        (target / top).symlink_to(site / top)
    for libs in site.glob("*.libs"):  # shared libraries of numpy / pillow wheels
        if not (target / libs.name).exists():
            (target / libs.name).symlink_to(libs)
    return target


def test_doc_has_snippets_for_each_step() -> None:
    code = "\n".join(snippets())

    for needle in ("simulate(", "plot_report(", "plot_sweep(", "to_pandas()", "write_csv("):
        assert needle in code


@pytest.mark.slow
def test_research_doc_snippets_run_against_the_wheel(
    twapcore_wheel_venv: WheelVenv, tmp_path: Path
) -> None:
    extras = _extras_dir(tmp_path / "extras")
    script = tmp_path / "research.py"
    script.write_text("\n\n".join(snippets()) + "\nimport twapcore; print(twapcore.__file__)\n")
    work = tmp_path / "work"
    work.mkdir()

    ran = subprocess.run(
        [twapcore_wheel_venv.python, str(script)],
        env={**twapcore_wheel_venv.env, "PYTHONPATH": str(extras), "MPLBACKEND": "Agg"},
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert ran.returncode == 0, ran.stderr[-3000:]
    assert str(twapcore_wheel_venv.python.parent.parent) in ran.stdout.splitlines()[-1]
    assert (work / "twap.png").read_bytes()[:8] == PNG_MAGIC
    assert (work / "sweep.png").read_bytes()[:8] == PNG_MAGIC
    assert sorted(p.name for p in (work / "csv").iterdir()) == [
        "fills.csv",
        "slices.csv",
        "summary.csv",
        "venues.csv",
    ]
