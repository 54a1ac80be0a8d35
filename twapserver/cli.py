"""`twapserver`: run the server (live or `--demo`), and administer it."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from fastapi import FastAPI
    from sqlalchemy.ext.asyncio import AsyncSession

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


# --- roles: api / engine / collect / record ------------------------------------

Host = Annotated[str, typer.Option(help="Interface to listen on.")]
Port = Annotated[int, typer.Option(help="TCP port (0 = any free port).")]
Demo = Annotated[
    bool, typer.Option("--demo", help="Replay the bundled recording; no network needed.")
]
DemoRecording = Annotated[Path | None, typer.Option(help="Recording to replay in demo mode.")]
DemoSpeed = Annotated[float | None, typer.Option(help="Demo replay speed factor (default 1).")]
DatabaseUrlOption = Annotated[
    str | None, typer.Option(help="SQLAlchemy URL (default: TWAP_DATABASE_URL or SQLite).")
]
MetricsPort = Annotated[
    int | None,
    typer.Option(help="Serve Prometheus /metrics on this port (0 = any free port, logged)."),
]
WORKER_HEALTHCHECK_S = 60
RecordEveryMs = Annotated[
    int | None,
    typer.Option(
        help="Book recording cadence per symbol, ms (default: TWAP_RECORD_EVERY_MS or 100)."
    ),
]


@app.command("run")
def run(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    demo: Demo = False,
    demo_recording: DemoRecording = None,
    demo_speed: DemoSpeed = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Serve the API, run the engine and collect live books (or --demo): one process."""
    import uvicorn

    from twapserver.ws.serving import uvicorn_options

    settings = _role_settings(
        "all",
        demo=demo,
        demo_speed=demo_speed,
        demo_recording=demo_recording,
        database_url=database_url,
    )
    if settings.demo:
        settings = _prepare_demo(settings, f"http://{host}:{port}")
    application = _app(settings)
    # /ws's frame limit for uvicorn's reader, and no `?token=` in its logs.
    uvicorn.run(application, host=host, port=port, log_level="info", **uvicorn_options(settings))


def _prepare_demo(settings: Settings, base_url: str) -> Settings:
    """Demo settings on the demo's own database, with the `demo` account ready; prints
    the start banner (URLs, account, next commands)."""
    from twapserver.demo import demo_banner, demo_database_url, ensure_demo_account

    settings = settings.model_copy(
        update={"database_url": demo_database_url(settings.database_url)}
    )
    password = asyncio.run(ensure_demo_account(settings.database_url))
    typer.echo(demo_banner(base_url, password, settings.database_url))
    return settings


def _role_settings(role: str, workers: int = 1, **options: object) -> Settings:
    """Settings of `role`, refused (one line, exit 2) when the role cannot work with them."""
    from pydantic import ValidationError

    from twapserver.roles import RoleError, check_role

    try:
        settings = _settings(role=role, **options)
        check_role(settings, workers)
    except ValidationError as error:
        first = error.errors()[0]
        _fail(f"{'.'.join(map(str, first['loc']))}: {first['msg']}")
    except (RoleError, ValueError) as error:
        _fail(str(error))
    return settings


def _app(settings: Settings) -> FastAPI:
    """The app of `settings`; the server's refusals (an insecure secret) as one-line errors."""
    from twapserver.app import create_app
    from twapserver.auth import InsecureSecretError

    try:
        return create_app(settings)
    except InsecureSecretError as error:
        _fail(str(error))


@app.command("api")
def api(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes.")] = 1,
    database_url: DatabaseUrlOption = None,
) -> None:
    """REST + /ws beside `collect` and `engine` processes (needs TWAP_BUS_URL=redis://…)."""
    import os

    import uvicorn

    from twapserver.ws.serving import uvicorn_options

    settings = _role_settings("api", workers, database_url=database_url)
    application = _app(settings)  # refuses what every worker would refuse
    options = uvicorn_options(settings)
    if workers == 1:
        uvicorn.run(application, host=host, port=port, log_level="info", **options)
        return
    # Worker processes build their own app from the environment they inherit.
    os.environ["TWAP_ROLE"] = "api"
    if database_url is not None:
        os.environ["TWAP_DATABASE_URL"] = database_url
    uvicorn.run(
        "twapserver.app:create_app_from_env",
        factory=True,
        workers=workers,
        # A worker imports the whole server before it answers uvicorn's health check;
        # on a busy host that takes longer than the 5 s default, and it would be killed.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
        host=host,
        port=port,
        log_level="info",
        **options,
    )


