"""Authentication routes: log in (OAuth2 password form), refresh tokens, optional sign-up."""

from __future__ import annotations

import math
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field, field_validator
from pydantic.config import JsonDict

from twapserver.api.deps import (
    TOKEN_REFUSALS,
    AccessDep,
    SessionDep,
    SettingsDep,
    error_response,
    limit_auth_per_ip,
    rate_limit,
    too_many_requests_response,
    unauthorized,
)
from twapserver.auth import (
    AccountDisabled,
    InvalidAccount,
    RefreshReused,
    TokenError,
    TokenPair,
    UserExists,
    VerificationBusy,
    authenticate,
    check_password,
    check_username,
    create_user,
    issue_login_pair,
    rotate_refresh_token,
)

__all__ = ["RefreshRequest", "RegisterRequest", "TokenResponse", "UserPublic", "router"]

# Every /auth route counts against its client's per-IP limit before anything else.
router = APIRouter(prefix="/auth", tags=["auth"], dependencies=[Depends(limit_auth_per_ip)])

_TOKEN_EXAMPLE: JsonDict = {
    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIs…",
    "refresh_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIs…",
    "token_type": "bearer",
    "expires_in": 900,
}

_SHORT_PASSWORD_EXAMPLE: JsonDict = {
    "detail": [
        {
            "type": "value_error",
            "loc": ["body", "password"],
            "msg": "password is 5 characters long; at least 8 are required",
        }
    ]
}


class TokenResponse(BaseModel):
    """An access + refresh token pair (OAuth2 token response)."""

    model_config = {"json_schema_extra": {"examples": [_TOKEN_EXAMPLE]}}

    access_token: str = Field(description="Send as `Authorization: Bearer <token>`.")
    refresh_token: str = Field(description="Trade at POST /auth/refresh for a new pair.")
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")


class RefreshRequest(BaseModel):
    refresh_token: str = Field(examples=[_TOKEN_EXAMPLE["refresh_token"]])


class RegisterRequest(BaseModel):
    username: str = Field(
        description="3 to 64 characters: letters, digits, '_', '.', '-'.", examples=["alice"]
    )
    # Checked in the route, not here: a pydantic error would echo the password back.
    password: str = Field(description="At least 8 characters.", examples=["correct horse"])

    @field_validator("username")
    @classmethod
    def _valid_username(cls, value: str) -> str:
        return check_username(value)


class UserPublic(BaseModel):
    id: int = Field(examples=[1])
    username: str = Field(examples=["alice"])


def _busy(busy: VerificationBusy) -> HTTPException:
    return HTTPException(
        503, str(busy), headers={"Retry-After": str(math.ceil(busy.retry_after_s))}
    )


def _token_response(pair: TokenPair) -> TokenResponse:
    return TokenResponse(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in_s,
    )


_LOGIN_LIMITS: dict[int | str, dict[str, Any]] = {
    429: too_many_requests_response(
        "Too many requests from this IP or for this username",
        "too many requests for user 'alice' (limit: 20 at once, 20 per minute); retry after 3 s",
    )
}
_PASSWORDS_BUSY: dict[int | str, dict[str, Any]] = {
    503: {
        **error_response(
            "Too many password checks in progress: none could start in time",
            "too many password checks in progress; retry after 5 s",
        ),
        "headers": _LOGIN_LIMITS[429]["headers"],
    }
}


@router.post(
    "/token",
    response_model=TokenResponse,
    responses={
        401: error_response(
            "Wrong username or password, or a disabled user",
            "incorrect username or password",
            "user is disabled",
        ),
        **_LOGIN_LIMITS,
        **_PASSWORDS_BUSY,
    },
    openapi_extra={
        "requestBody": {
            "content": {
                "application/x-www-form-urlencoded": {
                    "example": {"username": "alice", "password": "correct horse battery"}
                }
            }
        }
    },
)
async def login(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    control: AccessDep,
) -> TokenResponse:
    """Log in with a username and password (form fields) and get an access + refresh token."""
    # Cut to the longest valid name: the form field may be 64 KiB, the bucket key need not.
    username = form.username[:64]
    rate_limit(control.per_username, username, f"for user {username!r}")
    state = request.app.state
    try:
        user = await authenticate(state.sessions, control.passwords, form.username, form.password)
    except VerificationBusy as busy:
        raise _busy(busy) from None
    except AccountDisabled as disabled:
        raise unauthorized(str(disabled)) from None
    if user is None:
        raise unauthorized("incorrect username or password")
    async with state.sessions() as session:
        pair = await issue_login_pair(session, state.tokens, user, now_s=state.token_clock())
    return _token_response(pair)


