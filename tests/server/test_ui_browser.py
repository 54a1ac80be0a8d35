"""The dashboard and the offline docs in a real browser (Playwright driving Debian's Chromium)
against `twapserver run --demo` on a free port.

Chromium is installed with apt-get when missing and running as root; otherwise (or
without the `playwright` package) these tests are skipped with the reason shown.
Screenshots (1280×800 and phone width) go to a temporary folder, printed in the log.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.core.builders import book
from tests.server.server_process import free_port
from twapcore import InstrumentInfo, RecordingWriter
from twapcore.recording import instrument_to_record

CHROMIUM = "/usr/bin/chromium"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 15_000


def _chromium() -> str:
    """Debian's Chromium, installed with apt-get when missing and we are root; else a skip."""
    if shutil.which(CHROMIUM):
        return CHROMIUM
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip(f"{CHROMIUM} is missing and apt-get install needs root (uid {os.geteuid()})")
    install = ["apt-get", "install", "-y", "chromium"]
    done = subprocess.run(install, capture_output=True, text=True, check=False)
    if done.returncode != 0:  # a stale package list: update once, then try again
        subprocess.run(["apt-get", "update"], capture_output=True, check=False)
        done = subprocess.run(install, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not shutil.which(CHROMIUM):
        pytest.skip(f"apt-get install chromium failed: {done.stderr.strip()[-300:]}")
    return CHROMIUM


class Demo:
    """A running `twapserver run --demo`: its URL, folder and the demo account's password."""

    def __init__(self, base: str, folder: Path, password: str) -> None:
        self.base = base
        self.folder = folder
        self.password = password


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    yield from _run_demo(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def two_venue_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """`twapserver run --demo` replaying a test recording where binance and kraken both list
    BTC-USDT: the bundled demo's venues share no symbol (binance BTC-USDT; kraken BTC-CHF,
    ETH-CHF, …), so a cross-venue order needs books of one symbol on both."""
    folder = tmp_path_factory.mktemp("two-venue-demo")
    recording = folder / "two-venues.jsonl"
    with RecordingWriter(recording) as writer:
        for venue in ("binance", "kraken"):
            info = InstrumentInfo(venue, "BTC-USDT", Decimal("0.1"), Decimal("0.00001"))
            writer.write_record(instrument_to_record(info))
        for second in range(60):
            ts = second * 1_000_000_000
            for venue, ask in (("binance", "64001"), ("kraken", "64000")):
                snapshot = book(bids=(("63990", "1"),), asks=((ask, "1"),), ts=ts)
                writer.write(replace(snapshot, exchange=venue, version=second + 1))
    yield from _run_demo(folder, {"TWAP_DEMO_RECORDING": str(recording)})


def _run_demo(folder: Path, extra_env: dict[str, str] | None = None) -> Iterator[Demo]:
    log_path = folder / "server.log"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWAP_")} | (extra_env or {})
    command = [sys.executable, "-c", "from twapserver.cli import main; main()", "run", "--demo"]
    # The log goes to a file: a pipe nobody reads would stall the server once full.
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*command, "--port", str(port)], cwd=folder, env=env, stdout=log, stderr=log
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                httpx.get(base + "/health", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.05)
        found = re.search(r"user demo\s+password (\S+)", log_path.read_text())
        assert found, log_path.read_text()
        yield Demo(base, folder, found.group(1))
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    executable = _chromium()
    with sync_api.sync_playwright() as playwright:
        # --no-sandbox: Chromium refuses its sandbox when run as root (CI runs as root).
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("screenshots")
    print(f"screenshots in {folder}")
    return folder


@pytest.fixture(scope="module")
def session(demo: Demo) -> dict[str, str]:
    """One token pair of `demo` (plus its name), as the dashboard keeps it in sessionStorage."""
    form = {"username": "demo", "password": demo.password}
    pair: dict[str, str] = httpx.post(demo.base + "/auth/token", data=form).json()
    return {**pair, "username": "demo"}


def _logged_in(
    browser: Any,
    demo: Demo,
    viewport: dict[str, int],
    session: dict[str, str] | None = None,
    answers: dict[str, Any] | None = None,
) -> Any:
    """A page of the dashboard, logged in with the form, or (`session`) already holding that
    token pair, which saves a password check per test; `answers` ({url pattern: JSON})
    replace the server's answers for those URLs."""
    page = browser.new_page(viewport=viewport)
    page.set_default_timeout(TIMEOUT_MS)
    for pattern, body in (answers or {}).items():
        page.route(pattern, _answer(body))
    if session is not None:
        page.add_init_script(
            f"sessionStorage.setItem('twap.tokens', {json.dumps(json.dumps(session))})"
        )
    page.goto(demo.base + "/ui")
    if session is None:
        page.get_by_label("Username").fill("demo")
        page.get_by_label("Password").fill(demo.password)
        page.get_by_role("button", name="Log in").click()
    page.wait_for_selector("#order-form button[type=submit]")
    return page


def _answer(body: Any) -> Any:
    """A route handler answering `body` as JSON (Playwright passes a handler taking two
    arguments the request too, so the body cannot be a defaulted argument)."""
    return lambda route: route.fulfill(json=body)


def _errors(page: Any) -> list[str]:
    """Script errors and console errors (a CSP violation is one) the page reports from now on."""
    seen: list[str] = []
    page.on("pageerror", lambda error: seen.append(str(error)))
    page.on("console", lambda m: seen.append(m.text) if m.type == "error" else None)
    return seen


def _book_seq(page: Any, exchange: str) -> str:
    """Wait for a book of `exchange` and return its sequence marker."""
    selector = f"#book[data-exchange='{exchange}'] tbody tr"
    page.wait_for_selector(selector)
    return str(page.get_attribute("#book", "data-seq"))


def _wait_book_update(page: Any, exchange: str) -> None:
    first = _book_seq(page, exchange)
    page.wait_for_function(
        "([exchange, seq]) => { const t = document.getElementById('book');"
        " return t.dataset.exchange === exchange && t.dataset.seq !== seq; }",
        arg=[exchange, first],
    )


def _submit(page: Any, quantity: str, duration: str, slices: str) -> str:
    token = page.input_value("#field-token_id")
    page.fill("#field-quantity", quantity)
    page.fill("#field-limit_price", "1000000")
    page.fill("#field-duration_s", duration)
    page.fill("#field-slices", slices)
    page.get_by_role("button", name="Submit TWAP").click()
    return token


def test_demo_keeps_its_own_database_file(demo: Demo) -> None:
    banner = (demo.folder / "server.log").read_text()

    assert (demo.folder / "twap-demo.db").is_file()
    assert not (demo.folder / "twap.db").exists()
    assert f"{demo.base}/ui" in banner and f"{demo.base}/docs" in banner


def test_login_shows_both_venues_books_updating(
    browser: Any, demo: Demo, screenshots: Path
) -> None:
    page = _logged_in(browser, demo, DESKTOP)
    errors = _errors(page)

    _wait_book_update(page, "binance")
    page.select_option("#exchange", "kraken")
    page.select_option("#symbol", "BTC-CHF")
    _wait_book_update(page, "kraken")

    rows = page.locator("#book tbody tr")
    assert 1 <= rows.count() <= 10
    assert page.get_attribute("#book", "data-symbol") == "BTC-CHF"
    assert errors == []
    page.screenshot(path=screenshots / "kraken-book-1280x800.png")
    page.close()


def test_interval_switch_reloads_the_klines(
    browser: Any, demo: Demo, session: dict[str, str]
) -> None:
    page = _logged_in(browser, demo, DESKTOP, session)
    asked = "/klines/binance/BTC-USDT?interval=5m"

    with page.expect_response(lambda r: asked in r.url) as answer:
        page.select_option("#interval", "5m")

    assert answer.value.status == 200
    assert answer.value.json()  # the replay's trades made candles, and the chart got them
    page.close()


def test_submitted_order_shows_progress_and_fills(
    browser: Any, demo: Demo, session: dict[str, str], screenshots: Path
) -> None:
    page = _logged_in(browser, demo, DESKTOP, session)
    errors = _errors(page)
    _book_seq(page, "binance")

    token = _submit(page, quantity="0.002", duration="2", slices="2")

    page.wait_for_selector(f"#detail[data-token='{token}'][data-status='completed']")
    assert page.locator("#fills tbody tr").count() >= 2
    assert page.locator(f"#orders tr[data-token='{token}'][data-status='completed']").count() == 1
    assert page.get_attribute("#progress path.filled", "d").count("L") >= 4
    assert "0.002 of 0.002" in page.inner_text("#detail-summary")
    assert errors == []
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=screenshots / "dashboard-1280x800.png")
    page.screenshot(path=screenshots / "order-detail-1280x800.png", full_page=True)
    page.close()


