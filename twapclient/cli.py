"""`twap`: the command line of twap (offline tools today; server commands use the SDK)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import typer
from rich.console import Console

from twapclient._exceptions import TwapClientError
from twapcore import (
    TwapError,
)

app = typer.Typer(
    name="twap",
    help="twap: TWAP paper trading on real order books. Offline tools need no server.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
_err = Console(stderr=True, highlight=False, soft_wrap=True)


class CliError(Exception):
    """A user mistake: shown as one line, exit code 2."""


def _decimal(value: str, option: str) -> Decimal:
    """`value` of command-line `option` as an exact finite Decimal, or `CliError`."""
    try:
        parsed = Decimal(value)
    except InvalidOperation:
        raise CliError(f"{option} {value!r} is not a decimal number") from None
    if not parsed.is_finite():
        raise CliError(f"{option} {value!r} must be a finite number")
    return parsed


def usage_error_line(error: typer.TyperException) -> str:
    """A usage error as one line: the problem, then where the help is."""
    message = " ".join(error.format_message().split())
    ctx = getattr(error, "ctx", None)
    hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    return f"error: {message}{hint}"


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2, no traceback.

    Usage errors too (a missing option, an unknown command): one `error: …` line
    instead of typer's boxed panel.
    """
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as exc:  # click's exceptions, vendored by typer
        if type(exc).__name__ != "NoArgsIsHelpError":  # else typer has printed the help
            _err.print(usage_error_line(exc), markup=False)
        raise SystemExit(exc.exit_code) from None
    except typer.Abort:
        _err.print("error: aborted (no input)", markup=False)
        raise SystemExit(1) from None
    except (CliError, TwapError, TwapClientError, OSError) as exc:
        _err.print(f"error: {exc}", markup=False)
        raise SystemExit(2) from None
    raise SystemExit(code if isinstance(code, int) else 0)


# The simulate and server commands (login, submit, watch, …) register themselves on `app`;
# imported last because they use `app` and `CliError` from above.
from twapclient import cli_convert, cli_server, cli_simulate  # noqa: E402, F401
