"""`synod query ...`: read chain state through a node, one file per module.

cli/main.py hangs each module's group under `query`: auth, bank, staking, slashing, task,
committee, consensus, and the `tx` and `reputation` commands. chain.py holds the typed reads that
`synod tx` needs too.
"""

from __future__ import annotations

import click

__all__ = ["query"]


@click.group()
def query() -> None:
    """Query chain state (add --verify to check every answer against light-client headers)."""
