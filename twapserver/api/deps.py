"""FastAPI dependencies shared by the routers.

All are `async def` although none awaits: FastAPI runs a plain `def`
dependency in a worker thread, a thread hop per dependency per request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from twapserver.auth import AccessControl, Account, TokenError
from twapserver.hub import MarketHub
from twapserver.ratelimit import RateLimited, RateLimiter
from twapserver.settings import Settings


async def get_hub(request: Request) -> MarketHub:
    hub: MarketHub = request.app.state.hub
    return hub


async def get_settings(request: Request) -> Settings:
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


# Every refusal of a token, in REST 401s and WS errors alike.
TOKEN_REFUSALS = (
    "token expired",
    "invalid token",
    "wrong token type",
    "user no longer exists",
    "user is disabled",
    "token revoked",
)

# For `responses=` of every route that takes `CurrentUser`.
UNAUTHORIZED_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: error_response(
        "Missing, expired, revoked or invalid access token", "not authenticated", *TOKEN_REFUSALS
    )
}


def too_many_requests_response(description: str, example: str) -> dict[str, Any]:
    """An OpenAPI `responses=` entry for a 429 carrying `Retry-After`."""
    return {
        **error_response(description, example),
        "headers": {
            "Retry-After": {
                "description": "Seconds until a request would be accepted.",
                "schema": {"type": "integer"},
            }
        },
    }


def unauthorized(detail: str) -> HTTPException:
    """A 401 carrying `detail` and the bearer challenge RFC 6750 asks for."""
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


async def access_control(request: Request) -> AccessControl:
    """The app's `AccessControl`, made from its settings on first use.

    Made here rather than in `create_app` so it needs no wiring there; a test
    that wants its own clock sets `app.state.access_control` before the first request.
    """
    state = request.app.state
    control: AccessControl | None = getattr(state, "access_control", None)
    if control is None:
        control = state.access_control = AccessControl.from_settings(state.settings)
    return control


AccessDep = Annotated[AccessControl, Depends(access_control)]


def rate_limit(limiter: RateLimiter, key: str, what: str) -> None:
    """Spend one request of `key`; 429 with `Retry-After` naming `what` and the limit when out."""
    try:
        limiter.take(key)
    except RateLimited as limited:
        raise HTTPException(
            429,
            f"too many requests {what} (limit: {limiter.limit}); "
            f"retry after {limited.retry_after_header} s",
            headers={"Retry-After": limited.retry_after_header},
        ) from None


def client_ip(request: Request) -> str:
    """The peer address of the connection (a proxy's `X-Forwarded-For` is not trusted)."""
    return request.client.host if request.client is not None else "unknown"


async def limit_auth_per_ip(request: Request, control: AccessDep) -> None:
    """Dependency of the /auth routes: the per-IP limit, before any body is parsed."""
    ip = client_ip(request)
    rate_limit(control.per_ip, ip, f"from {ip}")


async def get_current_user(
    request: Request, control: AccessDep, token: Annotated[str | None, Depends(_bearer)]
) -> Account:
    """The account whose access token (`Authorization: Bearer …`) authorizes this request.

    No database round trip while the account is in the cache (`user_cache_ttl_s`).
    """
    if token is None:
        raise unauthorized("not authenticated")
    state = request.app.state
    try:
        return await control.account_for_token(
            state.sessions, state.tokens, token, "access", now_s=state.token_clock()
        )
    except TokenError as error:
        raise unauthorized(str(error)) from None


CurrentUser = Annotated[Account, Depends(get_current_user)]


async def limit_orders_per_user(user: CurrentUser, control: AccessDep) -> Account:
    """`CurrentUser`, after spending one of their order submissions (429 when out)."""
    rate_limit(control.orders_per_user, str(user.id), f"from user {user.username!r}")
    return user


# `CurrentUser` of POST /orders/twap: also limited to `order_limit` submissions per user.
OrderingUser = Annotated[Account, Depends(limit_orders_per_user)]

# --- end authentication ---------------------------------------------------


def require_market(hub: MarketHub, exchange: str, symbol: str) -> None:
    """404 naming the exchange or symbol that this server does not collect."""
    problem = hub.unknown_market(exchange, symbol)
    if problem is not None:
        raise HTTPException(404, problem[1])
