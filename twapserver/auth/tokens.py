"""JWT access and refresh tokens: issuing, checking, and the secret they are signed with.

Times are seconds since the Unix epoch, always passed in (`now_s`), so tests
drive expiry with a fake clock instead of sleeping.
"""

from __future__ import annotations

import logging
import math
import secrets
import uuid
from collections import Counter, OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import jwt

from twapserver.settings import DEFAULT_JWT_SECRET, Settings

__all__ = [
    "MIN_SECRET_BITS",
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
    "secret_entropy_bits",
]

log = logging.getLogger("twapserver.auth")

TokenType = Literal["access", "refresh"]

# HS256 keys shorter than the 256-bit hash output weaken the signature (RFC 7518 §3.2).
MIN_SECRET_LENGTH = 32
# Refuses repeated or few-letter secrets (`"a" * 32` scores 0); half the 128 bits an
# HS256 key should carry, because the estimate undercounts short random strings.
MIN_SECRET_BITS = 64

# Verified tokens remembered per codec (~0.5 KB each).
_VERIFIED_CACHE_SIZE = 10_000

_REQUIRED_CLAIMS = ["sub", "uid", "ver", "type", "exp", "iat", "jti"]


class InsecureSecretError(RuntimeError):
    """The configured JWT secret is missing, the default, too short or too repetitive."""


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
    """What a verified token says; times in seconds since the epoch.

    `version` is the user's token version when the token was issued (a token of
    an older version is revoked); `family` names the login a refresh token
    descends from (None on access tokens).
    """

    user_id: int
    username: str
    type: TokenType
    issued_at_s: int
    expires_at_s: int
    jti: str
    version: int
    family: str | None = None


@dataclass(frozen=True, slots=True)
class TokenPair:
    """A fresh access + refresh token; `expires_in_s` is the access token's lifetime.

    `refresh` holds the refresh token's claims, which the server records to
    detect the token's reuse.
    """

    access_token: str
    refresh_token: str
    expires_in_s: int
    refresh: TokenClaims


@dataclass(frozen=True, slots=True)
class TokenCodec:
    """Signs and verifies the server's tokens with one secret (TTLs in seconds)."""

    secret: str
    algorithm: str = "HS256"
    access_ttl_s: int = 900
    refresh_ttl_s: int = 7 * 86400
    # Tokens whose signature checked out, oldest first (only this codec's secret
    # verified them, and expiry and type are still checked on every use).
    _verified: OrderedDict[str, TokenClaims] = field(
        default_factory=OrderedDict, init=False, repr=False, compare=False
    )

    def issue_pair(
        self,
        user_id: int,
        username: str,
        *,
        version: int,
        family: str | None = None,
        now_s: float,
    ) -> TokenPair:
        """An access and a refresh token for the user at token `version`, issued at `now_s`.

        The refresh token continues `family` (a login's chain of refreshes), or
        starts a new family when it is None.
        """
        issued_at = int(now_s)
        access = TokenClaims(
            user_id=user_id,
            username=username,
            type="access",
            issued_at_s=issued_at,
            expires_at_s=issued_at + self.access_ttl_s,
            jti=_new_id(),
            version=version,
        )
        refresh = replace(
            access,
            type="refresh",
            expires_at_s=issued_at + self.refresh_ttl_s,
            jti=_new_id(),
            family=family or _new_id(),
        )
        return TokenPair(
            access_token=self._encode(access),
            refresh_token=self._encode(refresh),
            expires_in_s=self.access_ttl_s,
            refresh=refresh,
        )

    def decode(self, token: str, expected: TokenType, *, now_s: float) -> TokenClaims:
        """The claims of `token` if it is valid at `now_s` and of type `expected`.

        Raises `InvalidToken`, `TokenExpired` or `WrongTokenType`.
        """
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verify(token)
            # A client sends the same access token with every request: checking
            # its signature again (~0.1-0.2 ms) would be most of the auth cost.
            self._verified[token] = claims
            if len(self._verified) > _VERIFIED_CACHE_SIZE:
                self._verified.popitem(last=False)
        if now_s >= claims.expires_at_s:
            raise TokenExpired("token expired")
        if claims.type != expected:
            raise WrongTokenType("wrong token type")
        return claims

    def _verify(self, token: str) -> TokenClaims:
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
        return _claims_of(payload)

    def _encode(self, claims: TokenClaims) -> str:
        payload: dict[str, Any] = {
            "sub": claims.username,
            "uid": claims.user_id,
            "ver": claims.version,
            "type": claims.type,
            "iat": claims.issued_at_s,
            "exp": claims.expires_at_s,
            "jti": claims.jti,
        }
        if claims.family is not None:
            payload["fam"] = claims.family
        return jwt.encode(payload, self.secret, algorithm=self.algorithm)


def _new_id() -> str:
    # Unique per token (two tokens issued in the same second still differ) and
    # per refresh family; 128 random bits, so nobody can guess another's.
    return uuid.uuid4().hex


def _claims_of(payload: dict[str, Any]) -> TokenClaims:
    uid, sub, type_, ver = payload["uid"], payload["sub"], payload["type"], payload["ver"]
    iat, exp, jti, fam = payload["iat"], payload["exp"], payload["jti"], payload.get("fam")
    # Signed by us, so malformed claims mean a key leak or a bug: refuse either way.
    if (
        type(uid) is not int
        or type(ver) is not int
        or not isinstance(sub, str)
        or type_ not in ("access", "refresh")
        or not isinstance(iat, int | float)
        or not isinstance(exp, int | float)
        or not isinstance(jti, str)
        or (type_ == "refresh") != isinstance(fam, str)
    ):
        raise InvalidToken("invalid token")
    return TokenClaims(uid, sub, type_, int(iat), int(exp), jti, ver, fam)


def secret_entropy_bits(secret: str) -> float:
    """A rough estimate of the bits of randomness in `secret`: length x Shannon entropy.

    The Shannon entropy of the secret's own character frequencies: 0 for one
    repeated character, at most log2(distinct characters) per character. It
    cannot tell a random string from a memorable one, and it underestimates
    short random strings (32 random hex digits, 128 bits, score ~100-120).
    """
    counts = Counter(secret)
    total = len(secret)
    per_char = -sum(n / total * math.log2(n / total) for n in counts.values())
    return total * per_char


def make_token_codec(settings: Settings) -> TokenCodec:
    """The codec for `settings`, refusing a weak secret outside demo mode.

    Raises `InsecureSecretError` (naming `TWAP_JWT_SECRET`) when the secret is
    empty, the default, shorter than `MIN_SECRET_LENGTH` characters, or has an
    estimated entropy (`secret_entropy_bits`) below `MIN_SECRET_BITS`. In demo
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
    elif (bits := secret_entropy_bits(secret)) < MIN_SECRET_BITS and not settings.demo:
        raise InsecureSecretError(
            f"TWAP_JWT_SECRET is too predictable: {len(set(secret))} distinct characters, "
            f"about {bits:.0f} bits of entropy where at least {MIN_SECRET_BITS} are required; "
            "use a random string, e.g. from "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
        )
    return TokenCodec(
        secret=secret,
        algorithm=settings.jwt_algorithm,
        access_ttl_s=settings.access_token_ttl_s,
        refresh_ttl_s=settings.refresh_token_ttl_s,
    )
