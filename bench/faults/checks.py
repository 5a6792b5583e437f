"""What the campaign checks after each perturbation: one chain on every node, nothing lost, invariants.

- agreement: for every height up to the lowest node's head, every node reports the same block hash
  and the same header app hash (`/blockchain` metas), and `/commit` at the common head names that
  block on every node. A differing hash at any height is a fork.
- nothing lost: every tx the load saw committed is found by `/tx?hash=` on every node at the same
  height it was reported at (the hashes checked since the last check, and all of them at the end).
- invariants, on each node, from answers all at one height (re-read if a block lands in between):
  supply equals the sum of the balances of every account that can hold coins (the genesis accounts,
  the campaign's own and the module escrows): with no minting in Synod it also never exceeds the
  genesis supply; the bonded pool holds the validators' tokens plus the unbonding balances; the
  tasks escrow holds the open tasks' rewards and unslashed stakes.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from app.app import MODULE_ACCOUNTS
from app.client.querier import AbciQuerier
from app.client.rpc import CometRPC
from app.client.tasks import TasksClient
from app.core.crypto import module_address
from bench.faults.load import Committed
from synod.bank.v1 import query_pb2 as bank_query
from synod.staking.v1 import query_pb2 as staking_query
from synod.tasks.v1 import tasks_pb2

__all__ = ["Checker", "CheckResult"]

_DENOM = "usyn"
_METAS_PER_CALL = 20
_SAME_HEIGHT_TRIES = 8
_OPEN_TASKS = (tasks_pb2.TASK_STATUS_JOINING, tasks_pb2.TASK_STATUS_RUNNING)


@dataclass
class CheckResult:
    """One check's findings: the common height, forks (heights that differ), lost txs, broken invariants."""

    height: int = 0
    forks: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    invariants: list[str] = field(default_factory=list)
    unindexed: list[str] = field(default_factory=list)
    txs_checked: int = 0

    @property
    def ok(self) -> bool:
        """True when nothing forked, nothing was lost and every invariant held."""
        return not (self.forks or self.lost or self.invariants)


