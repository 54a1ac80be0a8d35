"""Where the `twap` CLI keeps its session: server URL, username and tokens.

`$TWAP_CONFIG_DIR/credentials.json`, else `~/.config/twap/credentials.json`;
the folder is created private (0700) and the file is written 0600, atomically.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from twapclient._exceptions import TwapClientError
from twapclient._models import Tokens

__all__ = [
    "Credentials",
    "config_dir",
    "credentials_path",
    "delete_credentials",
    "load_credentials",
    "save_credentials",
]

CONFIG_DIR_ENV = "TWAP_CONFIG_DIR"


class Credentials(BaseModel):
    """One saved session."""

    url: str
    username: str
    tokens: Tokens


def config_dir() -> Path:
    configured = os.environ.get(CONFIG_DIR_ENV)
    return Path(configured) if configured else Path.home() / ".config" / "twap"


def credentials_path() -> Path:
    return config_dir() / "credentials.json"


def load_credentials() -> Credentials | None:
    """The saved session, or None if nobody logged in; raise if the file is unreadable."""
    path = credentials_path()
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return Credentials.model_validate_json(text)
    except PydanticValidationError as error:
        raise TwapClientError(
            f"credentials file {path} is damaged ({error.errors()[0]['msg']}); "
            "log in again with `twap login URL USERNAME`"
        ) from None


def save_credentials(credentials: Credentials) -> Path:
    """Write the session readable by its owner only; return the file's path."""
    path = credentials_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # Created 0600 from the start: the tokens are never readable by others, not even briefly.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(credentials.model_dump_json(indent=2))
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    return path


def delete_credentials() -> Credentials | None:
    """Forget the saved session; return what was saved (None if nothing or a damaged file)."""
    try:
        saved = load_credentials()
    except TwapClientError:
        saved = None
    with contextlib.suppress(FileNotFoundError):
        credentials_path().unlink()
    return saved
