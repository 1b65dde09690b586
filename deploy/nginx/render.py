#!/usr/bin/env python3
"""Render edge.conf.template into an nginx config.

Standalone on purpose (stdlib only): an edge host needs nginx and this file, not reelflow.

    python3 deploy/nginx/render.py --listen 8080 --root /srv/reelflow/published \
        --secret-file /etc/reelflow/media-link-secret --runtime-dir /var/lib/reelflow-edge \
        > /etc/nginx/conf.d/reelflow-edge.conf   # or run nginx -c on it directly

The secret is the media link secret (``reelflow.playback_api.signing.media_link_secret``),
never the main signing secret.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

TEMPLATE = Path(__file__).with_name("edge.conf.template")
# Must match reelflow.playback_api.signing._LINK_SECRET_RE: characters that survive inside a
# double-quoted nginx string with no escaping and no "$" variable expansion.
SECRET_RE = re.compile(r"^[A-Za-z0-9._~+/=-]{16,256}$")
LISTEN_RE = re.compile(r"^(?:(?:\d{1,3}\.){3}\d{1,3}:|\[[0-9a-fA-F:]+\]:)?\d{1,5}$")
SAFE_PATH_RE = re.compile(r"^/[A-Za-z0-9._/+-]*$")


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
    root: str | Path,
    secret: str,
    runtime_dir: str | Path,
    template: str | None = None,
) -> str:
    listen_text = str(listen)
    if not LISTEN_RE.match(listen_text):
        raise RenderError(f"listen must be PORT or ADDRESS:PORT, not {listen_text!r}")
    if not SECRET_RE.match(secret):
        raise RenderError("secret must be 16-256 characters of [A-Za-z0-9._~+/=-]")
    values = {
        "listen": listen_text,
        "root": _path("root", root),
        "secret": secret,
        "runtime_dir": _path("runtime_dir", runtime_dir),
    }
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
    parser.add_argument("--root", required=True)
    parser.add_argument("--runtime-dir", required=True)
    parser.add_argument("--secret-file", required=True, help="file holding the link secret")
    parser.add_argument("--output", help="write here instead of stdout")
    args = parser.parse_args(argv)
    secret = Path(args.secret_file).read_text().strip()
    try:
        text = render(
            listen=args.listen, root=args.root, secret=secret, runtime_dir=args.runtime_dir
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
