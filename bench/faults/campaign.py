"""The perturbations and the loop that runs them: perturb, heal, time the recovery, check.

Each perturbation hits a node (or two) chosen by the seeded RNG, after a random pause, for a
duration drawn from the configured range, while the load keeps running:

- kill: SIGKILL node i's `synod start` and CometBFT (its process group), restart it after the pause;
- pause: SIGSTOP then SIGCONT the whole group (app and CometBFT), so peers see it hang, not vanish;
- disconnect: drop node i's p2p packets both ways (RPC stays up), then remove the filters;
- partition: drop p2p traffic between two random halves of two nodes each (no side has 2/3, so the
  chain halts), then heal;
- slow: put node i's p2p traffic on the slow link (see netns.py), then remove it;
- halt: kill two nodes; the two left must make no new block for the halt window (a halt, not a
  fork), then both restart and the chain resumes.

Recovery time: from the moment the fault is removed until every node has committed a height above
the highest any node had at that moment.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from app.client.rpc import CometRPC, RpcError
from app.node import localnet as net
from bench.faults.checks import Checker
from bench.faults.load import BankLoad
from bench.faults.netns import FaultNet

__all__ = ["KINDS", "Outcome", "Campaign"]

KINDS = ("kill", "pause", "disconnect", "partition", "slow", "halt")
_POLL = 0.25


@dataclass
class Outcome:
    """One perturbation and what the checks after it found."""

    kind: str
    nodes: list[int]
    duration_s: float
    recovered: bool = False
    recover_s: float | None = None
    halted: bool | None = None
    height: int = 0
    forks: int = 0
    lost: int = 0
    invariants: int = 0
    unindexed: int = 0
    txs_checked: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        """JSON-ready."""
        return asdict(self)


class Campaign:
    """Runs perturbations against a started localnet whose nodes live in FaultNet's namespaces."""

    def __init__(
        self,
        spec: net.LocalnetSpec,
        fnet: FaultNet,
        checker: Checker,
        load: BankLoad,
        log: Callable[[str], None],
        durations: tuple[float, float],
        halt_s: float,
        recover_timeout: float,
    ) -> None:
        self.spec, self.fnet, self.checker, self.load, self.log = spec, fnet, checker, load, log
        self.durations, self.halt_s, self.recover_timeout = durations, halt_s, recover_timeout
        self.rpcs = [CometRPC(net.rpc_address(spec, i), timeout=3) for i in range(spec.validators)]
        self.paused: set[int] = set()

    # --- node control -------------------------------------------------------------------------

    def heads(self) -> list[int | None]:
        """Each node's latest height, None where it does not answer."""
        out: list[int | None] = []
        for rpc in self.rpcs:
            try:
                out.append(int(rpc.status()["sync_info"]["latest_block_height"]))
            except (RpcError, OSError, KeyError):
                out.append(None)
        return out

    def start(self, index: int) -> None:
        """Start node i inside its namespace."""
        net.start_node(self.spec.directory, index, launcher=self.fnet.launcher(index))

    def _group(self, index: int, sig: signal.Signals) -> None:
        """Signal node i's whole process group (app and CometBFT)."""
        pid = net.running_nodes(self.spec.directory)[index]
        os.killpg(pid, sig)

    def resume_all(self) -> None:
        """SIGCONT every node this campaign paused (teardown: a stopped node cannot be stopped)."""
        for index in sorted(self.paused):
            with contextlib.suppress(KeyError, ProcessLookupError):
                self._group(index, signal.SIGCONT)
        self.paused.clear()

    def restart_dead(self) -> list[int]:
        """Start every validator whose process is gone (a crash we did not cause); return them."""
        dead = sorted(set(range(self.spec.validators)) - set(net.running_nodes(self.spec.directory)))
        for index in dead:
            self.start(index)
        return dead

    # --- one perturbation ---------------------------------------------------------------------

    def run_one(self, kind: str, rng: random.Random) -> Outcome:
        """Apply one perturbation, heal it, time the recovery and check the chain."""
        duration = round(rng.uniform(*self.durations), 1)
        nodes = rng.sample(range(self.spec.validators), 2 if kind in ("partition", "halt") else 1)
        outcome = Outcome(kind, sorted(nodes), duration)
        self.log(f"{kind} {outcome.nodes} for {duration:.1f} s")
        getattr(self, f"_{kind}")(outcome)
        self._recover(outcome)
        crashed = self.restart_dead()
        if crashed:
            outcome.notes.append(f"nodes {crashed} had exited and were restarted")
            self._recover(outcome)
        self._check(outcome)
        return outcome

    def _kill(self, o: Outcome) -> None:
        net.kill_node(self.spec.directory, o.nodes[0])
        time.sleep(o.duration_s)
        self.start(o.nodes[0])

    def _pause(self, o: Outcome) -> None:
        self._group(o.nodes[0], signal.SIGSTOP)
        self.paused.add(o.nodes[0])
        time.sleep(o.duration_s)
        self._group(o.nodes[0], signal.SIGCONT)
        self.paused.discard(o.nodes[0])

    def _disconnect(self, o: Outcome) -> None:
        self.fnet.cut(o.nodes[0])
        time.sleep(o.duration_s)
        self.fnet.heal(o.nodes[0])

    def _partition(self, o: Outcome) -> None:
        side_a = o.nodes
        side_b = [i for i in range(self.spec.validators) if i not in side_a]
        o.notes.append(f"halves {side_a} | {side_b}")
        for a in side_a:
            self.fnet.cut(a, side_b)
        for b in side_b:
            self.fnet.cut(b, side_a)
        time.sleep(o.duration_s)
        self.fnet.heal_all()

    def _slow(self, o: Outcome) -> None:
        self.fnet.slow(o.nodes[0])
        time.sleep(o.duration_s)
        self.fnet.heal(o.nodes[0])

    def _halt(self, o: Outcome) -> None:
        for index in o.nodes:
            net.kill_node(self.spec.directory, index)
        live = [i for i in range(self.spec.validators) if i not in o.nodes]
        time.sleep(2.0)  # a block whose votes were already in flight may still commit
        before = [self.heads()[i] for i in live]
        time.sleep(self.halt_s)
        after = [self.heads()[i] for i in live]
        o.halted = before == after and None not in before
        o.notes.append(f"live {live} heights {before} -> {after} over {self.halt_s:.0f} s")
        if not o.halted:
            self.log(f"  NOT HALTED: live nodes went {before} -> {after} with 2 of 4 down")
        for index in o.nodes:
            self.start(index)

    # --- after it -----------------------------------------------------------------------------

    def _recover(self, o: Outcome) -> None:
        """Wait until every node is above the highest height seen when the fault was removed."""
        healed = time.monotonic()
        seen = [h for h in self.heads() if h is not None]
        target = (max(seen) if seen else 0) + 1
        deadline = healed + self.recover_timeout
        while time.monotonic() < deadline:
            heads = self.heads()
            if all(h is not None and h >= target for h in heads):
                o.recovered, o.recover_s = True, round(time.monotonic() - healed, 2)
                self.log(f"  recovered in {o.recover_s:.1f} s (all at >= {target}: {heads})")
                return
            time.sleep(_POLL)
        o.recovered = False
        self.log(
            f"  NOT RECOVERED within {self.recover_timeout:.0f} s: heads {self.heads()}, target {target}"
        )

    def _check(self, o: Outcome) -> None:
        """Agreement, lost txs and invariants; a node that does not answer counts against recovery."""
        try:
            result = self.checker.check(self.load.committed())
        except (RpcError, OSError) as e:
            o.notes.append(f"check failed: {e}")
            o.recovered = False
            self.log(f"  check failed: {e}")
            return
        o.height, o.txs_checked = result.height, result.txs_checked
        o.forks, o.lost, o.invariants = len(result.forks), len(result.lost), len(result.invariants)
        o.unindexed = len(result.unindexed)
        o.notes += result.forks[:5] + result.lost[:5] + result.invariants[:5] + result.unindexed[:5]
        self.log(
            f"  checked to height {result.height}: {result.txs_checked} new txs, "
            f"{o.forks} forks, {o.lost} lost, {o.invariants} broken invariants"
            + (f", {o.unindexed} in their block but missing from a node's /tx index" if o.unindexed else "")
        )


def write_log_tails(directory: Path, lines: int = 40) -> dict[str, str]:
    """The end of every node's logs (for a failed run's report)."""
    out = {}
    for index in range(net.load_spec(directory).validators):
        for cometbft in (False, True):
            path = net.log_path(directory, index, cometbft)
            if path.exists():
                out[str(path)] = "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return out
