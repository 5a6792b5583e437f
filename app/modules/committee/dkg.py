"""Joint-Feldman distributed key generation among the committee members, on chain.

A DKG starts in an end-block (at most one in progress) whenever the members that should hold the
group key (the top max_dkg_members members by last voting power, then in operator address order;
member i + 1 is the one at position i) differ from the latest group's. With P = dkg_phase_blocks
and the DKG starting at height s:

- deal [s, s+P): each member posts MsgDeal: Feldman commitments to a random degree-t polynomial
  and, for every member j, f(j) sealed to j's key (off-chain: app/node/dkgtask.py).
- complain [s+P, s+2P): a member whose share does not open or does not match the commitments
  posts MsgComplain against that dealer.
- justify [s+2P, s+3P): the dealer answers each complaint with the share in clear (MsgJustify);
  the chain checks it against the commitments.
- the end-block of s+3P-1 finalizes: the qualified dealers are those that dealt and answered
  every complaint. With at least t + 1 of them (so at least one is honest, keeping f(0) secret),
  their commitments sum into the group key and every member's verification key, and the group
  serves every epoch that starts from the next height on. With fewer the DKG fails; the next
  check starts another.

t = compute_threshold(n) = floor((n - 1) / 3). A DKG's dealings and complaints are deleted when the
next DKG ends.
"""

from __future__ import annotations

from app.core import threshold
from app.core.context import Context
from app.core.events import EventManager
from app.core.msgs import MsgRoute, decode_address_field
from app.modules.committee.errors import (
    ErrAlreadyDealt,
    ErrBadComplaint,
    ErrBadDealing,
    ErrBadJustification,
    ErrDkgPhase,
    ErrNoDkg,
    ErrNotDkgMember,
)
from app.modules.committee.expected import CommitteeStaking
from app.modules.committee.keeper import CommitteeKeeper
from app.modules.committee.params import MAX_DKG_MEMBERS
from app.state.kv import KVReader, KVStore
from synod.committee.v1 import committee_pb2, tx_pb2

__all__ = [
    "DEAL",
    "COMPLAIN",
    "JUSTIFY",
    "SEALED_SHARE_LEN",
    "SHARE_LEN",
    "compute_dkg_members",
    "compute_phase",
    "compute_qualified",
    "form_group",
    "process_dkg_end_block",
    "routes",
]

DEAL, COMPLAIN, JUSTIFY = "deal", "complain", "justify"
SHARE_LEN = 32
SEALED_SHARE_LEN = threshold.SEALED_SHARE_LEN


