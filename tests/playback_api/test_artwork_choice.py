"""Per-viewer artwork over the real app: the signed link names the bandit's candidate, the
artwork endpoint serves it and counts the impression, opening the title counts the click
(real Redis, real catalog, real store)."""

from __future__ import annotations

import io
import time
from urllib.parse import parse_qs, urlsplit

import redis
from PIL import Image
from sqlmodel import select

from reelflow.catalog.db import session_scope
from reelflow.catalog.models import Package
from reelflow.playback_api.auth.signing import open_signed_value, sign_value
from reelflow.recs.artwork_bandit import COUNTS_KEY
from reelflow.storage.layout import origin_key
from tests.playback_api.conftest import ApiHarness

CONTEXT = b"reelflow artwork-link v1"
COLOURS = {1: (0, 0, 255), 2: (255, 0, 0)}
SIZES = {"poster": ((600, 900), (300, 450)), "backdrop": ((1280, 720), (640, 360))}


def add_candidates(api: ApiHarness, title_id: str) -> None:
    """Candidates 1 (blue) and 2 (red) beside the published candidate 0."""
    version = api.published[title_id].version
    paths: list[str] = []
    for n, colour in COLOURS.items():
        for kind, sizes in SIZES.items():
            for w, h in sizes:
                rel = f"art/c{n}_{kind}_{w}x{h}.jpg"
                out = io.BytesIO()
                Image.new("RGB", (w, h), colour).save(out, "JPEG")
                api.store.put_bytes(origin_key(title_id, version, rel), out.getvalue())
                paths.append(rel)
    with session_scope(api.engine) as s:
        row = s.exec(select(Package).where(Package.title_id == title_id)).one()
        row.artwork = {**row.artwork, "candidates": paths}
        s.add(row)
    api.client.app.state.ctx.titles.invalidate()  # type: ignore[attr-defined]


def signed(api: ApiHarness, url: str) -> dict[str, object]:
    link = parse_qs(urlsplit(url).query)["v"][0]
    value = open_signed_value(api.settings.secrets().signing_secret, CONTEXT, link, max_chars=512)
    assert isinstance(value, dict)
    return value


def relative(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def red_share(content: bytes) -> float:
    with Image.open(io.BytesIO(content)) as img:
        r, g, b = img.convert("RGB").resize((1, 1)).getpixel((0, 0))  # type: ignore[misc]
    return float(r) / max(1.0, float(r + g + b))


def test_the_viewer_gets_and_is_counted_on_the_bandits_candidate(
    api: ApiHarness, redis_url: str
) -> None:
    api.publish("film")
    api.publish("plain")  # no candidates: its link is the link of before
    add_candidates(api, "film")
    # Candidate 2 clicks at 40%, the others at about 1%: every viewer is shown candidate 2.
    client = redis.Redis.from_url(redis_url)
    for n in range(3):
        client.hset(COUNTS_KEY, f"film\t{n}\ti", 300)
        client.hset(COUNTS_KEY, f"film\t{n}\tc", 120 if n == 2 else 3)
    headers = api.auth(sub="viewer-a")
    api.client.get("/v1/titles/film", headers=headers)  # loads the counts (and clicks)
    listing = api.client.get("/v1/titles", headers=headers).json()
    links = {item["id"]: item["artwork"] for item in listing["items"]}
    assert signed(api, links["film"]["poster"])["a"] == 2
    assert set(signed(api, links["plain"]["poster"])) == {"t", "c", "e"}

    poster = api.client.get(relative(links["film"]["poster"]))
    assert poster.status_code == 200 and red_share(poster.content) > 0.9
    backdrop = api.client.get(relative(links["film"]["backdrop"]) + "&width=600")
    with Image.open(io.BytesIO(backdrop.content)) as img:
        assert img.size == (640, 360)
    assert red_share(backdrop.content) > 0.9
    plain = api.client.get(relative(links["plain"]["poster"]))
    assert plain.status_code == 200 and red_share(plain.content) < 0.9

    counts = redis.Redis.from_url(redis_url).hgetall(COUNTS_KEY)
    assert counts[b"film\t2\ti"] == b"301"  # the poster fetch; the backdrop is no impression
    assert counts[b"film\t2\tc"] == b"121"  # the first detail answer
    api.client.get("/v1/titles/film", headers=headers)  # the same viewer within the hour
    counts = redis.Redis.from_url(redis_url).hgetall(COUNTS_KEY)
    assert counts[b"film\t2\tc"] == b"121"
    assert [k for k in counts if isinstance(k, bytes) and k.startswith(b"plain")] == []


def test_a_candidate_comes_only_from_a_signed_link(api: ApiHarness) -> None:
    api.publish("film")
    secret = api.settings.secrets().signing_secret
    expires = int(time.time()) + 3600

    def link(value: dict[str, object]) -> str:
        return f"/v1/titles/film/artwork/poster?v={sign_value(secret, CONTEXT, value)}"

    for bad in (7, -1, "1", True):
        response = api.client.get(link({"t": "film", "c": "US", "e": expires, "a": bad}))
        assert response.status_code == 403, bad
    # A candidate the live version does not have falls back to candidate 0.
    response = api.client.get(link({"t": "film", "c": "US", "e": expires, "a": 2}))
    assert response.status_code == 200 and red_share(response.content) < 0.9
