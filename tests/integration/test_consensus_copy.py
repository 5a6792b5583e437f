"""Copying another participant's (or poster's) commitment earns nothing: the hash names its author.

A copier commits the hash an honest participant broadcast, waits for the honest reveal, and
reveals the same salt and predictions. The commitment binds the participant's address, the query
and the round, so the copy is refused (ErrCommitmentMismatch) and, never revealed, is slashed as a
missed reveal when the round closes. A poster that copies another query's labels commitment cannot
reveal those labels against it either (ErrLabelsMismatch).
"""

from __future__ import annotations

import hashlib

import pytest

from app.modules.consensus import logic
from synod.consensus.v1 import consensus_pb2, tx_pb2
from tests.integration.harness import Chain
from tests.integration.test_consensus import (
    GAS,
    INPUTS,
    LABEL_SALT,
    LABELS,
    ROUND0,
    _new_chain,
    _raw,
    advance_to,
    code,
    commit_msg,
    labels_msg,
    ok,
    participant,
    post,
    post_msg,
    query_of,
    register_msg,
    reveal_msg,
    run,
)


@pytest.fixture
def chain() -> Chain:
    return _new_chain()


def test_a_copied_prediction_commitment_is_refused_at_reveal_and_slashed_as_missed(chain: Chain) -> None:
    ok(chain, post(chain, commit_blocks=1, reveal_blocks=2, rounds=0))
    honest = commit_msg("bob", 0, ROUND0["bob"])
    copied = tx_pb2.MsgCommitPredictions()
    copied.CopyFrom(honest)
    copied.participant = reveal_msg("carol", 0, ROUND0["bob"]).participant
    ok(
        chain,
        chain.tx("bob", [register_msg("bob", 1_000), honest]),
        chain.tx("carol", [register_msg("carol", 1_000), copied]),
    )
    ok(chain, chain.tx("bob", [reveal_msg("bob", 0, ROUND0["bob"])]))
    # carol replays bob's now public salt and predictions against bob's hash.
    stolen = reveal_msg("bob", 0, ROUND0["bob"])
    stolen.participant = copied.participant
    log = code(run(chain, chain.tx("carol", [stolen]))[0], 12)
    assert "participant" in log and "round 0" in log
    advance_to(chain, query_of(chain).schedule.start_height + 5)
    carol = participant(chain, "carol")
    assert carol.missed_reveals == 1 and carol.slashed == str(1_000 * 1_000 // 10_000)
    assert participant(chain, "bob").missed_reveals == 0


def test_the_commitment_binds_author_query_and_round() -> None:
    salt, blob = b"s" * 32, logic.encode_predictions([(1, 10_000)])
    base = logic.compute_commitment(_raw("bob"), 1, 0, salt, blob)
    assert (
        base
        == hashlib.sha256(
            logic.PREDICTIONS_DOMAIN + _raw("bob") + (1).to_bytes(8, "big") + bytes(8) + salt + blob
        ).digest()
    )
    for other in (
        logic.compute_commitment(_raw("carol"), 1, 0, salt, blob),
        logic.compute_commitment(_raw("bob"), 2, 0, salt, blob),
        logic.compute_commitment(_raw("bob"), 1, 1, salt, blob),
        logic.compute_commitment(_raw("bob"), 1, 0, b"t" * 32, blob),
        hashlib.sha256(salt + blob).digest(),
    ):
        assert other != base
    inputs_hash = hashlib.sha256(INPUTS).digest()
    labels = logic.compute_labels_commitment(_raw("alice"), inputs_hash, LABEL_SALT, LABELS)
    assert labels != logic.compute_labels_commitment(_raw("bob"), inputs_hash, LABEL_SALT, LABELS)
    assert labels != logic.compute_labels_commitment(_raw("alice"), bytes(32), LABEL_SALT, LABELS)
    # The salt's length prefix: moving a byte between salt and labels changes the hash.
    shifted = logic.compute_labels_commitment(_raw("alice"), inputs_hash, LABEL_SALT + LABELS[:1], LABELS[1:])
    assert labels != shifted


def test_a_copied_labels_commitment_cannot_be_revealed_by_the_copier(chain: Chain) -> None:
    spec = {"commit_blocks": 1, "reveal_blocks": 1, "rounds": 0}
    original = post_msg("alice").labels_commitment
    ok(chain, post(chain, **spec), post(chain, "bob", labels_commitment=original, **spec))
    carol = ROUND0["carol"]
    ok(
        chain,
        *[
            chain.tx("carol", [register_msg("carol", 1_000, q), commit_msg("carol", 0, carol, q)])
            for q in (1, 2)
        ],
    )
    ok(chain, chain.tx("carol", [reveal_msg("carol", 0, carol, 1), reveal_msg("carol", 0, carol, 2)]))
    for query_id in (1, 2):
        assert query_of(chain, query_id).status == consensus_pb2.QUERY_STATUS_SETTLED
    ok(chain, chain.tx("alice", [labels_msg()], gas=GAS))
    # bob read alice's labels and salt from her reveal and replays them on his copy.
    log = code(run(chain, chain.tx("bob", [labels_msg("bob", query_id=2)], gas=GAS))[0], 17)
    assert "poster" in log
