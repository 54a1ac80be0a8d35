"""Start `twapserver` as a real process on a free port, for tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def twapserver(
    *args: str, cwd: Path, env: dict[str, str] | None = None, ready_path: str = "/health"
) -> Iterator[str]:
    """Run `twapserver run ARGS --port <free>` and yield its base URL once it answers."""
    port = free_port()
    command = [sys.executable, "-c", "from twapserver.cli import main; main()", "run"]
    process = subprocess.Popen(
        [*command, *args, "--port", str(port)],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError(f"twapserver exited early:\n{process.stdout.read()}")  # type: ignore[union-attr]
            try:
                httpx.get(base + ready_path, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise AssertionError("twapserver did not answer within 30 s") from None
                time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
