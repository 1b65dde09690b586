#!/usr/bin/env python3
"""Render edge.conf.template into an nginx config.

Standalone on purpose (stdlib only): an edge host needs nginx and this file, not reelflow.

    python3 deploy/nginx/render.py --listen 8080 --root /srv/reelflow/published \
        --secret-file /etc/reelflow/media-link-secret --runtime-dir /var/lib/reelflow-edge \
        > /etc/nginx/conf.d/reelflow-edge.conf   # or run nginx -c on it directly

The secret is the media link secret (``reelflow.playback_api.auth.signing.media_link_secret``),
never the main signing secret.

With ``--upstream ADDRESS:PORT`` (repeatable) instead of ``--root``, the edge sits in front
of API replicas (an S3 store behind them): checked /media/ requests go to their embedded
origin through a shared segment cache, and /v1/ passes through uncached.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

TEMPLATE = Path(__file__).with_name("edge.conf.template")
# Must match reelflow.playback_api.auth.signing._LINK_SECRET_RE: characters that survive inside a
# double-quoted nginx string with no escaping and no "$" variable expansion.
SECRET_RE = re.compile(r"^[A-Za-z0-9._~+/=-]{16,256}$")
LISTEN_RE = re.compile(r"^(?:(?:\d{1,3}\.){3}\d{1,3}:|\[[0-9a-fA-F:]+\]:)?\d{1,5}$")
SAFE_PATH_RE = re.compile(r"^/[A-Za-z0-9._/+-]*$")
UPSTREAM_RE = re.compile(r"^(?:(?:\d{1,3}\.){3}\d{1,3}|\[[0-9a-fA-F:]+\]):\d{1,5}$")
# How long a cached object is served without asking the origin again: this bounds how long
# a taken-down package stays reachable through the cache (README.md, "Takedown").
CACHE_VALID = "30s"

_LOCAL_ORIGIN = """\
            alias {root}/$media_title/$media_version/$media_rest;
"""

_UPSTREAM = """
    upstream reelflow_api {{
{servers}        keepalive 16;
    }}
    # Keyed by package path, not by link: every viewer's signed link to one object shares
    # one entry (the signature is checked above before the cache is consulted).
    proxy_cache_path {runtime_dir}/cache levels=1:2 keys_zone=reelflow_segments:16m
                     max_size=2g inactive=1h use_temp_path=off;
    # No URI in the API's log: manifest and license URLs carry tokens, paths session ids.
    log_format reelflow_api '$remote_addr [$time_local] $request_method api $status '
                            '$body_bytes_sent $request_time upstream=$upstream_addr';
"""

_PROXY = """\
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout 2s;
            proxy_next_upstream error timeout http_502 http_503 http_504;
"""
# The API: only a replica that did not answer goes to the other one. "error" covers one
# refusing the connection (stopped, draining) and one resetting it mid-request (killed):
# a GET, HEAD, PUT or DELETE goes to the other replica. A 502/503/504 problem is an answer
# from a live replica (a DRM vendor down, Redis down, this worker at capacity: 503
# overloaded with Retry-After) and goes to the player as it is: nginx would count it as a
# failure, and with max_fails=1 one refusal under load would bench the replica for
# fail_timeout, halving the fleet exactly when it is busiest.
_API_PROXY = _PROXY.replace(" http_502 http_503 http_504;", ";")
# A POST already sent is not repeated unless the API makes the repeat harmless (these).
_RETRY_POST = _API_PROXY.replace("timeout;", "timeout non_idempotent;")

_CACHED_ORIGIN = (
    """\
            proxy_pass http://reelflow_api;
"""
    + _PROXY
    + """\
            proxy_cache reelflow_segments;
            proxy_cache_key $media_title/$media_version/$media_rest;
            # Many viewers missing the same segment at once cost one origin fetch.
            proxy_cache_lock on;
            proxy_cache_lock_timeout 10s;
            proxy_cache_valid 200 206 {valid};
            # The origin marks media "private" for shared caches downstream of the edge;
            # this cache is the edge's own, and the signature was checked above.
            proxy_ignore_headers Cache-Control Expires Set-Cookie;
            proxy_hide_header Cache-Control;
            proxy_hide_header Access-Control-Allow-Origin;
            proxy_hide_header Access-Control-Expose-Headers;
"""
)

_API_PASS = """\
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_cache off;
            access_log {runtime_dir}/api_access.log reelflow_api;
