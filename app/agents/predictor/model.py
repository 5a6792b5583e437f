"""The predictor's local model, the query's inputs, and what it submits in each round.

The model is trained with JAX on the participant's private shard (app/ml/predict.py) and saved in the
state directory, so a restart reuses it. The inputs come inline from the query or from its
reference (app/ml/queryinputs.py), and are used only if they hash to the query's inputs_hash. Round
0 submits the model's own entries; every later round revises them against the previous round's
tally and the peers the chain showed (predict.revise); an attack (app/ml/predattacks) replaces both.
JAX is imported on first use: a predictor restarted in a reveal phase needs only its saved file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from app.agents.predictor.state import SavedModel, load_model, save_model
from app.client.consensus import check_inputs
from app.core.crypto import decode_address
from app.ml.predattacks import PredictAttack, PredictContext
from synod.consensus.v1 import consensus_pb2

__all__ = [
    "Entries",
    "LocalModel",
    "Model",
    "ModelError",
    "QueryInputs",
    "RoundView",
    "compute_agreement_bps",
    "compute_entries",
    "compute_participant_seed",
    "compute_query_seed",
    "fetch_inputs",
    "load_or_train",
    "own_probabilities",
]

Entries = list[tuple[int, int]]  # (class, confidence_bps) per input
_SEED_DOMAIN = b"synod/predictor/seed/v1"
_QUERY_SEED_DOMAIN = b"synod/predictor/query-seed/v1"


class ModelError(Exception):
    """The model cannot answer this query (wrong input width, more classes, bad data spec)."""


class Model(Protocol):
    """What the predictor needs from a trained model (app.ml.predict.Predictor; tests use their own)."""

    @property
    def n_features(self) -> int:
        """The input width the model takes."""
        ...

    @property
    def n_classes(self) -> int:
        """The number of classes the model scores."""
        ...

    def probabilities(self, x: ArrayLike) -> NDArray[np.float64]:
        """(n, n_classes) class probabilities of the rows of x."""
        ...


@dataclass(frozen=True)
class LocalModel:
    """How to get the participant's model: an architecture trained on a data spec from a seed."""

    arch: str
    data_spec: str
    seed: int


def compute_participant_seed(query_id: int, participant: str) -> int:
    """The training and attack seed of one participant on one query (32 bits of a SHA-256)."""
    digest = hashlib.sha256(_SEED_DOMAIN + query_id.to_bytes(8, "big") + decode_address(participant))
    return int.from_bytes(digest.digest()[:4], "big")


def compute_query_seed(query: consensus_pb2.PredictionQuery) -> int:
    """A seed every participant of a query derives alike (a colluding group's shared draws)."""
    digest = hashlib.sha256(_QUERY_SEED_DOMAIN + query.id.to_bytes(8, "big") + query.inputs_hash)
    return int.from_bytes(digest.digest()[:4], "big")


def load_or_train(spec: LocalModel, directory: Path) -> Model:
    """The model saved in directory for the same spec, else a freshly trained one (then saved)."""
    from app.ml.datasets import DatasetError
    from app.ml.models import ModelError as ArchError
    from app.ml.predict import Predictor, train_predictor

    saved = load_model(directory)
    if saved is not None and (saved.arch, saved.data_spec, saved.seed) == (
        spec.arch,
        spec.data_spec,
        spec.seed,
    ):
        return Predictor.from_flat(saved.arch, saved.weights, saved.n_features)
    try:
        model = train_predictor(spec.arch, spec.data_spec, spec.seed)
    except (DatasetError, ArchError) as e:
        raise ModelError(str(e)) from None
    save_model(
        directory, SavedModel(spec.arch, spec.data_spec, spec.seed, model.n_features, model.flat_weights())
    )
    return model


@dataclass(frozen=True, eq=False)
class QueryInputs:
    """The query's input rows, and their true labels when the reference knows them (summary only)."""

    x: NDArray[np.float32]
    labels: NDArray[np.int64] | None


def fetch_inputs(query: consensus_pb2.PredictionQuery) -> QueryInputs:
    """The query's inputs, inline or resolved from its reference, checked against inputs_hash."""
    from app.ml.queryinputs import QueryInputsError, decode_inputs, resolve_inputs_uri

    labels = None
    try:
        if query.inputs:
            blob = check_inputs(query.inputs, query, "the chain")
        else:
            blob, labels = resolve_inputs_uri(query.inputs_uri)
            check_inputs(blob, query, query.inputs_uri)
        x = decode_inputs(blob)
    except QueryInputsError as e:
        raise ModelError(f"query {query.id}'s inputs: {e}") from None
    if len(x) != query.input_count:
        raise ModelError(f"query {query.id} declares {query.input_count} inputs, its blob holds {len(x)}")
    return QueryInputs(x, labels)


def own_probabilities(model: Model, x: NDArray[np.float32], label_count: int) -> NDArray[np.float64]:
    """The model's (n, label_count) probabilities; classes it does not know get 0."""
    if model.n_features != x.shape[1]:
        raise ModelError(
            f"the query's inputs have {x.shape[1]} features, the model takes {model.n_features}: "
            "train on a dataset of the query's kind (--data)"
        )
    if model.n_classes > label_count:
        raise ModelError(f"the model scores {model.n_classes} classes, the query has only {label_count}")
    probs = np.zeros((len(x), label_count))
    probs[:, : model.n_classes] = model.probabilities(x)
    return probs


@dataclass(frozen=True)
class RoundView:
    """What the chain showed after the previous round: the tally and the shown peers' predictions."""

    tallies: list[tuple[int, int]]
    peers: list[Entries]


def compute_entries(
    round_: int,
    probs: NDArray[np.float64],
    view: RoundView | None,
    trust: float,
    attack: PredictAttack | None = None,
    seeds: tuple[int, int] = (0, 0),
) -> tuple[Entries, str]:
    """(entries to submit in round_, their source): the model's, revised ones, or the attack's.

    seeds are (participant seed, query seed), which only an attack uses.
    """
    from app.ml.predict import revise, to_entries

    own = to_entries(probs)
    tallies = view.tallies if view is not None else None
    if attack is not None:
        ctx = PredictContext(round_, own, tallies if round_ else None, seeds[0], seeds[1], probs.shape[1])
        return attack.answer(ctx), f"attack:{attack.name}"
    if round_ == 0 or view is None:
        return own, "model"
    return revise(probs, view.tallies, view.peers, trust), "revised"


def compute_agreement_bps(ours: Sequence[tuple[int, int]], answers: Sequence[int]) -> int:
    """The share of inputs on which ours names the same class as answers, in basis points."""
    if not answers:
        return 0
    same = sum(1 for (label, _), answer in zip(ours, answers, strict=True) if label == answer)
    return same * 10_000 // len(answers)
