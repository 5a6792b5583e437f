"""Unit tests for the compact sparse Merkle tree: canonical roots, proofs, tampering, history."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.state.smt import (
    EMPTY,
    MAX_DEPTH,
    MissingNodeError,
    Proof,
    ProofError,
    Terminal,
    apply_updates,
    compute_root_from_proof,
    get_value_hash,
    hash_key,
    hash_value,
    prove,
    verify_membership,
    verify_non_membership,
)

keys_st = st.binary(max_size=6)
values_st = st.binary(max_size=6)
pairs_st = st.dictionaries(keys_st, values_st, max_size=24)
_NO_NODES: dict[bytes, bytes] = {}
_T = TypeVar("_T")


def _sha(data: bytes) -> bytes:
    """Return sha256(data), written out independently of the module under test."""
    return hashlib.sha256(data).digest()


def _bit(key_hash: bytes, depth: int) -> int:
    """Return bit `depth` of key_hash, MSB-first."""
    return (key_hash[depth // 8] >> (7 - depth % 8)) & 1


def _reference_root(pairs: dict[bytes, bytes], depth: int = 0) -> bytes:
    """Return the root straight from the definition: split by bit until a subtree has <= 1 leaf."""
    if not pairs:
        return EMPTY
    if len(pairs) == 1:
        ((key_hash, value_hash),) = pairs.items()
        return _sha(b"\x00" + key_hash + value_hash)
    left = {k: v for k, v in pairs.items() if not _bit(k, depth)}
    right = {k: v for k, v in pairs.items() if _bit(k, depth)}
    return _sha(b"\x01" + _reference_root(left, depth + 1) + _reference_root(right, depth + 1))


def _hashed(pairs: dict[bytes, bytes]) -> dict[bytes, bytes]:
    """Map raw (key, value) pairs to (key_hash, value_hash)."""
    return {hash_key(k): hash_value(v) for k, v in pairs.items()}


class _Tree:
    """A tree over an in-memory node store that keeps every node ever created."""

    def __init__(self) -> None:
        """Start empty."""
        self.store: dict[bytes, bytes] = {}
        self.root = EMPTY

    def apply(self, updates: dict[bytes, bytes | None]) -> bytes:
        """Apply raw key -> value (None: delete) updates and return the new root."""
        hashed = {hash_key(k): None if v is None else hash_value(v) for k, v in updates.items()}
        self.root, new_nodes = apply_updates(self.root, hashed, self.store.get)
        self.store.update(new_nodes)
        return self.root

    def prove(self, key: bytes, root: bytes | None = None) -> Proof:
        """Prove `key` against `root` (default: the current root)."""
        return prove(self.root if root is None else root, hash_key(key), self.store.get)


def _counter_keys(n: int, start: int = 0) -> list[bytes]:
    """Return n distinct deterministic keys."""
    return [b"key-%d" % i for i in range(start, start + n)]


def _batches(items: list[_T], sizes: list[int]) -> Iterator[list[_T]]:
    """Split items into consecutive batches of the given sizes (the last takes the rest)."""
    pos = 0
    for size in sizes:
        yield items[pos : pos + size]
        pos += size
    yield items[pos:]


# --- canonical root ---------------------------------------------------------------------------


def test_empty_tree_and_empty_batch() -> None:
    assert bytes(32) == EMPTY
    assert apply_updates(EMPTY, {}, _NO_NODES.get) == (EMPTY, {})
    assert apply_updates(EMPTY, {hash_key(b"absent"): None}, _NO_NODES.get)[0] == EMPTY


def test_one_key_root_is_its_leaf() -> None:
    key_hash, value_hash = hash_key(b"k"), hash_value(b"v")
    root, new_nodes = apply_updates(EMPTY, {key_hash: value_hash}, _NO_NODES.get)
    leaf = b"\x00" + key_hash + value_hash
    assert root == _sha(leaf)
    assert new_nodes == {root: leaf}


def test_two_keys_split_at_bit_zero_in_order() -> None:
    keys = _counter_keys(64)
    left = next(k for k in keys if not _bit(hash_key(k), 0))
    right = next(k for k in keys if _bit(hash_key(k), 0))
    left_leaf = _sha(b"\x00" + hash_key(left) + hash_value(b"L"))
    right_leaf = _sha(b"\x00" + hash_key(right) + hash_value(b"R"))
    expected = _sha(b"\x01" + left_leaf + right_leaf)
    for order in ([(left, b"L"), (right, b"R")], [(right, b"R"), (left, b"L")]):
        assert _Tree().apply(dict(order)) == expected


def test_two_keys_sharing_first_bit_hang_below_an_empty_sibling() -> None:
    keys = _counter_keys(64)
    a = keys[0]
    b = next(
        k
        for k in keys
        if _bit(hash_key(k), 0) == _bit(hash_key(a), 0) and _bit(hash_key(k), 1) != _bit(hash_key(a), 1)
    )
    lo, hi = (a, b) if _bit(hash_key(a), 1) == 0 else (b, a)
    inner = _sha(
        b"\x01"
        + _sha(b"\x00" + hash_key(lo) + hash_value(lo))
        + _sha(b"\x00" + hash_key(hi) + hash_value(hi))
    )
    pair = EMPTY + inner if _bit(hash_key(a), 0) else inner + EMPTY
    assert _Tree().apply({a: a, b: b}) == _sha(b"\x01" + pair)


@settings(max_examples=60, deadline=None)
@given(final=pairs_st, extra=pairs_st, data=st.data())
def test_root_depends_only_on_final_pairs(
    final: dict[bytes, bytes], extra: dict[bytes, bytes], data: st.DataObject
) -> None:
    extra = {k: v for k, v in extra.items() if k not in final}
    expected = _reference_root(_hashed(final))
    # Transient keys are set then deleted; final keys are first set to a stale value.
    sets: list[tuple[bytes, bytes | None]] = list(extra.items())
    sets += [(k, b"stale" + v) for k, v in final.items()]
    ops = data.draw(st.permutations(sets)) + [(k, None) for k in extra] + list(final.items())
    sizes = data.draw(st.lists(st.integers(1, 8), max_size=10))
    tree = _Tree()
    for batch in _batches(ops, sizes):
        updates: dict[bytes, bytes | None] = {}
        for key, value in batch:
            if key in updates:  # a batch holds one update per key: flush before reusing one
                tree.apply(updates)
                updates = {}
            updates[key] = value
        tree.apply(updates)
    assert tree.root == expected
    assert _Tree().apply(dict(data.draw(st.permutations(list(final.items()))))) == expected
    for key, value in final.items():
        assert get_value_hash(tree.root, hash_key(key), tree.store.get) == hash_value(value)
    for key in extra:
        assert get_value_hash(tree.root, hash_key(key), tree.store.get) is None


@settings(max_examples=30, deadline=None)
@given(pairs=pairs_st, data=st.data())
def test_deleting_everything_gives_empty(pairs: dict[bytes, bytes], data: st.DataObject) -> None:
    tree = _Tree()
    tree.apply(dict(pairs))
    keys = data.draw(st.permutations(list(pairs)))
    sizes = data.draw(st.lists(st.integers(1, 5), max_size=6))
    for batch in _batches(keys, sizes):
        tree.apply(dict.fromkeys(batch))
    assert tree.root == EMPTY


def test_deleting_absent_key_is_a_no_op() -> None:
    tree = _Tree()
    root = tree.apply({k: k for k in _counter_keys(50)})
    assert tree.apply(dict.fromkeys(_counter_keys(20, start=1000))) == root


def test_malformed_hashes_are_rejected() -> None:
    with pytest.raises(ValueError):
        apply_updates(EMPTY, {b"short": hash_value(b"v")}, _NO_NODES.get)
    with pytest.raises(ValueError):
        apply_updates(EMPTY, {hash_key(b"k"): b"short"}, _NO_NODES.get)


# --- proofs -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tree() -> _Tree:
    """A tree of 64 keys, each holding a value derived from its key."""
    tree = _Tree()
    tree.apply({k: b"value-" + k for k in _counter_keys(64)})
    return tree


PRESENT = _counter_keys(64)
ABSENT = _counter_keys(300, start=10_000)


def test_membership_proofs_verify_for_every_present_key(tree: _Tree) -> None:
    for key in PRESENT:
        proof = tree.prove(key)
        assert proof.terminal == Terminal.LEAF
        verify_membership(tree.root, key, b"value-" + key, proof)
        verify_membership(tree.root, key, b"value-" + key, Proof.decode(proof.encode()))


def test_non_membership_proofs_verify_with_both_terminals(tree: _Tree) -> None:
    seen = set()
    for key in ABSENT:
        proof = tree.prove(key)
        seen.add(proof.terminal)
        verify_non_membership(tree.root, key, proof)
        verify_non_membership(tree.root, key, Proof.decode(proof.encode()))
    assert seen == {Terminal.EMPTY, Terminal.OTHER_LEAF}


def test_empty_tree_proves_absence() -> None:
    proof = prove(EMPTY, hash_key(b"k"), _NO_NODES.get)
    assert (proof.depth, proof.terminal) == (0, Terminal.EMPTY)
    verify_non_membership(EMPTY, b"k", proof)


def test_flipped_sibling_byte_fails(tree: _Tree) -> None:
    for key in PRESENT[:16] + ABSENT[:16]:
        proof = tree.prove(key)
        for i, sibling in enumerate(proof.siblings):
            flipped = bytes([sibling[0] ^ 1]) + sibling[1:]
            siblings = proof.siblings[:i] + (flipped,) + proof.siblings[i + 1 :]
            bad = Proof(proof.depth, proof.bitmap, siblings, proof.terminal, proof.other_leaf)
            with pytest.raises(ProofError, match="gives root"):
                if key in PRESENT:
                    verify_membership(tree.root, key, b"value-" + key, bad)
                else:
                    verify_non_membership(tree.root, key, bad)


def test_membership_fails_for_wrong_value_key_root_or_proof(tree: _Tree) -> None:
    key, other = PRESENT[0], PRESENT[1]
    proof = tree.prove(key)
    cases = [
        (tree.root, key, b"wrong", proof),
        (tree.root, other, b"value-" + key, proof),
        (tree.root, other, b"value-" + other, proof),
        (_sha(b"another root"), key, b"value-" + key, proof),
        (tree.root, key, b"value-" + key, tree.prove(other)),
    ]
    for root, k, value, p in cases:
        with pytest.raises(ProofError):
            verify_membership(root, k, value, p)


def test_proof_kinds_cannot_be_swapped(tree: _Tree) -> None:
    with pytest.raises(ProofError, match="absence claimed"):
        verify_non_membership(tree.root, PRESENT[0], tree.prove(PRESENT[0]))
    for key in ABSENT[:40]:
        with pytest.raises(ProofError, match="membership claimed"):
            verify_membership(tree.root, key, b"anything", tree.prove(key))


def test_absence_forged_from_the_keys_own_leaf_fails(tree: _Tree) -> None:
    key = PRESENT[0]
    proof = tree.prove(key)
    own = (hash_key(key), hash_value(b"value-" + key))
    forged = Proof(proof.depth, proof.bitmap, proof.siblings, Terminal.OTHER_LEAF, own)
    # It hashes to the true root: only the key check stops it.
    assert compute_root_from_proof(hash_key(key), hash_value(b"value-" + key), proof) == tree.root
    with pytest.raises(ProofError, match="is the key itself"):
        verify_non_membership(tree.root, key, forged)


def test_absence_via_a_leaf_off_the_keys_path_fails() -> None:
    keys = _counter_keys(64)
    misplaced = next(k for k in keys if _bit(hash_key(k), 0))
    victim = next(k for k in keys if not _bit(hash_key(k), 0))
    leaf = (hash_key(misplaced), hash_value(b"v"))
    # A hand-built, non-canonical root that puts a right-hand leaf on the left.
    root = _sha(b"\x01" + _sha(b"\x00" + leaf[0] + leaf[1]) + EMPTY)
    forged = Proof.from_siblings([EMPTY], Terminal.OTHER_LEAF, leaf)
    with pytest.raises(ProofError, match="does not lie on the key's path"):
        verify_non_membership(root, victim, forged)


def test_old_roots_stay_provable(tree: _Tree) -> None:
    history = _Tree()
    history.store = dict(tree.store)
    history.root = old_root = tree.root
    changed, removed, added = PRESENT[:10], PRESENT[10:20], ABSENT[:10]
    updates: dict[bytes, bytes | None] = {k: b"new" for k in changed + added}
    updates.update(dict.fromkeys(removed))
    new_root = history.apply(updates)
    assert new_root != old_root
    for key in changed + removed:
        verify_membership(old_root, key, b"value-" + key, history.prove(key, old_root))
    for key in added:
        verify_non_membership(old_root, key, history.prove(key, old_root))
        verify_membership(new_root, key, b"new", history.prove(key))
    for key in removed:
        verify_non_membership(new_root, key, history.prove(key))


def test_missing_node_raises_missing_node_error(tree: _Tree) -> None:
    root_only = {tree.root: tree.store[tree.root]}
    with pytest.raises(MissingNodeError) as info:
        prove(tree.root, hash_key(PRESENT[0]), root_only.get)
    assert isinstance(info.value, KeyError)
    with pytest.raises(MissingNodeError):
        apply_updates(tree.root, {hash_key(b"new"): hash_value(b"v")}, root_only.get)


@settings(max_examples=40, deadline=None)
@given(pairs=pairs_st, probes=st.lists(keys_st, max_size=8))
def test_proofs_verify_in_random_trees(pairs: dict[bytes, bytes], probes: list[bytes]) -> None:
    tree = _Tree()
    tree.apply(dict(pairs))
    for key in itertools.chain(pairs, probes):
        proof = Proof.decode(tree.prove(key).encode())
        if key in pairs:
            verify_membership(tree.root, key, pairs[key], proof)
        else:
            verify_non_membership(tree.root, key, proof)


# --- encoding ---------------------------------------------------------------------------------

hashes_st = st.binary(min_size=32, max_size=32)


@st.composite
def proofs_st(draw: st.DrawFn) -> Proof:
    """Draw any structurally valid proof."""
    present = draw(st.lists(st.booleans(), max_size=MAX_DEPTH))
    nonempty = hashes_st.filter(lambda h: h != EMPTY)
    siblings = [draw(nonempty) if p else EMPTY for p in present]
    terminal = draw(st.sampled_from(Terminal))
    other = (draw(hashes_st), draw(hashes_st)) if terminal == Terminal.OTHER_LEAF else None
    return Proof.from_siblings(siblings, terminal, other)


@settings(max_examples=100, deadline=None)
@given(proof=proofs_st())
def test_encode_decode_round_trip(proof: Proof) -> None:
    encoded = proof.encode()
    assert Proof.decode(encoded) == proof
    assert Proof.decode(encoded).encode() == encoded
    with pytest.raises(ProofError):
        Proof.decode(encoded + b"\x00")
    with pytest.raises(ProofError):
        Proof.decode(encoded[:-1])


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=80))
def test_decode_accepts_only_canonical_encodings(data: bytes) -> None:
    try:
        proof = Proof.decode(data)
    except ProofError:
        return
    assert proof.encode() == data


def test_decode_rejects_every_truncation_and_extension(tree: _Tree) -> None:
    for key in (PRESENT[0], *ABSENT):
        proof = tree.prove(key)
        if proof.terminal == Terminal.OTHER_LEAF:
            break
    encoded = proof.encode()
    for cut in range(len(encoded)):
        with pytest.raises(ProofError):
            Proof.decode(encoded[:cut])
    with pytest.raises(ProofError):
        Proof.decode(encoded + b"\x00")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x03\x00\x00", "terminal 3 is unknown"),
        (b"\x00\x01\x01" + b"\x00" * 33, "exceeds 256"),
        (b"\x00\x00\x01\x01" + b"\x11" * 32, "bits set beyond its depth"),
        (b"\x00\x00\x01\x80" + EMPTY, "not a non-empty 32-byte hash"),
    ],
)
def test_decode_rejects_malformed_fields(data: bytes, message: str) -> None:
    with pytest.raises(ProofError, match=message):
        Proof.decode(data)
