"""Attack: grow /metrics (and the process's memory) with made-up methods and paths.

Every label value must come from a closed set, so 500 requests with random methods and
random paths leave the number of metric series where a handful of requests left it.
"""

from __future__ import annotations

import random
import string

from tests.playback_api.conftest import ApiHarness

_KNOWN = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")


def _series(api: ApiHarness) -> list[str]:
    text = api.client.get("/metrics").text
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def _random_word(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))


def _random_request(api: ApiHarness, rng: random.Random) -> tuple[str, str]:
    method = rng.choice(_KNOWN) if rng.random() < 0.3 else _random_word(rng, 8).upper()
    shape = rng.randrange(4)
    word = _random_word(rng, 12)
    path = {
        0: f"/{word}",
        1: f"/v1/titles/{word}",  # a real template with a made-up id
        2: f"/v1/{word}/{_random_word(rng, 6)}",
        3: f"/media/{word}/{_random_word(rng, 6)}.m4s",
    }[shape]
    api.client.request(method, path, headers={"Authorization": f"Bearer {word}"})
    return method, word


def test_random_methods_and_paths_leave_the_series_count_bounded(api: ApiHarness) -> None:
    rng = random.Random(13)
    for _ in range(100):  # every label combination random traffic can reach shows up here
        _random_request(api, rng)
    _series(api)  # the scrape's own series, recorded after its first answer
    before = _series(api)

    sent = [_random_request(api, rng) for _ in range(500)]

    after = _series(api)
    assert set(_label_sets(after)) == set(_label_sets(before))
    assert len(after) == len(before), (len(before), len(after))
    text = "\n".join(after)
    leaked = [w for m, w in sent if w in text or (m not in _KNOWN and f'"{m}"' in text)]
    assert leaked == [], leaked[:5]
    methods = {
        part.split('"')[1] for line in after for part in line.split(",") if "method=" in part
    }
    assert methods <= {*_KNOWN, "other"} and "other" in methods, methods
    routes = {part.split('"')[1] for line in after for part in line.split(",") if "route=" in part}
    assert "" not in routes and {"/v1/titles/{title_id}", "/{static}"} <= routes, routes


def _label_sets(lines: list[str]) -> list[str]:
    # The label set of each request counter, without the sample value.
    return [
        line.split("{", 1)[1].rsplit("}", 1)[0]
        for line in lines
        if line.startswith("reelflow_http_requests_total{")
    ]