@app.command("engine")
def engine(
    database_url: DatabaseUrlOption = None,
    metrics_port: MetricsPort = None,
    metrics_host: Host = "127.0.0.1",
) -> None:
    """Execute orders (any number of engines share the database by leases) until SIGTERM."""
    from twapserver.roles import run_engine_role

    settings = _role_settings("engine", database_url=database_url)
    _run_until_signalled(run_engine_role, settings, metrics_host, metrics_port)


@app.command("collect")
def collect(
    demo: Demo = False,
    demo_recording: DemoRecording = None,
    demo_speed: DemoSpeed = None,
    database_url: DatabaseUrlOption = None,
    record_dir: Annotated[
        Path | None, typer.Option(help="Also record into a new file in this folder.")
    ] = None,
    record_every_ms: RecordEveryMs = None,
    metrics_port: MetricsPort = None,
    metrics_host: Host = "127.0.0.1",
) -> None:
    """Collect books and trades (or --demo) for the bus, storing candles; no HTTP API.

    With TWAP_BUS_URL=memory:// it only records (--record-dir), as `record` does.
    """
    settings = _role_settings(
        "collect",
        demo=demo,
        demo_recording=demo_recording,
        demo_speed=demo_speed,
        database_url=database_url,
        record_dir=record_dir,
        record_every_ms=record_every_ms,
    )
    _collect(settings, metrics_host, metrics_port)


@app.command("record")
def record(
    out: Annotated[Path, typer.Option("--out", help="Folder of the recording (made if missing).")],
    record_every_ms: RecordEveryMs = None,
) -> None:
    """Record live books and trades into a new file in --out until Ctrl-C or SIGTERM."""
    settings = _role_settings(
        "collect", bus_url="memory://", record_dir=out, record_every_ms=record_every_ms
    )
    _collect(settings, "127.0.0.1", None)


def _collect(settings: Settings, metrics_host: str, metrics_port: int | None) -> None:
    from twapserver.roles import run_collect_role

    async def collect_and_report(settings: Settings, stop: asyncio.Event) -> None:
        market = await run_collect_role(settings, stop)
        recorder = market.recorder
        if recorder is not None:
            typer.echo(
                f"wrote {recorder.books_written} books and {recorder.trades_written} trades "
                f"to {recorder.path}"
            )

    _run_until_signalled(collect_and_report, settings, metrics_host, metrics_port)


def _run_until_signalled(
    role: Callable[[Settings, asyncio.Event], Awaitable[object]],
    settings: Settings,
    metrics_host: str,
    metrics_port: int | None,
) -> None:
    """Run `role` until SIGINT or SIGTERM, with /metrics on `metrics_port` when given."""
    from twapserver.roles import serve_metrics

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    stop_metrics = serve_metrics(metrics_host, metrics_port) if metrics_port is not None else None

    async def main() -> None:
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        await role(settings, stop)

    try:
        asyncio.run(main())
    finally:
        if stop_metrics is not None:
            stop_metrics()


# --- end roles -------------------------------------------------------------


# --- users ----------------------------------------------------------------

users_app = typer.Typer(
    help="Manage accounts. Disabling a user, deleting one or changing a password revokes "
    "their tokens (running servers notice within TWAP_USER_CACHE_TTL_S).",
    no_args_is_help=True,
)
app.add_typer(users_app, name="users")

T = TypeVar("T")
UserName = Annotated[str, typer.Argument(help="Username: 3-64 of letters, digits, _ . -")]
DatabaseUrl = Annotated[
    str | None, typer.Option(help="SQLAlchemy URL (default: TWAP_DATABASE_URL or SQLite).")
]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from one line of stdin.")
]


def _read_password(from_stdin: bool) -> str:
    """The new password, from one stdin line or a confirmed hidden prompt, checked."""
    from twapserver.auth import check_password

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    check_password(password)
    return password


