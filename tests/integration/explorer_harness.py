"""An in-process chain behind a CometBFT-RPC stand-in, for the explorer's tests.

`ChainNode` records every block a harness Chain finalizes (its txs and FinalizeBlock results) and
answers the RPC calls the explorer makes (status, blockchain, block, block_results, validators,
abci_query) in CometBFT's JSON shapes. One lock orders the chain's blocks and the explorer's reads,
so a test can advance the chain in its own thread while the explorer reads in another.

`committee_story` drives the committee lifecycle of tests/integration/test_committee.py in three
steps: dave attacks in round 1 (rejected by the committee, slashed), replays in round 2 (slashed),
and the lazy member v3 is slashed for two attestation faults.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from app.client.querier import AbciQuerier
from app.explorer.evaluate import Evaluate, Evaluator
from app.explorer.state import Explorer, Sources
from tendermint.abci import types_pb2 as abci
from tests.integration.harness import CHAIN_ID, Chain, test_bls_key
from tests.integration.staking_harness import cons_address
from tests.integration.tasks_harness import TaskChain, update_vector
from tests.integration.test_committee import (
    FUNDS,
    MEMBERS,
    SCHEDULE,
    WORKERS,
    _attestation,
    _commit_and_reveal,
    _genesis,
    _play,
    _run_ok,
)
from tests.unit.rpc_fakes import abci_over_handlers

__all__ = ["ChainNode", "RpcOverHttp", "committee_chain", "committee_story", "explorer_over"]


def _events(events: Any) -> list[dict[str, Any]]:
    """ABCI events as CometBFT's JSON writes them."""
    return [
        {
            "type": e.type,
            "attributes": [{"key": a.key, "value": a.value, "index": True} for a in e.attributes],
        }
        for e in events
    ]


class ChainNode:
    """CometBFT's RPC over a harness Chain (the calls app/explorer makes)."""

    def __init__(self, chain: Chain, validators: dict[bytes, int]) -> None:
        self.chain = chain
        self.lock = threading.RLock()
        self.power = validators  # {consensus address: voting power}
        self.blocks: dict[int, tuple[list[bytes], abci.ResponseFinalizeBlock, str]] = {}
        self.app_hashes: dict[int, bytes] = {}  # {height: the app hash committed at it}
        finalize, block = chain.abci.finalize_block, chain.block

        def recorded(req: abci.RequestFinalizeBlock) -> abci.ResponseFinalizeBlock:
            resp = finalize(req)
            when = datetime.fromtimestamp(req.time.seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
            self.blocks[req.height] = (list(req.txs), resp, when)
            return resp

        def locked(txs: list[bytes]) -> abci.ResponseFinalizeBlock:
            with self.lock:
                resp = block(txs)
                self.app_hashes[self.height] = chain.app.store.app_hash
                return resp

        chain.abci.finalize_block = recorded  # type: ignore[method-assign]
        chain.block = locked  # type: ignore[method-assign]

    @property
    def height(self) -> int:
        return self.chain.app.store.height

    def status(self) -> dict[str, Any]:
        with self.lock:
            h = self.height
            return {
                "node_info": {"network": CHAIN_ID},
                "sync_info": {
                    "latest_block_height": str(h),
                    "latest_block_time": self.blocks[h][2] if h in self.blocks else "",
                    "latest_app_hash": self.chain.app.store.app_hash.hex().upper(),
                },
            }

    def _hash(self, height: int) -> str:
        return hashlib.sha256(f"block {height}".encode()).hexdigest().upper()

    def blockchain(self, min_height: int, max_height: int) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {
                    "block_id": {"hash": self._hash(h)},
                    "header": {"height": str(h), "time": self.blocks[h][2], "proposer_address": ""},
                    "num_txs": str(len(self.blocks[h][0])),
                }
                for h in range(max_height, min_height - 1, -1)
                if h in self.blocks
            ][:20]

    def block(self, height: int | None = None) -> dict[str, Any]:
        with self.lock:
            txs = self.blocks[height or self.height][0]
            return {"block": {"data": {"txs": [base64.b64encode(t).decode() for t in txs]}}}

    def block_results(self, height: int | None = None) -> dict[str, Any]:
        with self.lock:
            resp = self.blocks[height or self.height][1]
            results = [
                {"code": r.code, "log": r.log, "gas_used": str(r.gas_used), "events": _events(r.events)}
                for r in resp.tx_results
            ]
            return {"txs_results": results, "finalize_block_events": _events(resp.events)}

    def validators(self, height: int | None = None) -> list[dict[str, Any]]:
        return [{"address": a.hex().upper(), "voting_power": str(p)} for a, p in sorted(self.power.items())]

    def abci_query(self, path: str, data: bytes, height: int = 0, prove: bool = False) -> dict[str, Any]:
        with self.lock:
            return abci_over_handlers(self.chain.abci, path, data, prove)