"""

_API = (
    """
        # The playback API: manifests, licenses and sessions are per viewer, never cached.
        location /v1/ {{
            proxy_pass http://reelflow_api;
"""
    + _API_PROXY
    + _API_PASS
    + """\
        }}
        # A playback start with an Idempotency-Key: a repeat answers the same session, so it
        # may go to the other replica even once sent (delivery/idempotency.py).
        location ~ ^/v1/titles/[^/]+/playback$ {{
            if ($http_idempotency_key) {{
                rewrite ^ /_retry_post$uri last;
            }}
            proxy_pass http://reelflow_api;
"""
    + _API_PROXY
    + _API_PASS
    + """\
        }}
        # License requests: a repeat issues the same keys for the same live session.
        location /v1/license/ {{
            proxy_pass http://reelflow_api;
"""
    + _RETRY_POST
    + _API_PASS
    + """\
        }}
        location /_retry_post/ {{
            internal;
            rewrite ^/_retry_post(/.*)$ $1 break;
            proxy_pass http://reelflow_api;
"""
    + _RETRY_POST
    + _API_PASS
    + """\
        }}
"""
)


# The admin API is for operators, not the public: the edge answers its paths itself (404,
# nothing reaches a replica) unless rendered with --public-admin behind the operator's own
# access control. Operators reach a replica directly, as the topology does.
_ADMIN_OFF = """
        location /v1/admin/ {
            return 404;
        }
"""


class RenderError(ValueError):
    """A placeholder value would produce an unsafe or broken nginx config."""


def _path(name: str, value: str | Path) -> str:
    text = str(value).rstrip("/") or "/"
    if not SAFE_PATH_RE.match(text):
        raise RenderError(f"{name} must be an absolute path of [A-Za-z0-9._/+-]: {text!r}")
    return text


def render(
    *,
    listen: str | int,
    root: str | Path | None,
    secret: str,
    runtime_dir: str | Path,
    template: str | None = None,
    upstreams: Sequence[str] = (),
    public_admin: bool = False,
) -> str:
    listen_text = str(listen)
    if not LISTEN_RE.match(listen_text):
        raise RenderError(f"listen must be PORT or ADDRESS:PORT, not {listen_text!r}")
    if not SECRET_RE.match(secret):
        raise RenderError("secret must be 16-256 characters of [A-Za-z0-9._~+/=-]")
    for upstream in upstreams:
        if not UPSTREAM_RE.match(upstream):
            raise RenderError(f"upstream must be ADDRESS:PORT, not {upstream!r}")
    if (root is None) == (not upstreams):
        raise RenderError("give either root (files on this host) or upstreams (API replicas)")
    runtime = _path("runtime_dir", runtime_dir)
    values = {
        "listen": listen_text,
        "secret": secret,
        "runtime_dir": runtime,
        "upstream": "",
        "api": "",
    }
    if root is not None:
        values["root"] = _path("root", root)
        values["origin"] = _LOCAL_ORIGIN.format(root=values["root"])
    else:
        servers = "".join(f"        server {u} max_fails=1 fail_timeout=5s;\n" for u in upstreams)
        values["upstream"] = _UPSTREAM.format(servers=servers, runtime_dir=runtime)
        values["origin"] = _CACHED_ORIGIN.format(valid=CACHE_VALID)
        values["api"] = _API.format(runtime_dir=runtime) + ("" if public_admin else _ADMIN_OFF)
        values["root"] = "(none: upstream mode)"  # only the header comment names it
    text = TEMPLATE.read_text() if template is None else template
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    leftover = re.search(r"\{\{\w+\}\}", text)
    if leftover:
        raise RenderError(f"template placeholder {leftover.group(0)} has no value")
    return text


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` as a 0600 file from its first byte (it holds the secret).

    A file written first and chmod-ed after is readable by anyone for that window, and an
    existing wider file keeps its mode under O_CREAT: so a fresh 0600 temp file (O_EXCL, in
    the same folder) is renamed over the target.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--listen", required=True)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--root", help="directory of published packages on this host")
    where.add_argument(
        "--upstream", action="append", help="an API replica ADDRESS:PORT (repeatable)"
    )
    parser.add_argument("--runtime-dir", required=True)
    parser.add_argument("--secret-file", required=True, help="file holding the link secret")
    parser.add_argument("--output", help="write here instead of stdout")
    parser.add_argument(
        "--public-admin",
        action="store_true",
        help="proxy /v1/admin/ too (only behind your own access control)",
    )
    args = parser.parse_args(argv)
    secret = Path(args.secret_file).read_text().strip()
    try:
        text = render(
            listen=args.listen,
            root=args.root,
            secret=secret,
            runtime_dir=args.runtime_dir,
            upstreams=args.upstream or (),
            public_admin=args.public_admin,
        )
    except RenderError as exc:
        print(f"render.py: {exc}", file=sys.stderr)
        return 2
    if args.output:
        write_private(Path(args.output), text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