@router.post(
    "/refresh",
    response_model=TokenResponse,
    responses={
        401: error_response(
            "Expired, invalid, revoked or reused refresh token, or an access token",
            *TOKEN_REFUSALS,
            "refresh token reused: every session of this user is revoked",
        ),
        **_LOGIN_LIMITS,
    },
)
async def refresh(request: Request, body: RefreshRequest, control: AccessDep) -> TokenResponse:
    """Trade a refresh token for a new pair; the old one is then used up.

    Presenting a refresh token again later than TWAP_REFRESH_REUSE_GRACE_S after
    its first use revokes every token of its user (the token was copied: the
    server cannot tell the owner from the thief).
    """
    state = request.app.state
    try:
        # Checked (signature, expiry) before it may spend a username's requests.
        claims = state.tokens.decode(body.refresh_token, "refresh", now_s=state.token_clock())
        rate_limit(control.per_username, claims.username, f"for user {claims.username!r}")
        async with state.sessions() as session:
            pair = await rotate_refresh_token(
                session,
                state.tokens,
                body.refresh_token,
                now_s=state.token_clock(),
                reuse_grace_s=state.settings.refresh_reuse_grace_s,
            )
    except RefreshReused as reused:
        control.accounts.invalidate(reused.user_id)  # this process: revoke at once
        raise unauthorized(str(reused)) from None
    except TokenError as error:
        raise unauthorized(str(error)) from None
    return _token_response(pair)


async def _registration_enabled(settings: SettingsDep) -> None:
    # A dependency, so it runs before body validation: a server that does not
    # offer sign-up answers 404 to every request, valid or not.
    if not settings.allow_registration:
        raise HTTPException(404, "registration is disabled")


async def _json_body(request: Request) -> None:
    # Without a JSON content type FastAPI validates the raw body text as the
    # model, and the 422 would show that text: the password with it.
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise HTTPException(415, f"content type {media_type or '(none)'!r} is not application/json")


@router.post(
    "/register",
    status_code=201,
    dependencies=[Depends(_registration_enabled), Depends(_json_body)],
    response_model=UserPublic,
    responses={
        404: error_response("Registration is disabled on this server", "registration is disabled"),
        409: error_response("The username is taken", "user 'alice' already exists"),
        415: error_response(
            "The body is not sent as application/json",
            "content type 'text/plain' is not application/json",
        ),
        **_LOGIN_LIMITS,
        422: {
            "description": "Invalid username or too short a password",
            "content": {"application/json": {"example": _SHORT_PASSWORD_EXAMPLE}},
        },
        **_PASSWORDS_BUSY,
    },
)
async def register(body: RegisterRequest, session: SessionDep, control: AccessDep) -> UserPublic:
    """Create an account (only when the server sets TWAP_ALLOW_REGISTRATION)."""
    rate_limit(control.per_username, body.username, f"for user {body.username!r}")
    try:
        check_password(body.password)
    except InvalidAccount as error:
        # Shaped like pydantic's own 422, minus the `input` that would echo the password.
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("body", "password"), "msg": str(error)}]
        ) from None
    try:
        user = await create_user(
            session, body.username, body.password, now_ns=time.time_ns(), gate=control.passwords
        )
    except UserExists as error:
        raise HTTPException(409, str(error)) from None
    except VerificationBusy as busy:
        raise _busy(busy) from None
    await session.commit()
    return UserPublic(id=user.id, username=user.username)
