"""A consensus-learning participant's local model, its predictions, and the revision rule.

A participant trains its own model on its private shard (train_predictor), turns the model's class
probabilities on a query's inputs into the chain's predictions format (to_entries: argmax class,
confidence = floor(10^4 x its probability)), and after every communication round revises them
against what the network showed it (revise): the per-input tally (answer, support_bps) and a seeded
sample of peers' predictions.

The revision rule is the gossip step of consensus learning (a participant moves its output toward
what its neighbours say, anchored to its own model) applied to what the chain exposes, as a
log-linear opinion pool:

1. Network view q per input: the tally's support on its answer, and the rest of the mass spread over
   the other classes in proportion to the confidence the shown peers put on them (uniformly when no
   peer names another class), then floored: q <- (q + 0.01) / (1 + 0.01 k), so that no class is
   ruled out by a sample.
2. Pool: p' = normalize(p x q^trust), with p the participant's own probability vector and trust in
   [0, 1] the weight of the network's evidence (1: Bayes' rule with q as an independent opinion).
3. Submit class c = argmax p' with confidence floor(10^4 x p[c]): the participant's own evidence
   for c. A confident participant keeps its answer: where max p >= keep_bps / 10^4 it submits its
   round-0 entry unchanged.

Why a product: under a mixture (1 - trust) p + trust q a loud network view drags a participant onto
a class its model rules out, so a colluding bloc at full confidence recruits the honest participants
it needs (bench/consensus, mixture with trust 0.7: settled accuracy 12 points below the round-0 tally
under 20% colluders, 24 under 30%). Under the product a class must be plausible to the participant's
own model to win its vote: an unsure participant picks, among its own candidates, the one the network
backs, and a model that never saw a class is not talked into it by a minority. Why its own confidence
and not max p': the tally already adds everyone's evidence; the pooled value counts the network's
view again and pushes voters toward full confidence, turning the weighted vote into a plain majority,
which is the weaker of the two on these models (bench/consensus without attackers: pooled confidences
settled about 0.5 point below the round-0 tally; they did help against 30% cold colluders, +5 points,
but reputation handles those once it has warmed up).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import ArrayLike, NDArray

from app.ml.datasets import DataSpec, load_shard, parse_data_spec
from app.ml.models import ModelParams, apply, flatten, infer_n_classes, init_params, unflatten
from app.ml.train import TrainConfig, train_local

__all__ = [
    "BPS",
    "DEFAULT_KEEP_BPS",
    "DEFAULT_TRUST",
    "NETWORK_FLOOR",
    "Entries",
    "Predictor",
    "compute_network_view",
    "revise",
    "to_entries",
    "train_predictor",
]

BPS = 10_000
DEFAULT_TRUST = 0.5
DEFAULT_KEEP_BPS = 9_500
NETWORK_FLOOR = 0.01  # added to every class of the network view before pooling (step 1)
Entries = list[tuple[int, int]]  # (class, confidence_bps) per input: app.modules.consensus.logic's format


@functools.lru_cache(maxsize=32)
def _make_softmax(arch: str) -> Callable[..., jax.Array]:
    """Return a jitted (params, x) -> class probabilities for arch."""
    return jax.jit(lambda params, x: jax.nn.softmax(apply(arch, params, x), axis=-1))


@dataclass(frozen=True, eq=False)
class Predictor:
    """A participant's trained local model: an architecture name and its JAX parameters."""

    arch: str
    params: ModelParams

    @property
    def n_features(self) -> int:
        """Return the input width the model takes."""
        return int(self.params[0].shape[0])

    @property
    def n_classes(self) -> int:
        """Return the number of classes the model scores."""
        return int(self.params[-1].shape[0])

    def probabilities(self, x: ArrayLike) -> NDArray[np.float64]:
        """Return the (n, n_classes) class probabilities of the rows of x; each row sums to 1."""
        features = jnp.asarray(x, dtype=jnp.float32)
        if features.ndim != 2 or features.shape[1] != self.n_features:
            raise ValueError(f"need inputs of shape (n, {self.n_features}), got {features.shape}")
        probs = np.asarray(_make_softmax(self.arch)(self.params, features), dtype=np.float64)
        return probs / probs.sum(axis=1, keepdims=True)

    def flat_weights(self) -> NDArray[np.float32]:
        """Return the parameters as app.ml.models' flat float32 vector (to save or send)."""
        return flatten(self.params)

    @classmethod
    def from_flat(cls, arch: str, flat: ArrayLike, n_features: int) -> Predictor:
        """Return the predictor whose flat_weights() is flat."""
        vector = np.asarray(flat, dtype=np.float32)
        n_classes = infer_n_classes(arch, n_features, vector.shape[0])
        return cls(arch, unflatten(arch, vector, n_features, n_classes))


