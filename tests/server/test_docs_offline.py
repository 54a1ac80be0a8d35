"""/docs and /redoc need nothing but this server: every asset they name is served here, the
CSP allows no other origin, and the vendored copies are the versions VENDORED.md records.
(The pages rendering in a browser with other hosts blocked: test_ui_browser.py.)"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.server.test_input_hardening import Live, live_server
from twapserver.ui import STATIC_DIR

VENDOR = STATIC_DIR / "vendor"
ASSET_URL = re.compile(r"""(?:src|href|spec-url)=["']([^"']+)["']""")
# The version string each vendored bundle carries, as VENDORED.md records it.
BUNDLE_VERSIONS = [
    ("swagger-ui/swagger-ui-bundle.js", '"5.35.0"', "swagger-ui-dist@5.35.0"),
    ("redoc/redoc.standalone.js", "2.5.4", "redoc@2.5.4"),
    (
        "lightweight-charts/lightweight-charts.standalone.production.mjs",
        "v5.2.1",
        "lightweight-charts@5.2.1",
    ),
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    database = tmp_path_factory.mktemp("docs") / "twap.db"
    with live_server(f"sqlite+aiosqlite:///{database}") as running:
        yield running


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_every_asset_of_the_docs_page_is_served_by_this_server(live: Live, page: str) -> None:
    html = httpx.get(live.base + page).text

    urls = ASSET_URL.findall(html) + re.findall(r"url: '([^']+)'", html)
    answers = {url: httpx.get(live.base + url) for url in urls}

    assert {"/openapi.json"} < set(urls)
    assert all(url.startswith("/") and not url.startswith("//") for url in urls), urls
    assert {url: r.status_code for url, r in answers.items()} == dict.fromkeys(urls, 200)
    assert "http://" not in html and "https://" not in html


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_csp_loads_scripts_and_styles_from_this_origin_only(live: Live, page: str) -> None:
    policy = httpx.get(live.base + page).headers["content-security-policy"]

    sources = " ".join(part.split(" ", 1)[1] for part in policy.split("; ") if " " in part).split()
    assert not [
        s for s in sources if "://" in s or (s.endswith(":") and s not in ("data:", "blob:"))
    ]
    assert "script-src 'self'" in policy


def test_the_swagger_bundle_is_served_as_javascript(live: Live) -> None:
    response = httpx.get(live.base + "/ui/static/vendor/swagger-ui/swagger-ui-bundle.js")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith(
        ("text/javascript", "application/javascript")
    )
    assert response.content == (VENDOR / "swagger-ui" / "swagger-ui-bundle.js").read_bytes()


@pytest.mark.parametrize(("path", "marker", "package"), BUNDLE_VERSIONS)
def test_vendored_bundles_are_the_recorded_versions_with_their_licence(
    path: str, marker: str, package: str
) -> None:
    bundle = VENDOR / path
    recorded = (VENDOR / "VENDORED.md").read_text()

    assert marker in bundle.read_text(encoding="utf-8")
    assert f"`{package}`" in recorded
    assert (bundle.parent / "LICENSE").is_file()
