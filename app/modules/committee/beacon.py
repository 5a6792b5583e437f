"""The randomness beacon: every member's unique BLS signature on a height, combined into a seed.

How a seed is made (votes on height V, carried by block V+1):

1. ExtendVote at V: a member's node signs compute_share_message(chain id, V) with its BLS key and
   puts it in its vote extension (app/core/voteext.py, field beacon_share).
2. VerifyVoteExtension: a member's precommit is accepted only with its valid share
   (is_valid_extension). A member that withholds its share has its precommit rejected and is absent
   from that block, so the slashing module's downtime rule is the penalty for withholding.
3. PrepareProposal at V+1: the proposer puts a BeaconTx first, holding the shares of the members
   whose precommits its last commit holds (build_beacon_tx).
4. ProcessProposal at V+1: every validator checks it against the proposed last commit (check_beacon_tx).
5. FinalizeBlock at V+1: the shares are checked again and hashed into the seed (process_beacon_tx).

Due shares. A member owes a share for V if its precommit for V's block is in the last commit (flag
COMMIT) and it joined before V (since_height < V, so VerifyVoteExtension already required it). Each
due member has its entry or is *missing*. Missing members count as absent in that block's liveness
record, exactly as if the proposer had dropped their precommits, and the commit without them must
still hold more than 2/3 of the power (CometBFT's commit rule). So leaving a share out gives the
proposer no choice that dropping the precommit did not already give it. Why allow it at all:
CometBFT 0.38 adds precommits that arrive during timeout_commit to the last commit without calling
VerifyVoteExtension (cometbft#2361). If every due share were required, a Byzantine member could
send such a late precommit with a bad extension, and every honest proposal would then be rejected.

Residual bias of this per-member beacon (bench/beacon measures it): a proposer may leave out
shares while more than 2/3 of the power remains, choosing among up to 2^k seeds for k shares it can
leave out; adversarial members may likewise withhold their own shares after seeing the others'.

So it is only the bootstrap: it runs until the first threshold group exists (a DKG needs members,
and members need a chain to deal on), and committees are sampled from it only then. Once a group
serves the vote height's epoch (app/modules/committee/epochs.py) every extension's beacon_share is
instead the member's threshold share on the epoch message, and the beacon tx carries the group
signature (combined by the proposer from t + 1 valid shares) or nothing. The group signature is
the only one that verifies, so the seed does not depend on which shares arrive: a proposer can
delay it, never choose it. A group member's precommit is rejected for a false share, not for
none: withholding biases nothing, and requiring shares could halt the chain.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from app.core import bls, threshold, voteext
from app.core.codec import u64be
from app.core.errors import SynodError
from app.core.tx import parse_canonical
from app.modules.committee import epochs
from app.modules.committee.errors import ErrBadBeacon
from app.modules.committee.keeper import CommitteeKeeper
from app.state.kv import KVReader, KVStore
from synod.committee.v1 import beacon_pb2, committee_pb2

__all__ = [
    "BEACON_TX_PREFIX",
    "BeaconOutcome",
    "CommitVote",
    "build_beacon_tx",
    "check_beacon_tx",
    "compute_possession_message",
    "compute_seed",
    "compute_share_message",
    "decode_beacon_tx",
    "encode_beacon_tx",
    "encode_share",
    "is_beacon_height",
    "is_beacon_tx",
    "is_valid_extension",
    "parse_share",
    "process_beacon_tx",
]

SHARE_DOMAIN = b"synod/beacon/v1"
POSSESSION_DOMAIN = b"synod/committee/possession/v1"
SEED_DOMAIN = b"synod/beacon/seed/v1"
# Field number 0 is invalid protobuf, so a beacon tx never decodes as a TxRaw (CheckTx refuses it as
# malformed, and FinalizeBlock runs it as a tx only where it is not the block's beacon tx).
BEACON_TX_PREFIX = b"\x00synod/beacon/v1\x00"


@dataclass(frozen=True)
class CommitVote:
    """One validator of the previous height's set, as the last commit shows it."""

    address: bytes
    power: int
    committed: bool  # BLOCK_ID_FLAG_COMMIT: it precommitted the block, so its vote carries an extension
    extension: bytes = b""  # its vote extension (only PrepareProposal's local_last_commit has them)
    signature: bytes = b""  # CometBFT's ed25519 signature over the extension (likewise)


