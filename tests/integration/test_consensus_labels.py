"""Labels pay by correctness only when committed at posting, and never pay the poster back.

A poster who could choose labels after seeing the answers could take the participants' work for
free (an unpaid reward used to return to it) and steer reputations. Now a reveal without a labels
commitment is refused (consensus 26), such a query pays by agreement at its deadline, and the share
of the reward correctness leaves is paid by agreement, the rest burnt: the poster gets coins back
only when no answer arrived at all. Supply goes down by exactly what is burnt.
"""

from __future__ import annotations

import hashlib

import pytest

from app.modules.consensus import logic
from synod.consensus.v1 import consensus_pb2
from tests.integration.harness import Chain
from tests.integration.test_consensus import (
    GAS,
    INPUTS,
    LABEL_SALT,
    _addr,
    _new_chain,
    _raw,
    advance_to,
    code,
    commit_msg,
    escrow,
    labels_msg,
    ok,
    participant,
    post,
    query_of,
    register_msg,
    reveal_msg,
    run,
    supply,
)

BOB = [(0, 10_000), (1, 10_000), (1, 10_000), (0, 10_000)]
CAROL = [(0, 10_000), (1, 10_000), (1, 10_000), (1, 10_000)]
# Class 2 on every input: labels nobody predicted.
UNPREDICTED = bytes([2, 2, 2, 2])
REWARD = 1_001


@pytest.fixture
def chain() -> Chain:
    return _new_chain()


def _settle(chain: Chain, **post_overrides: object) -> None:
    """Post a one-round query; bob and carol register, commit and reveal; it settles."""
    ok(chain, post(chain, rounds=0, label_blocks=2, **post_overrides))
    ok(
        chain,
        chain.tx("bob", [register_msg("bob", 1_000), commit_msg("bob", 0, BOB)]),
        chain.tx("carol", [register_msg("carol", 3_000), commit_msg("carol", 0, CAROL)]),
    )
    ok(
        chain,
        chain.tx("bob", [reveal_msg("bob", 0, BOB)]),
        chain.tx("carol", [reveal_msg("carol", 0, CAROL)]),
    )
    assert query_of(chain).status == consensus_pb2.QUERY_STATUS_SETTLED


def _attrs(result, kind: str) -> dict[str, str]:  # noqa: ANN001
    """The attributes of the first event of kind in a tx result."""
    (event,) = [e for e in result.events if e.type == kind]
    return {a.key: a.value for a in event.attributes}


def test_labels_for_a_query_without_a_commitment_are_refused_and_it_pays_by_agreement(chain: Chain) -> None:
    before = {n: chain.balance(_addr(n)) for n in ("alice", "bob", "carol")}
    start = supply(chain)
    _settle(chain, labels_commitment=b"")
    log = code(run(chain, chain.tx("alice", [labels_msg(labels=UNPREDICTED)], gas=GAS))[0], 26)
    assert "labels_commitment" in log
    advance_to(chain, query_of(chain).settled_height + 3)
    assert query_of(chain).status == consensus_pb2.QUERY_STATUS_CLOSED
    # Agreement with the settled [0, 1, 1, 1]: bob 3 inputs, carol 4; reputations never move.
    shares = {"bob": REWARD * 3 // 7, "carol": REWARD * 4 // 7}
    for name, share in shares.items():
        assert chain.balance(_addr(name)) == before[name] - chain.fees_paid[name] + share
        assert participant(chain, name).correct == 0
        assert chain.app.consensus.get_reputation(chain.app.store.view, _raw(name)) is None
    burned = REWARD - sum(shares.values())
    assert chain.balance(_addr("alice")) == before["alice"] - chain.fees_paid["alice"] - REWARD
    assert start - supply(chain) == burned and escrow(chain) == {}


def test_a_poster_revealing_labels_nobody_predicted_gets_nothing_back(chain: Chain) -> None:
    inputs_hash = hashlib.sha256(INPUTS).digest()
    commitment = logic.compute_labels_commitment(_raw("alice"), inputs_hash, LABEL_SALT, UNPREDICTED)
    before = {n: chain.balance(_addr(n)) for n in ("alice", "bob", "carol")}
    start = supply(chain)
    _settle(chain, labels_commitment=commitment)
    (result,) = run(chain, chain.tx("alice", [labels_msg(labels=UNPREDICTED)], gas=GAS))
    code(result, 0, "")
    assert query_of(chain).status == consensus_pb2.QUERY_STATUS_CLOSED
    # Nobody was correct: the whole reward goes by agreement (bob 3, carol 4), not to alice.
    shares = {"bob": REWARD * 3 // 7, "carol": REWARD * 4 // 7}
    for name, share in shares.items():
        assert participant(chain, name).correct == 0 and participant(chain, name).reward == str(share)
        assert chain.balance(_addr(name)) == before[name] - chain.fees_paid[name] + share
    burned = REWARD - sum(shares.values())
    assert _attrs(result, "reward_unearned")["reward_burned"] == f"{burned}usyn"
    assert not [e for e in result.events if e.type == "reward_refunded"]
    assert chain.balance(_addr("alice")) == before["alice"] - chain.fees_paid["alice"] - REWARD
    # Supply is conserved but for the burn; the escrow is empty.
    assert start - supply(chain) == burned and escrow(chain) == {}


def test_correctness_pays_first_and_agreement_takes_what_it_leaves(chain: Chain) -> None:
    labels = bytes([0, 1, 2, 2])  # bob 2 correct, carol 2: 500 each, 1 left for agreement
    inputs_hash = hashlib.sha256(INPUTS).digest()
    commitment = logic.compute_labels_commitment(_raw("alice"), inputs_hash, LABEL_SALT, labels)
    start = supply(chain)
    _settle(chain, labels_commitment=commitment)
    (result,) = run(chain, chain.tx("alice", [labels_msg(labels=labels)], gas=GAS))
    code(result, 0, "")
    shares, left = logic.compute_payout(
        REWARD, [{_raw("bob"): 2, _raw("carol"): 2}, {_raw("bob"): 3, _raw("carol"): 4}]
    )
    assert (shares, left) == ({_raw("bob"): 500, _raw("carol"): 500}, 1)  # 1 x 3 // 7 and 1 x 4 // 7 are 0
    for name in ("bob", "carol"):
        assert participant(chain, name).reward == "500" and participant(chain, name).correct == 2
    assert _attrs(result, "reward_unearned")["reward_burned"] == "1usyn"
    assert start - supply(chain) == left and escrow(chain) == {}


def test_the_reward_returns_to_the_poster_only_when_no_answer_arrived(chain: Chain) -> None:
    before = chain.balance(_addr("alice"))
    start = supply(chain)
    ok(chain, post(chain, rounds=0, label_blocks=2))
    ok(chain, chain.tx("bob", [register_msg("bob", 1_000), commit_msg("bob", 0, BOB)]))
    advance_to(chain, query_of(chain).schedule.start_height + 2)  # bob never reveals
    assert query_of(chain).status == consensus_pb2.QUERY_STATUS_SETTLED
    (result,) = run(chain, chain.tx("alice", [labels_msg(labels=UNPREDICTED)], gas=GAS))
    code(result, 17)  # the committed labels are the default LABELS, not these
    (result,) = run(chain, chain.tx("alice", [labels_msg()], gas=GAS))
    code(result, 0, "")
    assert _attrs(result, "reward_refunded")["amount"] == f"{REWARD}usyn"
    assert chain.balance(_addr("alice")) == before - chain.fees_paid["alice"]
    slash = participant(chain, "bob").slashed
    assert start - supply(chain) == int(slash) and escrow(chain) == {}
