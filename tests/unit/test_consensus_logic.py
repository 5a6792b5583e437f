"""The consensus module's pure rules: predictions codec, tally, peers, schedule, rewards, reputation."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.modules.consensus import logic
from app.modules.consensus.logic import PredictionsError, Tally
from app.modules.consensus.params import default_params, validate_params
from synod.consensus.v1 import consensus_pb2

# --- predictions codec ---------------------------------------------------------------------------


def test_predictions_round_trip_three_bytes_per_input() -> None:
    entries = [(0, 10_000), (2, 0), (255, 1)]
    blob = logic.encode_predictions(entries)
    assert blob == bytes([0, 0x27, 0x10, 2, 0, 0, 255, 0, 1])
    assert logic.decode_predictions(blob, 3, 256) == entries


@pytest.mark.parametrize(
    ("blob", "inputs", "labels", "where"),
    [
        (bytes(5), 2, 3, "expected 6"),  # truncated
        (bytes(9), 2, 3, "expected 6"),  # too long
        (bytes([3, 0, 1, 0, 0, 1]), 2, 3, "input 0: class 3"),  # class not below label_count
        (bytes([0, 0, 1, 1, 0x27, 0x11]), 2, 3, "input 1: confidence 10001"),
        (b"", 1, 2, "expected 3"),
    ],
)
def test_malformed_predictions_are_refused_with_where(
    blob: bytes, inputs: int, labels: int, where: str
) -> None:
    with pytest.raises(PredictionsError, match=where):
        logic.decode_predictions(blob, inputs, labels)


@pytest.mark.parametrize("entry", [(256, 0), (-1, 0), (0, 10_001), (0, -1)])
def test_encoding_refuses_out_of_range_entries(entry: tuple[int, int]) -> None:
    with pytest.raises(PredictionsError):
        logic.encode_predictions([entry])


# --- the settlement tally ------------------------------------------------------------------------


def test_tally_weighs_by_weight_times_confidence() -> None:
    # 3 x 10000 for class 1 beats 2 x 10000 for class 0; support is class 1's share of the total.
    votes = [(3, [(1, 10_000)]), (2, [(0, 10_000)])]
    assert logic.compute_tally(1, 2, votes) == [Tally(1, 6_000)]
    # A low confidence defers: the heavier voter is sure of nothing, the lighter one is.
    votes = [(3, [(1, 1_000)]), (2, [(0, 10_000)])]
    assert logic.compute_tally(1, 2, votes) == [Tally(0, 20_000 * 10_000 // 23_000)]


def test_ties_go_to_the_smallest_class_and_no_weight_settles_on_class_zero() -> None:
    votes = [(5, [(2, 4_000), (1, 10_000)]), (5, [(1, 4_000), (0, 10_000)])]
    assert logic.compute_tally(2, 3, votes) == [Tally(1, 5_000), Tally(0, 5_000)]
    assert logic.compute_tally(2, 3, []) == [Tally(0, 0), Tally(0, 0)]
    assert logic.compute_tally(1, 3, [(7, [(2, 0)])]) == [Tally(0, 0)]


def test_splitting_a_stake_across_identities_changes_nothing() -> None:
    entries = [(1, 9_000), (0, 6_000), (2, 10_000)]
    other = [(0, 10_000), (0, 10_000), (1, 10_000)]
    whole = logic.compute_tally(3, 3, [(logic.compute_weight(900, 5_000), entries), (400 * 8_000, other)])
    split = logic.compute_tally(
        3,
        3,
        [
            (logic.compute_weight(300, 5_000), entries),
            (logic.compute_weight(600, 5_000), entries),
            (400 * 8_000, other),
        ],
    )
    assert whole == split


def test_reputation_multiplies_influence() -> None:
    sure = [(1, 10_000)]
    against = [(0, 10_000)]
    # Equal stakes: the higher reputation wins; double the stake at half the reputation ties (class 0).
    assert (
        logic.compute_tally(1, 2, [(logic.compute_weight(100, 6_000), sure), (100 * 5_000, against)])[
            0
        ].answer
        == 1
    )
    tie = [(logic.compute_weight(100, 5_000), sure), (logic.compute_weight(50, 10_000), against)]
    assert logic.compute_tally(1, 2, tie) == [Tally(0, 5_000)]


def test_negative_weights_are_a_bug() -> None:
    with pytest.raises(ValueError, match="negative"):
        logic.compute_tally(1, 2, [(-1, [(0, 1)])])


# --- peers ---------------------------------------------------------------------------------------

ADDRESSES = [hashlib.sha256(bytes([i])).digest()[:20] for i in range(10)]


def test_peers_are_deterministic_sorted_bounded_and_never_self() -> None:
    me = ADDRESSES[0]
    peers = logic.compute_peers(b"seed", 7, 1, me, ADDRESSES, 4)
    assert peers == logic.compute_peers(b"seed", 7, 1, me, list(reversed(ADDRESSES)), 4)
    assert len(peers) == 4 and me not in peers and peers == sorted(peers)
    assert set(peers) <= set(ADDRESSES)
    assert logic.compute_peers(b"seed", 7, 1, me, ADDRESSES, 50) == sorted(ADDRESSES[1:])
    assert logic.compute_peers(b"seed", 7, 1, me, ADDRESSES, 0) == []
    assert logic.compute_peers(b"seed", 7, 1, me, [me], 3) == []
    # Any change of seed, query, round or participant draws afresh.
    draws = {
        tuple(logic.compute_peers(seed, q, r, p, ADDRESSES, 4))
        for seed, q, r, p in [
            (b"seed", 7, 1, me),
            (b"other", 7, 1, me),
            (b"seed", 8, 1, me),
            (b"seed", 7, 2, me),
        ]
    }
    assert len(draws) > 1


def test_peers_are_close_to_uniform() -> None:
    me, others = ADDRESSES[0], ADDRESSES[1:]
    counts = dict.fromkeys(others, 0)
    trials = 1_800
    for i in range(trials):
        for peer in logic.compute_peers(i.to_bytes(4, "big"), 1, 0, me, ADDRESSES, 3):
            counts[peer] += 1
    expected = trials * 3 // len(others)  # 600 each
    # A binomial(1800, 1/3) has a standard deviation of 20: 5 sigma either way.
    assert all(abs(n - expected) < 100 for n in counts.values()), counts


# --- reputation, rewards, slashes, commitments -----------------------------------------------------


def test_reputation_is_an_integer_moving_average_of_accuracy() -> None:
    assert logic.compute_observation(3, 4) == 7_500
    assert logic.compute_observation(1, 3) == 3_333
    assert logic.compute_reputation(5_000, 10_000, 8) == 5_625
    assert logic.compute_reputation(5_000, 0, 8) == 4_375
    assert logic.compute_reputation(5_000, 7_500, 1) == 7_500  # window 1: the last observation
    rep = 5_000
    for _ in range(200):
        rep = logic.compute_reputation(rep, 10_000, 8)
    # Floors keep it just below the observation it converges to, never above.
    assert 9_990 <= rep < 10_000


def test_reward_split_floors_and_returns_the_remainder() -> None:
    shares, remainder = logic.compute_reward_split(1_000, {b"b": 2, b"a": 1, b"c": 0})
    assert shares == {b"a": 333, b"b": 666} and remainder == 1
    assert logic.compute_reward_split(1_000, {b"a": 0}) == ({}, 1_000)
    assert logic.compute_reward_split(1_000, {}) == ({}, 1_000)


def test_payout_pays_each_tier_what_the_one_before_left() -> None:
    # Nobody correct: agreement takes the whole pool; its rounding is left for the caller to burn.
    assert logic.compute_payout(1_000, [{b"a": 0, b"b": 0}, {b"b": 2, b"a": 1}]) == (
        {b"a": 333, b"b": 666},
        1,
    )
    # Correctness pays first; its floor remainder (1) is below one agreement share: left.
    assert logic.compute_payout(1_001, [{b"a": 1, b"b": 1}, {b"a": 3, b"b": 4}]) == (
        {b"a": 500, b"b": 500},
        1,
    )
    assert logic.compute_payout(7, [{b"a": 1, b"b": 2}, {b"b": 1}]) == ({b"a": 2, b"b": 5}, 0)
    assert logic.compute_payout(1_000, [{}, {}]) == ({}, 1_000)


def test_slash_never_takes_more_than_what_is_left() -> None:
    assert logic.compute_slash(1_000, 0, 1_000) == 100
    assert logic.compute_slash(1_000, 950, 1_000) == 50
    assert logic.compute_slash(999, 0, 1_000) == 99


def test_commitment_binds_participant_query_round_salt_and_blob() -> None:
    salt, blob, who = b"s" * 32, logic.encode_predictions([(1, 10_000)]), b"p" * 20
    prefix = logic.PREDICTIONS_DOMAIN + who + (3).to_bytes(8, "big") + (1).to_bytes(8, "big")
    assert logic.compute_commitment(who, 3, 1, salt, blob) == hashlib.sha256(prefix + salt + blob).digest()
    assert logic.compute_commitment(who, 3, 1, b"t" * 32, blob) != logic.compute_commitment(
        who, 3, 1, salt, blob
    )
    assert logic.compute_matches([(1, 0), (2, 5), (0, 9)], [1, 0, 0]) == 2


# --- schedule ------------------------------------------------------------------------------------


def _query(rounds: int = 1) -> consensus_pb2.PredictionQuery:
    return consensus_pb2.PredictionQuery(
        rounds=rounds,
        status=consensus_pb2.QUERY_STATUS_OPEN,
        schedule=consensus_pb2.Schedule(start_height=11, commit_blocks=2, reveal_blocks=3, label_blocks=4),
        round=1,
        phase=consensus_pb2.QUERY_PHASE_COMMIT,
        phase_start_height=16,
    )


def test_the_phase_is_the_stored_one_and_its_deadline_its_start_plus_its_blocks() -> None:
    q = _query()
    assert logic.compute_phase(q, 15) == logic.Phase(logic.WAITING, 0, 15)  # before it began
    assert logic.compute_phase(q, 16) == logic.compute_phase(q, 17) == logic.Phase(logic.COMMIT, 1, 17)
    q.phase, q.phase_start_height = consensus_pb2.QUERY_PHASE_REVEAL, 17  # type: ignore[assignment]
    assert logic.compute_phase(q, 17) == logic.Phase(logic.REVEAL, 1, 19)
    q.status, q.settled_height = consensus_pb2.QUERY_STATUS_SETTLED, 19
    assert logic.compute_phase(q, 20) == logic.Phase(logic.DONE, 1, 19)


@given(st.integers(0, 5), st.integers(0, 5), st.integers(0, 5), st.integers(0, 6), st.integers(0, 2))
def test_a_phase_is_complete_only_when_all_its_work_is_in(
    participants: int, commits: int, reveals: int, max_participants: int, round_: int
) -> None:
    commits, reveals = min(commits, participants), min(reveals, commits, participants)
    progress = consensus_pb2.QueryProgress(participants=participants, commits=commits, reveals=reveals)
    q = _query()
    q.round, q.max_participants = round_, max_participants
    registering = round_ == 0 and not 0 < max_participants <= participants
    assert logic.is_phase_complete(q, progress) == (not registering and commits == participants > 0)
    q.phase = consensus_pb2.QUERY_PHASE_REVEAL  # type: ignore[assignment]
    assert logic.is_phase_complete(q, progress) == (reveals == commits > 0)
    q.fast = True
    assert not logic.is_phase_complete(q, progress)


def test_the_label_deadline_follows_settlement() -> None:
    q = _query()
    q.settled_height = 20
    assert logic.compute_label_deadline(q) == 24


def test_params_defaults_and_validation() -> None:
    p = default_params()
    validate_params(p)
    assert (p.max_inputs, p.max_labels, p.max_rounds, p.max_inline_bytes) == (512, 256, 8, 65_536)
    assert (p.missed_reveal_slash_bps, p.reputation_window, p.initial_reputation_bps) == (1_000, 8, 5_000)
    assert (p.fast_deadline_blocks, p.max_peer_sample) == (20, 16)
    for change in (
        {"max_labels": 257},
        {"max_labels": 1},
        {"reputation_window": 0},
        {"initial_reputation_bps": 0},
        {"missed_reveal_slash_bps": 10_001},
        {"max_inputs": 0},
    ):
        bad = default_params()
        for name, value in change.items():
            setattr(bad, name, value)
        with pytest.raises(ValueError):
            validate_params(bad)
