"""Accounts and authentication: argon2 password hashes, JWT access/refresh tokens, user storage.

Framework-free apart from SQLAlchemy; the HTTP side is `twapserver.api.auth`
(routes) and `twapserver.api.deps` (`CurrentUser`).
"""

from __future__ import annotations

from twapserver.auth.access import AccessControl
from twapserver.auth.accounts import (
    Account,
    AccountCache,
    AccountDisabled,
    TokenRevoked,
    check_token_holder,
)
from twapserver.auth.passwords import (
    VerificationBusy,
    VerificationGate,
    hash_password,
    verify_password,
)
from twapserver.auth.refresh import RefreshReused, issue_login_pair, rotate_refresh_token
from twapserver.auth.tokens import (
    MIN_SECRET_BITS,
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
    secret_entropy_bits,
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
    "MIN_SECRET_BITS",
    "MIN_SECRET_LENGTH",
    "AccessControl",
    "Account",
    "AccountCache",
    "AccountDisabled",
    "AccountError",
    "InsecureSecretError",
    "InvalidAccount",
    "InvalidToken",
    "RefreshReused",
    "TokenClaims",
    "TokenCodec",
    "TokenError",
    "TokenExpired",
    "TokenPair",
    "TokenRevoked",
    "TokenType",
    "UserExists",
    "VerificationBusy",
    "VerificationGate",
    "WrongTokenType",
    "authenticate",
    "check_password",
    "check_token_holder",
    "check_username",
    "create_user",
    "get_user_by_name",
    "hash_password",
    "issue_login_pair",
    "make_token_codec",
    "rotate_refresh_token",
    "secret_entropy_bits",
    "user_for_token",
    "verify_password",
]
