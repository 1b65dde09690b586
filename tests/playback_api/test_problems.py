"""RFC 9457 problem details: the exception, the registry and the FastAPI handlers."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from reelflow.playback_api.http.problems import (
    PROBLEM_BASE_URI,
    PROBLEM_MEDIA_TYPE,
    PROBLEM_TYPES,
    Problem,
    UnknownProblemType,
    install_problem_handlers,
)

REQUIRED_SLUGS = {
    "not_published",
    "outside_window",
    "geo_blocked",
    "plan_insufficient",
    "too_many_streams",
    "invalid_token",
    "token_expired",
    "forbidden",
    "not_found",
    "rate_limited",
    "payload_too_large",
    "bad_signature",
    "replayed_request",
    "validation_error",
    "link_expired",
}


class Body(BaseModel):
    name: str
    count: int


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/geo")
    async def geo() -> dict[str, str]:
        raise Problem("geo_blocked", "not in FR", country="FR")

    @app.get("/auth")
    async def auth() -> dict[str, str]:
        raise Problem("invalid_token", "bad")

    @app.get("/limited")
    async def limited() -> dict[str, str]:
        raise Problem("rate_limited", headers={"Retry-After": "3"})

    @app.get("/down")
    async def down() -> dict[str, str]:
        raise Problem("service_unavailable", "the catalog is not reachable")

    @app.post("/items")
    async def items(body: Body) -> dict[str, str]:
        return {"name": body.name}

    return TestClient(app)


def test_registry_holds_every_refusal_with_stable_uris() -> None:
    assert set(PROBLEM_TYPES) >= REQUIRED_SLUGS
    for slug, ptype in PROBLEM_TYPES.items():
        assert ptype.uri == f"{PROBLEM_BASE_URI}{slug}"
        assert 400 <= ptype.status < 600
    assert PROBLEM_TYPES["link_expired"].status == 410
    assert PROBLEM_TYPES["invalid_token"].status == 401


def test_unknown_slug_and_reserved_extra_are_programming_errors() -> None:
    with pytest.raises(UnknownProblemType):
        Problem("no_such_problem")
    with pytest.raises(ValueError, match="shadow"):
        Problem("forbidden", status=200)


def test_problem_renders_as_problem_json_with_extra_fields(client: TestClient) -> None:
    response = client.get("/geo")
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.json() == {
        "type": "https://reelflow.dev/problems/geo_blocked",
        "title": "Title is not available in your country",
        "status": 403,
        "detail": "not in FR",
        "country": "FR",
    }


def test_auth_problem_carries_www_authenticate(client: TestClient) -> None:
    response = client.get("/auth")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


def test_custom_headers_pass_through(client: TestClient) -> None:
    response = client.get("/limited")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert "detail" not in response.json()


def test_every_503_says_when_to_retry(client: TestClient) -> None:
    response = client.get("/down")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    assert response.headers["retry-after"] == "5"
    given = Problem("license_unavailable", headers={"Retry-After": "30"})
    assert given.headers["Retry-After"] == "30"  # a caller's own value wins


def test_validation_error_is_a_problem_without_echoing_input(client: TestClient) -> None:
    response = client.post("/items", json={"name": "secret-value", "count": "many"})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["type"].endswith("/validation_error")
    assert body["errors"][0]["loc"] == ["body", "count"]
    assert "secret-value" not in response.text


def test_routing_404_and_405_are_problems(client: TestClient) -> None:
    missing = client.get("/nowhere")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert missing.json()["type"].endswith("/not_found")
    wrong_method = client.delete("/geo")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["type"].endswith("/method_not_allowed")
    assert wrong_method.headers["allow"] == "GET"


def test_other_http_exceptions_use_about_blank() -> None:
    from fastapi import HTTPException

    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/teapot")
    async def teapot() -> None:
        raise HTTPException(status_code=418, detail="short and stout")

    response = TestClient(app).get("/teapot")
    assert response.status_code == 418
    assert response.json() == {
        "type": "about:blank",
        "title": "I'm a Teapot",
        "status": 418,
        "detail": "short and stout",
    }
