"""What a store is, as the state machine sees it: the read and read-write protocols.

They live in core so that a handler's Context (and anything else in core) can name a store without
reaching up into app/state, which implements them (branches, prefix stores, LevelDB).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

__all__ = ["KVReader", "KVStore"]


class KVReader(Protocol):
    """Read access with ordered prefix iteration."""

    def get(self, key: bytes) -> bytes | None: ...

    def iterate(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]: ...


class KVStore(KVReader, Protocol):
    """Read-write access."""

    def set(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...
