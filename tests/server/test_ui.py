"""The /ui dashboard as served (page, modules, CSP) and the demo's set-up: two venues, its
own database, a fresh `demo` account per start, the start banner."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.test_input_hardening import Live, live_server
from twapserver.auth import get_user_by_name
from twapserver.auth.passwords import verify_password
from twapserver.db.engine import make_engine, make_sessionmaker
from twapserver.demo import (
    DEMO_USERNAME,
    demo_banner,
    demo_database_url,
    ensure_demo_account,
    start_demo_replay,
)
from twapserver.hub import MarketHub
from twapserver.settings import Settings
from twapserver.ui import STATIC_DIR

IMPORT = re.compile(r"""^\s*(?:import|export)\b[^"']*?from\s+["']([^"']+)["']""", re.M)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    database = tmp_path_factory.mktemp("ui") / "twap.db"
    with live_server(f"sqlite+aiosqlite:///{database}") as running:
        yield running


def _modules(base: str, entry: str) -> dict[str, httpx.Response]:
    """Every JavaScript module reachable from `entry` by static imports, fetched."""
    fetched: dict[str, httpx.Response] = {}
    pending = [entry]
    while pending:
        url = pending.pop()
        if url in fetched:
            continue
        fetched[url] = response = httpx.get(base + url)
        if url.endswith(".js"):  # the vendored .mjs bundle imports nothing
            folder = url.rsplit("/", 1)[0]
            for target in IMPORT.findall(response.text):
                pending.append(str(Path(folder, target)).replace("\\", "/"))
    return fetched


def test_dashboard_page_is_html_without_inline_script(live: Live) -> None:
    response = httpx.get(live.base + "/ui")

    policy = response.headers["content-security-policy"]
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/ui/static/js/main.js"></script>' in response.text
    assert "script-src 'self';" in policy
    assert "connect-src 'self'" in policy


def test_every_module_the_dashboard_imports_is_served(live: Live) -> None:
    modules = _modules(live.base, "/ui/static/js/main.js")

    assert {url: r.status_code for url, r in modules.items()} == dict.fromkeys(modules, 200)
    assert "/ui/static/js/orderform.js" in modules
    assert any(url.endswith("lightweight-charts.standalone.production.mjs") for url in modules)


def test_static_files_stay_inside_their_folder(live: Live) -> None:
    escaped = httpx.get(live.base + "/ui/static/%2e%2e/__init__.py")

    assert escaped.status_code == 404


def test_dashboard_refers_to_existing_static_files() -> None:
    page = (STATIC_DIR / "index.html").read_text()

    paths = re.findall(r'(?:src|href)="/ui/static/([^"]+)"', page)
    assert paths
    assert [p for p in paths if not (STATIC_DIR / p).is_file()] == []


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("sqlite+aiosqlite:///./twap.db", "sqlite+aiosqlite:///./twap-demo.db"),
        ("sqlite+aiosqlite:////data/mine.db", "sqlite+aiosqlite:////data/mine.db"),
        ("postgresql+asyncpg://u@h/twap", "postgresql+asyncpg://u@h/twap"),
    ],
)
def test_demo_uses_its_own_database_unless_one_is_chosen(given: str, used: str) -> None:
    assert demo_database_url(given) == used


def test_demo_default_database_differs_from_the_live_default() -> None:
    live_default = Settings.model_fields["database_url"].default

    assert demo_database_url(live_default) != live_default


async def _password_hash(url: str) -> str:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            user = await get_user_by_name(session, DEMO_USERNAME)
            assert user is not None
            return user.password_hash
    finally:
        await engine.dispose()


def test_demo_account_gets_a_new_password_at_every_start(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'twap-demo.db'}"

    first = asyncio.run(ensure_demo_account(url))
    second = asyncio.run(ensure_demo_account(url))
    stored = asyncio.run(_password_hash(url))

    assert first != second
    assert verify_password(second, stored)
    assert not verify_password(first, stored)


class _BookWatch(MarketHub):
    """The real hub, noting which venues have sent a book (an event once all of them)."""

    def __init__(self, venues: set[str]) -> None:
        super().__init__()
        self.waiting = set(venues)
        self.all_seen = asyncio.Event()

    def on_book(self, exchange: str, symbol: str, provider: Any, ts_recv: int) -> None:
        super().on_book(exchange, symbol, provider, ts_recv)
        self.waiting.discard(exchange)
        if not self.waiting:
            self.all_seen.set()


async def test_demo_replays_binance_and_kraken() -> None:
    hub = _BookWatch({"binance", "kraken"})
    tasks = start_demo_replay(hub, Settings(demo=True))
    try:
        await asyncio.wait_for(hub.all_seen.wait(), timeout=10)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    assert hub.exchanges() == ["binance", "kraken"]
    assert {i.symbol for i in hub.instruments("kraken")} >= {"BTC-CHF", "XMR-USD"}


def test_banner_names_the_pages_the_account_and_the_database() -> None:
    banner = demo_banner(
        "http://127.0.0.1:8000", "s3cret-pass", "sqlite+aiosqlite:///./twap-demo.db"
    )

    assert "http://127.0.0.1:8000/ui" in banner
    assert "http://127.0.0.1:8000/docs" in banner
    assert "user demo  password s3cret-pass" in banner
    assert "twap-demo.db" in banner
    assert len(banner.splitlines()) <= 24
