"""Drive SynodApp through its ABCI handlers, as CometBFT would, with deterministic keys.

With `beacon_keys` ({consensus address: BLS secret}) the chain runs with vote extensions on from
height 1: every block after the first goes through PrepareProposal and ProcessProposal with a last
commit in which each key's validator precommitted the previous height with its beacon share, so it
starts with the beacon tx. Genesis must make those validators committee members (`app_state`,
`member_json`) for their shares to count.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from app.abci.handlers import AbciHandlers
from app.app import SynodApp
from app.client.querier import collect_pages
from app.client.txbuilder import DEFAULT_GAS, build_tx, msg_send
from app.core import bls
from app.core.coins import Coins
from app.core.crypto import PrivateKey
from app.core.voteext import compute_extension_sign_bytes, encode_vote_extension
from app.modules.committee.beacon import compute_share_message
from app.modules.services import get_service
from app.state.backend import Backend, MemoryBackend
from synod.consensus.v1 import ensemble_pb2
from tendermint.abci import types_pb2 as abci
from tendermint.types import validator_pb2

CHAIN_ID = "synod-test"
GENESIS_TIME = 1_700_000_000
DENOM = "usyn"


def test_key(name: str) -> PrivateKey:
    """A deterministic key per name."""
    return PrivateKey.from_seed(hashlib.sha256(b"synod-test-key:" + name.encode()).digest())


test_key.__test__ = False  # a helper, not a test, whatever pytest's name matching says


def test_bls_key(name: str) -> bytes:
    """A deterministic BLS secret per name (a node's config/bls_key.json in tests)."""
    return bls.generate_key(hashlib.sha256(b"synod-test-bls:" + name.encode()).digest())


test_bls_key.__test__ = False


def member_json(operator: str, cons_address: bytes, bls_secret: bytes, since_height: int = 0) -> dict:
    """One committee.v1.Member of genesis app_state["committee"]["members"] (proto3 JSON)."""
    return {
        "operator": operator,
        "cons_address": base64.b64encode(cons_address).decode(),
        "bls_pubkey": base64.b64encode(bls.public_key(bls_secret)).decode(),
        "since_height": str(since_height),
    }


def genesis_app_state(balances: dict[str, int], extra: dict | None = None) -> bytes:
    """app_state JSON funding each named test key, plus other modules' sections (extra)."""
    return json.dumps(
        {
            "bank": {
                "balances": [
                    {"address": test_key(n).address, "coins": [{"denom": DENOM, "amount": str(a)}]}
                    for n, a in sorted(balances.items())
                ]
            },
            **(extra or {}),
        }
    ).encode()


def beacon_votes(
    keys: dict[bytes, bytes],
    vote_height: int,
    powers: dict[bytes, int] | None = None,
    vote_keys: dict[bytes, PrivateKey] | None = None,
    answers: dict[bytes, dict[int, bytes]] | None = None,
    shares: dict[bytes, bytes] | None = None,
) -> list[abci.ExtendedVoteInfo]:
    """An extended last commit in which every key's validator precommitted with its beacon share,
    plus its fast-path answers ({query id: predictions}), signed as CometBFT signs extensions (round
    0) by its consensus key where vote_keys has one. `shares` replaces the beacon share of the
    validators it names (threshold shares once a group serves)."""
    message = compute_share_message(CHAIN_ID, vote_height)
    votes = []
    for address, secret in sorted(keys.items()):
        answered = sorted((answers or {}).get(address, {}).items())
        share = (shares or {}).get(address)
        extension = encode_vote_extension(
            bls.sign(secret, message) if share is None else share,
            [ensemble_pb2.EnsembleAnswer(query_id=q, predictions=p) for q, p in answered],
        )
        key = (vote_keys or {}).get(address)
        signature = (
            key.sign(compute_extension_sign_bytes(CHAIN_ID, vote_height, 0, extension)) if key else b""
        )
        votes.append(
            abci.ExtendedVoteInfo(
                validator=abci.Validator(address=address, power=(powers or {}).get(address, 1)),
                vote_extension=extension,
                extension_signature=signature,
                block_id_flag=validator_pb2.BLOCK_ID_FLAG_COMMIT,
            )
        )
    return votes


def query_abci(
    handlers: AbciHandlers, module: str, method: str, request: Message, prove: bool = False
) -> Any:
    """A module query over ABCI Query at its service path (all pages of a list); it must succeed."""
    service = get_service(module)

    def page(r: Message) -> tuple[Message, int]:
        answer = handlers.query(
            abci.RequestQuery(path=service.path(method), data=r.SerializeToString(), prove=prove)
        )
        assert answer.code == 0, answer.log
        return service.response_class(method).FromString(answer.value), answer.height

    return collect_pages(page, request, service.path(method))


@dataclass
class Chain:
    """A single-node chain driven block by block through the ABCI handlers."""

    backend: Backend = field(default_factory=MemoryBackend)
    check_invariants: bool = True
    height: int = 0
    # {consensus address: BLS secret} of the validators whose shares every block carries (see above).
    beacon_keys: dict[bytes, bytes] = field(default_factory=dict)
    # Their voting power in the last commit (default 1 each).
    beacon_powers: dict[bytes, int] = field(default_factory=dict)
    # Their consensus keys, which sign their vote extensions (the fast path checks the signatures).
    vote_keys: dict[bytes, PrivateKey] = field(default_factory=dict)
    # Fast-path answers each validator's next precommit carries: {address: {query id: predictions}}.
    answers: dict[bytes, dict[int, bytes]] = field(default_factory=dict)
    # Once a threshold group serves: {vote height -> {address: beacon share}} for the next precommits.
    share_source: Callable[[int], dict[bytes, bytes]] | None = None

    def __post_init__(self) -> None:
        self.app = SynodApp(self.backend, check_invariants=self.check_invariants)
        self.abci = AbciHandlers(self.app)
        self.sequences: dict[str, int] = {}
        self.fees_paid: dict[str, int] = {}  # by Chain.tx, which pays gas x 1usyn

    def ask(self, module: str, method: str, request: Message) -> Any:
        """A module query over ABCI (all pages of a list); it must succeed."""
        return query_abci(self.abci, module, method, request)

    def init(self, balances: dict[str, int], app_state: dict | None = None) -> bytes:
        """InitChain with funded test keys (and other modules' genesis) and an empty block 1;
        returns the genesis app hash. Vote extensions are on from height 1 with beacon keys."""
        req = abci.RequestInitChain(
            chain_id=CHAIN_ID,
            app_state_bytes=genesis_app_state(balances, app_state),
            initial_height=1,
            time=Timestamp(seconds=GENESIS_TIME),
        )
        if self.beacon_keys:
            req.consensus_params.abci.vote_extensions_enable_height = 1
        resp = self.abci.init_chain(req)
        self.block([])
        return resp.app_hash

    def finalize(self, txs: list[bytes]) -> abci.ResponseFinalizeBlock:
        """FinalizeBlock for the next height (no Commit); with beacon keys, proposed and checked first."""
        h = self.app.store.height + 1
        votes = (
            beacon_votes(
                self.beacon_keys,
                h - 1,
                self.beacon_powers,
                self.vote_keys,
                self.answers,
                self.share_source(h - 1) if self.share_source is not None else None,
            )
            if h > 1
            else []
        )
        commit = [abci.VoteInfo(validator=v.validator, block_id_flag=v.block_id_flag) for v in votes]
        if self.beacon_keys:
            txs = self.propose(h, txs, votes)
        return self.abci.finalize_block(
            abci.RequestFinalizeBlock(
                height=h,
                txs=txs,
                time=Timestamp(seconds=GENESIS_TIME + h, nanos=h * 1000),
                decided_last_commit=abci.CommitInfo(votes=commit),
            )
        )

    def prepare(
        self,
        votes: list[abci.ExtendedVoteInfo],
        txs: list[bytes] | tuple[bytes, ...] = (),
        height: int = 0,
        max_tx_bytes: int = 1 << 20,
    ) -> list[bytes]:
        """PrepareProposal's txs for height (default: the next) over txs and this extended last commit."""
        req = abci.RequestPrepareProposal(
            height=height or self.app.store.height + 1,
            txs=list(txs),
            max_tx_bytes=max_tx_bytes,
            local_last_commit=abci.ExtendedCommitInfo(votes=votes),
        )
        return list(self.abci.prepare_proposal(req).txs)

    def process(self, txs: list[bytes], votes: list[abci.ExtendedVoteInfo], height: int = 0) -> int:
        """ProcessProposal's status for height (default: the next) with the last commit of votes."""
        commit = abci.CommitInfo(
            votes=[abci.VoteInfo(validator=v.validator, block_id_flag=v.block_id_flag) for v in votes]
        )
        req = abci.RequestProcessProposal(
            height=height or self.app.store.height + 1, txs=txs, proposed_last_commit=commit
        )
        return self.abci.process_proposal(req).status

    def propose(self, height: int, txs: list[bytes], votes: list[abci.ExtendedVoteInfo]) -> list[bytes]:
        """PrepareProposal over txs with this extended last commit; ProcessProposal must accept it."""
        prepared = self.prepare(votes, txs, height, max_tx_bytes=1 << 40)  # no byte limit
        status = self.process(prepared, votes, height)
        assert status == abci.ResponseProcessProposal.ACCEPT, "ProcessProposal rejected (see log)"
        return prepared

    def block(self, txs: list[bytes]) -> abci.ResponseFinalizeBlock:
        """FinalizeBlock + Commit."""
        resp = self.finalize(txs)
        self.abci.commit(abci.RequestCommit())
        return resp

    def resync_sequences(self) -> None:
        """Reload tracked sequences from committed state (a tx that failed before the ante left none)."""
        from app.core.crypto import decode_address

        for name in self.sequences:
            acc = self.app.auth.get_account(self.app.store.view, decode_address(test_key(name).address))
            self.sequences[name] = acc.sequence if acc is not None else 0

    def account_number(self, name: str) -> int:
        """Account number of a test key from committed state."""
        from app.core.crypto import decode_address

        acc = self.app.auth.get_account(self.app.store.view, decode_address(test_key(name).address))
        assert acc is not None, f"{name} has no account"
        return acc.account_number

    def send(
        self, sender: str, recipient_address: str, amount: int, *, sequence: int | None = None, **kw
    ) -> bytes:
        """A signed MsgSend from a test key, tracking sequences locally."""
        seq = self.sequences.get(sender, 0) if sequence is None else sequence
        self.sequences[sender] = seq + 1
        key = test_key(sender)
        kw.setdefault("fee", Coins.of([(DENOM, DEFAULT_GAS)]))
        kw.setdefault("chain_id", CHAIN_ID)
        if "account_number" not in kw:
            kw["account_number"] = self.account_number(sender)
        return build_tx(
            key,
            [msg_send(key.address, recipient_address, Coins.of([(DENOM, amount)]))],
            sequence=seq,
            **kw,
        )

    def tx(self, sender: str, msgs: list, gas: int = DEFAULT_GAS) -> bytes:
        """A signed tx of any messages from a test key, paying gas x 1usyn, tracking sequences."""
        seq = self.sequences.get(sender, 0)
        self.sequences[sender] = seq + 1
        self.fees_paid[sender] = self.fees_paid.get(sender, 0) + gas
        return build_tx(
            test_key(sender),
            msgs,
            chain_id=CHAIN_ID,
            account_number=self.account_number(sender),
            sequence=seq,
            fee=Coins.of([(DENOM, gas)]),
            gas_limit=gas,
        )

    def balance(self, address: str) -> int:
        """Committed usyn balance."""
        from app.core.crypto import decode_address

        return self.app.bank.get_balance(self.app.store.view, decode_address(address), DENOM)
