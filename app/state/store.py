"""The committed state: flat values for reads, a sparse Merkle tree for the app hash, one batch per block.

Database layout (one-byte prefixes, the only place that names them):

    s + key          current committed value of a state key (fast reads)
    n + node_hash    sparse Merkle tree node (content-addressed, never rewritten)
    r + height(u64)  Merkle root committed at that height (the newest keep_recent only)
    o + node_hash    orphan record: the height whose block took the node out of the tree
    g + height(u64)  the node hashes that height's block orphaned (pruning's queue)
    x + key_hash     a state-sync restore's leaf, value_hash (only while a restore runs)
    m + name         metadata: last committed height and app hash

FinalizeBlock *stages*: `stage()` computes the new root from the block branch's writes and keeps
the new nodes in memory. Commit *persists*: `commit()` writes the state changes, the new nodes, the
height and the app hash in one atomic LevelDB batch. A crash before that batch leaves the previous
block's state intact, and CometBFT replays the block.

Pruning is part of that batch: it queues the nodes the block orphaned, un-queues the ones it revived,
and deletes the roots below the newest keep_recent and the nodes only they reached. The rule, what
is kept and why, retain_height, the restore bounds and the attacker analysis are in README.md here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

from app.core.codec import from_u64be, u64be
from app.state import smt
from app.state.backend import Backend
from app.state.kv import Branch

__all__ = [
    "CommitStore",
    "StagedBlock",
    "StateView",
    "QueryError",
    "STATE_PREFIX",
    "NODE_PREFIX",
    "ROOT_PREFIX",
    "META_HEIGHT",
    "META_APP_HASH",
    "META_TIME",
    "ORPHAN_PREFIX",
    "ORPHANS_AT_PREFIX",
    "RESTORE_PREFIX",
    "DEFAULT_KEEP_RECENT",
]

STATE_PREFIX = b"s"
NODE_PREFIX = b"n"
ROOT_PREFIX = b"r"
# o + node_hash -> u64 height of the block that took the node out of the tree (it is still in older
# kept trees); g + u64 height -> the node hashes that block orphaned, concatenated (pruning's queue).
ORPHAN_PREFIX = b"o"
ORPHANS_AT_PREFIX = b"g"
# x + key_hash -> value_hash: the leaves of a state-sync restore in progress (app/state/snapshots.py).
RESTORE_PREFIX = b"x"
META_HEIGHT = b"m" + b"height"
META_APP_HASH = b"m" + b"app_hash"
# Block time (seconds, nanos) of the last committed block: CheckTx runs "as of" it. Metadata, not
# state: it is already in every header, so it stays out of the app hash.
META_TIME = b"m" + b"time"

# The newest roots whose trees are kept (config/app.toml state_keep_recent; 0 keeps every height).
DEFAULT_KEEP_RECENT = 100
_MAX_PRUNE_HEIGHTS = 16


class QueryError(LookupError):
    """A read asked for a height whose state this node does not serve."""


class StateView:
    """Read-only view of the committed flat state."""

    __slots__ = ("_backend",)

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def get(self, key: bytes) -> bytes | None:
        """Committed value of a state key."""
        return self._backend.get(STATE_PREFIX + key)

    def iterate(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Committed entries under prefix, keys without the layout prefix."""
        for k, v in self._backend.iterate(STATE_PREFIX + prefix):
            yield k[1:], v


@dataclass
class StagedBlock:
    """The result of FinalizeBlock waiting for Commit."""

    height: int
    app_hash: bytes
    writes: dict[bytes, bytes | None]
    nodes: dict[bytes, bytes]
    time: tuple[int, int] = (0, 0)
    # Stored nodes this block takes out of the tree, and new ones that may revive orphaned copies.
    orphans: frozenset[bytes] = frozenset()
    fresh: frozenset[bytes] = frozenset()