def train_predictor(
    arch: str,
    data_spec: str | DataSpec,
    seed: int = 0,
    epochs: int = 30,
    learning_rate: float = 0.01,
    batch_size: int = 32,
) -> Predictor:
    """Return a model of arch trained with Adam on the shard data_spec names, from init and shuffle seed."""
    spec = parse_data_spec(data_spec) if isinstance(data_spec, str) else data_spec
    shard = load_shard(spec)
    initial = flatten(init_params(arch, shard.x.shape[1], shard.n_classes, seed))
    config = TrainConfig("adam", learning_rate, batch_size, epochs, seed)
    weights, _ = train_local(arch, initial, shard.x, shard.y, config)
    return Predictor.from_flat(arch, weights, shard.x.shape[1])


def _check_probs(probs: ArrayLike) -> NDArray[np.float64]:
    """Return probs as an (n, k) float64 array of non-negative rows, k >= 2."""
    array = np.asarray(probs, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] < 2 or not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError(f"need (n, k >= 2) finite non-negative probabilities, got shape {array.shape}")
    return array


def to_entries(probs: ArrayLike) -> Entries:
    """Return (argmax class, floor(10^4 x max probability)) per row of probs; ties go to the smaller class."""
    array = _check_probs(probs)
    labels = np.argmax(array, axis=1)
    # The floor is taken in float64, then clipped: 10^4 x 1.0 must not round past the format's maximum.
    confidence = np.clip(np.floor(BPS * array[np.arange(len(array)), labels]), 0, BPS).astype(np.int64)
    return [(int(c), int(v)) for c, v in zip(labels, confidence, strict=True)]


def compute_network_view(
    tallies: Sequence[tuple[int, int]], peers: Sequence[Sequence[tuple[int, int]]], n_classes: int
) -> NDArray[np.float64]:
    """Return q (n, k): per input the tally's support on its answer, the rest spread as the peers say.

    The remainder 1 - support goes to the other classes in proportion to the confidence the peers put
    on them, or uniformly over them when no shown peer names another class.
    """
    n = len(tallies)
    for peer in peers:
        if len(peer) != n:
            raise ValueError(f"a peer's predictions cover {len(peer)} inputs, the tally {n}")
    answers = np.array([answer for answer, _ in tallies], dtype=np.int64).reshape(n)
    support = np.array([s for _, s in tallies], dtype=np.float64).reshape(n) / BPS
    if np.any((answers < 0) | (answers >= n_classes)) or np.any((support < 0) | (support > 1)):
        raise ValueError(f"a tally names a class outside 0 .. {n_classes - 1} or support outside 0 .. {BPS}")
    mass = np.zeros((n, n_classes))
    for peer in peers:
        for index, (label, confidence) in enumerate(peer):
            if not (0 <= label < n_classes and 0 <= confidence <= BPS):
                raise ValueError(f"a peer's entry {index} ({label}, {confidence}) is out of range")
            mass[index, label] += confidence
    rows = np.arange(n)
    mass[rows, answers] = 0.0
    others = mass.sum(axis=1, keepdims=True)
    uniform = np.full((n, n_classes), 1.0 / (n_classes - 1))
    uniform[rows, answers] = 0.0
    rest = np.where(others > 0, mass / np.where(others > 0, others, 1.0), uniform)
    view = rest * (1.0 - support)[:, None]
    view[rows, answers] = support
    return view


def revise(
    probs: ArrayLike,
    tallies: Sequence[tuple[int, int]],
    peers: Sequence[Sequence[tuple[int, int]]],
    trust: float = DEFAULT_TRUST,
    keep_bps: int = DEFAULT_KEEP_BPS,
) -> Entries:
    """Return the revised entries: own probabilities pooled with the network view (module docstring).

    probs: the participant's own (n, k) probabilities; tallies: the last round's (answer,
    support_bps) per input; peers: the shown peers' last entries; trust in [0, 1]: the exponent of
    the network view in the pool; keep_bps: the own confidence at or above which an answer is kept.
    """
    own = _check_probs(probs)
    if len(tallies) != len(own):
        raise ValueError(f"the tally covers {len(tallies)} inputs, the probabilities {len(own)}")
    if not 0.0 <= trust <= 1.0 or not 0 <= keep_bps <= BPS:
        raise ValueError(f"need 0 <= trust <= 1 and 0 <= keep_bps <= {BPS}, got {trust} and {keep_bps}")
    k = own.shape[1]
    view = (compute_network_view(tallies, peers, k) + NETWORK_FLOOR) / (1.0 + NETWORK_FLOOR * k)
    # argmax of the normalized pool = argmax of its log; a float32 softmax can underflow to exactly 0.
    choices = np.argmax(np.log(np.maximum(own, 1e-12)) + trust * np.log(view), axis=1)
    revised = to_entries(own)
    for index, choice in enumerate(choices):
        if revised[index][1] < keep_bps:
            revised[index] = (int(choice), int(min(BPS, np.floor(BPS * own[index, choice]))))
    return revised
