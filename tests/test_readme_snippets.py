"""The README is true: its shell and Python snippets run, in order, against a demo server.

Every ```sh / ```bash / ```python block of README.md runs, top to bottom, unless
the line before it is `<!-- snippet: skip REASON -->` (the test reports each such
reason). Shell blocks share one environment, as in one terminal: variables a
block sets (`PASSWORD`, `TOKEN`) are seen by the next. The snippets are run as
written, with these substitutions only: the server's address for
`127.0.0.1:8000` / `localhost:8000` (the test serves on a free port) and the
password typed at the README's `read` prompt for `YOUR-PASSWORD`. A snippet
passes when it exits 0 and the API refused nothing (no `"detail"` in its output).

Also (fast): the README names every server setting and says which commands take `--json`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer

from tests.server.server_process import twapserver
from twapclient.cli import app as twap_app
from twapserver.settings import Settings

README = Path(__file__).parents[1] / "README.md"
PASSWORD = "readme-snippets-password"
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_SKIP = re.compile(r"^<!--\s*snippet:\s*skip\s+(?P<reason>\S.*?)\s*-->$")
_LANGUAGES = {"sh": "shell", "bash": "shell", "python": "python"}


@dataclass(frozen=True)
class Snippet:
    language: str  # "shell" or "python"
    code: str
    line: int  # of the opening fence in README.md
    skip_reason: str | None


def readme_snippets(text: str) -> list[Snippet]:
    """The runnable blocks of `text` in order, each with its skip reason (if marked)."""
    snippets = []
    for fence in _FENCE.finditer(text):
        language = _LANGUAGES.get(fence.group(1))
        if language is None:
            continue
        before = [line for line in text[: fence.start()].splitlines() if line.strip()]
        marker = _SKIP.match(before[-1].strip()) if before else None
        line = text.count("\n", 0, fence.start()) + 1
        reason = marker.group("reason") if marker else None
        snippets.append(Snippet(language, fence.group(2), line, reason))
    return snippets


def test_the_parser_finds_blocks_and_their_skip_reasons() -> None:
    text = (
        "intro\n```sh\necho one\n```\n\n<!-- snippet: skip needs the internet -->\n"
        "```python\nprint(2)\n```\n```json\n{}\n```\n"
    )

    snippets = readme_snippets(text)

    assert [(s.language, s.code, s.line, s.skip_reason) for s in snippets] == [
        ("shell", "echo one\n", 2, None),
        ("python", "print(2)\n", 7, "needs the internet"),
    ]


def test_every_readme_snippet_runs_or_says_why_not() -> None:
    snippets = readme_snippets(README.read_text())

    assert sum(s.skip_reason is None for s in snippets) >= 4
    assert all(s.skip_reason is None or len(s.skip_reason) > 10 for s in snippets)


def test_the_readme_names_every_server_setting_and_the_client_ones() -> None:
    readme = README.read_text()
    names = [f"TWAP_{name.upper()}" for name in Settings.model_fields]

    missing = [name for name in [*names, "TWAP_CONFIG_DIR", "TWAP_URL"] if name not in readme]

    assert missing == []


def test_the_readme_says_which_commands_take_json() -> None:
    commands = typer.main.get_command(twap_app).commands  # type: ignore[attr-defined]
    without_json = sorted(
        name
        for name, command in commands.items()
        if not any("--json" in param.opts for param in command.params)
    )
    stated = re.search(r"takes `--json` \(([^);]*) do not[;)]", README.read_text())

    assert stated is not None
    assert sorted(re.findall(r"`([a-z-]+)`", stated.group(1))) == without_json


def _substituted(code: str, base_url: str) -> str:
    host = base_url.removeprefix("http://")
    for address in ("127.0.0.1:8000", "localhost:8000"):
        code = code.replace(address, host)
    return code.replace("YOUR-PASSWORD", PASSWORD)


def _run_shell(
    code: str, cwd: Path, env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """Run `code` in bash (-euo pipefail); every variable it sets is exported to the next."""
    state = cwd / ".snippet-env"
    script = f"set -euo pipefail -a\n{code}\nenv -0 > {state}\n"
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=cwd,
        env=env,
        input=PASSWORD + "\n",  # what the README's `read` prompt is typed
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,  # no terminal: prompts read stdin
    )
    if result.returncode != 0:
        return result, env
    pairs = (item.partition("=") for item in state.read_text().split("\0") if item)
    return result, {name: value for name, _, value in pairs}


@pytest.mark.slow
def test_the_readme_snippets_run_in_order_against_a_demo_server(tmp_path: Path) -> None:
    # As in a fresh clone after `make`: ./.venv/bin/twap, a config dir of its own.
    (tmp_path / ".venv").symlink_to(sys.prefix)
    env = {**os.environ, "TWAP_CONFIG_DIR": str(tmp_path / "config")}
    env.pop("TWAP_URL", None)
    snippets = readme_snippets(README.read_text())
    skipped = [f"README.md:{s.line}: {s.skip_reason}" for s in snippets if s.skip_reason]
    ran, timings = 0, []
    with twapserver("--demo", cwd=tmp_path) as base_url:
        for snippet in snippets:
            if snippet.skip_reason is not None:
                continue
            code = _substituted(snippet.code, base_url)
            started = time.monotonic()
            if snippet.language == "shell":
                result, env = _run_shell(code, tmp_path, env)
            else:
                result = subprocess.run(
                    [sys.executable, "-c", code],
                    cwd=tmp_path,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=60,
                    start_new_session=True,
                )
            where = f"README.md:{snippet.line} ({snippet.language})"
            output = f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
            assert result.returncode == 0, f"{where} failed\n{snippet.code}\n{output}"
            assert '"detail"' not in result.stdout, f"{where}: the API refused\n{output}"
            ran += 1
            timings.append(f"README.md:{snippet.line}: {time.monotonic() - started:.1f} s")
    print("README snippets run:", *timings, "skipped:", *skipped, sep="\n  ")
    assert ran >= 4
