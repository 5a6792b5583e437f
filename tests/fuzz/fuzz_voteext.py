"""Fuzz target `voteext`: vote extensions and the beacon and ensemble txs a proposer builds from them.

One of three operations, on the shared chain (tests/fuzz/chain.py: vote extensions on, a fast query
pending, so the next block is due a beacon tx and an ensemble tx):

- parse and VerifyVoteExtension a fuzzed extension (raw, or a real one with fields edited);
- ProcessProposal a block whose txs[0]/txs[1] are edited beacon/ensemble txs, then FinalizeBlock it;
- PrepareProposal over a last commit whose extensions, signatures, powers and flags are fuzzed
  (re-signed with the validator's consensus key, so they pass the signature check), then
  ProcessProposal the result.

Invariants: nothing raises; ProcessProposal and VerifyVoteExtension answer ACCEPT or REJECT (never
UNKNOWN, which panics CometBFT); PrepareProposal answers a list of byte strings; FinalizeBlock gives
one registered result per tx and keeps the app's invariants. And one consistency rule: where every
precommit's extension passed VerifyVoteExtension and carries its validator's signature (what CometBFT
guarantees of an extended commit), the proposer's own block must pass ProcessProposal.
"""

from __future__ import annotations

import atheris

from app.core.errors import registered
from app.core.voteext import compute_extension_sign_bytes, parse_vote_extension
from app.modules.committee import beacon
from app.modules.consensus import ensemble
from synod.committee.v1 import beacon_pb2
from synod.consensus.v1 import ensemble_pb2
from tendermint.abci import types_pb2 as abci
from tendermint.types import validator_pb2
from tests.fuzz.chain import CHAIN_ID, VALIDATORS, FuzzChain, get_chain, vote_key
from tests.fuzz.protofill import mutate
from tests.integration.staking_harness import cons_address

__all__ = ["test_one_input"]

ACCEPT, REJECT = abci.ResponseProcessProposal.ACCEPT, abci.ResponseProcessProposal.REJECT
_KEYS = {cons_address(n): vote_key(n) for n in VALIDATORS}
_REGISTERED = set(registered())


def _blobs(chain: FuzzChain) -> list[bytes]:
    """Byte values worth planting: addresses, real extensions and their shares."""
    exts = [bytes(v.vote_extension) for v in chain.votes]
    shares = [ensemble_pb2.VoteExtension.FromString(e).beacon_share for e in exts]
    return [*_KEYS, *exts, *shares, b"\x00" * 96]


def _extension(fdp: atheris.FuzzedDataProvider, chain: FuzzChain, base: bytes) -> bytes:
    """A fuzzed extension: raw bytes, or base's VoteExtension with fields edited."""
    if fdp.ConsumeIntInRange(0, 3) == 3:
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 512))
    ext = ensemble_pb2.VoteExtension.FromString(base)
    return mutate(fdp, ext, (), _blobs(chain)).SerializeToString(deterministic=True)


def _verify(fdp: atheris.FuzzedDataProvider, chain: FuzzChain) -> None:
    """Parse and verify one fuzzed extension of a (mostly real) validator."""
    vote = chain.votes[fdp.ConsumeIntInRange(0, len(chain.votes) - 1)]
    raw = _extension(fdp, chain, bytes(vote.vote_extension))
    parsed = parse_vote_extension(raw)
    assert parsed is None or isinstance(parsed, ensemble_pb2.VoteExtension)
    address = bytes(vote.validator.address) if fdp.ConsumeIntInRange(0, 7) else fdp.ConsumeBytes(20)
    height = chain.next_height - 1 if fdp.ConsumeIntInRange(0, 7) else fdp.ConsumeIntInRange(-1, 2**63 - 1)
    req = abci.RequestVerifyVoteExtension(validator_address=address, height=height, vote_extension=raw)
    status = chain.chain.abci.verify_vote_extension(req).status
    assert status in (ACCEPT, REJECT), f"VerifyVoteExtension answered {status}"


def _edit_special(fdp: atheris.FuzzedDataProvider, chain: FuzzChain, raw: bytes) -> bytes:
    """An edited beacon or ensemble tx (same prefix, proto fields changed), or raw bytes after it."""
    is_beacon = beacon.is_beacon_tx(raw)
    prefix = beacon.BEACON_TX_PREFIX if is_beacon else ensemble.ENSEMBLE_TX_PREFIX
    if fdp.ConsumeIntInRange(0, 3) == 3:
        return prefix + fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 512))
    cls = beacon_pb2.BeaconTx if is_beacon else ensemble_pb2.EnsembleTx
    tx = cls.FromString(raw[len(prefix) :])
    return prefix + mutate(fdp, tx, (), _blobs(chain)).SerializeToString(deterministic=True)