def test_cancel_stops_a_working_order(browser: Any, demo: Demo, session: dict[str, str]) -> None:
    page = _logged_in(browser, demo, DESKTOP, session)
    _book_seq(page, "binance")
    token = _submit(page, quantity="0.01", duration="600", slices="10")
    page.wait_for_selector(f"#detail[data-token='{token}']")

    page.get_by_role("button", name="Cancel order").click()

    page.wait_for_selector(f"#detail[data-token='{token}'][data-status='cancelled']")
    assert page.locator(f"#orders tr[data-token='{token}'][data-status='cancelled']").count() == 1
    assert page.is_disabled("#cancel")
    page.close()


def test_bad_quantity_is_explained_next_to_the_quantity_field(
    browser: Any, demo: Demo, session: dict[str, str], screenshots: Path
) -> None:
    page = _logged_in(browser, demo, PHONE, session)

    _submit(page, quantity="0.000001", duration="60", slices="2")

    error = page.locator("#field-quantity-error")
    error.wait_for()
    page.wait_for_function("document.getElementById('field-quantity-error').textContent !== ''")
    assert "below the lot size 0.00001" in error.inner_text()
    assert page.get_attribute("#field-quantity", "aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "field-quantity"
    # Usable at phone width: nothing wider than the screen (wide tables scroll inside).
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=screenshots / "rejection-phone.png", full_page=True)
    page.close()


