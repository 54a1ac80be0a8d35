"""`twapserver`: run the server (live or `--demo`), and administer it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
    from twapserver.settings import Settings

    overrides: dict[str, object] = {"demo": demo, "demo_speed": demo_speed}
    if demo_recording is not None:
        overrides["demo_recording"] = demo_recording
    if database_url is not None:
        overrides["database_url"] = database_url
    settings = Settings(**overrides)  # type: ignore[arg-type]
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


def main() -> None:
    app()
