"""The embedded origin: package files under ``/media/<exp>/<sig>/<holder>/<title>/<version>/``.

The link is checked exactly as the nginx edge checks it (signing.verify_media_path on the
raw request path, so percent-encoded traversal is refused before any decoding), and more:
a session's link only while that session holds its lease (session_links.check_media_link,
which the edge cannot do: there the link's short expiry is the bound). Then the
object ``origin/<title>/<version>/<path>`` (storage/layout.origin_key) is streamed from the
object store with single byte-range support, the media content types and immutable
caching. The package's own top-level manifests (its MPD and HLS master) are never served:
they list every rendition, so a player could skip the height filter of its session (for a
clear title, watch any height). Players get manifests only from the tokenized manifest
routes (manifests.py).

Small objects (segments, playlists, sprites) from a local store are served from a bounded
in-process cache: one dict lookup and one send, which is what lets the embedded origin keep
up with a plain static file server (bench/playback_api.py measures both).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import iterate_in_threadpool

from reelflow.domain.ids import parse_version_label
from reelflow.playback_api.auth.signing import MEDIA_CONTENT_TYPES
from reelflow.playback_api.delivery.file_cache import http_etag
from reelflow.playback_api.delivery.session_links import check_media_link
from reelflow.playback_api.http.context import ApiContext, api_context
from reelflow.playback_api.http.problems import Problem
from reelflow.storage import InvalidObjectKey, ObjectNotFound, StorageError
from reelflow.storage.layout import origin_key

router = APIRouter(tags=["media"])

CACHE_CONTROL = "private, max-age=86400, immutable"
_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
# Any MPD, and the HLS master Shaka Packager writes (packaging.packager.HLS_MASTER_NAME), by
# their path under the package. The nginx edge denies the same pattern (edge.conf.template;
# tests/deploy/test_nginx_edge.py keeps the two equal).
PACKAGE_MANIFEST = r"^(?:.*/)?[^/]+\.mpd$|^master\.m3u8$"
PACKAGE_MANIFEST_RE = re.compile(PACKAGE_MANIFEST, re.IGNORECASE)


def _content_type(name: str) -> str:
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return MEDIA_CONTENT_TYPES.get(ext, "application/octet-stream")


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end inclusive) of a single satisfiable range; None = whole object."""
    if not header:
        return None
    match = _RANGE_RE.match(header.strip())
    if match is None:
        return None  # multi-range or another unit: RFC 9110 lets us send the whole object
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0:
            raise _unsatisfiable(size)
        return max(0, size - suffix), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise _unsatisfiable(size)
    return start, end


def _unsatisfiable(size: int) -> Problem:
    return Problem(
        "range_not_satisfiable",
        "the requested range is outside the object",
        headers={"Content-Range": f"bytes */{size}"},
    )


def _headers(size: int, etag: str | None) -> dict[str, str]:
    headers = {
        "Accept-Ranges": "bytes",
        "Cache-Control": CACHE_CONTROL,
        "Content-Length": str(size),
    }
    if etag:
        headers["ETag"] = etag
    return headers


def _answer(
    request: Request, total: int, etag: str | None
) -> tuple[int, dict[str, str], tuple[int, int] | None]:
    if etag and request.headers.get("if-none-match") == etag:
        return 304, {"ETag": etag, "Cache-Control": CACHE_CONTROL}, None
    span = _byte_range(request.headers.get("range"), total)
    if span is None:
        return 200, _headers(total, etag), None
    start, end = span
    headers = _headers(end - start + 1, etag)
    headers["Content-Range"] = f"bytes {start}-{end}/{total}"
    return 206, headers, span


_PATH_DOC = {"parameters": [{"name": "path", "in": "path", "required": True,
                             "schema": {"type": "string"}}]}  # fmt: skip


@router.head(
    "/media/{path:path}",
    response_class=Response,
    operation_id="media_head",
    openapi_extra=_PATH_DOC,
)
@router.get(
    "/media/{path:path}", response_class=Response, operation_id="media_get", openapi_extra=_PATH_DOC
)
async def media(request: Request) -> Response:
    """A file of a published package, if the signed prefix is genuine and unexpired."""
    # Fast path (http/fast_params.py): the Request only, parameters read by hand.
    ctx = api_context(request)
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    claim = await check_media_link(ctx, raw_path.decode("latin-1"))
    if PACKAGE_MANIFEST_RE.match(claim.object_subpath):
        raise Problem("forbidden", "manifests come from the session's manifest URLs")
    name = claim.object_subpath.rsplit("/", 1)[-1]
    media_type = _content_type(name)
    head = request.method == "HEAD"
    try:
        key = origin_key(claim.title_id, parse_version_label(claim.version), claim.object_subpath)
        local = ctx.store.local_path(key)
    except ObjectNotFound:
        raise Problem("not_found", "no such file in this package")
    except (InvalidObjectKey, StorageError, ValueError):
        raise Problem("forbidden", "this path cannot be served")
    if local is not None:
        cached = ctx.small_files.get(local)
        if cached is not None:
            status, headers, span = _answer(request, len(cached.body), cached.etag)
            if head or status == 304:
                return Response(status_code=status, headers=headers, media_type=media_type)
            body = cached.body if span is None else cached.body[span[0] : span[1] + 1]
            return Response(body, status_code=status, headers=headers, media_type=media_type)
    return await _stream(ctx, request, key, name, media_type, head)


async def _stream(
    ctx: ApiContext, request: Request, key: str, name: str, media_type: str, head: bool
) -> Response:
    try:
        info = await asyncio.to_thread(ctx.store.stat, key)
    except ObjectNotFound:
        raise Problem("not_found", "no such file in this package")
    etag = http_etag(info.etag) if info.etag else None
    status, headers, span = _answer(request, info.size, etag)
    if head or status == 304:
        return Response(status_code=status, headers=headers, media_type=media_type)
    start, length = (0, None) if span is None else (span[0], span[1] - span[0] + 1)
    chunks = await asyncio.to_thread(ctx.store.open_read, key, start, length)

    async def body() -> AsyncIterator[bytes]:
        async for chunk in iterate_in_threadpool(chunks):
            yield chunk

    return StreamingResponse(body(), status_code=status, headers=headers, media_type=media_type)