def _with_pov(document: dict[str, Any], shape: str) -> dict[str, Any]:
    """`{url pattern: JSON}` the page gets instead of the server's answers: its OpenAPI
    document plus a `pov` algorithm with a `participation` parameter, offered as
    * `route`: its own `POST /orders/pov`;
    * `union`: a variant of a discriminated `POST /orders` body;
    * `list`: one entry of `GET /algorithms` over a flat `POST /orders` body."""
    paths, schemas = document["paths"], document["components"]["schemas"]
    paths.pop("/algorithms", None)
    twap = schemas["TwapOrderCreate"]
    participation = {"type": "string", "description": "share of the market volume"}
    pov = {**twap, "properties": {**twap["properties"], "participation": participation}}
    post = paths["/orders/twap"]["post"]
    if shape == "route":
        schemas["PovOrderCreate"] = pov
        paths["/orders/pov"] = {
            "post": _with_body(post, {"$ref": "#/components/schemas/PovOrderCreate"})
        }
        return {"**/openapi.json": document}
    if shape == "union":
        variants = []
        for name, schema in (("twap", twap), ("pov", pov)):
            schemas[f"{name}Body"] = {
                **schema,
                "properties": {"algorithm": {"const": name}, **schema["properties"]},
            }
            variants.append({"$ref": f"#/components/schemas/{name}Body"})
        union = {"oneOf": variants, "discriminator": {"propertyName": "algorithm"}}
        paths["/orders"]["post"] = _with_body(post, union)
        return {"**/openapi.json": document}
    flat = {**pov, "properties": {**pov["properties"], "algorithm": {"enum": ["twap", "pov"]}}}
    paths["/orders"]["post"] = _with_body(post, flat)
    paths["/algorithms"] = {"get": {"responses": {}}}
    parameter = {"name": "participation", "type": "decimal", "required": True}
    listed = [
        {"name": "twap", "description": "even slices", "parameters": []},
        {"name": "pov", "description": "a share of the volume", "parameters": [parameter]},
    ]
    return {"**/openapi.json": document, "**/algorithms": listed}


