"""The task schema off chain, the owner's evaluation blob, and tasks posted on the owner's own data."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.agents.evaluation import task_eval_data
from app.agents.taskspec import TaskSpecError, build_post_task, load_task_spec
from app.agents.training import LocalTrainer, TrainingError
from app.client.blobs import BlobError, blob_uri, fetch_blob, make_blob_server, store_blob
from app.core.crypto import encode_address
from app.core.errors import SynodError
from app.ml.datasets import DatasetError, load_shard
from app.ml.evaldata import decode_eval_rows, encode_eval_rows, load_eval_data
from app.ml.schema import STAT_SCALE, SchemaError, TaskSchema, compute_standardization
from app.modules.tasks.msg_server import validate_post_task
from synod.tasks.v1 import tasks_pb2

OWNER = encode_address(bytes(20))
HEADER = "age,bmi,diagnosis\n"


def _csv(path: Path, rows: list[str], header: str = HEADER) -> Path:
    path.write_text(header + "".join(f"{row}\n" for row in rows))
    return path


def _patients(path: Path, n: int = 40, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        sick = i % 2
        rows.append(f"{40 + 20 * sick + rng.normal():.3f},{22 + 6 * sick + rng.normal():.3f},{'mb'[sick]}")
    return _csv(path, [r.replace(",m", ",malignant").replace(",b", ",benign") for r in rows])


def _task(msg) -> tasks_pb2.Task:  # noqa: ANN001 - a MsgPostTask
    return tasks_pb2.Task(id=7, model=msg.model, data=msg.data, hyper=msg.hyper, schedule=msg.schedule)


@pytest.fixture
def posted(tmp_path: Path):  # noqa: ANN201
    """A task posted on the owner's CSV, with standardization from its training file."""
    eval_file, train_file = _patients(tmp_path / "eval.csv"), _patients(tmp_path / "train.csv", 200, 1)
    spec = load_task_spec(
        {
            "data": {
                "eval": str(eval_file),
                "label": "diagnosis",
                "standardize": True,
                "stats": str(train_file),
            }
        }
    )
    msg = build_post_task(OWNER, spec, tmp_path / "blobs")
    return msg, eval_file, train_file


def test_a_task_on_the_owners_csv_carries_its_schema_and_commits_to_its_rows(posted) -> None:  # noqa: ANN001
    msg, eval_file, train_file = posted
    validate_post_task(msg)
    schema = msg.data.schema
    assert msg.data.dataset == "eval" and msg.model.n_features == 2 and msg.model.n_classes == 2
    assert list(schema.feature_names) == ["age", "bmi"] and list(schema.label_names) == [
        "benign",
        "malignant",
    ]
    assert schema.label_column == "diagnosis"
    mean = np.asarray(schema.standardization.mean) / STAT_SCALE
    assert mean == pytest.approx([50, 25], abs=1.0)  # the training file's statistics, not the eval rows'
    assert msg.data.eval_data.startswith("file://")
    blob = fetch_blob(msg.data.eval_data, msg.data.eval_hash)
    assert hashlib.sha256(blob).digest() == msg.data.eval_hash
    data = task_eval_data(_task(msg))
    assert data.x.shape == (40, 2) and abs(float(data.x.mean())) < 0.5 and data.y.tolist()[:2] == [1, 0]


def test_workers_read_their_files_through_the_schema_and_refuse_what_does_not_fit(
    posted, tmp_path: Path
) -> None:  # noqa: ANN001
    msg, _, train_file = posted
    task = _task(msg)
    schema = TaskSchema.from_task(task)
    shuffled = _csv(tmp_path / "shuffled.csv", ["25.0,malignant,60.0"], "bmi,diagnosis,age\n")
    x = load_shard(str(shuffled), schema).x  # columns put in the task's order, then standardized
    assert x[0] * np.asarray(schema.scale) / STAT_SCALE + np.asarray(
        schema.mean
    ) / STAT_SCALE == pytest.approx([60.0, 25.0], abs=1e-3)
    assert LocalTrainer(task, f"{train_file}:shard=0/2").samples == 100
    cases = {
        "no column 'bmi', a feature": _csv(tmp_path / "a.csv", ["50,benign"], "age,diagnosis\n"),
        "column 'id' is not a feature": _csv(
            tmp_path / "b.csv", ["1,50,22,benign"], "id,age,bmi,diagnosis\n"
        ),
        "no label column 'diagnosis'": _csv(tmp_path / "c.csv", ["50,22,benign"], "age,bmi,label\n"),
        "label 'healthy', not one of the task's": _csv(tmp_path / "d.csv", ["50,22,healthy"]),
        "row 1, column .bmi. is empty or NaN": _csv(tmp_path / "e.csv", ["50,22,benign", "51,nan,benign"]),
    }
    for message, path in cases.items():
        with pytest.raises(TrainingError, match=f"task 7: .*{message}"):
            _ = LocalTrainer(task, str(path)).samples
    with pytest.raises(DatasetError, match="labels=a,b in the data spec, but the task names"):
        load_shard(f"{train_file}:labels=a,b", schema)


def test_images_of_the_wrong_size_and_rows_of_the_wrong_width_are_refused(tmp_path: Path) -> None:
    for label in ("cat", "dog"):
        (tmp_path / "pets" / label).mkdir(parents=True)
        for i in range(3):
            Image.new("L", (4, 4), 40 * i).save(tmp_path / "pets" / label / f"{i}.png")
    schema = TaskSchema(n_features=25, n_classes=2, label_names=("cat", "dog"))
    with pytest.raises(SchemaError, match="rows have 16 features \\(4x4\\), the task's model takes 25"):
        load_shard(str(tmp_path / "pets"), schema)
    assert load_shard(f"{tmp_path / 'pets'}:size=5x5", schema).x.shape == (6, 25)
    labels = np.array([0, 2])
    with pytest.raises(SchemaError, match="row 1 has label 2, but the task has 2 classes"):
        schema.fit(np.zeros((2, 25), np.float32), labels, "rows")


