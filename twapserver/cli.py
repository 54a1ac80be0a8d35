"""`twapserver`: run the server (live or `--demo`), and administer it."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from twapserver.settings import Settings

app = typer.Typer(
    name="twapserver",
    help="twap server: market data collection, REST/WS API and the paper-trading engine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _group() -> None:
    """twap server: market data collection, REST/WS API and the paper-trading engine."""


def _fail(message: str) -> NoReturn:
    """One line on stderr and exit code 2: the refusal, without a traceback."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _settings(**options: object) -> Settings:
    """Settings from the `TWAP_` environment, overridden by the command-line options given."""
    from twapserver.settings import Settings

    given = {name: value for name, value in options.items() if value is not None}
    return Settings(**given)  # type: ignore[arg-type]


@app.command("run")
def run(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0 = any free port).")] = 8000,
    demo: Annotated[
        bool, typer.Option("--demo", help="Replay the bundled recording; no network needed.")
    ] = False,
    demo_recording: Annotated[
        Path | None, typer.Option(help="Recording to replay in demo mode.")
    ] = None,
    demo_speed: Annotated[float, typer.Option(help="Demo replay speed factor.")] = 1.0,
    database_url: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL (default: TWAP_DATABASE_URL or SQLite).")
    ] = None,
) -> None:
    """Serve the API (and collect live books unless --demo)."""
    import uvicorn

    from twapserver.app import create_app
    from twapserver.auth import InsecureSecretError

    settings = _settings(
        demo=demo, demo_speed=demo_speed, demo_recording=demo_recording, database_url=database_url
    )
    try:
        application = create_app(settings)
    except InsecureSecretError as error:
        _fail(str(error))
    uvicorn.run(application, host=host, port=port, log_level="info")


# --- collect / record -----------------------------------------------------

RecordEveryMs = Annotated[
    int | None,
    typer.Option(
        help="Book recording cadence per symbol, ms (default: TWAP_RECORD_EVERY_MS or 100)."
    ),
]


@app.command("collect")
def collect(
    record_dir: Annotated[
        Path | None, typer.Option(help="Also record into a new file in this folder.")
    ] = None,
    record_every_ms: RecordEveryMs = None,
) -> None:
    """Collect live books and trades (no HTTP API) until Ctrl-C or SIGTERM."""
    _collect(_settings(record_dir=record_dir, record_every_ms=record_every_ms))


@app.command("record")
def record(
    out: Annotated[Path, typer.Option("--out", help="Folder of the recording (made if missing).")],
    record_every_ms: RecordEveryMs = None,
) -> None:
    """Record live books and trades into a new file in --out until Ctrl-C or SIGTERM."""
    _collect(_settings(record_dir=out, record_every_ms=record_every_ms))


def _collect(settings: Settings) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(_collect_until_signalled(settings))


async def _collect_until_signalled(settings: Settings) -> None:
    from twapserver.collectors import Collectors  # cryptofeed only when collecting
    from twapserver.hub import MarketHub
    from twapserver.recorder import recorder_for

    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    hub = MarketHub(max_book_age_s=settings.max_book_age_s)
    collectors = Collectors(settings, hub)
    await collectors.start()
    recorder = recorder_for(settings, hub)
    try:
        if recorder is not None:
            typer.echo(f"recording to {recorder.start()}")
        typer.echo(f"collecting from {', '.join(hub.exchanges())}; Ctrl-C to stop")
        await stop.wait()
    finally:
        await collectors.stop()
        if recorder is not None:
            await recorder.stop()
            typer.echo(
                f"wrote {recorder.books_written} books and {recorder.trades_written} trades "
                f"to {recorder.path}"
            )


# --- end collect / record -------------------------------------------------


# --- users ----------------------------------------------------------------

users_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)
app.add_typer(users_app, name="users")


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Username: 3-64 of letters, digits, _ . -")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from one line of stdin.")
    ] = False,
    database_url: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL (default: TWAP_DATABASE_URL or SQLite).")
    ] = None,
) -> None:
    """Create an account (migrating the database first); prompts for the password."""
    from twapserver.auth import AccountError, check_password, check_username
    from twapserver.settings import Settings

    try:
        # Refuse a bad name before asking for a password that would be thrown away.
        check_username(name)
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        check_password(password)
        url = database_url or Settings().database_url
        user_id = asyncio.run(_add_user(url, name, password))
    except AccountError as error:
        _fail(str(error))
    typer.echo(f"added user {name!r} (id {user_id})")


async def _add_user(database_url: str, name: str, password: str) -> int:
    from twapserver.auth import create_user
    from twapserver.db.engine import make_engine, make_sessionmaker, upgrade_database

    await upgrade_database(database_url)
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            user = await create_user(session, name, password, now_ns=time.time_ns())
            await session.commit()
            return user.id
    finally:
        await engine.dispose()


# --- end users ------------------------------------------------------------


def main() -> None:
    app()
