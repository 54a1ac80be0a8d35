"""The one exception tree of twapclient.

    TwapClientError              anything the client raises on purpose
    ├── TransportError           the server could not be reached (refused, timed out, DNS, …)
    ├── StreamError              the WebSocket server answered an op with an error message
    ├── WaitTimeout              `wait()` gave up: the order had not ended in time
    └── ApiError                 the server answered with an error status
        ├── AuthenticationError  401 (also: not logged in, WebSocket close 4401)
        ├── NotFoundError        404: unknown exchange, symbol or order
        ├── OrderRejected        409/422 `{"status": "rejected", "reason", "message"}`
        ├── ValidationError      any other 422: a parameter out of bounds
        └── ServerError          5xx

Every message names the offending value (the server's `detail` does; the client
adds the URL for transport failures).
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "AuthenticationError",
    "NotFoundError",
    "OrderRejected",
    "ServerError",
    "StreamError",
    "TransportError",
    "TwapClientError",
    "ValidationError",
    "WaitTimeout",
]


class TwapClientError(Exception):
    """Base of every error twapclient raises on purpose."""


class TransportError(TwapClientError):
    """No answer from the server at `url`: connection refused, timeout, bad address."""

    def __init__(self, url: str, message: str) -> None:
        super().__init__(message)
        self.url = url


class StreamError(TwapClientError):
    """The WebSocket server refused an op (`{"type": "error", "code", "message"}`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message


class WaitTimeout(TwapClientError):
    """`wait()` gave up after `timeout_s`: order `token_id` was still `status`.

    The order keeps working on the server; wait again, or cancel it.
    """

    def __init__(self, token_id: str, timeout_s: float, status: str) -> None:
        super().__init__(
            f"order {token_id!r} did not end within {timeout_s:g} s (still {status}); "
            "it keeps working on the server"
        )
        self.token_id = token_id
        self.timeout_s = timeout_s
        self.status = status


class ApiError(TwapClientError):
    """The server answered with error status `status_code`; `detail` says what was wrong.

    `status_code` is None when the client refused before asking (e.g. not logged in).
    """

    def __init__(self, status_code: int | None, detail: str) -> None:
        super().__init__(detail if status_code is None else f"{detail} (HTTP {status_code})")
        self.status_code = status_code
        self.detail = detail


class AuthenticationError(ApiError):
    """Wrong credentials, a missing or expired session (HTTP 401, WebSocket close 4401)."""


class NotFoundError(ApiError):
    """HTTP 404: the exchange, symbol or order does not exist (for this user)."""


class OrderRejected(ApiError):
    """The server refused an order: `reason` is a stable code, `message` says why."""

    def __init__(self, reason: str, message: str, status_code: int) -> None:
        super().__init__(status_code, message)
        self.args = (f"order rejected ({reason}): {message}",)
        self.reason = reason
        self.message = message


class ValidationError(ApiError):
    """HTTP 422 (not an order rejection): a parameter the server does not accept.

    `errors` holds the server's per-field problems when it sent them.
    """

    def __init__(
        self, status_code: int, detail: str, errors: list[dict[str, object]] | None = None
    ) -> None:
        super().__init__(status_code, detail)
        self.errors = errors or []


class ServerError(ApiError):
    """HTTP 5xx: the server failed; retrying later may help."""