def test_standardization_is_published_in_integers_and_a_constant_column_keeps_scale_one() -> None:
    x = np.array([[1.0, 5.0], [3.0, 5.0]])
    mean, scale = compute_standardization(x)
    assert mean == (2 * STAT_SCALE, 5 * STAT_SCALE) and scale == (STAT_SCALE, STAT_SCALE)
    schema = TaskSchema(2, 2, mean=mean, scale=scale)
    assert schema.standardize(x.astype(np.float32)).tolist() == [[-1.0, 0.0], [1.0, 0.0]]


def test_the_chain_refuses_schemas_that_do_not_fit_the_model(posted) -> None:  # noqa: ANN001
    msg, _, _ = posted
    cases = [
        (lambda s: s.feature_names.append("weight"), "feature_names must name all 2 features, got 3"),
        (lambda s: s.label_names.pop(), "label_names must name all 2 classes, got 1"),
        (lambda s: s.label_names.__setitem__(1, "benign"), "label_names names something twice"),
        (lambda s: s.feature_names.__setitem__(0, "a\nb"), r"feature_names\[0\] must be 1-64 printable"),
        (lambda s: setattr(s, "label_column", "age"), "label_column 'age' is also a feature"),
        (lambda s: s.standardization.scale.__setitem__(0, 0), "scales must be at least 1"),
        (lambda s: s.standardization.mean.append(1), "needs a mean and a scale for each of the 2"),
    ]
    for mutate, message in cases:
        bad = type(msg)()
        bad.CopyFrom(msg)
        mutate(bad.data.schema)
        with pytest.raises(SynodError, match=message) as caught:
            validate_post_task(bad)
        assert (caught.value.codespace, caught.value.code) == ("tasks", 2)


def test_eval_rows_round_trip_and_a_forged_header_is_refused() -> None:
    x, y = np.arange(6, dtype=np.float32).reshape(3, 2), np.array([0, 1, 1])
    blob = encode_eval_rows(x, y)
    back_x, back_y = decode_eval_rows(blob, "b")
    assert np.array_equal(back_x, x) and back_y.tolist() == [0, 1, 1]
    huge = blob[:17] + np.asarray([1 << 40, 1 << 20, 1 << 40], "<u8").tobytes() + blob[41:]
    for bad, message in [
        (huge, "declares"),
        (blob[:-8], "do not hold"),
        (b"not rows" * 8, "not Synod evaluation rows"),
    ]:
        with pytest.raises(DatasetError, match=message):
            decode_eval_rows(bad, "b")
    # The package datasets' hash is the same canonical form.
    digits = load_eval_data("digits:test:split=0")
    assert digits.digest == hashlib.sha256(encode_eval_rows(digits.x, digits.y)).digest()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    directory = tmp_path / "served"
    directory.mkdir()
    httpd = make_blob_server(directory, "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", directory
    httpd.shutdown()
    httpd.server_close()


def test_blobs_are_fetched_by_uri_and_a_tampered_or_oversized_one_is_refused(server, tmp_path: Path) -> None:  # noqa: ANN001
    base, directory = server
    data = encode_eval_rows(np.ones((4, 3), np.float32), np.array([0, 1, 0, 1]))
    path, digest = store_blob(directory, data)
    for uri in (blob_uri(path, base), blob_uri(path)):
        assert fetch_blob(uri, digest) == data
        assert load_eval_data(uri, digest, 2).x.shape == (4, 3)
    path.write_bytes(data[:-1] + b"\x01")  # tampered on the server
    with pytest.raises(BlobError, match="hashes to .* but the task committed to"):
        fetch_blob(blob_uri(path, base), digest)
    with pytest.raises(DatasetError, match="evaluation data: .*hashes to"):
        load_eval_data(blob_uri(path), digest)
    with pytest.raises(BlobError, match="declares .* more than the 10 allowed"):
        fetch_blob(blob_uri(path, base), digest, max_bytes=10)
    with pytest.raises(BlobError, match="larger than the 10 bytes"):
        fetch_blob(blob_uri(path), digest, max_bytes=10)
    with pytest.raises(BlobError, match="HTTP 404"):
        fetch_blob(f"{base}/../{path.name}x", digest)
    with pytest.raises(BlobError, match="unsupported URI"):
        fetch_blob("ftp://example/x", digest)
    with pytest.raises(DatasetError, match="only read against the task's hash"):
        load_eval_data(blob_uri(path))


def test_a_spec_on_a_malformed_file_or_without_a_blob_dir_is_a_spec_error(tmp_path: Path) -> None:
    bad = _csv(tmp_path / "bad.csv", ["50,22"], "age,bmi\n")
    spec = load_task_spec({"data": {"eval": str(bad)}})
    with pytest.raises(TaskSpecError, match="no label column 'label'"):
        build_post_task(OWNER, spec, tmp_path)
    with pytest.raises(TaskSpecError, match="need a directory"):
        build_post_task(OWNER, load_task_spec({"data": {"eval": str(_patients(tmp_path / "p.csv"))}}))


def test_the_reference_training_split_is_read_only_from_the_end_of_the_reference() -> None:
    from app.agents.evaluation import _SPLIT

    assert _SPLIT.search("digits:test:split=3")[1] == "3"
    assert _SPLIT.search("digits:test:split=3\n") is None  # `$` matched before a final newline
    assert _SPLIT.search("digits:test:split=\u0663") is None  # \d took any Unicode digit