class RpcOverHttp:
    """A ChainNode behind CometBFT's URI-style JSON-RPC over HTTP (the calls CometRPC makes), so the
    real client, and `synod explorer` itself, can read it; no websocket (followers poll /status)."""

    def __init__(self, node: ChainNode) -> None:
        calls: dict[str, Callable[[dict[str, str]], Any]] = {
            "/status": lambda p: node.status(),
            "/blockchain": lambda p: {
                "block_metas": node.blockchain(int(p["minHeight"]), int(p["maxHeight"]))
            },
            "/block": lambda p: node.block(int(p["height"])),
            "/block_results": lambda p: node.block_results(int(p["height"])),
            "/validators": lambda p: {
                "block_height": str(node.height),
                "validators": node.validators(),
                "total": str(len(node.power)),
            },
            "/abci_query": lambda p: {
                "response": node.abci_query(json.loads(p["path"]), bytes.fromhex(p["data"][2:]))
            },
        }

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_GET(self) -> None:  # noqa: N802 - the http.server interface
                parts = urllib.parse.urlsplit(self.path)
                params = {k: v[0] for k, v in urllib.parse.parse_qs(parts.query).items()}
                call = calls.get(parts.path)
                envelope: dict[str, Any] = {"jsonrpc": "2.0", "id": -1}
                if call is None:
                    envelope["error"] = {"code": -32601, "message": "Method not found"}
                else:
                    envelope["result"] = call(params)
                body = json.dumps(envelope).encode()
                self.send_response(200 if call else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def committee_chain() -> tuple[TaskChain, ChainNode]:
    """test_committee's chain: validators v1-v3 on committee duty, funded workers; not started."""
    chain = Chain(beacon_keys={cons_address(n): test_bls_key(n) for n in MEMBERS})
    node = ChainNode(chain, {cons_address(n): 5 for n in MEMBERS})
    chain.init(FUNDS, _genesis())
    return TaskChain(chain), node


def committee_story(tc: TaskChain) -> Iterator[str]:
    """The committee task in steps, yielding after each: "posted", "round 1", "round 2"."""
    _run_ok(tc, tc.post(schedule=SCHEDULE, description="digits <b>committee</b> demo"))
    _run_ok(tc, *[tc.join(w) for w in WORKERS])
    yield "posted"
    honest = {"bob": update_vector(1), "carol": update_vector(2)}
    _play(tc, tc.task(), 1, {**honest, "dave": -update_vector(1)})
    round1 = {"bob": 8000, "carol": 8100, "dave": 2000}
    _commit_and_reveal(
        tc,
        {
            "v1": _attestation(tc, "v1", 1, 5000, round1),
            "v2": _attestation(tc, "v2", 1, 5100, {w: s + 50 for w, s in round1.items()}),
            "v3": _attestation(tc, "v3", 1, 5000, dict.fromkeys(WORKERS, 5000)),
        },
    )
    yield "round 1"
    _play(tc, tc.task(), 2, {"bob": update_vector(3), "carol": update_vector(4), "dave": honest["bob"]})
    round2 = {"bob": 8200, "carol": 8300, "dave": 8200}
    _commit_and_reveal(tc, {m: _attestation(tc, m, 2, 8000, round2) for m in ("v1", "v2")})
    tc.advance_past_round(2)
    tc.chain.block([])
    yield "round 2"


class ChainWaiter:
    """A BlockWaiter over a ChainNode: wakes as soon as the chain commits past a height."""

    def __init__(self, node: ChainNode) -> None:
        self.node = node

    def wait_for_block(self, after_height: int, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.node.height > after_height:
                return self.node.height
            time.sleep(0.05)
        return None


def stub_evaluate() -> Evaluate:
    """A stand-in for the JAX evaluation: accuracy 0.5 + round / 10, loss 1 - round / 10."""
    return lambda task, round_, weights: (0.5 + round_ / 10, 1.0 - round_ / 10)


def explorer_over(
    node: ChainNode, follow: bool = False, evaluate: Callable[[], Evaluate] | None = None
) -> Explorer:
    """An explorer reading node through abci_query (unverified); with follow, its refresher wakes at
    each block (else it polls once a second); with evaluate, checkpoints are evaluated by it."""
    waiter = ChainWaiter(node) if follow else None
    evaluator = Evaluator(evaluate) if evaluate is not None else None
    sources = Sources(rpc=node, querier=AbciQuerier(node), verified=False, waiter=waiter, evaluator=evaluator)  # type: ignore[arg-type]
    return Explorer(sources)
