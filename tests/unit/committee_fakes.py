"""Fakes for the committee member tests: a node holding one committee-verified task in its score
phase, scorers that return fixed scores or must not be called, and a node over a real App."""

from __future__ import annotations

import hashlib

import numpy as np

from app.agents.committee.score import RoundInputs, RoundScore
from app.client.rpc import QueryFailed
from app.core.architectures import param_count
from app.core.crypto import PrivateKey, decode_address
from app.core.fixedpoint import UPDATE_FORMAT, WEIGHT_FORMAT
from app.core.tx import decode_tx
from app.modules.committee.logic import compute_attestation_commitment
from app.modules.committee.params import default_params
from synod.auth.v1 import auth_pb2
from synod.auth.v1 import query_pb2 as auth_query
from synod.committee.v1 import committee_pb2, tx_pb2
from synod.committee.v1 import query_pb2 as committee_query
from synod.tasks.v1 import query_pb2 as tasks_query
from synod.tasks.v1 import tasks_pb2
from tendermint.abci import types_pb2 as abci
from tests.integration.harness import CHAIN_ID
from tests.unit.rpc_fakes import abci_over_handlers, abci_over_methods

ARCH, N_FEATURES, N_CLASSES = "logreg", 13, 3  # wine
SIZE = param_count(ARCH, N_FEATURES, N_CLASSES)


def key_of(name: str) -> PrivateKey:
    """The same deterministic key per name as tests/integration/harness.py."""
    return PrivateKey.from_seed(hashlib.sha256(b"synod-test-key:" + name.encode()).digest())


ME, OTHER = key_of("validator0"), key_of("validator1")
WORKERS = sorted((key_of(n).address for n in ("bob", "carol", "dave")), key=decode_address)
SEED = committee_pb2.Seed(height=5, vote_height=4, seed=b"\x07" * 32, shares=2)


_SCORE = tasks_pb2.TASK_PHASE_SCORE
_ROUND_1 = ((tasks_pb2.TASK_PHASE_COMMIT, 3, 4), (tasks_pb2.TASK_PHASE_REVEAL, 5, 6), (_SCORE, 7, 9))


