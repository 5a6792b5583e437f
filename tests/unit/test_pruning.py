"""Pruning of old tree nodes and roots (app/state/store.py): every kept height reads back and
proves every key, and the database holds exactly the nodes the kept roots reach."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.codec import from_u64be
from app.state import smt
from app.state.backend import MemoryBackend
from app.state.store import NODE_PREFIX, ORPHAN_PREFIX, ORPHANS_AT_PREFIX, ROOT_PREFIX, CommitStore

KEYS = [b"k%d" % i for i in range(12)]
VALUES = [b"", b"a", b"b", b"value-c"]
# One write: (key index, value index or None for a deletion). Few keys and values, so blocks keep
# setting a key back to an earlier value, which recreates nodes an earlier block orphaned.
write_st = st.tuples(st.integers(0, len(KEYS) - 1), st.none() | st.integers(0, len(VALUES) - 1))
blocks_st = st.lists(st.lists(write_st, max_size=6), min_size=1, max_size=40)


def _commit(store: CommitStore, writes: list[tuple[int, int | None]]) -> None:
    """Stage and commit one block of writes at the next height."""
    block = store.branch()
    for key, value in writes:
        if value is None:
            block.delete(KEYS[key])
        else:
            block.set(KEYS[key], VALUES[value])
    store.stage(block, store.height + 1)
    store.commit()


def _stored_nodes(backend: MemoryBackend) -> set[bytes]:
    return {k[len(NODE_PREFIX) :] for k, _ in backend.iterate(NODE_PREFIX)}


def _reachable(root: bytes, read: smt.NodeReader) -> set[bytes]:
    """Every node hash the tree at root holds (a full walk)."""
    seen: set[bytes] = set()
    todo = [root]
    while todo:
        node_hash = todo.pop()
        if node_hash == smt.EMPTY or node_hash in seen:
            continue
        seen.add(node_hash)
        node = read(node_hash)
        assert node is not None, f"node {node_hash.hex()} of a kept root is missing"
        if node[0] == 1:
            todo += [node[1:33], node[33:]]
    return seen


def _check_kept_heights(store: CommitStore, history: dict[int, tuple[bytes, dict[bytes, bytes]]]) -> None:
    """Every kept height's root is the one committed, reads back and proves every key."""

    def read(h: bytes) -> bytes | None:
        return store.backend.get(NODE_PREFIX + h)

    kept = store.keep_recent or store.height
    for height, (root, state) in history.items():
        if height <= store.height - kept:
            assert store.root_at(height) is None, f"height {height} should be pruned"
            continue
        assert store.root_at(height) == root
        for key in KEYS:
            proof = smt.prove(root, smt.hash_key(key), read)
            if key in state:
                assert smt.get_value_hash(root, smt.hash_key(key), read) == smt.hash_value(state[key])
                smt.verify_membership(root, key, state[key], proof)
            else:
                assert smt.get_value_hash(root, smt.hash_key(key), read) is None
                smt.verify_non_membership(root, key, proof)


def _run(store: CommitStore, blocks: list[list[tuple[int, int | None]]]) -> dict:
    """Commit the blocks, checking every kept height after each; return the history."""
    history: dict[int, tuple[bytes, dict[bytes, bytes]]] = {}
    state: dict[bytes, bytes] = {}
    for writes in blocks:
        _commit(store, writes)
        for key, value in writes:
            if value is None:
                state.pop(KEYS[key], None)
            else:
                state[KEYS[key]] = VALUES[value]
        history[store.height] = (store.app_hash, dict(state))
        _check_kept_heights(store, history)
    return history