def _with_body(post: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    return {**post, "requestBody": {"content": {"application/json": {"schema": schema}}}}


@pytest.mark.parametrize("shape", ["route", "union", "list"])
def test_an_algorithm_the_server_adds_appears_in_the_form(
    browser: Any, demo: Demo, session: dict[str, str], shape: str
) -> None:
    answers = _with_pov(httpx.get(demo.base + "/openapi.json").json(), shape)
    page = _logged_in(browser, demo, DESKTOP, session, answers=answers)
    twap_fields = page.locator("#order-form input, #order-form select").count()

    page.select_option("#algorithm", "pov")

    assert page.locator("#algorithm option").all_inner_texts() == ["twap", "pov"]
    assert page.get_by_label("participation").is_visible()
    assert page.locator("#order-form input, #order-form select").count() == twap_fields + 1
    assert page.locator("#field-algorithm").count() == 0  # set by the choice itself
    assert page.get_by_role("button", name="Submit POV").is_visible()
    page.close()


def test_the_form_offers_every_algorithm_the_server_lists(
    browser: Any, demo: Demo, session: dict[str, str]
) -> None:
    listed = httpx.get(demo.base + "/algorithms")
    expected = [a["name"] for a in listed.json()] if listed.status_code == 200 else ["twap"]

    page = _logged_in(browser, demo, DESKTOP, session)

    assert page.locator("#algorithm option").all_inner_texts() == expected
    page.close()


def test_an_expired_access_token_is_refreshed_on_the_next_request(browser: Any, demo: Demo) -> None:
    page = _logged_in(browser, demo, DESKTOP)
    stored = "JSON.parse(sessionStorage.getItem('twap.tokens'))"
    first = page.evaluate(stored)
    page.evaluate(
        f"sessionStorage.setItem('twap.tokens', JSON.stringify({{...{stored}, access_token: 'expired'}}))"
    )

    token = _submit(page, quantity="0.001", duration="60", slices="2")

    page.wait_for_selector(f"#orders tr[data-token='{token}']")
    renewed = page.evaluate(stored)
    assert renewed["access_token"] not in ("expired", first["access_token"])
    assert renewed["refresh_token"] != first["refresh_token"]
    page.close()


def test_login_works_with_the_keyboard_alone(browser: Any, demo: Demo) -> None:
    page = browser.new_page(viewport=DESKTOP)
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(demo.base + "/ui")

    page.keyboard.type("demo")  # the username field has the focus on arrival
    page.keyboard.press("Tab")
    page.keyboard.type(demo.password)
    page.keyboard.press("Enter")

    page.wait_for_selector("#order-form button[type=submit]")
    assert page.inner_text("#session") == "logged in as demo"
    page.close()


@pytest.mark.parametrize(("path", "shown"), [("/docs", "/orders/twap"), ("/redoc", "/orders/twap")])
def test_docs_render_with_every_other_host_blocked(
    browser: Any, demo: Demo, path: str, shown: str
) -> None:
    page = browser.new_page(viewport=DESKTOP)
    page.set_default_timeout(TIMEOUT_MS)
    elsewhere: list[str] = []

    def only_the_server(route: Any) -> None:
        if route.request.url.startswith(demo.base):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_server)
    page.goto(demo.base + path)

    page.get_by_text(shown).first.wait_for()
    assert elsewhere == []
    page.close()