@dataclass(frozen=True)
class BeaconOutcome:
    """What a block's beacon tx produced: the new seed, and the due members it left out."""

    seed: committee_pb2.Seed | None  # None: a group-mode beacon tx that carried no signature
    missing: frozenset[bytes]


def compute_share_message(chain_id: str, height: int) -> bytes:
    """What a member signs for the beacon at height (its vote extension)."""
    return SHARE_DOMAIN + chain_id.encode() + b"\x00" + u64be(height)


def compute_possession_message(chain_id: str, operator: str) -> bytes:
    """What a validator signs with its BLS key to prove it holds it (MsgOptIn)."""
    return POSSESSION_DOMAIN + chain_id.encode() + b"\x00" + operator.encode()


def compute_seed(chain_id: str, vote_height: int, entries: Sequence[beacon_pb2.BeaconEntry]) -> bytes:
    """SHA-256 over the domain, chain id, vote height and each (address, share), in the given order."""
    chain = chain_id.encode()
    h = hashlib.sha256(SEED_DOMAIN + len(chain).to_bytes(2, "big") + chain + u64be(vote_height))
    for entry in entries:
        # Length prefixes keep the encoding unambiguous whatever the field sizes.
        h.update(bytes([len(entry.validator_address)]) + entry.validator_address)
        h.update(bytes([len(entry.signature)]) + entry.signature)
    return h.digest()


def is_beacon_tx(raw: bytes) -> bool:
    """True for bytes that claim to be a beacon tx (only a proposer may place one, first)."""
    return raw.startswith(BEACON_TX_PREFIX)


def is_beacon_height(enable_height: int, height: int) -> bool:
    """Does block `height` carry a beacon tx: yes once the votes on height - 1 were extended.

    enable_height is CometBFT's vote_extensions_enable_height raised to the chain's initial height
    (0: extensions off), so the first block never needs one (it has no last commit).
    """
    return enable_height > 0 and height - 1 >= enable_height


def encode_beacon_tx(tx: beacon_pb2.BeaconTx) -> bytes:
    """The wire bytes of a beacon tx: the magic prefix, then the deterministic proto encoding."""
    return BEACON_TX_PREFIX + tx.SerializeToString(deterministic=True)


def decode_beacon_tx(raw: bytes) -> beacon_pb2.BeaconTx:
    """Parse a beacon tx, rejecting a missing prefix, malformed or non-canonical bytes."""
    if not is_beacon_tx(raw):
        raise ErrBadBeacon.wrap("the bytes do not start with the beacon tx prefix")
    try:
        tx = parse_canonical(beacon_pb2.BeaconTx, raw[len(BEACON_TX_PREFIX) :], "beacon tx")
    except SynodError as e:
        raise ErrBadBeacon.wrap(str(e)) from None
    return tx


def encode_share(signature: bytes) -> bytes:
    """A vote extension carrying a beacon share and nothing else."""
    return voteext.encode_vote_extension(beacon_share=signature)


def parse_share(extension: bytes) -> bytes | None:
    """The share a vote extension carries: b"" if none, None if the extension or the share is malformed."""
    ext = voteext.parse_vote_extension(extension)
    if ext is None:
        return None
    share = ext.beacon_share
    return share if not share or len(share) == bls.SIGNATURE_LEN else None


def is_valid_extension(
    store: KVReader, keeper: CommitteeKeeper, chain_id: str, address: bytes, height: int, extension: bytes
) -> bool:
    """VerifyVoteExtension's rule: a member must send its valid share; others, nothing or a share."""
    share = parse_share(extension)
    if share is None:
        return False
    group, pending = epochs.get_pending_epoch(store, keeper, chain_id, height)
    if group is not None:
        return _is_valid_group_extension(pending, address, share)
    member = keeper.get_member_by_cons(store, address)
    if member is None or member.since_height >= height:
        return True  # a validator off committee duty may still run a key; its share is never used
    return bls.is_valid_signature(member.bls_pubkey, compute_share_message(chain_id, height), share)


