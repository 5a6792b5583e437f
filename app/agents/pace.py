"""How an agent waits between looks at the chain: until the next block, or one poll interval.

With a block follower (app/client/follow.py) an agent looks again as soon as a block beyond the one
it saw is committed, and never waits longer than NEXT_BLOCK_POLLS poll intervals (a missed event
costs that much, never a hang). Without one it sleeps one poll interval, as the unit tests' fake
nodes expect (their sleep makes the next block).
"""

from __future__ import annotations

from collections.abc import Callable

from app.client.follow import BlockWaiter

__all__ = ["NEXT_BLOCK_POLLS", "BlockPacer"]

NEXT_BLOCK_POLLS = 10


class BlockPacer:
    """Waits for the block after a height through a follower; without one, sleeps one poll interval."""

    def __init__(
        self, poll_interval: float, follower: BlockWaiter | None, sleep: Callable[[float], None]
    ) -> None:
        self.poll_interval = poll_interval
        self.follower = follower
        self._sleep = sleep

    def wait(self, after_height: int) -> int | None:
        """The latest height once a block beyond after_height is committed; None on a timeout or
        when there is no follower (then after one poll interval)."""
        if self.follower is None:
            self._sleep(self.poll_interval)
            return None
        return self.follower.wait_for_block(after_height, self.poll_interval * NEXT_BLOCK_POLLS)
