"""/docs is complete: every route shows an example of its answer and of its error bodies."""

from __future__ import annotations

from typing import Any

import pytest

from twapserver.app import create_app
from twapserver.settings import Settings


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    settings = Settings(
        collect=False,
        jwt_secret="tests-secret-4f9c2b7e1d8a6053-not-for-production",
        database_url="sqlite+aiosqlite://",
    )
    document: dict[str, Any] = create_app(settings).openapi()
    return document


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), p, op) for p, ops in spec["paths"].items() for m, op in ops.items()]


def _has_example(spec: dict[str, Any], media: dict[str, Any]) -> bool:
    if "example" in media or "examples" in media:
        return True
    schema = media.get("schema", {})
    schema = schema.get("items", schema)
    if "$ref" not in schema:
        return False
    component = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    properties = component.get("properties", {}).values()
    return "examples" in component or all("examples" in p or "default" in p for p in properties)


def test_every_success_response_has_an_example(spec: dict[str, Any]) -> None:
    missing = [
        f"{method} {path}"
        for method, path, op in _operations(spec)
        for code, response in op["responses"].items()
        if code.startswith("2")
        and not all(_has_example(spec, m) for m in response.get("content", {}).values())
    ]

    assert missing == []


def test_every_request_body_has_an_example(spec: dict[str, Any]) -> None:
    missing = [
        f"{method} {path}"
        for method, path, op in _operations(spec)
        if "requestBody" in op
        and not all(_has_example(spec, m) for m in op["requestBody"]["content"].values())
    ]

    assert missing == []


def test_authenticated_and_parameterised_routes_document_their_errors(
    spec: dict[str, Any],
) -> None:
    undocumented = []
    for method, path, op in _operations(spec):
        expected = set()
        if op.get("security"):
            expected.add("401")
        if "{" in path:
            expected.add("404")
        if method in ("POST", "DELETE"):
            expected |= {"409", "422"} & set(op["responses"]) or {"422"}
        for code in expected:
            media = op["responses"].get(code, {}).get("content", {}).values()
            if not media or not any(_has_example(spec, m) for m in media):
                undocumented.append(f"{method} {path} {code}")

    assert undocumented == []
