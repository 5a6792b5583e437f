"""Durable files: the light client's store, its trust anchor, keys and BLS keys reach the disk (file and
directory fsynced) before the call returns, and a key file is never overwritten."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from app.client import files
from app.client.files import create_exclusively, write_atomically
from app.client.keyring import Keyring
from app.node.blskey import BlsKeyError, create_bls_key


@pytest.fixture
def synced(monkeypatch) -> list[str]:  # noqa: ANN001
    """Every path fsynced, as the kind of thing it is (file or dir)."""
    seen: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        target = os.readlink(f"/proc/self/fd/{fd}")
        seen.append(("dir:" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file:") + Path(target).name)
        real(fd)

    monkeypatch.setattr(files.os, "fsync", fsync)
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
