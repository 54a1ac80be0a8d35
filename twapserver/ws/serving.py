"""What `/ws` needs from the ASGI server that runs the app: a frame limit and token-free logs.

uvicorn reads a whole WebSocket frame (16 MiB by default) before the app sees
it, so its `ws_max_size` must be the app's own limit; and it logs request paths
with their query string, i.e. `/ws?token=<access token>`, so its log handlers
get a filter that redacts `token=` values. It also drops uvicorn's `server:` banner.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

from twapserver.settings import Settings

__all__ = ["RedactTokens", "redact_tokens", "uvicorn_options"]

# `token=`, `access_token=`, `refresh_token=` … up to the end of the query value.
_TOKEN_VALUE = re.compile(r"(token=)[^&\s\"']+")


def redact_tokens(text: str) -> str:
    """`text` with every `token=<value>` replaced by `token=[redacted]`."""
    return _TOKEN_VALUE.sub(r"\1[redacted]", text) if "token=" in text else text


class RedactTokens(logging.Filter):
    """Rewrites a record's message and string arguments so no `token=` value is logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_tokens(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact_tokens(a) if isinstance(a, str) else a for a in record.args)
        return True


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` / `uvicorn.Config` serving this app's `/ws`."""
    from uvicorn.config import LOGGING_CONFIG  # only where uvicorn runs the app

    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config.setdefault("filters", {})["redact_tokens"] = {"()": RedactTokens}
    for handler in log_config["handlers"].values():
        handler.setdefault("filters", []).append("redact_tokens")
    return {
        "ws_max_size": settings.ws_max_message_bytes,
        "log_config": log_config,
        "server_header": False,  # no `server: uvicorn` banner (hardening)
    }
