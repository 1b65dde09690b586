"""Embedded mode answers only requests addressed to this machine, and dev tokens only to it.

A loopback bind alone does not keep embedded mode private: a reverse proxy on the same host
(the repo's own edge with a loopback upstream) forwards the world to it, and a DNS-rebinding
page reaches it under its own name from the developer's browser. Both show in the request:
the proxy forwards its public ``Host`` (the edge sends ``$http_host``) and its
``X-Forwarded-*`` headers, the rebinding page's ``Host`` is its own name, and another site's
page sends its ``Origin``. So in embedded mode every request must name a loopback host (or the
bind address that ``REELFLOW_EMBEDDED_ALLOW_PUBLIC_BIND=1`` opened on purpose), and the dev
routes also refuse proxied requests and pages from other origins (``dev_caller_problem``),
before anything reads the body (a "simple" cross-site POST needs no preflight).
Production has none of this: it has no dev auth, and its edge and CDN answer under any name.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from reelflow.config import Settings
from reelflow.playback_api.auth.auth_config import is_loopback_host
from reelflow.playback_api.http.problems import Problem, problem_response

# Headers a proxy adds: a dev token must be asked for directly, never through one.
PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip", "via")
# Binds that are not an address anyone browses to (every interface).
_UNSPECIFIED = frozenset({"", "0.0.0.0", "::", "[::]"})
_CACHE_MAX = 64  # distinct Host values remembered; a flood of made-up ones is just re-parsed


def extra_host(settings: Settings) -> str | None:
    """The bind address the public-bind override opened on purpose (a concrete one only)."""
    host = settings.api_host.strip().lower().strip("[]")
    if settings.embedded_allow_public_bind and host not in _UNSPECIFIED:
        return host
    return None


def _name_allowed(name: str | None, extra: str | None) -> bool:
    return bool(name) and (is_loopback_host(name or "") or name == extra)


def host_allowed(value: str, extra: str | None = None) -> bool:
    """A ``Host`` header naming loopback (127.0.0.0/8, ``[::1]``, ``localhost``), any port."""
    try:
        parts = urlsplit("//" + value.strip())
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        return False
    if parts.username is not None or parts.path or parts.query or parts.fragment:
        return False
    return _name_allowed(parts.hostname, extra)


def origin_allowed(value: str, extra: str | None = None) -> bool:
    """An ``Origin`` such as ``http://127.0.0.1:<any port>`` or ``http://localhost:<port>``."""
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or parts.username is not None:
        return False
    if parts.path or parts.query or parts.fragment:
        return False
    return _name_allowed(parts.hostname, extra)


def dev_caller_problem(headers: Iterable[tuple[str, str]], extra: str | None) -> Problem | None:
    """Why a dev-token request may not be answered (None: asked directly from this machine)."""
    for name, value in headers:
        name = name.lower()
        if name in PROXY_HEADERS:
            return Problem(
                "forbidden",
                f"dev tokens are not handed out through a proxy (the request carries {name}); "
                "embedded mode is for this machine only: use REELFLOW_ENV=production behind "
                "an edge",
            )
        if name == "origin" and not origin_allowed(value, extra):
            return Problem(
                "forbidden",
                "dev tokens are handed only to pages served from a loopback origin such as "
                "http://127.0.0.1:<port> or http://localhost:<port>",
            )
    return None


DEV_PREFIX = "/v1/dev/"


class EmbeddedHostGuard:
    """Refuse (403 problem) any request whose ``Host`` is not loopback (or the opened bind),
    and a dev-route request that came through a proxy or from another origin's page."""

    def __init__(self, app: ASGIApp, *, extra: str | None = None) -> None:
        self.app = app
        self.extra = extra
        self._seen: dict[bytes, bool] = {}

    def _allowed(self, value: bytes) -> bool:
        known = self._seen.get(value)
        if known is None:
            known = host_allowed(value.decode("latin-1"), self.extra)
            if len(self._seen) < _CACHE_MAX:
                self._seen[value] = known
        return known

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers", ())
        host = next((v for k, v in headers if k == b"host"), None)
        problem: Problem | None = None
        if host is None or not self._allowed(host):
            problem = Problem(
                "forbidden",
                "embedded mode answers only requests addressed to a loopback host "
                "(127.0.0.1, [::1] or localhost, any port); this one named another host, as "
                "through a reverse proxy or a DNS-rebinding page. Behind an edge, run "
                "REELFLOW_ENV=production",
            )
        elif scope.get("path", "").startswith(DEV_PREFIX):
            decoded = ((k.decode("latin-1"), v.decode("latin-1")) for k, v in headers)
            problem = dev_caller_problem(decoded, self.extra)
        if problem is None:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        scope.setdefault("state", {})["problem"] = problem.slug  # for metrics and the log
        await problem_response(problem)(scope, receive, send)
