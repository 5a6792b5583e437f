"""Bring-your-own training code: loading `pkg.module:attr`, the fit and real-flwr adapters, the checks
of what the user's code returns, the worker running it, run_worker's arguments, and the two examples."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from flwr.client import NumPyClient

from app.agents.custom_training import CustomTrainer, compute_fit_config
from app.agents.progress import LogReporter
from app.agents.training import TrainingError, compute_train_seed
from app.agents.usercode import TrainerLoadError, UserTrainer, load_fit_data, load_trainer, resolve_trainer
from app.agents.worker import WorkerError, run_worker
from app.agents.worker.agent import Worker, WorkerConfig
from app.core.fixedpoint import UPDATE_FORMAT, WEIGHT_FORMAT
from app.ml.datasets import DatasetError, load_dataset
from app.ml.quantize import UPDATE_SPEC, WEIGHT_SPEC, dequantize, quantize
from app.ml.schema import SchemaError, TaskSchema
from app.ml.train import evaluate
from cli.main import cli
from synod.tasks.v1 import tasks_pb2
from tests.integration.harness import test_key
from tests.integration.tasks_harness import ARCH, N_CLASSES, N_FEATURES, SIZE, initial_weights
from tests.unit import test_worker
from tests.unit.test_worker import BOB, Crash, FakeNode

node = test_worker.node  # the fixture: a one-worker task on the in-process App

_names = itertools.count()


def _task(arch: str = ARCH, features: int = N_FEATURES, classes: int = N_CLASSES) -> tasks_pb2.Task:
    return tasks_pb2.Task(
        id=7,
        model=tasks_pb2.ModelSpec(arch=arch, n_features=features, n_classes=classes),
        hyper=tasks_pb2.Hyperparams(
            optimizer="sgd", learning_rate_ppm=100_000, batch_size=16, local_epochs=2
        ),
    )


_WEIGHTS = WEIGHT_FORMAT.encode(initial_weights())
_START = dequantize(initial_weights(), WEIGHT_SPEC)
_SHAPES = [(N_FEATURES, N_CLASSES), (N_CLASSES,)]


def _shifted(parameters: list[np.ndarray], _config: dict) -> tuple[list[np.ndarray], int, dict]:
    """A fit that moves every weight by +0.25 and every bias by -0.5."""
    w, b = parameters
    return [w + 0.25, b - 0.5], 30, {"loss": 1.0}


def _expected_update() -> bytes:
    """UPDATE_FORMAT bytes of the delta _shifted makes: +0.25 on W's entries, -0.5 on b's."""
    delta = np.concatenate([np.full(N_FEATURES * N_CLASSES, 0.25), np.full(N_CLASSES, -0.5)])
    return UPDATE_FORMAT.encode(quantize(delta, UPDATE_SPEC))


# --- the fit function and its config --------------------------------------------------------------


def test_fit_gets_the_model_as_blocks_and_the_task_config_and_its_result_is_the_quantized_delta() -> None:
    seen: list[tuple[list[np.ndarray], dict]] = []

    def fit(parameters: list[np.ndarray], config: dict) -> tuple[list[np.ndarray], int, dict]:
        seen.append(([p.copy() for p in parameters], config))
        parameters[0][:] = 99.0  # changing what it was given must not change what Synod subtracts
        return _shifted(parameters[:1] + [parameters[1]], config)[0], 30, {}

    trainer = CustomTrainer(_task(), "wine:shard=0/2", UserTrainer(fit, "fit"))
    trained = trainer.train(_WEIGHTS, 2, BOB)
    ((parameters, config),) = seen
    assert [p.shape for p in parameters] == _SHAPES and all(p.dtype == np.float32 for p in parameters)
    assert np.array_equal(np.concatenate([p.ravel() for p in parameters]), _START)
    assert config == {
        "optimizer": "sgd", "learning_rate": 0.1, "batch_size": 16, "local_epochs": 2, "round": 2,
        "task_id": 7, "seed": compute_train_seed(7, 2, BOB), "data": "wine:shard=0/2",
        "schema": TaskSchema(N_FEATURES, N_CLASSES).to_json(), "input_shape": "",
    }  # fmt: skip
    assert trained.num_samples == 30 and trainer.samples == 30
    w_delta = np.full(N_FEATURES * N_CLASSES, 99.0) + 0.25 - _START[: N_FEATURES * N_CLASSES]
    b_delta = np.full(N_CLASSES, -0.5)
    expected = np.concatenate([w_delta, b_delta])
    assert trained.update == UPDATE_FORMAT.encode(quantize(expected, UPDATE_SPEC))


def test_the_config_has_no_data_key_without_a_data_spec() -> None:
    assert "data" not in compute_fit_config(_task(), 1, BOB, "")
    with pytest.raises(DatasetError, match="without --data"):
        load_fit_data(compute_fit_config(_task(), 1, BOB, ""))


def test_user_code_reads_the_owners_file_through_the_tasks_schema(tmp_path: Path) -> None:
    # The task's columns are (b, a) with named labels and published statistics; the worker's file
    # has them in another order. Read through config["schema"], the rows are what Synod's loop sees.
    rows = [f"{i % 7},{i * 0.5},{'yes' if i % 3 else 'no'}" for i in range(30)]
    (tmp_path / "mine.csv").write_text("a,b,answer\n" + "\n".join(rows) + "\n")
    schema = TaskSchema(2, 2, ("b", "a"), ("no", "yes"), "answer", (65536, 0), (131072, 65536))
    task = _task(features=2, classes=2)
    task.data.schema.CopyFrom(schema.to_proto())
    task.model.input_shape.extend([2, 1])
    config = compute_fit_config(task, 1, BOB, f"{tmp_path / 'mine.csv'}")
    assert TaskSchema.from_json(str(config["schema"])) == schema and config["input_shape"] == "2,1"
    shard = load_fit_data(config)
    assert shard.x.shape == (30, 2) and shard.y.tolist()[:3] == [0, 1, 1]
    assert np.allclose(shard.x[:, 0], (np.arange(30) * 0.5 - 1.0) / 2.0)  # b, standardized
    assert np.allclose(shard.x[:, 1], np.arange(30) % 7)  # a: mean 0, scale 1
    with pytest.raises(SchemaError, match="not a task schema"):
        load_fit_data({**config, "schema": "{}"})


def test_the_delta_is_quantized_as_local_training_does() -> None:
    trained = CustomTrainer(_task(), "", UserTrainer(_shifted, "shift")).train(_WEIGHTS, 1, BOB)
    assert trained.update == _expected_update()


# --- the real flwr NumPyClient ------------------------------------------------------------------------


class ShiftClient(NumPyClient):
    """A Flower client whose fit is _shifted (its get_parameters is never needed)."""

    def fit(self, parameters, config):  # noqa: ANN001, ANN201 - Flower's own signature
        return _shifted(parameters, config)


def _make_client() -> NumPyClient:
    return ShiftClient()


@pytest.mark.parametrize(
    "target", [ShiftClient(), ShiftClient, _make_client], ids=["instance", "class", "factory"]
)
def test_a_real_flower_numpyclient_trains_unchanged(target: object) -> None:
    user = resolve_trainer(target)
    trained = CustomTrainer(_task(), "", user).train(_WEIGHTS, 1, BOB)
    assert trained.update == _expected_update() and trained.num_samples == 30


def test_a_numpyclient_without_fit_is_refused() -> None:
    class Idle(NumPyClient):
        pass

    with pytest.raises(TrainerLoadError, match="does not implement fit"):
        resolve_trainer(Idle())


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (42, "neither a fit function nor a NumPyClient"),
        (dict, "is not a NumPyClient"),
        (lambda parameters: parameters, "needs 1 arguments"),
        (lambda: 42, "should return a NumPyClient, but returned a int"),
        (lambda: 1 / 0, "making the client failed: ZeroDivisionError"),
    ],
)
def test_what_is_neither_a_fit_function_nor_a_client_is_refused(target: object, message: str) -> None:
    with pytest.raises(TrainerLoadError, match=message):
        resolve_trainer(target, "t")


# --- loading pkg.module:attr -----------------------------------------------------------------------


def _module(tmp_path: Path, source: str) -> str:
    """Write a module with a fresh name into tmp_path (the working directory); return its name."""
    name = f"user_trainer_{next(_names)}"
    (tmp_path / f"{name}.py").write_text(source)
    return name


def test_a_trainer_is_imported_from_the_working_directory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    name = _module(tmp_path, "def fit(parameters, config):\n    return parameters, 5, {}\n")
    user = load_trainer(f"{name}:fit")
    assert user.name == f"{name}:fit"
    assert CustomTrainer(_task(), "", user).train(_WEIGHTS, 1, BOB).num_samples == 5


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nocolon", "not of the form pkg.module:attr"),
        ("a.b:", "not of the form"),
        ("a-b:fit", "not of the form"),
        ("json:loads\n", "not of the form"),  # `$` matched before a final newline
        ("no_such_module_here:fit", "not found in .* or the installed packages"),
        ("json:no_such_attr", "'json' has no attribute 'no_such_attr'"),
        ("json:decoder.scanstring.nope", "'scanstring' has no attribute 'nope'"),
        ("json:__doc__.nope", "'str' has no attribute 'nope'"),
        ("json.decoder:JSONDecoder", "is not a NumPyClient"),
        ("json:__doc__", "a str is neither a fit function nor a NumPyClient"),
    ],
)
def test_loading_errors_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(TrainerLoadError, match=message):
        load_trainer(spec)


def test_a_module_that_fails_to_import_is_a_load_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    broken = _module(tmp_path, "raise RuntimeError('no GPU here')\n")
    with pytest.raises(
        TrainerLoadError, match="importing trainer module .* failed: RuntimeError: no GPU here"
    ):
        load_trainer(f"{broken}:fit")
    missing_dependency = _module(tmp_path, "import no_such_dependency_xyz\n")
    with pytest.raises(TrainerLoadError, match="failed: No module named 'no_such_dependency_xyz'"):
        load_trainer(f"{missing_dependency}:fit")
    # A missing dependency whose name starts the module's name is still the dependency's fault.
    prefix = _module(tmp_path, "import user\n")
    with pytest.raises(TrainerLoadError, match="failed: No module named 'user'"):
        load_trainer(f"{prefix}:fit")


# --- checks of what fit returns ------------------------------------------------------------------------


def _returning(result: object) -> UserTrainer:
    return UserTrainer(lambda _parameters, _config: result, "bad")


_W, _B = np.zeros(_SHAPES[0]), np.zeros(_SHAPES[1])


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ([_W, _B], r"fit must return \(parameters, num_examples, metrics\), got a list of 2"),
        (None, "got a NoneType"),
        (([_W], 10, {}), "returned 1 parameter arrays; the task's model has 2"),
        (([_W, _B, _B], 10, {}), "returned 3 parameter arrays"),
        ((_W, 10, {}), "parameters must be a list of numpy arrays, got a ndarray"),
        (({"w": _W}, 10, {}), "parameters must be a list of numpy arrays, got a dict"),
        (([_W.T, _B], 10, {}), r"parameter array 0 has shape \(3, 8\); the model's is \(8, 3\)"),
        (([_W, np.zeros(4)], 10, {}), r"parameter array 1 has shape \(4,\)"),
        (([_W, np.array([0.0, np.nan, 0.0])], 10, {}), "array 1 has NaN or infinite entries"),
        (([np.full(_SHAPES[0], np.inf), _B], 10, {}), "array 0 has NaN or infinite entries"),
        (([_W, np.array(["a", "b", "c"])], 10, {}), "dtype <U1, which is not a real number"),
        (([_W, np.zeros(3, complex)], 10, {}), "dtype complex128"),
        (([_W, _B], 0, {}), r"num_examples must be in \[1, 2147483647\], got 0"),
        (([_W, _B], -3, {}), "got -3"),
        (([_W, _B], 2**31, {}), "got 2147483648"),
        (([_W, _B], 10.0, {}), "num_examples must be an int, got a float"),
        (([_W, _B], True, {}), "num_examples must be an int, got a bool"),
        (([_W, _B], 10, None), "metrics must be a dict, got a NoneType"),
    ],
)
def test_bad_results_are_training_errors_naming_the_problem(result: object, message: str) -> None:
    with pytest.raises(TrainingError, match=f"round 3: bad: .*{message}"):
        CustomTrainer(_task(), "", _returning(result)).train(_WEIGHTS, 3, BOB)


def test_castable_dtypes_and_numpy_counts_are_taken() -> None:
    result = ([np.zeros(_SHAPES[0], np.float64), np.zeros(3, np.int32)], np.int64(12), {})
    trained = CustomTrainer(_task(), "", _returning(result)).train(_WEIGHTS, 1, BOB)
    assert trained.num_samples == 12


def test_an_update_beyond_the_update_range_is_clipped_as_local_training_does() -> None:
    huge = CustomTrainer(_task(), "", _returning(([_W + 1e6, _B], 1, {}))).train(_WEIGHTS, 1, BOB)
    q = UPDATE_FORMAT.decode(huge.update, SIZE)
    assert q[: N_FEATURES * N_CLASSES].max() == UPDATE_FORMAT.bound


def test_an_exception_in_the_users_code_is_one_line_with_its_place() -> None:
    def fit(parameters: list[np.ndarray], config: dict) -> None:
        raise ValueError("my data has 4 columns")

    with pytest.raises(
        TrainingError,
        match=r"round 1: fit raised ValueError: my data has 4 columns \(at .*test_custom_trainer.py:\d+\)",
    ):
        CustomTrainer(_task(), "", UserTrainer(fit, "fit")).train(_WEIGHTS, 1, BOB)


def test_trace_tasks_and_relabelling_need_synods_own_training() -> None:
    task = _task()
    task.trace.every_steps = 5
    with pytest.raises(TrainingError, match="trace task .* run the worker without --trainer"):
        CustomTrainer(task, "", UserTrainer(_shifted, "shift"))
    with pytest.raises(TrainingError, match="relabelling attack"):
        CustomTrainer(_task(), "", UserTrainer(_shifted, "shift")).train(_WEIGHTS, 1, BOB, lambda y, _n: y)


# --- the worker with a trainer ------------------------------------------------------------------------


def _worker(node: FakeNode, tmp_path: Path, **config: object) -> Worker:
    settings = WorkerConfig(task_id=1, data_spec="", state_dir=tmp_path / "state", **config)  # type: ignore[arg-type]
    return Worker(node, test_key("bob"), settings, LogReporter(io.StringIO()), sleep=node.sleep)  # type: ignore[arg-type]


def test_a_worker_with_a_fit_function_contributes_every_round(node: FakeNode, tmp_path: Path) -> None:
    rounds: list[object] = []

    def fit(parameters: list[np.ndarray], config: dict) -> tuple[list[np.ndarray], int, dict]:
        rounds.append(config["round"])
        w, b = parameters
        return [w + 0.1 * int(config["round"]), b], 30, {}  # the chain refuses a repeated update

    summary = _worker(node, tmp_path, trainer=resolve_trainer(fit)).run()
    assert rounds == [0, 1, 2]  # the warm-up on the initial model, then one fit per round
    assert (summary.status, summary.accepted_updates) == ("finished", 2)
    assert [int(f["tx_result"]["code"]) for f in node.txs_of("MsgRevealUpdate")] == [0, 0]
    assert node.tc.participant("bob").accepted_updates == 2


def test_a_restarted_worker_reveals_what_the_trainer_made_without_training_again(
    node: FakeNode, tmp_path: Path
) -> None:
    rounds: list[object] = []

    def fit(parameters: list[np.ndarray], config: dict) -> tuple[list[np.ndarray], int, dict]:
        rounds.append(config["round"])
        w, b = parameters
        return [w + 0.1 * int(config["round"]), b], 30, {}

    node.crash_on_broadcast = ("MsgCommitUpdate", "after")  # killed once its commitment is in the mempool
    with pytest.raises(Crash):
        _worker(node, tmp_path, trainer=resolve_trainer(fit)).run()
    assert rounds == [0, 1]
    summary = _worker(node, tmp_path, trainer=resolve_trainer(fit)).run()
    assert rounds.count(1) == 1 and rounds[-1] == 2  # round 1 was revealed from the state file
    assert summary.accepted_updates == 2


def test_a_worker_whose_trainer_fails_stops_before_committing(node: FakeNode, tmp_path: Path) -> None:
    worker = _worker(node, tmp_path, trainer=_returning(([_W], 10, {})))
    with pytest.raises(WorkerError, match="returned 1 parameter arrays"):
        worker.run()
    assert node.txs_of("MsgCommitUpdate") == []


def test_a_worker_needs_data_or_a_trainer_and_no_attack_with_a_trainer(
    node: FakeNode, tmp_path: Path
) -> None:
    with pytest.raises(WorkerError, match="give --data, or --trainer"):
        _worker(node, tmp_path)
    with pytest.raises(WorkerError, match="does not combine with --trainer"):
        _worker(node, tmp_path, trainer=resolve_trainer(_shifted), attack="sign_flip")


# --- run_worker's arguments ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"task_id": 0}, WorkerError, "task_id must be a positive int"),
        ({"task_id": True}, WorkerError, "task_id must be a positive int"),
        ({"data": 3}, WorkerError, "data must be a data spec string"),
        ({"key": "w0", "home": None}, WorkerError, "give the home whose keyring holds it"),
        ({"home": None}, WorkerError, "give home or state_dir"),
        ({"trainer": "nocolon"}, TrainerLoadError, "not of the form"),
        ({"trainer": 42}, TrainerLoadError, "neither a fit function"),
    ],
)
def test_run_worker_refuses_bad_arguments_before_touching_the_node(
    kwargs: dict, error: type[Exception], message: str, tmp_path: Path
) -> None:
    arguments = {
        "node": "http://127.0.0.1:1",
        "key": test_key("bob"),
        "task_id": 1,
        "home": tmp_path,
        **kwargs,
    }
    with pytest.raises(error, match=message):
        run_worker(**arguments)


# --- the examples ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec", ["examples.custom_trainer.trainer:fit", "examples.flower_client.client:DigitsClient"]
)
def test_each_example_trains_a_better_digits_model(spec: str, monkeypatch) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    task = _task("logreg", 64, 10)
    trainer = CustomTrainer(task, "digits:shard=0/2:seed=1", load_trainer(spec))
    start = np.zeros(64 * 10 + 10, np.int64)
    trained = trainer.train(WEIGHT_FORMAT.encode(start), 1, BOB)
    new = dequantize(UPDATE_FORMAT.decode(trained.update, start.size), UPDATE_SPEC)
    data = load_dataset("digits")
    assert trained.num_samples > 500
    assert evaluate("logreg", new, data.x_test, data.y_test)[0] > 0.8


# --- synod worker run --trainer ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--trainer", "nocolon"], "Invalid value for '--trainer': trainer 'nocolon' is not of the form"),
        (["--trainer", "json:nope"], "'json' has no attribute 'nope'"),
        ([], "give --data (Synod trains on it) or --trainer (your own code trains)"),
        (["--trainer", "operator:add", "--attack", "sign_flip"], "does not combine with --trainer"),
    ],
)
def test_the_cli_refuses_a_bad_trainer_before_reading_a_key(args: list[str], message: str, tmp_path) -> None:
    result = CliRunner().invoke(
        cli, ["worker", "run", "--task", "1", "--key", "k", *args, "--home", str(tmp_path)]
    )
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()), result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--trainer", "no_such_module_here:fit"], "Invalid value for --trainer: trainer module"),
        (["--trainer-workers", "1"], "--trainer-workers needs --trainer and at most --workers (4)"),
        (["--trainer", "operator:add", "--trainer-workers", "5"], "at most --workers (4)"),
    ],
)
def test_the_demo_refuses_a_bad_trainer_before_starting_anything(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["demo", *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()), result.output