@settings(max_examples=150, deadline=None)
@given(blocks=blocks_st, keep_recent=st.sampled_from([1, 2, 3, 5]))
def test_pruned_store_keeps_exactly_the_nodes_of_its_kept_roots(blocks, keep_recent: int) -> None:
    backend = MemoryBackend()
    store = CommitStore(backend, keep_recent=keep_recent)
    reference = CommitStore(MemoryBackend(), keep_recent=0)
    _run(store, blocks)
    for writes in blocks:
        _commit(reference, writes)

    assert store.app_hash == reference.app_hash  # pruning is node-local: the app hash never changes
    roots = {from_u64be(k[1:]): v for k, v in backend.iterate(ROOT_PREFIX)}
    assert sorted(roots) == list(range(max(1, store.height - keep_recent + 1), store.height + 1))
    reachable: set[bytes] = set()
    for root in roots.values():
        reachable |= _reachable(root, lambda h: backend.get(NODE_PREFIX + h))
    stored = _stored_nodes(backend)
    assert len(stored - reachable) == 0, f"{len(stored - reachable)} unreachable nodes left"
    assert stored == reachable
    # Every orphan record names a stored node that the latest tree no longer holds.
    latest = _reachable(store.app_hash, lambda h: backend.get(NODE_PREFIX + h))
    for key, _ in backend.iterate(ORPHAN_PREFIX):
        assert key[1:] in stored and key[1:] not in latest


@settings(max_examples=60, deadline=None)
@given(
    blocks=blocks_st,
    settings_=st.lists(st.sampled_from([0, 1, 2, 4]), min_size=1, max_size=4),
)
def test_changing_keep_recent_never_loses_a_kept_node(blocks, settings_: list[int]) -> None:
    """Switching pruning off and on again (orphans go unrecorded meanwhile) may leave garbage,
    never a hole: a node revived while pruning was off must not be deleted later."""
    store = CommitStore(MemoryBackend(), keep_recent=settings_[0])
    history: dict[int, tuple[bytes, dict[bytes, bytes]]] = {}
    state: dict[bytes, bytes] = {}
    for i, writes in enumerate(blocks):
        store.set_keep_recent(settings_[i * len(settings_) // len(blocks)])
        _commit(store, writes)
        for key, value in writes:
            if value is None:
                state.pop(KEYS[key], None)
            else:
                state[KEYS[key]] = VALUES[value]
        history[store.height] = (store.app_hash, dict(state))
        _check_stored_roots(store, history)


def _check_stored_roots(store: CommitStore, history: dict[int, tuple[bytes, dict[bytes, bytes]]]) -> None:
    """Every root still stored (the latest always) reads back every key of its height."""
    assert store.root_at(store.height) == store.app_hash
    for height, (root, state) in history.items():
        if store.root_at(height) is None:
            continue
        for key in KEYS:
            got = smt.get_value_hash(root, smt.hash_key(key), lambda h: store.backend.get(NODE_PREFIX + h))
            assert got == (smt.hash_value(state[key]) if key in state else None)


def test_a_value_set_back_to_an_earlier_one_survives_the_pruning_of_the_block_that_orphaned_it() -> None:
    # Block 2 orphans block 1's leaf for k0 = "a"; block 3 recreates that very leaf. Pruning
    # block 2's orphans (at block 4, when height 2 becomes the lowest kept) must not delete it.
    backend = MemoryBackend()
    store = CommitStore(backend, keep_recent=3)
    _commit(store, [(0, 1), (1, 1)])
    leaf = smt.hash_key(KEYS[0])
    _commit(store, [(0, 2)])
    _commit(store, [(0, 1)])
    for _ in range(3):
        _commit(store, [(1, 2)])
        _commit(store, [(1, 3)])
    read = lambda h: backend.get(NODE_PREFIX + h)  # noqa: E731
    assert smt.get_value_hash(store.app_hash, leaf, read) == smt.hash_value(VALUES[1])
    assert list(backend.iterate(ORPHANS_AT_PREFIX))  # the queue holds the latest heights' orphans


def test_keep_recent_zero_keeps_every_root_and_node() -> None:
    store = CommitStore(MemoryBackend(), keep_recent=0)
    history = _run(store, [[(0, 1)], [(0, 2)], [(1, 1)], [(0, None)]])
    assert all(store.root_at(h) == root for h, (root, _) in history.items())
    assert list(store.backend.iterate(ORPHAN_PREFIX)) == []


def test_keep_recent_must_not_be_negative() -> None:
    store = CommitStore(MemoryBackend())
    try:
        store.set_keep_recent(-1)
    except ValueError as e:
        assert "keep_recent" in str(e)
    else:
        raise AssertionError("a negative keep_recent was accepted")
