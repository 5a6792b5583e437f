"""`synod task plot` and app/agents/evaluation: checkpoints evaluated locally, the plot, the checks."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from click.testing import CliRunner

from app.agents import evaluation
from app.demo.plan import compute_schedule
from app.ml.datasets import DatasetError
from app.ml.evaldata import eval_reference, load_eval_data
from app.ml.models import flatten, init_params
from app.ml.quantize import WEIGHT_SPEC, encode, quantize
from cli import taskplot
from cli.main import cli
from synod.tasks.v1 import query_pb2, tasks_pb2
from tests.unit.rpc_fakes import abci_over_methods

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DIGITS = tasks_pb2.ModelSpec(arch="logreg", n_features=64, n_classes=10)


def _weights(seed: int, scale: float = 1.0) -> bytes:
    """A logreg model for digits in the chain's int32 weight format."""
    flat = flatten(init_params("logreg", 64, 10, seed)) * scale
    return encode(quantize(flat, WEIGHT_SPEC), WEIGHT_SPEC)


def _checkpoint(round_: int, weights: bytes) -> evaluation.Checkpoint:
    """A checkpoint whose hash is that of its bytes, as the chain records it."""
    return evaluation.Checkpoint(round_, hashlib.sha256(weights).digest(), weights)


def _task(eval_hash: bytes | None = None, rounds: int = 2) -> tasks_pb2.Task:
    """A digits task naming the real test split; eval_hash defaults to the data's true hash."""
    reference = eval_reference("digits", "test", 0)
    digest = load_eval_data(reference).digest if eval_hash is None else eval_hash
    return tasks_pb2.Task(
        id=1,
        model=DIGITS,
        hyper=tasks_pb2.Hyperparams(
            optimizer="sgd", learning_rate_ppm=100_000, batch_size=32, local_epochs=1
        ),
        data=tasks_pb2.DataRef(dataset="digits", eval_data=reference, eval_hash=digest),
        schedule=tasks_pb2.Schedule(rounds=rounds),
        status=tasks_pb2.TASK_STATUS_FINISHED,
    )


class FakeRPC:
    """Answers the /tasks/* queries TasksClient makes, from in-memory checkpoints."""

    url = "http://fake"

    def __init__(self, task: tasks_pb2.Task, weights: list[bytes], corrupt_round: int | None = None) -> None:
        """Serve weights[r] as round r's checkpoint; corrupt_round's bytes are flipped in transit."""
        self.task = task
        self.records = [
            tasks_pb2.RoundRecord(task_id=task.id, round=r, model_hash=hashlib.sha256(w).digest())
            for r, w in enumerate(weights)
        ]
        self.weights = weights
        self.corrupt_round = corrupt_round

    def abci_query(self, path: str, data: bytes, height: int = 0, prove: bool = False) -> dict:
        return abci_over_methods(self, path, data)

    def _tasks_task(self, data: bytes) -> query_pb2.QueryTaskResponse:
        return query_pb2.QueryTaskResponse(task=self.task, phase="finished")

    def _tasks_rounds(self, data: bytes) -> query_pb2.QueryRoundsResponse:
        return query_pb2.QueryRoundsResponse(rounds=self.records)

    def _tasks_model(self, data: bytes) -> query_pb2.QueryModelResponse:
        round_ = query_pb2.QueryModelRequest.FromString(data).round
        weights = self.weights[round_]
        if round_ == self.corrupt_round:
            weights = bytes([weights[0] ^ 1]) + weights[1:]
        return query_pb2.QueryModelResponse(round=self.records[round_], weights=weights)