class CommitStore:
    """Owns the backend: committed height/hash, block branches, staging and the atomic commit."""

    def __init__(self, backend: Backend, keep_recent: int = DEFAULT_KEEP_RECENT) -> None:
        """keep_recent: how many of the newest roots keep their trees (0 keeps all; see above)."""
        self.backend = backend
        self.keep_recent = 0
        self.set_keep_recent(keep_recent)
        self.view = StateView(backend)
        raw_height = backend.get(META_HEIGHT)
        self.height = from_u64be(raw_height) if raw_height else 0
        self.app_hash = backend.get(META_APP_HASH) or smt.EMPTY
        raw_time = backend.get(META_TIME)
        self.time = _decode_time(raw_time) if raw_time else (0, 0)
        self._staged: StagedBlock | None = None

    def set_keep_recent(self, keep_recent: int) -> None:
        """Set how many recent heights keep their trees (node-local: the app hash never depends on it)."""
        if keep_recent < 0:
            raise ValueError(f"keep_recent must be >= 0 (0 keeps every height), got {keep_recent}")
        self.keep_recent = keep_recent

    def branch(self) -> Branch:
        """A fresh branch over the committed state."""
        return Branch(self.view)

    def _read_node(self, node_hash: bytes) -> bytes | None:
        """Read a tree node: staged ones first, then the database."""
        if self._staged is not None and node_hash in self._staged.nodes:
            return self._staged.nodes[node_hash]
        return self.backend.get(NODE_PREFIX + node_hash)

    def stage(self, block: Branch, height: int, time: tuple[int, int] = (0, 0)) -> bytes:
        """Compute the app hash of committed state + `block`'s writes; keep it for commit()."""
        assert block.parent is self.view, "stage() takes a branch made by branch()"
        self._staged = None
        writes = block.writes
        updates = {smt.hash_key(k): (None if v is None else smt.hash_value(v)) for k, v in writes.items()}
        update = smt.apply_tracked_updates(self.app_hash, updates, self._read_node)
        self._staged = StagedBlock(
            height, update.root, dict(writes), update.nodes, time, update.orphans, update.fresh
        )
        return update.root

    def commit(self) -> StagedBlock:
        """Persist the staged block in one atomic batch and make it the committed state."""
        staged = self._staged
        if staged is None:
            raise RuntimeError("commit() without a staged block: FinalizeBlock must come first")
        puts: dict[bytes, bytes] = {}
        deletes: list[bytes] = []
        for k, v in staged.writes.items():
            if v is None:
                deletes.append(STATE_PREFIX + k)
            else:
                puts[STATE_PREFIX + k] = v
        for h, node in staged.nodes.items():
            puts[NODE_PREFIX + h] = node
        revived = self._index_orphans(staged, puts, deletes)
        self._prune(staged.height, revived, deletes)
        puts[ROOT_PREFIX + u64be(staged.height)] = staged.app_hash
        puts[META_HEIGHT] = u64be(staged.height)
        puts[META_APP_HASH] = staged.app_hash
        puts[META_TIME] = _encode_time(staged.time)
        self.backend.write_batch(puts, deletes)
        self.height = staged.height
        self.app_hash = staged.app_hash
        self.time = staged.time
        self._staged = None
        return staged

    def _index_orphans(
        self, staged: StagedBlock, puts: dict[bytes, bytes], deletes: list[bytes]
    ) -> set[bytes]:
        """Queue what the block orphaned under its height; un-orphan what it revived; return those.

        Revivals are looked up whatever keep_recent is, so an orphan record never outlives the
        node's return to the tree, even one written before the setting was changed.
        """
        revived = {h for h in staged.fresh if self.backend.get(ORPHAN_PREFIX + h) is not None}
        deletes.extend(ORPHAN_PREFIX + h for h in sorted(revived))
        if self.keep_recent == 0 or not staged.orphans:
            return revived
        if self.keep_recent == 1:  # no older tree is kept: the old paths go with this very batch
            deletes.extend(NODE_PREFIX + h for h in sorted(staged.orphans))
            return revived
        height = u64be(staged.height)
        for h in staged.orphans:
            puts[ORPHAN_PREFIX + h] = height
        puts[ORPHANS_AT_PREFIX + height] = b"".join(sorted(staged.orphans))
        return revived

    def _prune(self, height: int, revived: set[bytes], deletes: list[bytes]) -> None:
        """Delete the roots below the lowest kept height and the nodes only they reached.

        The orphans queued at height g left the tree at g, so only trees below g reach them: once g
        is the lowest kept height they go, unless revived since (their record then names a later
        height, or none). At most _MAX_PRUNE_HEIGHTS heights per commit keep the batch bounded
        after keep_recent shrinks; later commits catch up.
        """
        if self.keep_recent == 0:
            return
        lowest = height - self.keep_recent + 1
        for key, hashes in islice(self.backend.iterate(ORPHANS_AT_PREFIX), _MAX_PRUNE_HEIGHTS):
            at = key[len(ORPHANS_AT_PREFIX) :]
            if from_u64be(at) > lowest:
                break
            deletes.append(key)
            for i in range(0, len(hashes), smt.HASH_SIZE):
                h = hashes[i : i + smt.HASH_SIZE]
                if h not in revived and self.backend.get(ORPHAN_PREFIX + h) == at:
                    deletes += [NODE_PREFIX + h, ORPHAN_PREFIX + h]
        for key, _ in islice(self.backend.iterate(ROOT_PREFIX), _MAX_PRUNE_HEIGHTS):
            if from_u64be(key[len(ROOT_PREFIX) :]) >= lowest:
                break
            deletes.append(key)

    def root_at(self, height: int) -> bytes | None:
        """The app hash committed at `height`, if recorded (None once pruned)."""
        return self.backend.get(ROOT_PREFIX + u64be(height))

    def prove(self, key: bytes, height: int = 0) -> tuple[bytes | None, smt.Proof, int]:
        """Value, Merkle proof and height for a key in committed state (latest height only).

        Values are kept flat for the latest height; the keep_recent newest roots keep their nodes,
        but serving old values would need a value history, which this node does not keep.
        """
        if height not in (0, self.height):
            raise QueryError(
                f"state at height {height} is not served: this node answers for the latest "
                f"committed height {self.height} (pass height 0)"
            )
        value = self.view.get(key)
        proof = smt.prove(self.app_hash, smt.hash_key(key), self._committed_node)
        return value, proof, self.height

    def _committed_node(self, node_hash: bytes) -> bytes | None:
        """Read a committed tree node (never a staged one: queries see committed state only)."""
        return self.backend.get(NODE_PREFIX + node_hash)


def _encode_time(time: tuple[int, int]) -> bytes:
    """Block time (seconds, nanos) as 16 bytes; seconds are signed (a genesis may predate 1970)."""
    seconds, nanos = time
    return seconds.to_bytes(8, "big", signed=True) + u64be(nanos)


def _decode_time(raw: bytes) -> tuple[int, int]:
    """Inverse of _encode_time (the same bytes as the unsigned encoding for any time after 1970)."""
    return int.from_bytes(raw[:8], "big", signed=True), from_u64be(raw[8:])