def compute_phase(dkg: committee_pb2.Dkg, phase_blocks: int, height: int) -> str | None:
    """The DKG phase that height falls in, or None (before it starts, or after its justify phase)."""
    offset = height - dkg.start_height
    if offset < 0 or offset >= 3 * phase_blocks:
        return None
    return (DEAL, COMPLAIN, JUSTIFY)[offset // phase_blocks]


def compute_dkg_members(
    members: list[tuple[bytes, committee_pb2.Member]], powers: dict[bytes, int], limit: int
) -> list[committee_pb2.DkgMember]:
    """The members that should hold the group key: the `limit` largest by power (ties by address),
    then in operator address order. Members with no power (jailed, unbonded) are left out."""
    ranked = sorted(
        ((powers.get(op, 0), op, m) for op, m in members if powers.get(op, 0) > 0),
        key=lambda x: (-x[0], x[1]),
    )[:limit]
    chosen = sorted(ranked, key=lambda x: x[1])
    return [
        committee_pb2.DkgMember(operator=m.operator, cons_address=m.cons_address, bls_pubkey=m.bls_pubkey)
        for _, _, m in chosen
    ]


def compute_qualified(dealers: list[int], complaints: list[committee_pb2.Complaint]) -> list[int]:
    """Dealers that dealt and justified every complaint against them, in index order."""
    bad = {c.dealer for c in complaints if not c.justified}
    return sorted(d for d in dealers if d not in bad)


def form_group(
    dkg: committee_pb2.Dkg, dealings: list[committee_pb2.Dealing], qualified: list[int], height: int
) -> committee_pb2.Group:
    """The group the qualified dealings make: the summed commitments give its key and each member's
    verification key (n evaluations of t + 1 points at small indices)."""
    chosen = {d.dealer: list(d.commitments) for d in dealings}
    # MsgDeal decoded every commitment when it was posted.
    aggregate = threshold.compute_aggregate_commitments([chosen[q] for q in qualified], checked=True)
    return committee_pb2.Group(
        id=dkg.id,
        activation_height=height + 1,
        members=dkg.members,
        threshold=dkg.threshold,
        public_key=aggregate[0],
        verification_keys=threshold.compute_public_shares(aggregate, len(dkg.members)),
        qualified=qualified,
    )


def _finalize(
    store: KVStore, k: CommitteeKeeper, dkg: committee_pb2.Dkg, height: int, events: EventManager
) -> None:
    """End a DKG whose justify phase is over: form its group, or record that it failed."""
    dealings = list(k.iterate_dealings(store, dkg.id))
    qualified = compute_qualified([d.dealer for d in dealings], list(k.iterate_complaints(store, dkg.id)))
    # The previous DKG's records go now; this one's stay until the next ends, so its members can
    # read the justified shares and their dealings after the group forms.
    k.clear_dkg_records(store, dkg.id - 1)
    k.set_dkg(store, None)
    if len(qualified) < dkg.threshold + 1:
        events.emit("dkg_failed", dkg_id=dkg.id, qualified=len(qualified), needed=dkg.threshold + 1)
        return
    group = form_group(dkg, dealings, qualified, height)
    k.set_group(store, group)
    events.emit(
        "dkg_completed",
        dkg_id=dkg.id,
        members=len(group.members),
        threshold=group.threshold,
        qualified=",".join(map(str, qualified)),
        public_key=group.public_key.hex(),
    )


def _maybe_start(
    store: KVStore, k: CommitteeKeeper, staking: CommitteeStaking, height: int, events: EventManager
) -> None:
    """Start a DKG if the members that should hold the key differ from the latest group's."""
    params = k.get_params(store)
    wanted = compute_dkg_members(
        list(k.iterate_members(store)), staking.get_last_powers(store), params.max_dkg_members
    )
    group = k.get_group(store)
    if not wanted or (group is not None and list(group.members) == wanted):
        return
    dkg = committee_pb2.Dkg(
        id=k.take_dkg_id(store),
        start_height=height + 1,
        members=wanted,
        threshold=threshold.compute_threshold(len(wanted)),
    )
    k.set_dkg(store, dkg)
    events.emit("dkg_started", dkg_id=dkg.id, members=len(wanted), threshold=dkg.threshold, start=height + 1)


def process_dkg_end_block(
    store: KVStore, k: CommitteeKeeper, staking: CommitteeStaking, height: int, events: EventManager
) -> None:
    """End-block: finalize a DKG whose justify phase ends here; check the member set once per phase
    length (a scan of the members, at most staking's max_validators) and start a DKG where needed."""
    phase_blocks = k.get_params(store).dkg_phase_blocks
    dkg = k.get_dkg(store)
    if dkg is not None and height >= dkg.start_height + 3 * phase_blocks - 1:
        _finalize(store, k, dkg, height, events)
        dkg = None
    if dkg is None and height % phase_blocks == 0:
        _maybe_start(store, k, staking, height, events)


def _member_index(dkg: committee_pb2.Dkg, operator: str) -> int:
    """The 1-based index of operator in the DKG, or ErrNotDkgMember."""
    for i, m in enumerate(dkg.members):
        if m.operator == operator:
            return i + 1
    raise ErrNotDkgMember.wrap(f"{operator} is not among the {len(dkg.members)} members of DKG {dkg.id}")


def _require_phase(
    k: CommitteeKeeper, store: KVReader, dkg_id: int, phase: str, height: int
) -> committee_pb2.Dkg:
    """The DKG in progress with this id, in this phase at height (else ErrNoDkg / ErrDkgPhase)."""
    dkg = k.get_dkg(store)
    if dkg is None or dkg.id != dkg_id:
        now = "none is" if dkg is None else f"DKG {dkg.id} is"
        raise ErrNoDkg.wrap(f"DKG {dkg_id} is not in progress ({now}; see `synod query committee dkg`)")
    at = compute_phase(dkg, k.get_params(store).dkg_phase_blocks, height)
    if at != phase:
        raise ErrDkgPhase.wrap(
            f"DKG {dkg_id} is in its {at or 'closing'} phase at height {height}, not {phase}"
        )
    return dkg


def validate_deal(msg: tx_pb2.MsgDeal) -> None:
    """Stateless checks of MsgDeal: sizes before anything is decoded."""
    decode_address_field(msg.dealer, "dealer")
    if not 1 <= len(msg.commitments) <= MAX_DKG_MEMBERS or len(msg.encrypted_shares) > MAX_DKG_MEMBERS:
        raise ErrBadDealing.wrap(f"a dealing has 1 to {MAX_DKG_MEMBERS} commitments and shares")
    if any(len(c) != threshold.G1_LEN for c in msg.commitments):
        raise ErrBadDealing.wrap(f"each commitment is a {threshold.G1_LEN}-byte compressed G1 point")
    if any(len(s) != SEALED_SHARE_LEN for s in msg.encrypted_shares):
        raise ErrBadDealing.wrap(
            f"each encrypted share is {SEALED_SHARE_LEN} bytes (threshold.compute_sealed_share)"
        )


def _deal(k: CommitteeKeeper, ctx: Context, msg: tx_pb2.MsgDeal) -> None:
    """Record a dealing: t + 1 valid commitments and one sealed share per member."""
    dkg = _require_phase(k, ctx.store, msg.dkg_id, DEAL, ctx.block.height)
    dealer = _member_index(dkg, msg.dealer)
    if k.get_dealing(ctx.store, dkg.id, dealer) is not None:
        raise ErrAlreadyDealt.wrap(f"member {dealer} already dealt in DKG {dkg.id}")
    if len(msg.commitments) != dkg.threshold + 1 or len(msg.encrypted_shares) != len(dkg.members):
        raise ErrBadDealing.wrap(
            f"DKG {dkg.id} needs {dkg.threshold + 1} commitments and {len(dkg.members)} encrypted shares"
        )
    for i, c in enumerate(msg.commitments):
        point = threshold.decode_g1(c)
        if point is None or c == threshold.IDENTITY_G1:
            raise ErrBadDealing.wrap(f"commitment {i} is not a canonical non-identity G1 point")
    k.set_dealing(
        ctx.store,
        committee_pb2.Dealing(
            dkg_id=dkg.id, dealer=dealer, commitments=msg.commitments, encrypted_shares=msg.encrypted_shares
        ),
    )
    ctx.events.emit("dkg_deal", dkg_id=dkg.id, dealer=dealer)


def validate_complain(msg: tx_pb2.MsgComplain) -> None:
    """Stateless checks of MsgComplain."""
    decode_address_field(msg.complainer, "complainer")
    if msg.dealer == 0:
        raise ErrBadComplaint.wrap("dealer is a 1-based member index")


def _complain(k: CommitteeKeeper, ctx: Context, msg: tx_pb2.MsgComplain) -> None:
    """Record a member's complaint against a dealer's share to it (once per pair)."""
    dkg = _require_phase(k, ctx.store, msg.dkg_id, COMPLAIN, ctx.block.height)
    complainer = _member_index(dkg, msg.complainer)
    if msg.dealer == complainer or k.get_dealing(ctx.store, dkg.id, msg.dealer) is None:
        raise ErrBadComplaint.wrap(f"member {msg.dealer} has no dealing to complain about, or it is yours")
    if k.get_complaint(ctx.store, dkg.id, msg.dealer, complainer) is not None:
        raise ErrBadComplaint.wrap(f"member {complainer} already complained about dealer {msg.dealer}")
    k.set_complaint(
        ctx.store, committee_pb2.Complaint(dkg_id=dkg.id, dealer=msg.dealer, complainer=complainer)
    )
    ctx.events.emit("dkg_complaint", dkg_id=dkg.id, dealer=msg.dealer, complainer=complainer)


def validate_justify(msg: tx_pb2.MsgJustify) -> None:
    """Stateless checks of MsgJustify."""
    decode_address_field(msg.dealer, "dealer")
    if msg.complainer == 0 or len(msg.share) != SHARE_LEN:
        raise ErrBadJustification.wrap(
            f"complainer is a 1-based index and share {SHARE_LEN} big-endian bytes"
        )


def _justify(k: CommitteeKeeper, ctx: Context, msg: tx_pb2.MsgJustify) -> None:
    """Answer a complaint with the share in clear; it must match the dealer's commitments."""
    dkg = _require_phase(k, ctx.store, msg.dkg_id, JUSTIFY, ctx.block.height)
    dealer = _member_index(dkg, msg.dealer)
    complaint = k.get_complaint(ctx.store, dkg.id, dealer, msg.complainer)
    if complaint is None or complaint.justified:
        raise ErrBadJustification.wrap(
            f"no open complaint of member {msg.complainer} against member {dealer}"
        )
    dealing = k.get_dealing(ctx.store, dkg.id, dealer)
    share = int.from_bytes(msg.share, "big")
    if dealing is None or not threshold.is_valid_dealt_share(
        list(dealing.commitments), msg.complainer, share
    ):
        raise ErrBadJustification.wrap(
            f"the share does not match dealer {dealer}'s commitments at {msg.complainer}"
        )
    complaint.justified, complaint.share = True, msg.share
    k.set_complaint(ctx.store, complaint)
    ctx.events.emit("dkg_justify", dkg_id=dkg.id, dealer=dealer, complainer=msg.complainer)


def routes(k: CommitteeKeeper) -> list[MsgRoute]:
    """The DKG's message routes."""
    return [
        MsgRoute(tx_pb2.MsgDeal, lambda m: m.dealer, validate_deal, lambda c, m: _deal(k, c, m)),
        MsgRoute(
            tx_pb2.MsgComplain, lambda m: m.complainer, validate_complain, lambda c, m: _complain(k, c, m)
        ),
        MsgRoute(tx_pb2.MsgJustify, lambda m: m.dealer, validate_justify, lambda c, m: _justify(k, c, m)),
    ]
