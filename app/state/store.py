"""The committed state: flat values for reads, a sparse Merkle tree for the app hash, one batch per block.

Database layout (one-byte prefixes, the only place that names them):

    s + key          current committed value of a state key (fast reads)
    n + node_hash    sparse Merkle tree node (content-addressed, never rewritten)
    r + height(u64)  Merkle root committed at that height
    m + name         metadata: last committed height and app hash

FinalizeBlock *stages*: `stage()` computes the new root from the block branch's writes and keeps
the new nodes in memory. Commit *persists*: `commit()` writes the state changes, the new nodes, the
height and the app hash in one atomic LevelDB batch. A crash before that batch leaves the previous
block's state intact, and CometBFT replays the block.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

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
]

STATE_PREFIX = b"s"
NODE_PREFIX = b"n"
ROOT_PREFIX = b"r"
META_HEIGHT = b"m" + b"height"
META_APP_HASH = b"m" + b"app_hash"
# Block time (seconds, nanos) of the last committed block: CheckTx runs "as of" it. Metadata, not
# state: it is already in every header, so it stays out of the app hash.
META_TIME = b"m" + b"time"


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


class CommitStore:
    """Owns the backend: committed height/hash, block branches, staging and the atomic commit."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.view = StateView(backend)
        raw_height = backend.get(META_HEIGHT)
        self.height = from_u64be(raw_height) if raw_height else 0
        self.app_hash = backend.get(META_APP_HASH) or smt.EMPTY
        raw_time = backend.get(META_TIME)
        self.time = _decode_time(raw_time) if raw_time else (0, 0)
        self._staged: StagedBlock | None = None

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
        root, nodes = smt.apply_updates(self.app_hash, updates, self._read_node)
        self._staged = StagedBlock(height, root, dict(writes), nodes, time)
        return root

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

    def root_at(self, height: int) -> bytes | None:
        """The app hash committed at `height`, if recorded."""
        return self.backend.get(ROOT_PREFIX + u64be(height))

    def prove(self, key: bytes, height: int = 0) -> tuple[bytes | None, smt.Proof, int]:
        """Value, Merkle proof and height for a key in committed state (latest height only).

        Values are kept flat for the latest height; older roots keep their nodes, but serving old
        values would need a value history, which this node does not keep.
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
