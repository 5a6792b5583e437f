"""Pure rules of the tasks module: the round schedule, commitments and reward shares."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.modules.tasks import logic
from synod.tasks.v1 import tasks_pb2


def _task(start: int, rounds: int, join: int, commit: int, reveal: int, score: int) -> tasks_pb2.Task:
    schedule = tasks_pb2.Schedule(
        rounds=rounds, join_blocks=join, commit_blocks=commit, reveal_blocks=reveal, score_blocks=score
    )
    return tasks_pb2.Task(id=1, start_height=start, schedule=schedule)


def test_phases_of_a_small_schedule_by_height() -> None:
    task = _task(start=10, rounds=2, join=2, commit=2, reveal=1, score=1)
    expected = {
        10: ("join", 0, 11),
        11: ("join", 0, 11),
        12: ("commit", 1, 13),
        13: ("commit", 1, 13),
        14: ("reveal", 1, 14),
        15: ("score", 1, 15),
        16: ("commit", 2, 17),
        18: ("reveal", 2, 18),
        19: ("score", 2, 19),
        20: ("done", 2, 19),
    }
    for height, (name, round_, end) in expected.items():
        assert logic.compute_phase(task, height) == logic.Phase(name, round_, end), height
    assert logic.compute_round_end(task, 1) == 15 and logic.compute_round_start(task, 2) == 16


schedules = st.builds(
    _task,
    start=st.integers(1, 10**6),
    rounds=st.integers(1, 20),
    join=st.integers(1, 10),
    commit=st.integers(1, 10),
    reveal=st.integers(1, 10),
    score=st.integers(0, 5),
)


@given(schedules)
def test_every_height_has_one_phase_and_rounds_tile_the_schedule(task: tasks_pb2.Task) -> None:
    s = task.schedule
    last = logic.compute_round_end(task, s.rounds)
    previous = None
    for height in range(task.start_height, last + 2):
        phase = logic.compute_phase(task, height)
        assert height <= phase.end_height or phase.name == "done"
        if previous is not None and previous.name != phase.name:
            assert previous.end_height == height - 1  # a phase ends exactly where the next begins
        previous = phase
    for round_ in range(1, s.rounds + 1):
        assert logic.compute_phase(task, logic.compute_round_start(task, round_)).name == "commit"
        end = logic.compute_phase(task, logic.compute_round_end(task, round_))
        assert end.round == round_ and end.end_height == logic.compute_round_end(task, round_)
    assert logic.compute_phase(task, last + 1).name == "done"


@given(
    st.integers(0, 10**30),
    st.dictionaries(st.binary(min_size=20, max_size=20), st.integers(0, 1000), max_size=8),
)
def test_reward_shares_are_proportional_floored_and_never_exceed_the_reward(
    reward: int, counts: dict
) -> None:
    shares, remainder = logic.compute_reward_shares(reward, counts)
    assert sum(shares.values()) + remainder == reward and remainder >= 0
    total = sum(counts.values())
    for worker, share in shares.items():
        assert share == reward * counts[worker] // total
    if total:  # each floored share loses less than one unit
        assert remainder < len([c for c in counts.values() if c])
    else:
        assert remainder == reward


def test_commitments_bind_every_input() -> None:
    base = dict(task_id=1, round_=2, worker=b"w" * 20, salt=b"s" * 32, num_samples=10, update=b"u" * 8)
    digest = logic.compute_commitment(**base)
    for field, other in [
        ("task_id", 2),
        ("round_", 3),
        ("worker", b"x" * 20),
        ("salt", b"t" * 32),
        ("num_samples", 11),
        ("update", b"v" * 8),
    ]:
        assert logic.compute_commitment(**{**base, field: other}) != digest, field
