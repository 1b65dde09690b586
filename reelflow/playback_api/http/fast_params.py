"""The fast path: hand-read parameters for the hottest routes, documented in OpenAPI all the same.

The API has two route styles, and this is the one place that says why:

- **Dependency-injected** (most routes): parameters, bodies and ``ApiContext`` come from
  FastAPI's ``Depends``/``Query``/``Path`` declarations. Clear and self-documenting; used
  wherever a request is not on a player's per-segment or per-start path.
- **Fast path** (the hot routes): FastAPI's dependency solving (typing introspection,
  per-parameter validation) cost more than the rest of a cached manifest or license
  request (bench/playback_api.py). These routes take only the ``Request``, get the context
  with ``http.context.api_context`` (and the viewer with ``viewer_without_revocation_check``,
  its revocation checked in the route's first Redis script, where one is needed)
  and read their few parameters with the helpers below, with the same limits and the same
  422 problem a declared parameter would give; the ``*_doc`` helpers add the parameter
  descriptions to the route (``openapi_extra``) so /docs and schemathesis still see them.

The fast-path routes, and only these: ``POST /v1/titles/{title_id}/playback``
(routes/playback.py), the three session manifests (routes/manifests.py), the ClearKey
license and HLS identity key (routes/licenses.py), the embedded origin ``/media/...``
(routes/media.py, which checks the raw signed path itself) and ``POST /v1/events``
(routes/events.py, which validates a whole batch in one call on the raw body). Each says so with a
``# Fast path`` comment pointing here. A new route is dependency-injected unless a bench
shows it is hot.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from reelflow.playback_api.http.problems import Problem

MAX_TOKEN = 1024


def _invalid(loc: list[str], msg: str) -> Problem:
    return Problem(
        "validation_error",
        "the request did not match the schema",
        errors=[{"loc": loc, "msg": msg, "type": "value_error"}],
    )


def token(request: Request) -> str | None:
    value = request.query_params.get("token")
    if value is not None and len(value) > MAX_TOKEN:
        raise _invalid(["query", "token"], f"at most {MAX_TOKEN} characters")
    return value


def required_token(request: Request) -> str:
    value = token(request)
    if value is None:
        raise _invalid(["query", "token"], "field required")
    return value


def path_param(request: Request, name: str, pattern: re.Pattern[str]) -> str:
    value = str(request.path_params.get(name, ""))
    if not pattern.fullmatch(value):
        raise _invalid(["path", name], f"must match {pattern.pattern}")
    return value


def choice(request: Request, name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.query_params.get(name)
    if value is not None and value not in allowed:
        raise _invalid(["query", name], f"must be one of {', '.join(allowed)}")
    return value


def query_doc(
    name: str, description: str, *, required: bool = False, **schema: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": {"type": "string", **schema},
    }


def path_doc(name: str, pattern: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": pattern},
    }


TOKEN_DOC = query_doc(
    "token", "the playback token from POST /v1/titles/{id}/playback", maxLength=MAX_TOKEN
)


M = TypeVar("M", bound=BaseModel)


async def json_body(request: Request, model: type[M]) -> M:
    """The request body validated as ``model``; the same 422 problem FastAPI would give."""
    return validated_json(await request.body(), model)


def validated_json(raw: bytes, model: type[M]) -> M:
    """``raw`` validated as ``model``; the same 422 problem FastAPI would give."""
    try:
        return model.model_validate_json(raw or b"null")
    except ValidationError as exc:
        errors = [
            {
                "loc": ["body", *err.get("loc", ())],
                "msg": err.get("msg", ""),
                "type": err.get("type", ""),
            }
            for err in exc.errors()
        ]
        raise Problem("validation_error", "the request did not match the schema", errors=errors)


def body_doc(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "required": True,
        "content": {"application/json": {"schema": model.model_json_schema()}},
    }


BEARER: list[dict[str, list[str]]] = [{"HTTPBearer": []}]
