"""Data sources: each reader on good files, and malformed, truncated, mismatched and hostile ones
refused with an error that names what is wrong; the data spec grammar and worker shards over files."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from app.ml.datasets import DatasetError, load_shard, parse_data_spec
from app.ml.sources import MAX_CELLS, SourceError, is_file_source, read_source


def _csv(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_a_csv_with_a_named_label_column_reads_numbers_and_maps_names(tmp_path: Path) -> None:
    path = _csv(tmp_path / "p.csv", "age,bmi,diagnosis\n50,22.5,benign\n61,30.1,malignant\n44,19.0,benign\n")
    table = read_source(path, label="diagnosis", labels=("benign", "malignant"))
    expected = np.array([[50, 22.5], [61, 30.1], [44, 19.0]], np.float32)
    assert table.x.dtype == np.float32 and np.array_equal(table.x, expected)
    assert table.y.tolist() == [0, 1, 0] and table.label_names == ("benign", "malignant")
    sorted_names = read_source(path, label="diagnosis")
    assert sorted_names.label_names == ("benign", "malignant") and not sorted_names.names_given


def test_tsv_parquet_and_npz_read_the_same_rows(tmp_path: Path) -> None:
    x = np.array([[1, 2], [3, 4], [5, 6]], np.float32)
    y = np.array([0, 2, 1])
    tsv = _csv(tmp_path / "d.tsv", "a\tb\tlabel\n1\t2\t0\n3\t4\t2\n5\t6\t1\n")
    pq.write_table(pa.table({"a": x[:, 0], "b": x[:, 1], "label": y}), tmp_path / "d.parquet")
    np.savez(tmp_path / "d.npz", x=x, y=y)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    for path, label in [(tsv, None), (str(tmp_path / "d.parquet"), None), (str(tmp_path / "d.npz"), None),
                        (str(tmp_path / "x.npy"), "y.npy")]:  # fmt: skip
        table = read_source(path, label=label)
        assert np.array_equal(table.x, x) and table.y.tolist() == [0, 2, 1] and table.names_given, path


@pytest.mark.parametrize(
    ("text", "label", "needle"),
    [
        ("a,b\n1,2\n", "label", "no label column 'label' (columns: a, b)"),
        ("a,label\nx,1\ny,0\n", "label", "column 'a' is string, not a number"),
        ("a,label\n1,0\n,1\n", "label", "row 1, column 'a' is empty"),
        ("a,label\n1,0\nnan,1\n", "label", "row 1, column 'a' is empty"),  # pyarrow reads nan as null
        ("a,label\n1,0\n2,\n", "label", "label column 'label' has 1 empty cells"),
        ("a,label\n1,0.5\n2,1\n", "label", "whole numbers or names"),
        ("a,label\n1,-1\n2,1\n", "label", "negative"),
        ("label\n0\n1\n", "label", "there are no features"),
        ("a,label\n1,0,9\n", "label", "not a readable CSV"),
        ("a,label\n", "label", "has no rows"),
    ],
)
def test_a_bad_csv_is_refused_naming_what_is_wrong(
    tmp_path: Path, text: str, label: str, needle: str
) -> None:
    with pytest.raises(SourceError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        read_source(_csv(tmp_path / "bad.csv", text), label=label)


def test_nan_and_infinite_features_are_refused(tmp_path: Path) -> None:
    np.savez(tmp_path / "nan.npz", x=np.array([[1.0, np.nan], [2.0, 3.0]]), y=np.array([0, 1]))
    with pytest.raises(SourceError, match="row 0, column 1 is nan: features must be finite"):
        read_source(str(tmp_path / "nan.npz"))
    pq.write_table(pa.table({"a": [1.0, np.inf], "label": [0, 1]}), tmp_path / "inf.parquet")
    with pytest.raises(SourceError, match="row 1, column 'a' is inf"):
        read_source(str(tmp_path / "inf.parquet"))


def test_an_unknown_label_is_refused_with_its_row(tmp_path: Path) -> None:
    path = _csv(tmp_path / "p.csv", "a,label\n1,cat\n2,fox\n")
    with pytest.raises(SourceError, match="row 1 has label 'fox', not one of the task's"):
        read_source(path, labels=("cat", "dog"))


def test_hostile_arrays_are_refused_before_they_are_read(tmp_path: Path) -> None:
    # An .npy header declaring 2^40 float32 values, with no data behind it.
    header = {"descr": "<f4", "fortran_order": False, "shape": (1 << 20, 1 << 20)}
    with (tmp_path / "huge.npy").open("wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
    np.save(tmp_path / "y.npy", np.zeros(3, np.int64))
    with pytest.raises(SourceError, match=f"more than the {MAX_CELLS:,} allowed"):
        read_source(str(tmp_path / "huge.npy"), label="y.npy")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(SourceError, match="pickles are never loaded"):
        read_source(str(tmp_path / "objects.npy"), label="y.npy")
    np.savez(tmp_path / "short.npz", x=np.zeros((3, 2)), y=np.zeros(2, np.int64))
    with pytest.raises(SourceError, match="x has 3 rows but y has 2 labels"):
        read_source(str(tmp_path / "short.npz"))
    np.savez(tmp_path / "nox.npz", features=np.zeros((3, 2)))
    with pytest.raises(SourceError, match="needs arrays 'x' and 'y'"):
        read_source(str(tmp_path / "nox.npz"))
    (tmp_path / "truncated.npz").write_bytes((tmp_path / "short.npz").read_bytes()[:60])
    with pytest.raises(SourceError, match="not a readable .npz"):
        read_source(str(tmp_path / "truncated.npz"))
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w") as z:
        with z.open("x.npy", "w") as f:
            np.lib.format.write_array_header_1_0(f, header)
        with z.open("y.npy", "w") as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "<i8", "fortran_order": False, "shape": (3,)})
    with pytest.raises(SourceError, match="allowed"):
        read_source(str(tmp_path / "bomb.npz"))


def _images(root: Path, sizes: dict[str, list[tuple[int, int]]]) -> Path:
    for name, shapes in sizes.items():
        (root / name).mkdir(parents=True)
        for i, (w, h) in enumerate(shapes):
            Image.new("RGB", (w, h), (i * 40, 0, 0)).save(root / name / f"{i}.png")
    return root


def test_an_image_folder_reads_one_class_per_subfolder(tmp_path: Path) -> None:
    root = _images(tmp_path / "imgs", {"cat": [(8, 6), (8, 6)], "dog": [(8, 6)]})
    table = read_source(str(root))
    assert (
        table.x.shape == (3, 6, 8) and table.y.tolist() == [0, 0, 1] and table.label_names == ("cat", "dog")
    )
    assert table.x.min() >= 0 and table.x.max() <= 1
    resized = read_source(str(root), size=(4, 4))
    assert resized.x.shape == (3, 4, 4)


def test_class_folders_named_by_index_are_those_classes(tmp_path: Path) -> None:
    # Sorted as names, "10" would come before "2": indexes written plainly are the classes themselves.
    root = _images(tmp_path / "numbered", {"2": [(4, 4)], "10": [(4, 4)], "0": [(4, 4)]})
    table = read_source(str(root))
    assert sorted(table.y.tolist()) == [0, 2, 10] and table.n_classes == 11 and table.names_given
    mixed = _images(tmp_path / "mixed", {"01": [(4, 4)], "1": [(4, 4)]})  # "01" is a name, not an index
    assert read_source(str(mixed)).label_names == ("01", "1")


def test_bad_image_folders_are_refused(tmp_path: Path) -> None:
    mixed = _images(tmp_path / "mixed", {"a": [(8, 8)], "b": [(9, 8)]})
    with pytest.raises(SourceError, match=r"is 9x8, the other images 8x8: give size=WxH"):
        read_source(str(mixed))
    one = _images(tmp_path / "one", {"a": [(4, 4)]})
    with pytest.raises(SourceError, match="at least two"):
        read_source(str(one))
    broken = _images(tmp_path / "broken", {"a": [(4, 4)], "b": [(4, 4)]})
    (broken / "b" / "1.png").write_bytes(b"not a png")
    with pytest.raises(SourceError, match="not a readable image"):
        read_source(str(broken))
    bomb = _images(tmp_path / "bomb", {"a": [(4, 4)], "b": [(4, 4)]})
    Image.new("L", (6000, 6000)).save(bomb / "b" / "1.png")  # ~20 kB on disk, 36 M pixels decoded
    with pytest.raises(SourceError, match="not a readable image.*decompression bomb"):
        read_source(str(bomb), size=(4, 4))
    escape = _images(tmp_path / "escape", {"a": [(4, 4)], "b": [(4, 4)]})
    outside = _images(tmp_path / "elsewhere", {"secret": [(4, 4)]})
    os.symlink(outside / "secret" / "0.png", escape / "b" / "link.png")
    with pytest.raises(SourceError, match="points outside"):
        read_source(str(escape))


def test_the_data_spec_names_files_and_their_options(tmp_path: Path) -> None:
    spec = parse_data_spec("./p.csv:label=diagnosis:labels=benign,malignant:shard=1/3:dirichlet=0.5")
    assert (spec.path, spec.label, spec.labels, spec.shard, spec.shards) == (
        "./p.csv", "diagnosis", ("benign", "malignant"), 1, 3
    )  # fmt: skip
    assert parse_data_spec("imgs/:size=28x28").size == (28, 28)
    assert is_file_source("x.npz") and not is_file_source("digits")
    with pytest.raises(DatasetError, match="package dataset"):
        parse_data_spec("digits:label=y")
    with pytest.raises(DatasetError, match="unknown dataset 'nope'.*name a file"):
        parse_data_spec("nope")
    with pytest.raises(DatasetError, match="does not exist"):
        load_shard("./missing.csv")


def test_shards_of_a_file_partition_its_rows_and_named_labels_need_the_task_list(tmp_path: Path) -> None:
    rows = "\n".join(f"{i},{i * 2},{'ab'[i % 2]}" for i in range(40))
    path = _csv(tmp_path / "d.csv", "u,v,kind\n" + rows + "\n")
    shards = [load_shard(f"{path}:label=kind:labels=a,b:shard={i}/4") for i in range(4)]
    assert sorted(float(v) for s in shards for v in s.x[:, 0]) == [float(i) for i in range(40)]
    assert all(s.n_classes == 2 and s.x.shape[1] == 2 for s in shards)
    with pytest.raises(DatasetError, match="give the task's label list"):
        load_shard(f"{path}:label=kind")


WORKER = "synod1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqmndfz4"


def _wine_task(n_classes: int = 3):  # noqa: ANN202
    from app.core.fixedpoint import WEIGHT_FORMAT
    from synod.tasks.v1 import tasks_pb2

    task = tasks_pb2.Task(
        id=1,
        model=tasks_pb2.ModelSpec(arch="logreg", n_features=13, n_classes=n_classes),
        hyper=tasks_pb2.Hyperparams(
            optimizer="sgd", learning_rate_ppm=100_000, batch_size=16, local_epochs=1
        ),
        data=tasks_pb2.DataRef(dataset="wine"),
    )
    return task, WEIGHT_FORMAT.encode(np.zeros(13 * n_classes + n_classes, np.int64))


def test_a_worker_trains_on_its_own_csv_and_a_file_that_does_not_fit_is_refused(tmp_path: Path) -> None:
    from app.agents.training import LocalTrainer, TrainingError
    from app.ml.datasets import load_dataset

    data = load_dataset("wine")
    columns = [f"f{i}" for i in range(13)]
    lines = [",".join([*columns, "cultivar"])]
    lines += [
        ",".join([*(f"{v:.6f}" for v in row), str(int(label))])
        for row, label in zip(data.x_train, data.y_train, strict=True)
    ]
    path = _csv(tmp_path / "wine.csv", "\n".join(lines) + "\n")
    task, weights = _wine_task()
    trained = LocalTrainer(task, f"{path}:label=cultivar:shard=0/2").train(weights, 1, WORKER)
    assert trained.num_samples == len(data.y_train) - len(data.y_train) // 2 and any(trained.update)
    wide, _ = _wine_task()
    wide.model.n_features = 14
    with pytest.raises(
        TrainingError, match="task 1: .*wine.csv: rows have 13 features .*the task.s model takes 14"
    ):
        LocalTrainer(wide, f"{path}:label=cultivar").train(weights, 1, WORKER)
