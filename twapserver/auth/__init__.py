"""Accounts and authentication: argon2 password hashes, JWT access/refresh tokens, user storage.

Framework-free apart from SQLAlchemy; the HTTP side is `twapserver.api.auth`
(routes) and `twapserver.api.deps` (`CurrentUser`).
"""

from __future__ import annotations

from twapserver.auth.passwords import hash_password, verify_password
from twapserver.auth.tokens import (
    MIN_SECRET_LENGTH,
    InsecureSecretError,
    InvalidToken,
    TokenClaims,
    TokenCodec,
    TokenError,
    TokenExpired,
    TokenPair,
    TokenType,
    WrongTokenType,
    make_token_codec,
)
from twapserver.auth.users import (
    MIN_PASSWORD_LENGTH,
    AccountError,
    InvalidAccount,
    UserExists,
    authenticate,
    check_password,
    check_username,
    create_user,
    get_user_by_name,
    user_for_token,
)

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "MIN_SECRET_LENGTH",
    "AccountError",
    "InsecureSecretError",
    "InvalidAccount",
    "InvalidToken",
    "TokenClaims",
    "TokenCodec",
    "TokenError",
    "TokenExpired",
    "TokenPair",
    "TokenType",
    "UserExists",
    "WrongTokenType",
    "authenticate",
    "check_password",
    "check_username",
    "create_user",
    "get_user_by_name",
    "hash_password",
    "make_token_codec",
    "user_for_token",
    "verify_password",
]
