"""The trusted store: what it keeps, what a crash leaves, and that a reopened store resumes."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
from pathlib import Path

import pytest

from app.client.light import InvalidSignature, TrustedStore
from app.client.light.store import compute_pruned
from app.client.light.types import LightBlock
from app.core import fsutil
from tests.unit.light_fakes import FakeSource, rotating_chain, static_chain, synthetic_client

_CRASHED = 70  # the exit status of a child that "lost power"


def test_compute_pruned_drops_the_oldest_but_the_lowest() -> None:
    assert compute_pruned([1, 2, 3, 4, 5], 3) == [2, 3]
    assert compute_pruned([1, 5, 9], 3) == [] and compute_pruned([4], 2) == []


def test_store_round_trips_light_blocks(tmp_path: Path) -> None:
    blocks = rotating_chain(3)
    store = TrustedStore(tmp_path)
    for block in blocks.values():
        store.save(block)
    assert store.load(2) == blocks[2] and store.latest() == blocks[3] and store.load(7) is None


def test_store_keeps_at_least_its_lowest_and_highest_block(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_blocks 1 < 2"):
        TrustedStore(tmp_path, max_blocks=1)


def test_a_store_of_every_height_is_pruned_on_its_next_write(tmp_path: Path) -> None:
    blocks = static_chain(7)
    for h in range(1, 7):
        TrustedStore(tmp_path).save(blocks[h])
    store = TrustedStore(tmp_path, max_blocks=3)
    store.save(blocks[7])
    assert store.heights() == [1, 6, 7]


class _PowerCut(FakeSource):
    """Serves a chain until asked for `height`, and then the process dies."""

    def __init__(self, blocks: dict[int, LightBlock], height: int) -> None:
        super().__init__(blocks)
        self.height = height

    def commit(self, height: int | None = None) -> dict:
        if height == self.height:
            os._exit(_CRASHED)
        return super().commit(height)


def _catch_up_until_power_cut(directory: str, during_write: bool) -> None:
    """Catch up sequentially from 1 to 14 (checkpoints every 4), the process dying without cleanup
    (no finally, no flush): on fetching header 10, or once checkpoint 8 is written but not renamed."""
    blocks = static_chain(14)
    source = FakeSource(blocks) if during_write else _PowerCut(blocks, 10)
    client = synthetic_client(source, Path(directory), sequential=True, checkpoint_interval=4)
    if during_write:
        real_replace = os.replace
        fsutil.os.replace = lambda src, dst: (
            os._exit(_CRASHED) if str(dst).endswith("08.json") else real_replace(src, dst)
        )
    client.verify_to_height(14)


def _lose_power(directory: Path, during_write: bool) -> None:
    """Run _catch_up_until_power_cut in a fresh process (spawned: this one may run threads)."""
    child = multiprocessing.get_context("spawn").Process(
        target=_catch_up_until_power_cut, args=(str(directory), during_write)
    )
    child.start()
    child.join(60)
    assert child.exitcode == _CRASHED


def _assert_resumes(tmp_path: Path, blocks: dict[int, LightBlock], kept: list[int]) -> None:
    """The store holds exactly `kept`, all genuine; a new client picks up from the highest."""
    source = FakeSource(blocks)
    client = synthetic_client(source, tmp_path, sequential=True, checkpoint_interval=4)
    assert client.store.heights() == kept
    assert all(client.store.load(h) == blocks[h] for h in kept)
    top = max(blocks)
    client.verify_to_height(top)
    assert source.fetched == [top, *range(kept[-1] + 1, top)]  # the anchor is read from the store
    assert client.store.heights() == sorted({*kept, *range(4, top, 4), top})


def test_a_crash_between_checkpoints_leaves_the_last_checkpoint(tmp_path: Path) -> None:
    _lose_power(tmp_path, during_write=False)  # 9 verified, checkpoint 8 written, 9 only in memory
    _assert_resumes(tmp_path, static_chain(14), [1, 4, 8])


def test_a_crash_during_a_write_leaves_the_checkpoint_before_it(tmp_path: Path) -> None:
    _lose_power(tmp_path, during_write=True)
    assert any(p.name.endswith(".tmp") for p in tmp_path.iterdir())  # the half-done write is left over
    _assert_resumes(tmp_path, static_chain(14), [1, 4])


def test_a_rejected_header_keeps_what_was_verified_before_it(tmp_path: Path) -> None:
    blocks = static_chain(10)
    commit = blocks[7].signed_header.commit
    sigs = (dataclasses.replace(commit.signatures[0], signature=bytes(64)), *commit.signatures[1:])
    forged = dataclasses.replace(blocks[7].signed_header, commit=dataclasses.replace(commit, signatures=sigs))
    blocks[7] = dataclasses.replace(blocks[7], signed_header=forged)
    client = synthetic_client(FakeSource(blocks), tmp_path, sequential=True, checkpoint_interval=4)
    with pytest.raises(InvalidSignature, match="height 7"):
        client.verify_to_height(10)
    assert client.store.heights() == [1, 4, 6] and client.latest_trusted() == blocks[6]


def test_pruning_keeps_the_anchor_and_the_newest_and_verification_goes_on(tmp_path: Path) -> None:
    blocks = rotating_chain(12)
    client = synthetic_client(FakeSource(blocks), tmp_path, max_blocks=3)
    client.verify_to_height(9)  # bisection stores 3, 5, 7 and 9 on the way
    assert client.store.heights() == [1, 7, 9]
    # Below what is kept: walked down from 7, the lowest kept block above it.
    assert client.verify_to_height(4) == blocks[4].header
    again = FakeSource(blocks)
    resumed = synthetic_client(again, tmp_path, max_blocks=3)
    assert resumed.verify_to_height(12) == blocks[12].header
    assert again.fetched[0] == 12 and 1 not in again.fetched  # from the newest kept, not the anchor
    assert resumed.store.heights()[0] == 1 and resumed.store.heights()[-1] == 12
    assert len(resumed.store.heights()) == 3
