"""`synod demo`'s story switches: what each flag turns on, and the combinations refused before any
node starts (tests/e2e/test_demo.py runs the story itself)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from app.demo import DEFAULT_ATTACK, StoryParts
from app.demo.plan import compute_schedule
from app.modules.committee.logic import compute_reveal_start
from app.modules.committee.params import default_params
from cli.run.demo import _story_parts, demo


def test_the_default_story_runs_every_part_with_the_last_worker_attacking() -> None:
    assert _story_parts(False, True, None, True, True, True, 4) == StoryParts()
    assert StoryParts().attack == DEFAULT_ATTACK and StoryParts().committee
    assert _story_parts(True, True, None, True, True, False, 4) == StoryParts(False, "", False, False, False)
    assert _story_parts(False, True, "none", False, True, True, 4) == StoryParts(True, "", False, True, True)
    # --no-committee alone drops the default attack: nobody would catch it.
    assert _story_parts(False, False, None, True, True, True, 4).attack == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--plain", "--attack", "sign_flip"], "--plain runs honest workers only"),
        (["--no-committee", "--attack", "sign_flip"], "is caught by the committee"),
        (["--workers", "1"], "needs at least one honest worker"),
        (["--attack", "teleport"], "--attack"),
    ],
)
def test_combinations_the_demo_cannot_show_are_refused_before_anything_starts(
    args: list[str], message: str, tmp_path
) -> None:
    result = CliRunner().invoke(demo, [*args, "--dir", str(tmp_path / "d")])
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "d").exists()


def test_a_scored_schedule_has_a_score_phase_of_its_seconds() -> None:
    scored = compute_schedule(0.5, rounds=2, workers=8, cores=2, scored=True)
    reveal_blocks = default_params().attest_reveal_blocks
    # The commit window alone (the phase minus its reveal window) lasts the score seconds.
    end = scored["score_blocks"] - 1
    assert compute_reveal_start(0, end, reveal_blocks) * 0.5 >= 10
    assert compute_schedule(0.5, rounds=2, workers=8, cores=2)["score_blocks"] == 0
