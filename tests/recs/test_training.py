"""Production training: the candidate and the serving model measured on the same holdout,
and the promotion rule refusing a candidate that regresses."""

from __future__ import annotations

import numpy as np
import pytest

from reelflow.catalog.recs_queries import TitleFacts
from reelflow.lifecycle.recs_training import promotion
from reelflow.recs.event_history import history_dataset
from reelflow.recs.hybrid import HybridSettings
from reelflow.recs.hybrid_parts import Blend
from reelflow.recs.training import NotEnoughHistory, ServingScorer, train_candidate
from tests.recs import synthetic

FIXED = HybridSettings(tune=False)


def test_a_regressing_candidate_is_not_promoted_and_a_sound_one_is() -> None:
    data = synthetic.dataset(users=48, plays=12)
    older = data.subset(data.times < np.quantile(data.times, 0.7))
    serving = train_candidate(older, None, FIXED).model
    # Content weighted against the viewer's taste: a model that recommends what they avoid.
    bad = train_candidate(data, serving, HybridSettings(tune=False, blend=Blend(content_weight=-3)))
    assert bad.versus is not None
    promoted, why = promotion(bad.versus.candidate.ndcg, bad.versus.serving.ndcg, 0.02)
    assert not promoted and "kept serving" in why

    serving.version = 4
    sound = train_candidate(data, serving, FIXED)
    assert sound.versus is not None and sound.versus.candidate.users > 0
    assert promotion(sound.versus.candidate.ndcg, sound.versus.serving.ndcg, 0.02)[0]
    stored = sound.stored_metrics()
    assert stored["ndcg_at_10"] == sound.metrics.ndcg and stored["compared_with"] == 4
    assert stored["serving_ndcg_at_10"] == sound.versus.serving.ndcg
    assert stored["interactions"] == len(data.users) and stored["viewers"] == data.n_users
    assert sound.model.trained_until == int(data.times.max())


def test_with_no_play_newer_than_the_serving_model_there_is_nothing_to_compare() -> None:
    data = synthetic.dataset()
    serving = train_candidate(data, None, FIXED).model
    again = train_candidate(data, serving, FIXED)
    assert again.versus is None  # every held-out play is one the serving model learned
    assert again.stored_metrics()["compared_with"] is None


def test_the_serving_model_scores_only_titles_it_knows() -> None:
    data = synthetic.dataset(new_doc=("Documentary",))
    serving = train_candidate(synthetic.dataset(), None, FIXED).model  # no new_doc in it
    scores = ServingScorer(serving, data).scores(np.arange(3))
    new_doc = data.item_ids.index("new_doc")
    assert np.isneginf(scores[:, new_doc]).all()
    assert np.isfinite(np.delete(scores, new_doc, axis=1)).all()


def test_no_viewer_with_two_plays_is_not_enough_to_train() -> None:
    data = synthetic.dataset(users=5, plays=1)
    with pytest.raises(NotEnoughHistory):
        train_candidate(data, None, FIXED)
    nothing = history_dataset([], [TitleFacts("t1", "T1", ("Drama",), 60.0)])  # a new store
    assert (nothing.n_users, nothing.item_ids, len(nothing.users)) == (0, ("t1",), 0)
    with pytest.raises(NotEnoughHistory):
        train_candidate(nothing, None, FIXED)