def _on_accounts(database_url: str | None, action: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `action` with a session on the (migrated) database; one-line errors, exit 2."""
    from sqlalchemy import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from twapserver.auth import AccountError
    from twapserver.settings import Settings

    url = database_url or Settings().database_url

    async def run() -> T:
        from twapserver.db.engine import make_engine, make_sessionmaker, upgrade_database

        await upgrade_database(url)
        engine = make_engine(url)
        try:
            async with make_sessionmaker(engine)() as session:
                return await action(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except AccountError as error:
        _fail(str(error))
    except (OSError, SQLAlchemyError) as error:
        shown = make_url(url).render_as_string(hide_password=True)
        _fail(f"database {shown}: {str(error).splitlines()[0]}")


@users_app.command("add")
def users_add(
    name: UserName, password_stdin: PasswordStdin = False, database_url: DatabaseUrl = None
) -> None:
    """Create an account (migrating the database first); prompts for the password."""
    from twapserver.auth import AccountError, check_username, create_user

    try:
        # Refuse a bad name before asking for a password that would be thrown away.
        check_username(name)
        password = _read_password(password_stdin)
    except AccountError as error:
        _fail(str(error))

    async def add(session: AsyncSession) -> int:
        user = await create_user(session, name, password, now_ns=time.time_ns())
        await session.commit()
        return user.id

    typer.echo(f"added user {name!r} (id {_on_accounts(database_url, add)})")


@users_app.command("list")
def users_list(database_url: DatabaseUrl = None) -> None:
    """Show every account: id, name, status, number of orders, creation time (ISO-8601 UTC)."""
    from twapcore.formatting import iso_ns
    from twapserver.auth.admin import list_users

    users = _on_accounts(database_url, list_users)
    name_width = max([len("username"), *(len(user.username) for user in users)])
    typer.echo(f"{'id':>6}  {'username':{name_width}}  {'status':8}  {'orders':>6}  created")
    for user in users:
        created = iso_ns(user.created_ns)
        status = "disabled" if user.disabled else "active"
        typer.echo(
            f"{user.id:>6}  {user.username:{name_width}}  {status:8}  {user.orders:>6}  {created}"
        )


@users_app.command("disable")
def users_disable(name: UserName, database_url: DatabaseUrl = None) -> None:
    """Refuse the user's logins and revoke all their tokens (their orders keep running)."""
    from twapserver.auth.admin import set_disabled

    user_id = _on_accounts(database_url, lambda session: set_disabled(session, name, True))
    typer.echo(f"disabled user {name!r} (id {user_id}); their tokens are revoked")


@users_app.command("enable")
def users_enable(name: UserName, database_url: DatabaseUrl = None) -> None:
    """Let a disabled user log in again (tokens revoked by disabling stay revoked)."""
    from twapserver.auth.admin import set_disabled

    user_id = _on_accounts(database_url, lambda session: set_disabled(session, name, False))
    typer.echo(f"enabled user {name!r} (id {user_id})")


@users_app.command("delete")
def users_delete(
    name: UserName,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Delete an account with all its orders; its id is never given to anyone else."""
    from twapserver.auth.admin import delete_user

    if not yes:
        typer.confirm(f"Delete user {name!r} and all their orders?", abort=True)
    user_id, orders = _on_accounts(database_url, lambda session: delete_user(session, name))
    typer.echo(f"deleted user {name!r} (id {user_id}) and {orders} orders")


@users_app.command("passwd")
def users_passwd(
    name: UserName, password_stdin: PasswordStdin = False, database_url: DatabaseUrl = None
) -> None:
    """Set a new password (prompted) and revoke all the user's tokens."""
    from twapserver.auth import AccountError
    from twapserver.auth.admin import change_password

    try:
        password = _read_password(password_stdin)
    except AccountError as error:
        _fail(str(error))
    user_id = _on_accounts(database_url, lambda session: change_password(session, name, password))
    typer.echo(f"changed the password of {name!r} (id {user_id}); their tokens are revoked")


# --- end users ------------------------------------------------------------


def main() -> None:
    """Entry point: a usage error is one `error: …` line and exit code 2 (no boxed panel)."""
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as exc:  # click's exceptions, vendored by typer
        if type(exc).__name__ != "NoArgsIsHelpError":  # else typer has printed the help
            message = " ".join(exc.format_message().split())
            ctx = getattr(exc, "ctx", None)
            hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            typer.echo(f"error: {message}{hint}", err=True)
        raise SystemExit(exc.exit_code) from None
    except typer.Abort:  # end of input at a prompt (Ctrl-C exits 130 without a word)
        typer.echo("error: aborted (no input)", err=True)
        raise SystemExit(1) from None
    raise SystemExit(code if isinstance(code, int) else 0)
