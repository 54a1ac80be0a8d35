"""JWT access and refresh tokens: issuing, checking, and the secret they are signed with.

Times are seconds since the Unix epoch, always passed in (`now_s`), so tests
drive expiry with a fake clock instead of sleeping.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import jwt

from twapserver.settings import DEFAULT_JWT_SECRET, Settings

__all__ = [
    "MIN_SECRET_LENGTH",
    "InsecureSecretError",
    "InvalidToken",
    "TokenClaims",
    "TokenCodec",
    "TokenError",
    "TokenExpired",
    "TokenPair",
    "TokenType",
    "WrongTokenType",
    "make_token_codec",
]

log = logging.getLogger("twapserver.auth")

TokenType = Literal["access", "refresh"]

# HS256 keys shorter than the 256-bit hash output weaken the signature (RFC 7518 §3.2).
MIN_SECRET_LENGTH = 32

_REQUIRED_CLAIMS = ["sub", "uid", "type", "exp", "iat", "jti"]


class InsecureSecretError(RuntimeError):
    """The configured JWT secret is missing, the default, or too short to sign tokens safely."""


class TokenError(Exception):
    """A bearer token that must be refused; `str(error)` is the detail shown to the client."""


class InvalidToken(TokenError):
    """Not a token this server signed: malformed, tampered with, or signed with another key."""


class TokenExpired(TokenError):
    """A genuine token past its `exp`."""


class WrongTokenType(TokenError):
    """A refresh token presented as an access token, or the other way round."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a verified token says; times in seconds since the epoch."""

    user_id: int
    username: str
    type: TokenType
    issued_at_s: int
    expires_at_s: int
    jti: str


@dataclass(frozen=True, slots=True)
class TokenPair:
    """A fresh access + refresh token; `expires_in_s` is the access token's lifetime."""

    access_token: str
    refresh_token: str
    expires_in_s: int


@dataclass(frozen=True, slots=True)
class TokenCodec:
    """Signs and verifies the server's tokens with one secret (TTLs in seconds)."""

    secret: str
    algorithm: str = "HS256"
    access_ttl_s: int = 900
    refresh_ttl_s: int = 7 * 86400

    def issue_pair(self, user_id: int, username: str, *, now_s: float) -> TokenPair:
        """An access and a refresh token for the user, both issued at `now_s`."""
        return TokenPair(
            access_token=self._encode(user_id, username, "access", now_s, self.access_ttl_s),
            refresh_token=self._encode(user_id, username, "refresh", now_s, self.refresh_ttl_s),
            expires_in_s=self.access_ttl_s,
        )

    def decode(self, token: str, expected: TokenType, *, now_s: float) -> TokenClaims:
        """The claims of `token` if it is valid at `now_s` and of type `expected`.

        Raises `InvalidToken`, `TokenExpired` or `WrongTokenType`.
        """
        try:
            payload = jwt.decode(
                token,
                self.secret,
                # A fixed list: never let the token's own header pick the
                # algorithm (`none`, or HS256 keyed with a public key).
                algorithms=[self.algorithm],
                # Time claims are checked below against the injected clock;
                # pyjwt would compare them with the wall clock.
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": _REQUIRED_CLAIMS,
                },
            )
        except jwt.PyJWTError:
            raise InvalidToken("invalid token") from None
        claims = _claims_of(payload)
        if now_s >= claims.expires_at_s:
            raise TokenExpired("token expired")
        if claims.type != expected:
            raise WrongTokenType("wrong token type")
        return claims

    def _encode(
        self, user_id: int, username: str, type_: TokenType, now_s: float, ttl_s: int
    ) -> str:
        issued_at = int(now_s)
        payload = {
            "sub": username,
            "uid": user_id,
            "type": type_,
            "iat": issued_at,
            "exp": issued_at + ttl_s,
            # Unique per token: two tokens issued in the same second still differ,
            # and a future revocation list has something to name.
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(payload, self.secret, algorithm=self.algorithm)


def _claims_of(payload: dict[str, Any]) -> TokenClaims:
    uid, sub, type_ = payload["uid"], payload["sub"], payload["type"]
    iat, exp, jti = payload["iat"], payload["exp"], payload["jti"]
    # Signed by us, so malformed claims mean a key leak or a bug: refuse either way.
    if (
        type(uid) is not int
        or not isinstance(sub, str)
        or type_ not in ("access", "refresh")
        or not isinstance(iat, int | float)
        or not isinstance(exp, int | float)
        or not isinstance(jti, str)
    ):
        raise InvalidToken("invalid token")
    return TokenClaims(uid, sub, type_, int(iat), int(exp), jti)


def make_token_codec(settings: Settings) -> TokenCodec:
    """The codec for `settings`, refusing a weak secret outside demo mode.

    Raises `InsecureSecretError` (naming `TWAP_JWT_SECRET`) when the secret is
    empty, the default, or shorter than `MIN_SECRET_LENGTH` characters. In demo
    mode an empty or default secret is replaced by a random one for this process:
    tokens then stop working when the process restarts, which a demo can afford.
    """
    secret = settings.jwt_secret
    if secret in ("", DEFAULT_JWT_SECRET):
        if not settings.demo:
            raise InsecureSecretError(
                f"TWAP_JWT_SECRET is not set (or is the default {DEFAULT_JWT_SECRET!r}): "
                f"set it to a random string of at least {MIN_SECRET_LENGTH} characters, e.g. "
                "from `python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )
        log.warning("demo mode without TWAP_JWT_SECRET: signing tokens with a random secret")
        secret = secrets.token_urlsafe(48)
    elif len(secret) < MIN_SECRET_LENGTH and not settings.demo:
        raise InsecureSecretError(
            f"TWAP_JWT_SECRET is {len(secret)} characters long; "
            f"at least {MIN_SECRET_LENGTH} are required"
        )
    return TokenCodec(
        secret=secret,
        algorithm=settings.jwt_algorithm,
        access_ttl_s=settings.access_token_ttl_s,
        refresh_ttl_s=settings.refresh_token_ttl_s,
    )