def _session_of(demo: Demo) -> dict[str, str]:
    form = {"username": "demo", "password": demo.password}
    pair: dict[str, str] = httpx.post(demo.base + "/auth/token", data=form).json()
    return {**pair, "username": "demo"}


def test_the_venues_field_offers_only_venues_listing_the_symbol(
    browser: Any, demo: Demo, session: dict[str, str]
) -> None:
    page = _logged_in(browser, demo, DESKTOP, session)

    boxes = page.locator("#field-venues input[name=venue]")
    page.wait_for_selector("#field-venues-binance")
    offered = [boxes.nth(i).get_attribute("value") for i in range(boxes.count())]
    note = page.inner_text("#field-venues")
    page.select_option("#exchange", "kraken")
    page.select_option("#symbol", "BTC-CHF")
    page.wait_for_selector("#field-venues-kraken")

    assert offered == ["binance"]  # kraken does not list BTC-USDT
    assert "only binance lists BTC-USDT" in note
    assert page.locator("#field-venues input[name=venue]").count() == 1
    assert "only kraken lists BTC-CHF" in page.inner_text("#field-venues")
    page.close()


def test_a_cross_venue_order_is_accepted_and_shows_its_venues(
    browser: Any, two_venue_demo: Demo, screenshots: Path
) -> None:
    page = _logged_in(browser, two_venue_demo, DESKTOP, _session_of(two_venue_demo))
    errors = _errors(page)
    _book_seq(page, "binance")
    page.check("#field-venues-kraken")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    first_token = _submit(page, quantity="0.002", duration="2", slices="2")  # one venue ticked
    assert "two or more venues" in page.inner_text("#field-venues-error")
    assert page.input_value("#field-token_id") == first_token and posts == []  # nothing sent
    page.check("#field-venues-binance")

    with page.expect_response(lambda r: r.url.endswith("/orders")) as answer:
        token = _submit(page, quantity="0.002", duration="2", slices="2")

    assert answer.value.status == 201, answer.value.text()
    assert answer.value.request.post_data_json["venues"] == ["binance", "kraken"]
    done = f"#detail[data-token='{token}'][data-status='completed']"
    page.wait_for_selector(done)
    assert page.get_attribute("#detail", "data-venues") == "binance,kraken"
    assert page.get_attribute(f"#orders tr[data-token='{token}']", "data-venues") == (
        "binance,kraken"
    )
    assert "binance+kraken BTC-USDT" in page.inner_text("#detail-summary")
    venue_rows = page.locator("#venues tbody tr")
    assert page.is_visible("#venues") and venue_rows.count() >= 1
    assert "kraken" in page.inner_text("#venues")  # its ask (64000) is the better one
    assert errors == []
    page.screenshot(path=screenshots / "cross-venue-order-1280x800.png", full_page=True)
    page.close()


def test_a_pov_order_without_duration_runs_until_filled(
    browser: Any, demo: Demo, session: dict[str, str]
) -> None:
    page = _logged_in(browser, demo, DESKTOP, session)
    page.select_option("#algorithm", "pov")
    assert page.get_attribute("#field-duration_s", "required") is None  # pov may leave it out
    token = page.input_value("#field-token_id")
    page.fill("#field-quantity", "0.001")
    page.fill("#field-limit_price", "1000000")
    page.fill("#field-interval_s", "1")
    page.fill("#field-participation", "0.5")

    with page.expect_response(lambda r: r.url.endswith("/orders")) as answer:
        page.get_by_role("button", name="Submit POV").click()

    assert answer.value.status == 201, answer.value.text()
    assert "duration_s" not in answer.value.request.post_data_json
    page.wait_for_selector(f"#detail[data-token='{token}']")
    assert "/1000" in page.inner_text("#detail-summary")  # the server's cap: 1000 steps
    page.close()


def test_twap_still_marks_duration_as_required(
    browser: Any, demo: Demo, session: dict[str, str]
) -> None:
    page = _logged_in(browser, demo, DESKTOP, session)

    assert page.get_attribute("#field-duration_s", "required") is not None
    page.close()