def _propose(fdp: atheris.FuzzedDataProvider, chain: FuzzChain) -> None:
    """ProcessProposal and FinalizeBlock of a block with edited proposer txs."""
    txs = list(chain.prefix)
    for i in range(len(txs)):
        if fdp.ConsumeBool():
            txs[i] = _edit_special(fdp, chain, txs[i])
    if fdp.ConsumeIntInRange(0, 7) == 0:
        txs.reverse()
    req = abci.RequestProcessProposal(
        height=chain.next_height, txs=txs, proposed_last_commit=chain.commit_info()
    )
    status = chain.chain.abci.process_proposal(req).status
    assert status in (ACCEPT, REJECT), f"ProcessProposal answered {status}"
    _finalize(chain, txs)


def _finalize(chain: FuzzChain, txs: list[bytes]) -> None:
    """FinalizeBlock (staged only): one registered result per tx."""
    resp = chain.finalize(txs)
    assert len(resp.tx_results) == len(txs)
    for r in resp.tx_results:
        assert r.code == 0 or (r.codespace, r.code) in _REGISTERED, (
            f"unregistered code {r.codespace}/{r.code}"
        )
    chain.app.reload()


def _fuzzed_vote(
    fdp: atheris.FuzzedDataProvider, chain: FuzzChain, vote: abci.ExtendedVoteInfo
) -> tuple[abci.ExtendedVoteInfo, bool]:
    """A copy of vote with a fuzzed extension (signed), power or flag; and whether CometBFT could send it."""
    out = abci.ExtendedVoteInfo()
    out.CopyFrom(vote)
    address = bytes(vote.validator.address)
    vote_height = chain.next_height - 1
    if fdp.ConsumeBool():
        out.vote_extension = _extension(fdp, chain, bytes(vote.vote_extension))
        sign_bytes = compute_extension_sign_bytes(CHAIN_ID, vote_height, 0, out.vote_extension)
        out.extension_signature = _KEYS[address].sign(sign_bytes)
    if fdp.ConsumeIntInRange(0, 7) == 7:
        out.extension_signature = fdp.ConsumeBytes(64)
    if fdp.ConsumeIntInRange(0, 7) == 7:
        out.validator.power = fdp.ConsumeIntInRange(-(2**63), 2**63 - 1)
    if fdp.ConsumeIntInRange(0, 7) == 7:
        out.block_id_flag = fdp.ConsumeIntInRange(0, 4)  # type: ignore[assignment]
    possible = (
        out.block_id_flag == validator_pb2.BLOCK_ID_FLAG_COMMIT
        and out.validator.power == vote.validator.power
        and out.extension_signature
        == _KEYS[address].sign(compute_extension_sign_bytes(CHAIN_ID, vote_height, 0, out.vote_extension))
        and chain.app.verify_vote_extension(address, vote_height, bytes(out.vote_extension))
    )
    return out, possible


def _prepare(fdp: atheris.FuzzedDataProvider, chain: FuzzChain) -> None:
    """PrepareProposal over a fuzzed extended commit; ProcessProposal of what it built."""
    votes, possible = [], True
    for vote in chain.votes:
        fuzzed, ok = _fuzzed_vote(fdp, chain, vote)
        votes.append(fuzzed)
        possible = possible and ok
    max_bytes = 1 << 20 if fdp.ConsumeIntInRange(0, 7) else fdp.ConsumeIntInRange(-1, 1 << 20)
    req = abci.RequestPrepareProposal(
        height=chain.next_height,
        max_tx_bytes=max_bytes,
        local_last_commit=abci.ExtendedCommitInfo(votes=votes),
    )
    txs = list(chain.chain.abci.prepare_proposal(req).txs)
    assert all(isinstance(t, bytes) for t in txs)
    commit = abci.CommitInfo(
        votes=[abci.VoteInfo(validator=v.validator, block_id_flag=v.block_id_flag) for v in votes]
    )
    status = chain.chain.abci.process_proposal(
        abci.RequestProcessProposal(height=chain.next_height, txs=txs, proposed_last_commit=commit)
    ).status
    assert status in (ACCEPT, REJECT), f"ProcessProposal answered {status}"
    assert status == ACCEPT or not possible, "ProcessProposal rejects the block an honest proposer built"
    decided = abci.RequestFinalizeBlock(height=chain.next_height, txs=txs, decided_last_commit=commit)
    resp = chain.chain.abci.finalize_block(decided)
    assert len(resp.tx_results) == len(txs)
    chain.app.reload()


def test_one_input(data: bytes) -> None:
    """Pick an operation and run it."""
    fdp = atheris.FuzzedDataProvider(data)
    chain = get_chain()
    op = fdp.ConsumeIntInRange(0, 2)
    (_verify, _propose, _prepare)[op](fdp, chain)