class FakeNode:
    """A CometRPC stand-in holding one committee-verified task in round 1's score phase.

    Round 1 of task 1: commit at heights 3-4, reveal 5-6, score 7-9; the latest block is 6, so the
    next block is the first of the score phase. MsgCommitAttestation and MsgAttest are checked as the
    chain would check them (without windows: OTHER has committed, so ours opens the reveal at once).
    """

    url = "http://fake-node"

    def __init__(self, trace: bool = False) -> None:
        self.height = 6
        self.weights = WEIGHT_FORMAT.encode(np.arange(SIZE, dtype=np.int64) * 64)
        self.task = tasks_pb2.Task(
            id=1,
            status=tasks_pb2.TASK_STATUS_RUNNING,
            start_height=1,
            schedule=tasks_pb2.Schedule(
                rounds=2, join_blocks=2, commit_blocks=2, reveal_blocks=2, score_blocks=3
            ),
            model=tasks_pb2.ModelSpec(arch=ARCH, n_features=N_FEATURES, n_classes=N_CLASSES),
            model_hash=hashlib.sha256(self.weights).digest(),
            trace=tasks_pb2.TraceSpec(every_steps=4 if trace else 0, tolerance=8),
        )
        self.updates = {
            w: UPDATE_FORMAT.encode(np.full(SIZE, 10 * (i + 1), np.int64)) for i, w in enumerate(WORKERS)
        }
        self.traces = {w: f"trace of {w}".encode() for w in WORKERS}
        self.corrupt: set[str] = set()  # workers whose update the node serves altered
        self.cleared = False  # the round was judged meanwhile: its updates are gone
        seats = [committee_pb2.Seat(operator=a, power=10) for a in (ME.address, OTHER.address)]
        self.committee = committee_pb2.Committee(
            task_id=1, round=1, height=6, seed=SEED, seats=seats, workers=WORKERS
        )
        self.attestations: list[committee_pb2.Attestation] = []
        # OTHER committed already: once we commit, every seat has, and the reveal window opens.
        self.commitments = [
            committee_pb2.AttestationCommitment(
                task_id=1, round=1, attester=OTHER.address, commitment=b"\x0c" * 32, height=6
            )
        ]
        self.reveal_blocks = 1  # score phase 7-9: commit window 7-8, reveal window 9
        self.scores: committee_pb2.RoundScores | None = None
        self.sequence = 0
        self.asked: list[str] = []
        self.reject: tuple[str, int, str] | None = None
        self.included: dict[str, dict] = {}

    def status(self) -> dict:
        return {
            "sync_info": {"latest_block_height": str(self.height)},
            "node_info": {"network": "synod-test"},
        }

    def abci_query(self, path: str, data: bytes, height: int = 0, prove: bool = False) -> dict:
        return abci_over_methods(self, path, data, self.height)

    def _auth_account(self, data: bytes) -> auth_query.QueryAccountResponse:
        address = auth_query.QueryAccountRequest.FromString(data).address
        acc = auth_pb2.BaseAccount(address=address, account_number=3, sequence=self.sequence)
        return auth_query.QueryAccountResponse(account=acc)

    def _auth_params(self, _: bytes) -> auth_query.QueryParamsResponse:
        return auth_query.QueryParamsResponse(params=auth_pb2.Params(fee_denom="usyn", min_gas_price=1))

    def _served_task(self) -> tasks_pb2.Task:
        """Task 1 as the chain shows it after block self.height: round 1's phases at their full length."""
        task = tasks_pb2.Task()
        task.CopyFrom(self.task)
        after = self.height + 1
        task.phase, task.phase_start_height = next(
            (phase, first) for phase, first, last in _ROUND_1 if after <= last or phase == _SCORE
        )
        return task

    def _tasks_tasks(self, _: bytes) -> tasks_query.QueryTasksResponse:
        finished = tasks_pb2.Task(id=2, status=tasks_pb2.TASK_STATUS_FINISHED)
        plain = tasks_pb2.Task(
            id=3, status=tasks_pb2.TASK_STATUS_RUNNING, schedule=tasks_pb2.Schedule(rounds=1)
        )
        return tasks_query.QueryTasksResponse(tasks=[self._served_task(), finished, plain])

    def _tasks_model(self, data: bytes) -> tasks_query.QueryModelResponse:
        req = tasks_query.QueryModelRequest.FromString(data)
        assert (req.task_id, req.round) == (1, 0)  # the global model of round 1 is checkpoint 0
        record = tasks_pb2.RoundRecord(task_id=1, round=0, model_hash=self.task.model_hash)
        return tasks_query.QueryModelResponse(round=record, weights=self.weights)

    def _tasks_update(self, data: bytes) -> tasks_query.QueryUpdateResponse:
        req = tasks_query.QueryUpdateRequest.FromString(data)
        if self.cleared:
            raise QueryFailed(f"no revealed update of {req.worker} in round 1 of task 1: not found", 38)
        update = self.updates[req.worker]
        reveal = self._reveal(req.worker)
        return tasks_query.QueryUpdateResponse(
            reveal=reveal, update=update + (b"!" if req.worker in self.corrupt else b"")
        )

    def _tasks_trace(self, data: bytes) -> tasks_query.QueryTraceResponse:
        req = tasks_query.QueryTraceRequest.FromString(data)
        return tasks_query.QueryTraceResponse(reveal=self._reveal(req.worker), trace=self.traces[req.worker])

    def _reveal(self, worker: str) -> tasks_pb2.Reveal:
        return tasks_pb2.Reveal(
            worker=worker,
            update_hash=hashlib.sha256(self.updates[worker]).digest(),
            trace_hash=hashlib.sha256(self.traces[worker]).digest(),
            num_samples=40 + WORKERS.index(worker),
            data_spec=f"wine:shard={WORKERS.index(worker)}/3" if self.task.trace.every_steps else "",
        )

    def _committee_params(self, _: bytes) -> committee_query.QueryParamsResponse:
        return committee_query.QueryParamsResponse(params=default_params())

    def _committee_committee(self, data: bytes) -> committee_query.QueryCommitteeResponse:
        req = committee_query.QueryCommitteeRequest.FromString(data)
        if (req.task_id, req.round) != (1, 1) or not self.committee.seats:
            raise QueryFailed("no committee for this task and round", 6)
        return committee_query.QueryCommitteeResponse(
            committee=self.committee, attestations=self.attestations, commitments=self.commitments
        )

    def _committee_params(self, _: bytes) -> committee_query.QueryParamsResponse:
        params = committee_pb2.Params(attest_reveal_blocks=self.reveal_blocks)
        return committee_query.QueryParamsResponse(params=params)

    def _committee_members(self, _: bytes) -> committee_query.QueryMembersResponse:
        member = committee_pb2.Member(operator=ME.address, faults=1)
        return committee_query.QueryMembersResponse(members=[member])

    def _committee_reputation(self, data: bytes) -> committee_query.QueryReputationResponse:
        req = committee_query.QueryReputationRequest.FromString(data)
        return committee_query.QueryReputationResponse(
            reputation=committee_pb2.Reputation(address=req.address, score_bps=5_625)
        )

    def _committee_scores(self, _: bytes) -> committee_query.QueryScoresResponse:
        if self.scores is None:
            raise QueryFailed("this round has not been judged yet", 12)
        return committee_query.QueryScoresResponse(scores=self.scores)

    def broadcast_tx_sync(self, raw: bytes) -> dict:
        txhash = hashlib.sha256(raw).hexdigest().upper()
        if self.reject is not None:
            codespace, code, log = self.reject
            return {"code": code, "codespace": codespace, "log": log, "hash": txhash}
        any_msg = decode_tx(raw).body.messages[0]
        if any_msg.type_url.endswith("MsgCommitAttestation"):
            self._commit(tx_pb2.MsgCommitAttestation.FromString(any_msg.value))
        else:
            self._attest(tx_pb2.MsgAttest.FromString(any_msg.value))
        self.sequence += 1
        self.included[txhash] = {"hash": txhash, "height": str(self.height), "tx_result": {"code": 0}}
        return {"code": 0, "hash": txhash}

    def _commit(self, msg: tx_pb2.MsgCommitAttestation) -> None:
        """MsgCommitAttestation, checked as the chain would (seat, once, 32 bytes)."""
        assert msg.attester in [s.operator for s in self.committee.seats]
        assert all(c.attester != msg.attester for c in self.commitments), "committed twice"
        assert len(msg.commitment) == 32
        self.height += 1
        self.commitments.append(
            committee_pb2.AttestationCommitment(
                task_id=msg.task_id,
                round=msg.round,
                attester=msg.attester,
                commitment=msg.commitment,
                height=self.height,
            )
        )

    def _attest(self, msg: tx_pb2.MsgAttest) -> None:
        """MsgAttest, checked as the chain would: it opens the sender's commitment."""
        assert [s.worker for s in msg.scores] == list(self.committee.workers)
        assert msg.attester in [s.operator for s in self.committee.seats]
        assert all(a.attester != msg.attester for a in self.attestations), "attested twice"
        (committed,) = [c.commitment for c in self.commitments if c.attester == msg.attester]
        opened = compute_attestation_commitment(
            decode_address(msg.attester), msg.task_id, msg.round, msg.salt, msg.baseline_bps, msg.scores
        )
        assert opened == committed, "the reveal does not open its commitment"
        self.height += 1
        self.attestations.append(
            committee_pb2.Attestation(
                task_id=msg.task_id,
                round=msg.round,
                attester=msg.attester,
                baseline_bps=msg.baseline_bps,
                scores=msg.scores,
                height=self.height,
                salt=msg.salt,
            )
        )

    def wait_for_tx(self, txhash: str, timeout: float = 0) -> dict:
        return self.included[txhash]


