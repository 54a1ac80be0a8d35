"""Password hashing: argon2id through pwdlib, with its constant-time verification.

Hashing and verifying each cost about 0.1 s of CPU and 64 MiB of memory on
purpose (that is what makes a stolen hash expensive to crack), so the async
callers in `twapserver.auth.users` run them in a worker thread.
"""

from __future__ import annotations

from functools import cache

from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError
from pwdlib.hashers.argon2 import Argon2Hasher

__all__ = ["hash_password", "verify_password", "waste_a_verification"]

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


def waste_a_verification(password: str) -> None:
    """Spend the time of one real verification and discard the result.

    Called for an unknown username, so that a login for a missing user takes
    as long as one with a wrong password and response times do not reveal
    which usernames exist.
    """
    verify_password(password, _dummy_hash())


@cache
def _dummy_hash() -> str:
    # Made lazily so importing the module costs nothing.
    return hash_password("a password nobody has")
