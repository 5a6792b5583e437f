"""`synod tx ...`: build, sign, broadcast and (by default) wait for inclusion, one file per module.

cli/main.py hangs each module's group under `tx`: bank, staking, task, committee, consensus.
"""

from __future__ import annotations

import click

__all__ = ["tx"]


@click.group()
def tx() -> None:
    """Sign and broadcast transactions."""