def _is_valid_group_extension(pending: epochs.PendingEpoch | None, address: bytes, share: bytes) -> bool:
    """Group mode: a group member's share, if it sends one while the epoch's seed is missing, must be
    valid; others' shares are never used, so anything well-formed passes.

    An empty share is accepted: withholding cannot bias a unique signature, and refusing such
    precommits would halt the chain whenever more than a third of the power lacks its group share
    (a node that restarted without data/dkg_shares.json, or one still summing it just after a
    group forms). Fewer than t + 1 shares only delay the seed.
    """
    index = pending.get_index(address) if pending is not None else None
    if pending is None or index is None or not share:
        return True
    key = pending.group.verification_keys[index - 1]
    return threshold.is_valid_signature_share(key, pending.message, share)


def _build_group_tx(
    pending: epochs.PendingEpoch | None, vote_height: int, votes: Sequence[CommitVote]
) -> bytes:
    """PrepareProposal in group mode: the group signature from t + 1 valid committed shares, or none."""
    tx = beacon_pb2.BeaconTx(vote_height=vote_height)
    if pending is not None:
        shares: dict[int, bytes] = {}
        for vote in sorted(votes, key=lambda v: v.address):
            index = pending.get_index(vote.address)
            share = parse_share(vote.extension) if vote.committed and index is not None else None
            if index is None or not share or len(shares) > pending.group.threshold:
                continue
            # A late precommit's extension was never verified (cometbft#2361): check each.
            if _is_valid_group_extension(pending, vote.address, share):
                shares[index] = share
        if len(shares) > pending.group.threshold:
            tx.epoch = pending.epoch
            tx.group_signature = threshold.combine_shares(shares, pending.group.threshold)
    return encode_beacon_tx(tx)


def _verify_group_tx(pending: epochs.PendingEpoch | None, tx: beacon_pb2.BeaconTx) -> None:
    """A group-mode beacon tx: no entries, and either nothing or the pending epoch's group signature."""
    if tx.entries:
        raise ErrBadBeacon.wrap("once a threshold group serves, the beacon tx carries no per-member entries")
    if not tx.group_signature:
        if tx.epoch:
            raise ErrBadBeacon.wrap("a beacon tx without a group signature names no epoch")
        return
    if pending is None or tx.epoch != pending.epoch:
        want = "no epoch seed is due" if pending is None else f"epoch {pending.epoch} is due"
        raise ErrBadBeacon.wrap(f"the beacon tx signs epoch {tx.epoch}, but {want}")
    if not threshold.is_valid_group_signature(pending.group.public_key, pending.message, tx.group_signature):
        raise ErrBadBeacon.wrap(
            f"the group signature of epoch {tx.epoch} does not verify under group {pending.group.id}"
        )


def _due_members(
    store: KVReader, keeper: CommitteeKeeper, vote_height: int, votes: Sequence[CommitVote]
) -> dict[bytes, committee_pb2.Member]:
    """The members that owe a share for vote_height: they precommitted its block and joined before it."""
    due = {}
    for vote in votes:
        if not vote.committed:
            continue
        member = keeper.get_member_by_cons(store, vote.address)
        if member is not None and member.since_height < vote_height:
            due[vote.address] = member
    return due


def build_beacon_tx(
    store: KVReader, keeper: CommitteeKeeper, chain_id: str, vote_height: int, votes: Sequence[CommitVote]
) -> bytes:
    """PrepareProposal: the beacon tx of every due member whose extension is its valid share."""
    message = compute_share_message(chain_id, vote_height)
    extensions = {v.address: v.extension for v in votes}
    group, pending = epochs.get_pending_epoch(store, keeper, chain_id, vote_height)
    if group is not None:
        return _build_group_tx(pending, vote_height, votes)
    entries = []
    for address, member in sorted(_due_members(store, keeper, vote_height, votes).items()):
        share = parse_share(extensions[address])
        # A late precommit's extension was never verified (cometbft#2361): leave a bad one out.
        if share and bls.is_valid_signature(member.bls_pubkey, message, share):
            entries.append(beacon_pb2.BeaconEntry(validator_address=address, signature=share))
    return encode_beacon_tx(beacon_pb2.BeaconTx(vote_height=vote_height, entries=entries))


