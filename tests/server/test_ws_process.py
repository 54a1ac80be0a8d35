"""`twapserver run` as a real process: big frames before auth cost no memory, no token is logged."""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.server.server_process import start_twapserver, stop_twapserver
from twapserver.ws.serving import redact_tokens

CLAIMED = 15 << 20  # each frame says 15 MiB, as in the reported attack
PUSHED = 4 << 20  # and this much of it is actually sent
SOCKETS = 40
CHUNK = bytes(64 << 10)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    env = {"TWAP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'twap.db'}"}
    process, base = start_twapserver("--demo", cwd=tmp_path, env=env)
    try:
        yield process, base
    finally:
        stop_twapserver(process)


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


async def push_big_frame(base: str, pushed: int) -> int | str:
    """Upgrade to /ws (no auth), send a frame header claiming `CLAIMED` bytes and then
    up to `pushed` of them; the server's close code, or "reset" if it reset the
    connection before we could read that (times out if the server keeps reading)."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    response = await reader.readuntil(b"\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 101"), response
    # Read the answer while pushing: once the server resets the connection, data it
    # sent before is no longer readable.
    answer = asyncio.create_task(reader.readexactly(4))
    # FIN + binary, masked, 64-bit length, mask key: the payload itself is all zeros.
    writer.write(struct.pack("!BBQ", 0x82, 0x80 | 127, CLAIMED) + os.urandom(4))
    try:
        for _ in range(pushed // len(CHUNK)):
            writer.write(CHUNK)
            await writer.drain()
    except ConnectionError:
        pass  # the server stopped reading and closed: what we want
    try:
        head = await asyncio.wait_for(answer, 10)
    except (asyncio.IncompleteReadError, ConnectionError):
        return "reset"
    finally:
        writer.close()
    assert head[0] & 0x0F == 0x8, f"not a close frame: {head!r}"
    return int(struct.unpack("!H", head[2:4])[0])


async def test_big_frames_before_auth_close_1009_and_server_memory_stays_flat(
    server: tuple[subprocess.Popen[str], str],
) -> None:
    process, base = server
    header_only = await push_big_frame(base, 0)  # also warms up: a connection's own cost
    before = rss_bytes(process.pid)

    ends = await asyncio.gather(*(push_big_frame(base, PUSHED) for _ in range(SOCKETS)))
    growth = rss_bytes(process.pid) - before

    assert header_only == 1009
    assert set(ends) <= {1009, "reset"}  # every socket closed by the server
    # Read whole, these frames would be 160 MiB (40 × 4 MiB pushed) on the server.
    assert growth < 32 << 20, f"server RSS grew by {growth / 2**20:.1f} MiB"


async def test_the_access_log_shows_no_query_string_token(tmp_path: Path) -> None:
    secret = "eyJhbGciOi.not-a-real-token-but-secret"
    env = {"TWAP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'twap.db'}"}
    process, base = start_twapserver("--demo", cwd=tmp_path, env=env)
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            status = (await http.get(f"/health?token={secret}&x=1")).status_code
        url = f"ws{base.removeprefix('http')}/ws?token={secret}"
        async with connect(url) as ws:
            try:
                await asyncio.wait_for(ws.recv(), 10)  # the refusal; then the 4401 close
                await asyncio.wait_for(ws.recv(), 10)
            except ConnectionClosed:
                pass
    finally:
        stop_twapserver(process)
    log = process.stdout.read() if process.stdout else ""

    assert status == 200
    assert secret not in log
    assert 'GET /health?token=[redacted]&x=1 HTTP/1.1" 200' in log
    assert '"WebSocket /ws?token=[redacted]" [accepted]' in log


@pytest.mark.parametrize(
    ("line", "logged"),
    [
        ("GET /ws?token=abc.def HTTP/1.1", "GET /ws?token=[redacted] HTTP/1.1"),
        (
            "/x?a=1&refresh_token=r1&access_token=a2",
            "/x?a=1&refresh_token=[redacted]&access_token=[redacted]",
        ),
        ('"WebSocket /ws?token=t" [accepted]', '"WebSocket /ws?token=[redacted]" [accepted]'),
        ("/orders?token_id=t-1", "/orders?token_id=t-1"),
    ],
)
def test_token_values_are_redacted_and_nothing_else(line: str, logged: str) -> None:
    assert redact_tokens(line) == logged
