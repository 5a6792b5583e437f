"""`synod demo --data`: the user's file or image folder split, and a model chosen for it (owndata.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.agents.taskspec import build_post_task, load_task_spec
from app.core.architectures import describe_arch, model_param_count, param_count
from app.demo.chain import DemoError
from app.demo.owndata import image_cnn, prepare_own_data
from app.demo.samples import digit_pages, write_image_folder
from app.ml.sources import read_source
from app.modules.tasks.params import default_params


def test_the_image_cnn_fits_the_chain_for_small_and_large_images() -> None:
    limit = default_params().max_model_params
    sizes = {}
    for side in (8, 12, 28, 64, 128, 224):
        arch = image_cnn(side, side, 10)
        sizes[side] = param_count(arch, side * side, 10, (side, side, 1))
        assert sizes[side] <= limit, (side, sizes[side])
    assert describe_arch(image_cnn(12, 12, 10)) == "conv16-maxpool-conv32-maxpool-dense64-dense"
    assert describe_arch(image_cnn(224, 224, 10)).count("conv") == 5  # 224 -> 7: pooled further
    with pytest.raises(DemoError, match="suits 100x1 images.*--arch"):
        image_cnn(1, 100, 10)


def test_an_image_folder_becomes_a_cnn_task_on_its_shape(tmp_path: Path) -> None:
    pages, labels = digit_pages(canvas=12, seed=1)
    rows = np.flatnonzero(labels < 3)[:150]  # three classes, 50 images each
    folder = write_image_folder(tmp_path / "shifted", pages, labels, rows)
    own = prepare_own_data(folder, None, tmp_path / "split", seed=0, workers=2)
    assert own.image_size == (12, 12) and own.label_names == ("0", "1", "2") and own.features == 144
    fifths = sum(int(n * 0.2) for n in np.bincount(labels[rows]))  # a stratified fifth of each class
    assert own.rows == 150 and own.held_out == fifths
    held = np.load(own.eval)
    assert held["x"].shape == (fifths, 144) and sorted(np.unique(held["y"]).tolist()) == ["0", "1", "2"]
    spec = load_task_spec(own.spec_overrides(None))
    assert spec["model"]["input_shape"] == [12, 12, 1] and not spec["data"]["standardize"]
    msg = build_post_task("synod1owner", spec, tmp_path / "blobs")
    assert list(msg.model.input_shape) == [12, 12, 1] and msg.model.arch == image_cnn(12, 12, 3)
    assert model_param_count(msg.model) == param_count(msg.model.arch, 144, 3, (12, 12, 1))
    # A named MLP sees the pixels as one row: no input_shape.
    assert load_task_spec(own.spec_overrides("mlp:64"))["model"]["input_shape"] == []


def test_a_layer_list_on_an_image_folder_takes_the_images_shape(tmp_path: Path) -> None:
    pages, labels = digit_pages(canvas=8)
    folder = write_image_folder(tmp_path / "eval", pages, labels, range(0, 200))
    arch = [{"type": "conv2d", "features": 4, "kernel": [3, 3]}, {"type": "flatten"}, {"type": "dense"}]
    spec = load_task_spec({"model": {"arch": arch}, "data": {"eval": str(folder)}})
    msg = build_post_task("synod1owner", spec, tmp_path / "blobs")
    assert list(msg.model.input_shape) == [8, 8, 1] and json.loads(msg.model.arch) == arch


def test_a_table_gets_an_mlp_over_published_statistics(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    lines = ["a,b,kind"] + [f"{rng.normal():.4f},{rng.normal():.4f},{'xy'[i % 2]}" for i in range(60)]
    csv = tmp_path / "t.csv"
    csv.write_text("\n".join(lines) + "\n")
    own = prepare_own_data(csv, "kind", tmp_path / "split", seed=0, workers=4)
    assert own.image_size is None and own.label_names == ("x", "y")
    spec = own.spec_overrides(None)
    assert spec["model"] == {"arch": "mlp:32", "init_seed": 0, "input_shape": []}
    assert spec["data"]["standardize"] and spec["data"]["stats"] == str(own.train)
    assert read_source(str(own.train), None).x.shape == (60 - own.held_out, 2)


def test_data_the_demo_cannot_use_is_refused_before_any_node_starts(tmp_path: Path) -> None:
    csv = tmp_path / "few.csv"
    csv.write_text("a,label\n" + "".join(f"{i},{i % 2}\n" for i in range(6)))
    with pytest.raises(DemoError, match="too few for 4 workers"):
        prepare_own_data(csv, None, tmp_path / "split", seed=0, workers=4)
    with pytest.raises(DemoError, match="--data: .*missing.csv.*does not exist"):
        prepare_own_data(tmp_path / "missing.csv", None, tmp_path / "split", seed=0, workers=2)
    one = tmp_path / "one.csv"
    one.write_text("a,label\n" + "".join(f"{i},1\n" for i in range(20)))
    with pytest.raises(DemoError, match="one class only"):
        prepare_own_data(one, None, tmp_path / "split", seed=0, workers=2)
