"""committee invariants, run after every block in tests."""

from __future__ import annotations

from app.modules.committee.keeper import CommitteeKeeper
from app.state.kv import KVStore

__all__ = ["check_member_count"]


def check_member_count(store: KVStore, k: CommitteeKeeper) -> None:
    """The stored member count equals the number of members (queries trust the counter)."""
    counted = sum(1 for _ in k.iterate_members(store))
    stored = k.get_member_count(store)
    if counted != stored:
        raise AssertionError(f"committee member count {stored} != {counted} members stored")
