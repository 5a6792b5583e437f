"""Crash recovery on LevelDB: a crash anywhere leaves a state from which replay gives the same hashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from app.modules.bank.invariants import check_supply
from app.state.backend import LevelDBBackend
from tendermint.abci import types_pb2 as abci
from tests.integration import harness

REPO = Path(__file__).resolve().parents[2]
BALANCES = {"alice": 10**12, "bob": 10**12}
ALICE, BOB = harness.test_key("alice").address, harness.test_key("bob").address
_FRESH_PER_BLOCK = 3


def scenario_block(chain: harness.Chain, height: int) -> list[bytes]:
    """The txs of block `height` (>= 2) of the crash scenario; depends only on the height."""
    per_block = 1 + _FRESH_PER_BLOCK
    alice_seq = (height - 2) * per_block
    txs = [
        chain.send("alice", BOB, height, sequence=alice_seq),
        chain.send("bob", ALICE, 1, sequence=height - 2),
    ]
    # Fresh recipients make every block create accounts, so commit batches are not tiny.
    txs += [
        chain.send("alice", harness.test_key(f"r{height}-{i}").address, 1 + i, sequence=alice_seq + 1 + i)
        for i in range(_FRESH_PER_BLOCK)
    ]
    return txs


def _reference(height: int) -> dict[int, bytes]:
    """App hash at every height 1..height of a chain that never crashed."""
    ref = harness.Chain()
    ref.init(BALANCES)
    hashes = {1: ref.app.store.app_hash}
    for h in range(2, height + 1):
        hashes[h] = ref.block(scenario_block(ref, h)).app_hash
    return hashes


def _info(chain: harness.Chain) -> abci.ResponseInfo:
    return chain.abci.info(abci.RequestInfo())


def test_crash_between_finalize_and_commit_replays_to_same_hash(tmp_path: Path) -> None:
    path = tmp_path / "db"
    reference = _reference(5)
    chain = harness.Chain(backend=LevelDBBackend(path))
    chain.init(BALANCES)
    for h in (2, 3):
        chain.block(scenario_block(chain, h))
    staged = chain.finalize(scenario_block(chain, 4))
    assert staged.app_hash == reference[4]
    live = _info(chain)
    assert (live.last_block_height, live.last_block_app_hash) == (3, reference[3])
    chain.backend.close()  # the process dies before Commit

    revived = harness.Chain(backend=LevelDBBackend(path))
    info = _info(revived)

    assert (info.last_block_height, info.last_block_app_hash) == (3, reference[3])
    assert revived.app.chain_id == harness.CHAIN_ID
    replayed = revived.block(scenario_block(revived, 4))
    assert replayed.app_hash == reference[4]
    assert [r.code for r in replayed.tx_results] == [0] * (2 + _FRESH_PER_BLOCK)
    assert revived.block(scenario_block(revived, 5)).app_hash == reference[5]
    check_supply(revived.app.store.view, revived.app.bank)
    revived.backend.close()


def test_crash_after_init_chain_before_first_commit(tmp_path: Path) -> None:
    path = tmp_path / "db"
    reference = _reference(2)
    chain = harness.Chain(backend=LevelDBBackend(path))
    request = abci.RequestInitChain(
        chain_id=harness.CHAIN_ID, app_state_bytes=harness.genesis_app_state(BALANCES), initial_height=1
    )
    genesis_hash = chain.abci.init_chain(request).app_hash
    chain.finalize([])  # block 1 staged, never committed
    chain.backend.close()

    revived = harness.Chain(backend=LevelDBBackend(path))
    info = _info(revived)
    assert (info.last_block_height, info.last_block_app_hash) == (0, b"")

    again = revived.abci.init_chain(request)
    revived.block([])

    assert again.app_hash == genesis_hash
    assert revived.app.store.height == 1
    assert revived.app.store.app_hash == reference[1]
    assert revived.block(scenario_block(revived, 2)).app_hash == reference[2]
    revived.backend.close()


def test_reopen_after_clean_close_keeps_height_and_hash(tmp_path: Path) -> None:
    path = tmp_path / "db"
    chain = harness.Chain(backend=LevelDBBackend(path))
    chain.init(BALANCES)
    last = chain.block(scenario_block(chain, 2)).app_hash
    chain.backend.close()

    revived = harness.Chain(backend=LevelDBBackend(path))
    info = _info(revived)

    assert (info.last_block_height, info.last_block_app_hash) == (2, last)
    assert revived.app.store.root_at(2) == last
    assert revived.balance(BOB) == 10**12 + 2 - 1 - 200_000
    revived.backend.close()


_DRIVER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {repo!r})
    import app  # noqa: F401 - puts the generated protos on sys.path
    from app.state.backend import LevelDBBackend
    from tests.integration import harness
    from tests.integration.test_recovery import BALANCES, scenario_block

    chain = harness.Chain(backend=LevelDBBackend({path!r}), check_invariants=False)
    if chain.app.store.height == 0:
        chain.init(BALANCES)
    height = chain.app.store.height
    print(height, flush=True)
    while True:
        height += 1
        chain.block(scenario_block(chain, height))
        print(height, flush=True)
    """
)


def _run_and_kill(path: Path, script: Path, min_height: int, delay: float) -> int:
    """Start the driver, wait until it committed `min_height`, let it run `delay` s more, SIGKILL it."""
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, text=True
    )
    try:
        assert proc.stdout is not None
        last = 0
        deadline = time.monotonic() + 30
        while last < min_height:
            line = proc.stdout.readline()
            assert line, f"driver exited early: {proc.stderr.read() if proc.stderr else ''}"
            last = int(line)
            assert time.monotonic() < deadline, "driver too slow"
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return last


def test_sigkill_during_commit_loop_recovers_to_reference(tmp_path: Path) -> None:
    path = tmp_path / "db"
    script = tmp_path / "driver.py"
    script.write_text(_DRIVER.format(repo=str(REPO), path=str(path)))
    heights = []

    # Three kills at different moments; each run resumes from what the last one committed.
    for min_height, delay in ((4, 0.0), (8, 0.013), (12, 0.037)):
        printed = _run_and_kill(path, script, min_height, delay)
        backend = LevelDBBackend(path)
        chain = harness.Chain(backend=backend)
        height, app_hash = chain.app.info()
        reference = _reference(height + 1)

        assert height >= printed
        assert app_hash == reference[height]
        assert chain.app.store.root_at(height) == reference[height]
        check_supply(chain.app.store.view, chain.app.bank)
        assert chain.finalize(scenario_block(chain, height + 1)).app_hash == reference[height + 1]
        backend.close()
        heights.append(height)

    assert heights == sorted(heights) and heights[-1] >= 12
