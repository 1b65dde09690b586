"""The home's personal rows and the personal search order with the real recommender: a hybrid
model trained here on a small synthetic history (half the viewers watch science fiction, half
drama), stored and promoted in the real object store, read by the API's real reader
(recs/serving.py: fold-in from the viewer's progress rows); and the recommendation model as
an experiment variant with one exposure per home session."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from reelflow.catalog.viewer_queries import save_progress
from reelflow.events.pseudonym import pseudonym_key, viewer_pseudonym
from reelflow.experiments.assignment import Viewer as Assignee
from reelflow.experiments.definitions import ExperimentIn, checked, spec_of
from reelflow.playback_api.delivery.recs_variant import session_key
from reelflow.playback_api.routes.home import Home
from reelflow.recs.hybrid import Hybrid, HybridSettings
from reelflow.recs.interactions import ItemCatalog, build_dataset
from reelflow.recs.model_store import ModelStore
from reelflow.recs.popularity import Popularity
from reelflow.recs.serving_model import ServingModel
from tests.experiments.test_definitions import body as experiment_body
from tests.playback_api.conftest import ApiHarness
from tests.playback_api.test_experiment_exposure import _exposures, _run
from tests.playback_api.test_home import HOME, all_titles, publish_hidden, row_ids

SCIFI = ("sf-a", "sf-b", "sf-c", "sf-d", "sf-e")
DRAMA = ("dr-a", "dr-b", "dr-c", "dr-d", "dr-e")
T0 = 1_790_000_000


def _titles(api: ApiHarness) -> None:
    for title_id in SCIFI:
        api.publish(title_id, genres=("scifi",), name=f"Star {title_id[-1].upper()}")
    for title_id in DRAMA:
        api.publish(title_id, genres=("drama",), name=f"Home {title_id[-1].upper()}")


def _train(api: ApiHarness, extra: tuple[str, ...] = ()) -> int:
    """Fit the hybrid (and popularity) on 40 synthetic viewers, store and promote it."""
    items = (*SCIFI, *DRAMA, *extra)
    genres = {t: ("scifi",) if t.startswith("sf") else ("drama",) for t in items}
    catalog = ItemCatalog(
        items, items, tuple(genres[t] for t in items), (None,) * len(items),
        (None,) * len(items), ((),) * len(items),
    )  # fmt: skip
    key = pseudonym_key(api.settings.secrets().signing_secret)
    users, watched, times = [], [], []
    for v in range(40):
        liked = SCIFI if v % 2 == 0 else DRAMA
        for k in range(4):
            users.append(viewer_pseudonym(key, f"crowd-{v}"))
            watched.append(liked[(v + k) % 5])
            times.append(T0 + v * 100 + k)
    # Drama is what the crowd watches most: what popularity recommends to everyone.
    for v in range(10):
        users.append(viewer_pseudonym(key, f"drama-extra-{v}"))
        watched.append("dr-a")
        times.append(T0 + 9000 + v)
    countries = {u: "US" for u in users}
    data = build_dataset(users, watched, times, [1.0] * len(users), catalog, countries)
    hybrid = Hybrid(HybridSettings(tune=False, min_support=2))
    hybrid.fit(data)
    popularity = Popularity(half_life_days=30)
    popularity.fit(data)
    model = ServingModel(
        0, hybrid.parts, hybrid.blend, popularity.anonymous_scores(), popularity.country_scores()
    )
    models = ModelStore(api.store)
    version = models.save(model, {"ndcg_at_10": 0.0})
    models.promote(version)
    return version


def _watch(api: ApiHarness, sub: str, titles: tuple[str, ...]) -> None:
    for title_id in titles:
        save_progress(api.engine, sub, title_id, 7.9, 8.0)  # finished


def _rows(body: dict[str, Any]) -> dict[str, list[str]]:
    return {row["id"]: [i["id"] for i in row["items"]] for row in body["rows"]}


def test_a_viewer_with_three_plays_gets_rows_that_reflect_them(api: ApiHarness) -> None:
    _titles(api)
    version = _train(api)
    _watch(api, "sci-fan", ("sf-a", "sf-b", "sf-c"))
    r = api.client.get(HOME, headers=api.auth(sub="sci-fan"))
    assert r.status_code == 200, r.text
    answer = r.json()
    Home.model_validate_json(r.content)
    assert (answer["model"], answer["model_version"]) == ("hybrid", str(version))
    assert answer["folded_in"] is True
    rows = _rows(answer)
    ids = row_ids(answer)
    assert ids[:2] == ["top-picks", ids[1]] and ids[1].startswith("because-sf-")
    assert set(rows["top-picks"][:2]) == {"sf-d", "sf-e"}
    assert not {"sf-a", "sf-b", "sf-c"} & set(rows["top-picks"])  # finished: not picked
    titles = {row["id"]: row["title"] for row in answer["rows"]}
    assert titles[ids[1]].startswith("Because you watched Star ")
    assert titles["trending"] == "Trending in US"
    assert ids.index("trending") < ids.index("new") < ids.index("genre-scifi")
    assert ids.index("genre-scifi") < ids.index("genre-drama")  # their genre first
    # The same reader, a drama viewer: drama first.
    _watch(api, "drama-fan", ("dr-a", "dr-b", "dr-c"))
    drama = api.client.get(HOME, headers=api.auth(sub="drama-fan")).json()
    assert set(_rows(drama)["top-picks"][:2]) == {"dr-d", "dr-e"}
    assert row_ids(drama).index("genre-drama") < row_ids(drama).index("genre-scifi")


def test_a_cold_viewer_gets_rows(api: ApiHarness) -> None:
    _titles(api)
    _train(api)
    answer = api.client.get(HOME, headers=api.auth(sub="brand-new")).json()
    rows = _rows(answer)
    assert rows["trending"][0] == "dr-a"  # what the crowd watches most
    assert {"top-picks", "trending", "new"} <= set(rows)
    assert answer["folded_in"] is True


def test_no_personal_row_or_search_hit_is_a_title_the_viewer_cannot_play(
    api: ApiHarness,
) -> None:
    _titles(api)
    hidden = publish_hidden(api, genre="scifi")
    _train(api, extra=tuple(sorted(hidden)))
    # The model knows the hidden titles (it would recommend them) and the viewer watched some.
    _watch(api, "basic-fan", ("sf-a", "sf-b", "premium-only", "gb-only"))
    headers = api.auth(sub="basic-fan", plan="basic", country="US")
    answer = api.client.get(HOME, params={"limit": 50}, headers=headers).json()
    assert {"top-picks", "trending"} <= set(_rows(answer))
    assert not all_titles(answer) & hidden
    for q in ("Pulled", "Premium", "Gb", "Gone", "Not", "scifi"):
        found = api.client.get("/v1/search", params={"q": q}, headers=headers).json()
        assert not {i["id"] for i in found["items"]} & hidden, q


def test_search_order_follows_each_viewers_affinity_with_exact_names_first(
    api: ApiHarness,
) -> None:
    _titles(api)
    api.publish("night-sf", name="Night Sky", genres=("scifi",))
    api.publish("night-dr", name="Night Court", genres=("drama",))
    api.publish("night", name="Night", genres=("comedy",))
    _train(api)
    _watch(api, "sci-fan", ("sf-a", "sf-b", "sf-c"))
    _watch(api, "drama-fan", ("dr-a", "dr-b", "dr-c"))

    def order(sub: str, q: str) -> list[str]:
        r = api.client.get("/v1/search", params={"q": q}, headers=api.auth(sub=sub))
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    sci, drama = order("sci-fan", "nigh"), order("drama-fan", "nigh")
    assert sorted(sci) == sorted(drama) == ["night", "night-dr", "night-sf"]
    assert sci.index("night-sf") < sci.index("night-dr")
    assert drama.index("night-dr") < drama.index("night-sf")
    assert order("sci-fan", "night")[0] == order("drama-fan", "NIGHT")[0] == "night"


def _recs_experiment() -> dict[str, Any]:
    return experiment_body(
        key="home-model",
        variants=[
            {"key": "hybrid", "weight": 0.5, "config": {"recs_model": "hybrid"}},
            {"key": "popular", "weight": 0.5, "config": {"recs_model": "popularity"}},
        ],
        target={},
        layer=None,
    )


def _sub_in(variant: str) -> str:
    spec = spec_of(checked(ExperimentIn.model_validate(_recs_experiment())))
    for n in range(200):
        assigned = spec.assign(Assignee(f"viewer-{n}"))
        if assigned is not None and assigned.variant == variant:
            return f"viewer-{n}"
    raise AssertionError(f"no viewer in {variant}")


@pytest.mark.parametrize(("variant", "model"), [("hybrid", "hybrid"), ("popular", "popularity")])
def test_the_experiment_variant_picks_the_model_with_one_exposure_per_session(
    api: ApiHarness, variant: str, model: str
) -> None:
    _titles(api)
    _train(api)
    sub = _sub_in(variant)
    _watch(api, sub, ("sf-a", "sf-b", "sf-c"))
    before = api.client.get(HOME, headers=api.auth(sub=sub)).json()
    assert (before["model"], before["experiment"]) == ("hybrid", None)
    _run(api, _recs_experiment())
    answers = [api.client.get(HOME, headers=api.auth(sub=sub)).json() for _ in range(3)]
    api.client.get("/v1/search", params={"q": "star"}, headers=api.auth(sub=sub))
    for answer in answers:
        assert answer["experiment"] == {"key": "home-model", "variant": variant}
        assert answer["model"] == model
    picks = _rows(answers[0])["top-picks"]
    # Popularity recommends what the crowd watches (drama); the hybrid, more science fiction.
    assert picks[0] == "dr-a" if model == "popularity" else picks[0].startswith("sf-")
    exposures = _exposures(api)
    assert [(e.fields["experiment"], e.fields["variant"], e.session) for e in exposures] == [
        ("home-model", variant, None)
    ]  # one for the whole session, home and search alike
    redis.Redis.from_url(api.settings.redis_url).delete(session_key(sub, "home-model"))
    api.client.get(HOME, headers=api.auth(sub=sub))  # the session ended: a new one
    assert len(_exposures(api)) == 2


def test_an_opted_out_viewer_gets_the_variant_and_rows_but_no_exposure(api: ApiHarness) -> None:
    _titles(api)
    _train(api)
    sub = _sub_in("popular")
    headers = api.auth(sub=sub)
    consent = api.client.put("/v1/me/privacy", json={"analytics_consent": False}, headers=headers)
    assert consent.status_code == 200
    _run(api, _recs_experiment())
    answer = api.client.get(HOME, headers=headers).json()
    assert answer["model"] == "popularity"
    assert "top-picks" in row_ids(answer)
    assert _exposures(api) == []


def test_a_model_name_the_home_does_not_serve_is_refused(api: ApiHarness) -> None:
    spec = _recs_experiment()
    spec["variants"][1]["config"] = {"recs_model": "als"}
    r = api.client.post("/v1/admin/experiments", json=spec, headers=api.auth(admin=True))
    assert r.status_code == 422, r.text
    assert "variants.config.recs_model" in r.text