class FakeScorer:
    """Fixed scores; records what it was asked to score."""

    def __init__(self, spot_fail: tuple[str, ...] = ()) -> None:
        self.inputs: list[RoundInputs] = []
        self.spot_fail = spot_fail

    def warm_up(self, task: object) -> None:
        self.warmed = getattr(self, "warmed", 0) + 1

    def score(self, inputs: RoundInputs) -> RoundScore:
        self.inputs.append(inputs)
        scores = {w: 7_000 + 100 * i for i, w in enumerate(inputs.committee.workers)}
        return RoundScore(6_900, scores, {w: w in self.spot_fail for w in inputs.traces})


class NoScoring:
    """A scorer that must not be used."""

    def warm_up(self, task: object) -> None:
        raise AssertionError("warmed up although the attack skips evaluation")

    def score(self, inputs: RoundInputs) -> RoundScore:
        raise AssertionError("evaluated although the attack skips evaluation")


class ChainNode:
    """A CometRPC stand-in over a StakingChain's App: CheckTx on broadcast, one block per wait."""

    url = "http://chain-node"

    def __init__(self, chain) -> None:  # noqa: ANN001
        self.chain = chain
        self.mempool: list[bytes] = []
        self.included: dict[str, dict] = {}

    def status(self) -> dict:
        return {
            "sync_info": {"latest_block_height": str(self.chain.height)},
            "node_info": {"network": CHAIN_ID},
        }

    def abci_query(self, path: str, data: bytes, height: int = 0, prove: bool = False) -> dict:
        return abci_over_handlers(self.chain.abci, path, data, prove)

    def broadcast_tx_sync(self, raw: bytes) -> dict:
        r = self.chain.abci.check_tx(abci.RequestCheckTx(tx=raw))
        if r.code == 0:
            self.mempool.append(raw)
        return {"code": r.code, "codespace": r.codespace, "log": r.log, "hash": _hash(raw)}

    def wait_for_tx(self, txhash: str, timeout: float = 0) -> dict:
        txs, self.mempool = self.mempool, []
        resp = self.chain.block(txs)
        for raw, result in zip(txs, resp.tx_results, strict=True):
            self.included[_hash(raw)] = {
                "hash": _hash(raw),
                "height": str(self.chain.height),
                "tx_result": {"code": result.code, "codespace": result.codespace, "log": result.log},
            }
        return self.included[txhash]


def _hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest().upper()
