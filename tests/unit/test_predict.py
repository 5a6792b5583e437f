"""A participant's model and its entries, and the revision rule (app/ml/predict.py)."""

from __future__ import annotations

import numpy as np
import pytest

from app.ml.datasets import load_dataset, load_shard
from app.ml.predict import (
    BPS,
    Predictor,
    compute_network_view,
    revise,
    to_entries,
    train_predictor,
)

SPEC = "wine:shard=0/2:dirichlet=1.0:seed=0"


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return train_predictor("mlp:8", SPEC, seed=0, epochs=15, learning_rate=0.05)


def test_trained_model_learns_its_shard_and_gives_distributions(predictor: Predictor) -> None:
    shard = load_shard(SPEC)
    probs = predictor.probabilities(shard.x)
    assert probs.shape == (len(shard.y), 3) and np.allclose(probs.sum(axis=1), 1.0)
    assert np.mean(np.argmax(probs, axis=1) == shard.y) > 0.9
    test = load_dataset("wine").x_test
    assert predictor.n_features == test.shape[1] and predictor.n_classes == 3
    assert np.mean(np.argmax(predictor.probabilities(test), axis=1) == load_dataset("wine").y_test) > 0.6


def test_training_is_seeded_and_flat_weights_round_trip(predictor: Predictor) -> None:
    again = train_predictor("mlp:8", SPEC, seed=0, epochs=15, learning_rate=0.05)
    assert np.array_equal(again.flat_weights(), predictor.flat_weights())
    loaded = Predictor.from_flat("mlp:8", predictor.flat_weights(), predictor.n_features)
    x = load_dataset("wine").x_val
    assert np.allclose(loaded.probabilities(x), predictor.probabilities(x))
    with pytest.raises(ValueError, match="shape"):
        predictor.probabilities(x[:, :5])


def test_to_entries_floors_the_top_probability() -> None:
    probs = np.array([[0.1, 0.66667, 0.23333], [1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
    assert to_entries(probs) == [(1, 6666), (0, BPS), (0, 5000)]  # a tie goes to the smaller class


def test_network_view_puts_support_on_the_answer_and_the_rest_where_peers_point() -> None:
    view = compute_network_view([(2, 6000), (0, 10_000)], [[(1, 3000), (0, 5000)], [(2, 9000), (0, 1000)]], 4)
    assert np.allclose(view[0], [0.0, 0.4, 0.6, 0.0])  # peers named only class 1 besides the answer
    assert np.allclose(view[1], [1.0, 0.0, 0.0, 0.0])
    uniform = compute_network_view([(3, 4000)], [], 4)
    assert np.allclose(uniform[0], [0.2, 0.2, 0.2, 0.4])


def test_unsure_participant_takes_the_network_answer_its_model_finds_plausible() -> None:
    own = np.array([[0.40, 0.35, 0.25]])  # class 0 by a hair
    strong = [(1, 9000)]
    assert revise(own, strong, [[(1, 9500)]] * 3) == [(1, 3500)]  # reports its own evidence for 1
    assert revise(own, strong, [[(1, 9500)]], trust=0.0) == [(0, 4000)]  # trust 0: the model alone


def test_confident_participant_keeps_its_answer_against_the_network() -> None:
    own = np.array([[0.97, 0.02, 0.01]])
    unanimous = [(1, BPS)]
    assert revise(own, unanimous, [[(1, BPS)]] * 4, trust=1.0) == [(0, 9700)]
    # Below keep_bps the same participant may move, and does when the network is loud enough.
    assert revise(own, unanimous, [[(1, BPS)]] * 4, trust=1.0, keep_bps=9800) == [(1, 200)]


def test_a_class_the_model_rules_out_does_not_win_its_vote() -> None:
    own = np.array([[0.6, 0.4, 1e-6]])
    loud_minority = [(2, 5500)]  # e.g. colluders at full confidence lead the tally
    assert revise(own, loud_minority, [[(0, 8000)], [(2, BPS)]], trust=1.0) == [(0, 6000)]


def test_revision_is_per_input() -> None:
    own = np.array([[0.5, 0.45, 0.05], [0.99, 0.005, 0.005]])
    out = revise(own, [(1, 8000), (1, 8000)], [])
    assert out == [(1, 4500), (0, 9900)]


@pytest.mark.parametrize(
    "tallies, peers, kwargs, match",
    [
        ([(0, 1)], [], {}, "covers 1 inputs"),
        ([(0, 1), (5, 1)], [], {}, "outside"),
        ([(0, 1), (0, 10_001)], [], {}, "outside"),
        ([(0, 1), (0, 1)], [[(0, 1)]], {}, "cover 1 inputs"),
        ([(0, 1), (0, 1)], [[(0, 1), (3, 1)]], {}, "out of range"),
        ([(0, 1), (0, 1)], [], {"trust": 1.5}, "trust"),
    ],
)
def test_revise_rejects_malformed_views(tallies, peers, kwargs, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        revise(np.full((2, 3), 1 / 3), tallies, peers, **kwargs)
