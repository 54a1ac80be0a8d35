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


def start_twapserver(
    *args: str, cwd: Path, env: dict[str, str] | None = None, ready_path: str = "/health"
) -> tuple[subprocess.Popen[str], str]:
    """Start `twapserver run ARGS --port <free>`; return the process once its URL answers."""
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
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise AssertionError(f"twapserver exited early:\n{process.stdout.read()}")  # type: ignore[union-attr]
        try:
            httpx.get(base + ready_path, timeout=1)
            return process, base
        except httpx.TransportError:
            if time.monotonic() > deadline:
                stop_twapserver(process)
                raise AssertionError("twapserver did not answer within 30 s") from None
            time.sleep(0.05)


def stop_twapserver(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def twapserver(
    *args: str, cwd: Path, env: dict[str, str] | None = None, ready_path: str = "/health"
) -> Iterator[str]:
    """Run `twapserver run ARGS --port <free>` and yield its base URL once it answers."""
    process, base = start_twapserver(*args, cwd=cwd, env=env, ready_path=ready_path)
    try:
        yield base
    finally:
        stop_twapserver(process)