class Checker:
    """Checks the nodes against each other and the load's record; remembers what it already checked."""

    def __init__(self, rpcs: Sequence[CometRPC], genesis_supply: int, accounts: Sequence[str]) -> None:
        self.rpcs = list(rpcs)
        self.genesis_supply = genesis_supply
        self.accounts = sorted(set(accounts) | {module_address(m) for m in MODULE_ACCOUNTS})
        self.checked_height = 0
        self.checked_txs: set[str] = set()

    def check(self, committed: Sequence[Committed], everything: bool = False) -> CheckResult:
        """Agreement up to the common height, the txs committed since the last check (all of them if
        everything), and the invariants on every node."""
        result = CheckResult()
        heads = [int(r.status()["sync_info"]["latest_block_height"]) for r in self.rpcs]
        result.height = min(heads)
        start = 1 if everything else max(self.checked_height - 2, 1)
        result.forks += self._compare_blocks(start, result.height)
        result.forks += self._compare_commits(result.height)
        self.checked_height = max(self.checked_height, result.height)
        # Only txs at or below the common height: a node still catching up has not got the others yet.
        todo = [
            c
            for c in committed
            if c.height <= result.height and (everything or c.txhash not in self.checked_txs)
        ]
        lost, result.unindexed = self._find_lost(todo)
        result.lost += lost
        result.txs_checked = len(todo)
        self.checked_txs.update(c.txhash for c in todo)
        for index, rpc in enumerate(self.rpcs):
            result.invariants += [f"node{index}: {m}" for m in self._invariants(rpc)]
        return result

    def _metas(self, rpc: CometRPC, start: int, end: int) -> dict[int, tuple[str, str]]:
        """{height: (block hash, app hash)} for start..end from one node."""
        out: dict[int, tuple[str, str]] = {}
        low = start
        while low <= end:
            high = min(low + _METAS_PER_CALL - 1, end)
            for meta in rpc.blockchain(low, high):
                header = meta["header"]
                out[int(header["height"])] = (meta["block_id"]["hash"], header["app_hash"])
            low = high + 1
        return out

    def _compare_blocks(self, start: int, end: int) -> list[str]:
        """Heights in start..end at which some node's block or app hash differs from node0's."""
        if end < start:
            return []
        views = [self._metas(rpc, start, end) for rpc in self.rpcs]
        forks = []
        for height in range(start, end + 1):
            seen = {v.get(height) for v in views}
            if len(seen) != 1 or None in seen:
                forks.append(
                    f"height {height}: " + ", ".join(f"node{i}={v.get(height)}" for i, v in enumerate(views))
                )
        return forks

    def _compare_commits(self, height: int) -> list[str]:
        """The signed header at height must name the same block on every node."""
        ids = [r.commit(height)["commit"]["block_id"]["hash"] for r in self.rpcs]
        return [] if len(set(ids)) == 1 else [f"commit {height}: {ids}"]

    def _find_lost(self, committed: Sequence[Committed]) -> tuple[list[str], list[str]]:
        """(lost, unindexed): txs some node does not have in its block at the reported height; txs it
        has there but its /tx index does not know (the chain kept them, the node cannot report them)."""
        lost, unindexed = [], []
        for item in committed:
            for index, rpc in enumerate(self.rpcs):
                found = rpc.tx(item.txhash)
                if found is not None and int(found["height"]) == item.height:
                    continue
                where = None if found is None else found["height"]
                text = f"{item.txhash} (height {item.height}) on node{index}: /tx says {where}"
                if found is None and item.txhash in _block_tx_hashes(rpc, item.height):
                    unindexed.append(text)
                else:
                    lost.append(text)
        return lost, unindexed

    def _invariants(self, rpc: CometRPC) -> list[str]:
        """The broken invariants of one node, from answers all at one height."""
        for _ in range(_SAME_HEIGHT_TRIES):
            querier = AbciQuerier(rpc)
            heights: set[int] = set()
            supply = _amount(querier.ask_all("bank", "Supply", bank_query.QuerySupplyRequest()).supply)
            heights.add(querier.last_height)
            balances = {}
            for address in self.accounts:
                answer = querier.ask_all(
                    "bank", "AllBalances", bank_query.QueryAllBalancesRequest(address=address)
                )
                balances[address] = _amount(answer.balances)
                heights.add(querier.last_height)
            staking = _staking_total(querier)
            heights.add(querier.last_height)
            escrow = _tasks_owed(querier)
            heights.add(querier.last_height)
            if len(heights) == 1:
                return self._judge(supply, balances, staking, escrow)
        return []  # blocks kept landing mid-read: nothing judged this time (the next check reads again)

    def _judge(self, supply: int, balances: dict[str, int], staking: int, escrow: int) -> list[str]:
        """Compare one height's figures."""
        broken = []
        total = sum(balances.values())
        if supply != total:
            broken.append(f"supply {supply} != sum of balances {total}")
        if supply > self.genesis_supply:
            broken.append(f"supply {supply} > genesis supply {self.genesis_supply} (nothing mints)")
        pool = balances[module_address("bonded_pool")]
        if pool != staking:
            broken.append(f"bonded pool {pool} != validator tokens + unbonding {staking}")
        held = balances[module_address("tasks")]
        if held != escrow:
            broken.append(f"tasks escrow {held} != open tasks' rewards and stakes {escrow}")
        return broken


def _block_tx_hashes(rpc: CometRPC, height: int) -> set[str]:
    """The hashes (upper-case hex) of the txs in one node's block at height."""
    txs = rpc.block(height)["block"]["data"]["txs"] or []
    return {hashlib.sha256(base64.b64decode(t)).hexdigest().upper() for t in txs}


def _amount(coins: Sequence) -> int:
    """The usyn amount of a coin list."""
    return sum(int(c.amount) for c in coins if c.denom == _DENOM)


def _staking_total(querier: AbciQuerier) -> int:
    """Validators' tokens plus the unbonding balances (what the bonded pool must hold)."""
    validators = querier.ask_all("staking", "Validators", staking_query.QueryValidatorsRequest()).validators
    unbonding = querier.ask_all("staking", "Unbonding", staking_query.QueryUnbondingRequest()).entries
    return sum(int(v.tokens) for v in validators) + sum(int(e.balance) for e in unbonding)


def _tasks_owed(querier: AbciQuerier) -> int:
    """What the tasks escrow owes in usyn: open tasks' rewards and their workers' unslashed stakes."""
    client = TasksClient(querier)
    owed = 0
    for task in client.tasks():
        if task.status not in _OPEN_TASKS:
            continue
        slashed = sum(int(p.slashed or 0) for p in client.participants(task.id))
        owed += int(task.reward.amount) + int(task.worker_stake.amount) * task.worker_count - slashed
    return owed