def _check_quorum(votes: Sequence[CommitVote], missing: frozenset[bytes]) -> None:
    """The commit without the missing members must hold > 2/3 of the power (as CometBFT counts it)."""
    total = sum(v.power for v in votes)
    kept = sum(v.power for v in votes if v.committed and v.address not in missing)
    if kept <= total * 2 // 3:
        raise ErrBadBeacon.wrap(
            f"with {len(missing)} due shares left out the commit keeps {kept} of {total} voting power; "
            "a beacon may leave out only shares whose precommits the commit could have done without"
        )


def _verify_beacon_tx(
    store: KVReader,
    keeper: CommitteeKeeper,
    chain_id: str,
    vote_height: int,
    tx: beacon_pb2.BeaconTx,
    votes: Sequence[CommitVote],
) -> frozenset[bytes]:
    """Check a beacon tx against the last commit; return the due members it leaves out."""
    if tx.vote_height != vote_height:
        raise ErrBadBeacon.wrap(f"beacon tx is for height {tx.vote_height}, the block needs {vote_height}")
    group, pending = epochs.get_pending_epoch(store, keeper, chain_id, vote_height)
    if group is not None:
        _verify_group_tx(pending, tx)
        return frozenset()
    if tx.epoch or tx.group_signature:
        raise ErrBadBeacon.wrap("no threshold group serves yet: the beacon tx carries per-member entries")
    due = _due_members(store, keeper, vote_height, votes)
    message = compute_share_message(chain_id, vote_height)
    previous = b""
    for entry in tx.entries:
        address = entry.validator_address
        if address <= previous:
            raise ErrBadBeacon.wrap("beacon entries must be sorted by validator address, each once")
        previous = address
        member = due.get(address)
        if member is None:
            raise ErrBadBeacon.wrap(
                f"validator {address.hex().upper()} owes no share for height {vote_height}: "
                "not a member whose precommit is in the last commit"
            )
        if not bls.is_valid_signature(member.bls_pubkey, message, entry.signature):
            raise ErrBadBeacon.wrap(f"the share of {address.hex().upper()} does not verify")
    missing = frozenset(due) - {e.validator_address for e in tx.entries}
    _check_quorum(votes, missing)
    return missing


def check_beacon_tx(
    store: KVReader,
    keeper: CommitteeKeeper,
    chain_id: str,
    height: int,
    txs: Sequence[bytes],
    votes: Sequence[CommitVote],
    required: bool,
) -> str | None:
    """ProcessProposal: None if the proposal's beacon tx (or its absence) is right, else the reason."""
    at = [i for i, raw in enumerate(txs) if is_beacon_tx(raw)]
    if not required:
        return f"block {height} may not carry a beacon tx (vote extensions were off)" if at else None
    if not at or at[0] != 0:
        return f"block {height} must start with the beacon tx of height {height - 1}"
    if len(at) > 1:
        return f"only the first tx may be a beacon tx (tx {at[1]} is one too)"
    try:
        _verify_beacon_tx(store, keeper, chain_id, height - 1, decode_beacon_tx(txs[0]), votes)
    except SynodError as e:
        return str(e)
    return None


def process_beacon_tx(
    store: KVStore,
    keeper: CommitteeKeeper,
    chain_id: str,
    height: int,
    raw: bytes,
    votes: Sequence[CommitVote],
) -> BeaconOutcome:
    """FinalizeBlock: verify block `height`'s beacon tx and store the new seed; ErrBadBeacon if invalid."""
    tx = decode_beacon_tx(raw)
    missing = _verify_beacon_tx(store, keeper, chain_id, height - 1, tx, votes)
    if tx.group_signature:
        group, _ = epochs.get_pending_epoch(store, keeper, chain_id, height - 1)
        group_seed = committee_pb2.Seed(
            height=height,
            vote_height=tx.vote_height,
            seed=epochs.compute_group_seed(tx.group_signature),
            epoch=tx.epoch,
            group_id=group.id if group is not None else 0,
            signature=tx.group_signature,
        )
        keeper.set_epoch_seed(store, group_seed)
        return BeaconOutcome(group_seed, missing)
    if epochs.get_pending_epoch(store, keeper, chain_id, height - 1)[0] is not None:
        return BeaconOutcome(None, missing)
    seed = committee_pb2.Seed(
        height=height,
        vote_height=tx.vote_height,
        seed=compute_seed(chain_id, tx.vote_height, tx.entries),
        shares=len(tx.entries),
    )
    keeper.set_seed(store, seed)
    return BeaconOutcome(seed, missing)
