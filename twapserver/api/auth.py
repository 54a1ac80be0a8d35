"""Authentication routes: log in (OAuth2 password form), refresh tokens, optional sign-up."""

from __future__ import annotations

import time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field, field_validator
from pydantic.config import JsonDict

from twapserver.api.deps import (
    SessionDep,
    SettingsDep,
    error_response,
    unauthorized,
    user_from_token,
)
from twapserver.auth import (
    InvalidAccount,
    TokenCodec,
    UserExists,
    authenticate,
    check_password,
    check_username,
    create_user,
)
from twapserver.db.models import UserRow

__all__ = ["RefreshRequest", "RegisterRequest", "TokenResponse", "UserPublic", "router"]

router = APIRouter(prefix="/auth", tags=["auth"])

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


def _token_response(request: Request, user: UserRow) -> TokenResponse:
    codec: TokenCodec = request.app.state.tokens
    pair = codec.issue_pair(user.id, user.username, now_s=request.app.state.token_clock())
    return TokenResponse(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in_s,
    )


@router.post(
    "/token",
    response_model=TokenResponse,
    responses={401: error_response("Wrong username or password", "incorrect username or password")},
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
    session: SessionDep,
) -> TokenResponse:
    """Log in with a username and password (form fields) and get an access + refresh token."""
    user = await authenticate(session, form.username, form.password)
    if user is None:
        raise unauthorized("incorrect username or password")
    return _token_response(request, user)


@router.post(
    "/refresh",
    response_model=TokenResponse,
    responses={
        401: error_response(
            "Expired or invalid refresh token, or an access token",
            "token expired",
            "invalid token",
            "wrong token type",
            "user no longer exists",
        )
    },
)
async def refresh(request: Request, body: RefreshRequest) -> TokenResponse:
    """Trade a valid refresh token for a new access + refresh token pair."""
    user = await user_from_token(request, body.refresh_token, "refresh")
    return _token_response(request, user)


def _registration_enabled(settings: SettingsDep) -> None:
    # A dependency, so it runs before body validation: a server that does not
    # offer sign-up answers 404 to every request, valid or not.
    if not settings.allow_registration:
        raise HTTPException(404, "registration is disabled")


@router.post(
    "/register",
    status_code=201,
    dependencies=[Depends(_registration_enabled)],
    response_model=UserPublic,
    responses={
        404: error_response("Registration is disabled on this server", "registration is disabled"),
        409: error_response("The username is taken", "user 'alice' already exists"),
        422: {
            "description": "Invalid username or too short a password",
            "content": {"application/json": {"example": _SHORT_PASSWORD_EXAMPLE}},
        },
    },
)
async def register(body: RegisterRequest, session: SessionDep) -> UserPublic:
    """Create an account (only when the server sets TWAP_ALLOW_REGISTRATION)."""
    try:
        check_password(body.password)
    except InvalidAccount as error:
        # Shaped like pydantic's own 422, minus the `input` that would echo the password.
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("body", "password"), "msg": str(error)}]
        ) from None
    try:
        user = await create_user(session, body.username, body.password, now_ns=time.time_ns())
    except UserExists as error:
        raise HTTPException(409, str(error)) from None
    await session.commit()
    return UserPublic(id=user.id, username=user.username)
