"""Password hashing: argon2id through pwdlib, with its constant-time verification.

Hashing and verifying each cost about 0.1 s of CPU and 64 MiB of memory on
purpose (that is what makes a stolen hash expensive to crack), so async callers
run them in a worker thread, and logins go through a `VerificationGate` that
bounds how many run at once: a flood of logins queues there instead of taking
every core (and the event loop's share of them) from trading.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any, TypeVar

from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError
from pwdlib.hashers.argon2 import Argon2Hasher

__all__ = ["VerificationBusy", "VerificationGate", "hash_password", "verify_password"]

T = TypeVar("T")

# Niceness of the verification threads (0 = normal, 19 = lowest priority).
_HASHING_NICENESS = 10

# Stateless: holds only the argon2 parameters, so one instance serves every app.
_HASHER = PasswordHash((Argon2Hasher(),))


def hash_password(password: str) -> str:
    """The encoded argon2id hash of `password`, salt and parameters included (~0.1 s of CPU)."""
    return _HASHER.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    """Whether `password` matches `password_hash`; False for a hash in an unknown format."""
    try:
        return _HASHER.verify(password, password_hash)
    except UnknownHashError:
        return False


class VerificationBusy(Exception):
    """No verification slot freed up in time; the client may retry after `retry_after_s`."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"too many password checks in progress; retry after {retry_after_s:g} s")
        self.retry_after_s = retry_after_s


class VerificationGate:
    """Runs at most `concurrency` argon2 computations (checks, new hashes) at once.

    Each runs in a worker thread; a caller waits up to `queue_timeout_s` for a
    slot, then gets `VerificationBusy`.
    """

    def __init__(self, concurrency: int, queue_timeout_s: float) -> None:
        self.queue_timeout_s = queue_timeout_s
        self._slots = asyncio.Semaphore(concurrency)
        # Threads of its own, at a lower CPU priority: argon2 (4 lanes, so up to 4
        # threads per hash, which inherit the priority) then yields the cores to
        # the event loop, which serves requests and runs the engine.
        self._threads = ThreadPoolExecutor(
            concurrency, thread_name_prefix="password-check", initializer=_lower_priority
        )

    async def verify(self, password: str, find_hash: Callable[[], Awaitable[str | None]]) -> bool:
        """Whether `password` matches the hash that `find_hash` returns, once a slot is free.

        `find_hash` runs inside the slot too, so a flood of logins waits here
        without a database query each: at most `concurrency` of them reach the
        database at once. A None hash (an unknown user) is checked against a
        dummy hash and the answer is False: a login for a missing user costs as
        much as one with a wrong password, so timings do not reveal which names exist.
        """
        await self._acquire()
        try:
            password_hash = await find_hash()
        except BaseException:
            self._slots.release()
            raise
        matches = await self._run_and_release(_verify_or_dummy, password, password_hash)
        return matches and password_hash is not None

    async def hash(self, password: str) -> str:
        """The argon2 hash of `password` (see `hash_password`), computed in a slot."""
        await self._acquire()
        return await self._run_and_release(hash_password, password)

    async def _acquire(self) -> None:
        try:
            async with asyncio.timeout(self.queue_timeout_s):
                await self._slots.acquire()
        except TimeoutError:
            raise VerificationBusy(self.queue_timeout_s) from None

    async def _run_and_release(self, work: Callable[..., T], *args: Any) -> T:
        """`work(*args)` in a gate thread; the slot held by the caller is released after it."""
        future = asyncio.get_running_loop().run_in_executor(self._threads, work, *args)
        # Released when the thread finishes, not when this caller stops waiting:
        # a cancelled request must not let more hashes run than there are slots.
        future.add_done_callback(lambda _: self._slots.release())
        return await asyncio.shield(future)


def _lower_priority() -> None:
    # Linux: a thread's nice value is its own, and threads it starts inherit it.
    # Raising it needs no privilege; where it is not supported hashing just
    # competes with the event loop as an equal.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _HASHING_NICENESS)


def _verify_or_dummy(password: str, password_hash: str | None) -> bool:
    # In the worker thread: the first call also makes the dummy hash (~0.1 s).
    return verify_password(password, password_hash or _dummy_hash())


@cache
def _dummy_hash() -> str:
    # Made lazily so importing the module costs nothing.
    return hash_password("a password nobody has")
