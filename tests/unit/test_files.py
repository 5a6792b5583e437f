"""Durable files (app/core/fsutil.py): the light client's store, its trust anchor, keys, BLS keys,
committed labels and localnet state reach the disk (file and directory fsynced) before the call
returns, a failed write leaves the old file, and a key file is never overwritten."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from app.client.keyring import Keyring
from app.core import fsutil
from app.core.fsutil import create_exclusively, write_atomically
from app.node import localnet
from app.node.blskey import BlsKeyError, create_bls_key
from app.node.config import NodeHome
from cli.tx.consensusinputs import LabelsRecord, find_labels, save_labels


@pytest.fixture
def synced(monkeypatch) -> list[str]:  # noqa: ANN001
    """Every path fsynced, as the kind of thing it is (file or dir)."""
    seen: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        target = os.readlink(f"/proc/self/fd/{fd}")
        seen.append(("dir:" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file:") + Path(target).name)
        real(fd)

    monkeypatch.setattr(fsutil.os, "fsync", fsync)
    return seen


def test_an_atomic_write_syncs_the_file_then_its_directory_and_leaves_no_temp(tmp_path: Path, synced) -> None:  # noqa: ANN001
    path = write_atomically(tmp_path / "state" / "a.json", b"one")
    write_atomically(path, b"two")
    assert path.read_bytes() == b"two" and sorted(p.name for p in path.parent.iterdir()) == ["a.json"]
    assert synced[1] == "dir:state" and synced[0].startswith(
        "file:.a.json."
    )  # the temp file, then the rename
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_exclusive_create_syncs_and_never_overwrites(tmp_path: Path, synced) -> None:  # noqa: ANN001
    path = create_exclusively(tmp_path / "key.json", b"secret", 0o600)
    assert synced == ["file:key.json", f"dir:{tmp_path.name}"]
    with pytest.raises(FileExistsError):
        create_exclusively(path, b"other")
    assert path.read_bytes() == b"secret"


def test_keys_and_bls_keys_are_written_durably_and_never_overwritten(tmp_path: Path, synced) -> None:  # noqa: ANN001
    Keyring(tmp_path).add("alice")
    assert synced == ["file:alice.json", "dir:keyring"], synced
    assert stat.S_IMODE((tmp_path / "keyring" / "alice.json").stat().st_mode) == 0o600
    create_bls_key(tmp_path / "bls_key.json")
    assert synced[2:] == ["file:bls_key.json", f"dir:{tmp_path.name}"]
    with pytest.raises(BlsKeyError, match="already exists"):
        create_bls_key(tmp_path / "bls_key.json")


def test_a_failed_atomic_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    path = write_atomically(tmp_path / "trust.json", b"old")

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fsutil.os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        write_atomically(path, b"new")
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["trust.json"]


def test_an_atomic_write_gives_exactly_the_mode_asked(tmp_path: Path) -> None:
    path = write_atomically(tmp_path / "block.json", b"public", 0o644)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE(write_atomically(path, b"secret", 0o600).stat().st_mode) == 0o600


def test_labels_localnet_state_and_mnemonics_are_written_durably(tmp_path: Path, synced) -> None:  # noqa: ANN001
    record = LabelsRecord("synod1poster", b"\x01\x02", b"\x00" * 32, b"\xab" * 32)
    path = save_labels(str(tmp_path), record)
    assert synced[0].startswith(f"file:.{path.name}.") and synced[1:] == ["dir:labels"]
    assert (
        stat.S_IMODE(path.stat().st_mode) == 0o600 and find_labels(str(tmp_path), record.commitment) == record
    )
    synced.clear()
    localnet._write_state(tmp_path, {"spec": {}})
    assert synced[0].startswith("file:.localnet.json.") and synced[1:] == [f"dir:{tmp_path.name}"]
    synced.clear()
    localnet._create_validator_key(NodeHome(tmp_path / "node0"))
    assert synced[-2:] == ["file:validator.mnemonic", "dir:node0"]
    assert stat.S_IMODE((tmp_path / "node0" / "validator.mnemonic").stat().st_mode) == 0o600


def test_node_configs_and_exported_models_are_written_durably(tmp_path: Path, synced) -> None:  # noqa: ANN001
    from app.ml.export import write_model
    from app.node.config import set_toml, write_app_config

    home = NodeHome(tmp_path / "node")
    home.app_toml.parent.mkdir(parents=True)
    write_app_config(home)
    assert synced[0].startswith("file:.app.toml.") and synced[1] == "dir:config", synced
    synced.clear()
    set_toml(home.app_toml, {("", "snapshot_interval"): "7"})
    assert synced[0].startswith("file:.app.toml.") and "snapshot_interval = 7" in home.app_toml.read_text()
    for fmt in ("npz", "safetensors"):
        synced.clear()
        path = tmp_path / f"model.{fmt}"
        write_model(path, fmt, "logreg", [0.0] * 15, (4,), 3)
        assert synced[0].startswith(f"file:.model.{fmt}.") and synced[1] == f"dir:{tmp_path.name}", synced
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
