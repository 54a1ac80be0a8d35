"""FastAPI dependencies shared by the routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from twapserver.auth import TokenError, TokenType, user_for_token
from twapserver.db.models import UserRow
from twapserver.hub import MarketHub
from twapserver.settings import Settings


def get_hub(request: Request) -> MarketHub:
    hub: MarketHub = request.app.state.hub
    return hub


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


HubDep = Annotated[MarketHub, Depends(get_hub)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]


# --- authentication -------------------------------------------------------

# auto_error=False: a missing token gets our own 401 body, like every other refusal.
_bearer = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)


def error_response(description: str, *details: str) -> dict[str, Any]:
    """An OpenAPI `responses=` entry with one example `{"detail": …}` body per detail."""
    examples = {detail: {"value": {"detail": detail}} for detail in details}
    return {"description": description, "content": {"application/json": {"examples": examples}}}


# For `responses=` of every route that takes `CurrentUser`.
UNAUTHORIZED_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: error_response(
        "Missing, expired or invalid access token",
        "not authenticated",
        "token expired",
        "invalid token",
        "wrong token type",
        "user no longer exists",
    )
}


def unauthorized(detail: str) -> HTTPException:
    """A 401 carrying `detail` and the bearer challenge RFC 6750 asks for."""
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


async def user_from_token(request: Request, token: str, expected: TokenType) -> UserRow:
    """The user of a valid `expected`-type token, at the app's `token_clock`; 401 otherwise.

    The row is read in a session of its own and returned detached (its columns
    stay readable): the route's `SessionDep` session is left with no transaction
    begun, so the route can still open one with `session.begin()`.
    """
    try:
        async with request.app.state.sessions() as session:
            return await user_for_token(
                session,
                request.app.state.tokens,
                token,
                expected,
                now_s=request.app.state.token_clock(),
            )
    except TokenError as error:
        raise unauthorized(str(error)) from None


async def get_current_user(
    request: Request, token: Annotated[str | None, Depends(_bearer)]
) -> UserRow:
    """The user whose access token (`Authorization: Bearer …`) authorizes this request."""
    if token is None:
        raise unauthorized("not authenticated")
    return await user_from_token(request, token, "access")


CurrentUser = Annotated[UserRow, Depends(get_current_user)]

# --- end authentication ---------------------------------------------------


def require_market(hub: MarketHub, exchange: str, symbol: str) -> None:
    """404 naming the exchange or symbol that this server does not collect."""
    problem = hub.unknown_market(exchange, symbol)
    if problem is not None:
        raise HTTPException(404, problem[1])