def test_evaluate_checkpoints_in_round_order_with_plausible_numbers() -> None:
    data = load_eval_data(eval_reference("digits", "test", 0))
    checkpoints = [_checkpoint(2, _weights(2)), _checkpoint(0, _weights(0)), _checkpoint(1, _weights(1))]
    evals = evaluation.evaluate_checkpoints(DIGITS, checkpoints, data)
    assert [e.round for e in evals] == [0, 1, 2]
    assert all(0.0 <= e.accuracy <= 1.0 and np.isfinite(e.loss) and e.loss > 0 for e in evals)
    assert evals[1].model_hash == checkpoints[2].model_hash


def test_plot_written_for_synthetic_checkpoints(tmp_path) -> None:
    data = load_eval_data(eval_reference("digits", "test", 0))
    checkpoints = [_checkpoint(r, _weights(r, scale=1.0 / (r + 1))) for r in range(4)]
    evals = evaluation.evaluate_checkpoints(DIGITS, checkpoints, data)
    path = evaluation.write_plot(evals, tmp_path / "sub" / "plot.png", reference=0.9, title="synthetic")
    assert path.read_bytes().startswith(PNG_MAGIC)
    assert path.stat().st_size > 10_000


def test_plot_refuses_no_checkpoints(tmp_path) -> None:
    with pytest.raises(ValueError, match="no checkpoints"):
        evaluation.write_plot([], tmp_path / "empty.png")


def test_eval_hash_mismatch_rejected() -> None:
    with pytest.raises(DatasetError, match="hashes to .* but the task committed to"):
        evaluation.task_eval_data(_task(eval_hash=b"\x00" * 32))


def test_checkpoint_of_wrong_size_rejected() -> None:
    data = load_eval_data(eval_reference("digits", "test", 0))
    with pytest.raises(ValueError):
        evaluation.evaluate_checkpoint(DIGITS, _checkpoint(1, _weights(0)[:-4]), data)


def _plot_cli(monkeypatch: pytest.MonkeyPatch, rpc: FakeRPC, *args: str):  # noqa: ANN202
    """Run `synod task plot` against rpc."""
    monkeypatch.setattr(taskplot, "resolve_node", lambda node, home: rpc)
    return CliRunner().invoke(cli, ["task", "plot", "1", *args])


def test_cli_plots_every_round_and_prints_the_table(monkeypatch, tmp_path) -> None:
    weights = [_weights(0), _weights(1), _weights(2)]
    out = tmp_path / "task.png"
    result = _plot_cli(monkeypatch, FakeRPC(_task(rounds=1), weights), "--out", str(out), "--reference")
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(PNG_MAGIC)
    for digest in (hashlib.sha256(w).hexdigest()[:12] for w in weights):
        assert digest in result.output
    assert "centralized reference accuracy" in result.output


def test_cli_rejects_eval_data_that_does_not_match_the_task(monkeypatch, tmp_path) -> None:
    out = tmp_path / "task.png"
    result = _plot_cli(monkeypatch, FakeRPC(_task(eval_hash=b"\x01" * 32), [_weights(0)]), "--out", str(out))
    assert result.exit_code == 1
    assert "but the task committed to" in result.output
    assert not out.exists()


def test_cli_rejects_a_checkpoint_that_does_not_match_its_hash(monkeypatch, tmp_path) -> None:
    rpc = FakeRPC(_task(), [_weights(0), _weights(1)], corrupt_round=1)
    result = _plot_cli(monkeypatch, rpc, "--out", str(tmp_path / "task.png"))
    assert result.exit_code == 1
    assert "the node served corrupt data" in result.output


def test_demo_schedule_gives_each_phase_its_seconds() -> None:
    schedule = compute_schedule(0.5, rounds=5, workers=4, cores=2)
    assert schedule["rounds"] == 5 and schedule["score_blocks"] == 0
    assert schedule["commit_blocks"] * 0.5 >= 8 and schedule["reveal_blocks"] * 0.5 >= 5
    assert schedule["join_blocks"] > compute_schedule(0.5, rounds=5, workers=4, cores=4)["join_blocks"]
    assert compute_schedule(100.0, rounds=1, workers=1, cores=1)["commit_blocks"] == 2
