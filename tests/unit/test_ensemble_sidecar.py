"""The fast path's file hand-over: the sidecar writes predictions, the node's ExtendVote reads them."""

from __future__ import annotations

from pathlib import Path

from app.abci.handlers import read_answers
from app.agents.ensemble.agent import write_answer
from app.modules.consensus.logic import encode_predictions
from synod.consensus.v1 import consensus_pb2

BLOB = encode_predictions([(1, 9000), (0, 5000)])


def _query(query_id: int, posted: int = 5) -> consensus_pb2.PredictionQuery:
    return consensus_pb2.PredictionQuery(
        id=query_id, input_count=2, label_count=3, fast=True, posted_height=posted
    )


def test_answers_are_the_well_formed_files_of_pending_queries_in_id_order(tmp_path: Path) -> None:
    write_answer(tmp_path, 2, BLOB)
    write_answer(tmp_path, 1, BLOB)
    write_answer(tmp_path, 3, b"junk")  # malformed: left out
    write_answer(tmp_path, 9, BLOB)  # not pending: left out
    answers = read_answers(tmp_path, [_query(3), _query(2), _query(1)])
    assert [(a.query_id, a.predictions) for a in answers] == [(1, BLOB), (2, BLOB)]
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically: no temp file left
    assert read_answers(None, [_query(1)]) == []


def test_extend_vote_waits_briefly_for_a_query_posted_in_the_previous_block(tmp_path: Path) -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds
        if now[0] > 0.3:  # the sidecar finishes its prediction
            write_answer(tmp_path, 7, BLOB)

    answers = read_answers(tmp_path, [_query(7, posted=10)], 10, 1.0, clock=lambda: now[0], sleep=sleep)
    assert [a.query_id for a in answers] == [7] and 0.3 < now[0] < 0.5


def test_no_wait_without_a_sidecar_directory_or_for_older_queries(tmp_path: Path) -> None:
    slept: list[float] = []
    missing = tmp_path / "absent"
    assert read_answers(missing, [_query(7, posted=10)], 10, 1.0, sleep=slept.append) == []
    assert read_answers(tmp_path, [_query(7, posted=4)], 10, 1.0, sleep=slept.append) == []
    assert slept == []
    now = [0.0]
    gave_up = read_answers(
        tmp_path,
        [_query(8, posted=10)],
        10,
        1.0,
        clock=lambda: now[0],
        sleep=lambda s: now.__setitem__(0, now[0] + s),
    )
    assert gave_up == [] and 1.0 <= now[0] < 1.1  # bounded: the precommit is never held longer
