"""The threshold beacon against a grinding coalition, with the protocol's own code, and its costs.

Simulation. A real DKG (app/client/dkg.py dealings, app/modules/committee/dkg.form_group) among
`members` of the 100 validators; each epoch every member signs m_e with its group share
(threshold.sign_share). The coalition holds `fraction` of the stake; when it proposes it may
include any subset of at least t + 1 of the shares that reached it, its own included or withheld,
and keeps the seed that gives it the most committee seats. Each subset is combined
(threshold.combine_shares), verified (is_valid_group_signature) and hashed
(epochs.compute_group_seed), exactly as PrepareProposal and FinalizeBlock do. The same is done for
the old per-member beacon (beacon.compute_seed over the subset's entries), paired on the same
epochs, so the two columns differ only in the rule.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from dataclasses import dataclass

import numpy as np

from app.client import dkg as client_dkg
from app.core import bls, threshold
from app.modules.committee import beacon, dkg, epochs
from app.modules.committee.logic import compute_committee
from bench.beacon.grinding import Adversary
from synod.committee.v1 import beacon_pb2, committee_pb2

__all__ = ["GrindResult", "SimGroup", "make_group", "measure_costs", "simulate"]

CHAIN = "synod-bench"


@dataclass(frozen=True)
class SimGroup:
    """A group formed by a real DKG: its record, and each member's (address, share)."""

    group: committee_pb2.Group
    shares: list[tuple[bytes, int]]  # in member index order


@dataclass(frozen=True)
class GrindResult:
    """Per-epoch outcomes with and without grinding, for one rule."""

    capture_unbiased: float
    capture_grinding: float
    seats_unbiased: float
    seats_grinding: float
    distinct_seeds: float  # mean number of different seeds the coalition could choose from


def _secret(i: int) -> bytes:
    return bls.generate_key(hashlib.sha256(b"synod-bench-dkg" + i.to_bytes(4, "big")).digest())


def _dkg_record(addresses: list[bytes], dkg_id: int = 1) -> tuple[committee_pb2.Dkg, list[bytes]]:
    secrets = [_secret(i) for i in range(len(addresses))]
    members = [
        committee_pb2.DkgMember(operator=f"m{i}", cons_address=a, bls_pubkey=bls.public_key(s))
        for i, (a, s) in enumerate(zip(addresses, secrets, strict=True))
    ]
    record = committee_pb2.Dkg(
        id=dkg_id, start_height=1, members=members, threshold=threshold.compute_threshold(len(addresses))
    )
    return record, secrets


def make_group(addresses: list[bytes]) -> SimGroup:
    """Run the DKG among these validators (every dealer honest) and sum each member's share."""
    record, secrets = _dkg_record(addresses)
    dealings = []
    for i, s in enumerate(secrets, start=1):
        msg = client_dkg.msg_deal(f"m{i - 1}", s, CHAIN, record)
        dealings.append(
            committee_pb2.Dealing(
                dkg_id=1, dealer=i, commitments=msg.commitments, encrypted_shares=msg.encrypted_shares
            )
        )
    group = dkg.form_group(record, dealings, list(range(1, len(secrets) + 1)), 1)
    shares = []
    for j, s in enumerate(secrets, start=1):
        received = {d.dealer: client_dkg.open_dealing(s, j, d) for d in dealings}
        own = client_dkg.compute_group_share(group, {k: v for k, v in received.items() if v}, [], j)
        assert own is not None
        shares.append((addresses[j - 1], own))
    return SimGroup(group, shares)


def _seats(committee: list[tuple[bytes, int]], adversary: Adversary) -> tuple[int, bool]:
    """(adversary seats, captured: at least half the weight)."""
    bad = sum(w for m, w in committee if m in adversary.addresses)
    return sum(1 for m, _ in committee if m in adversary.addresses), 2 * bad >= sum(w for _, w in committee)


def _subsets(indices: list[int], coalition: set[int], t: int, tries: int) -> list[list[int]]:
    """Up to `tries` share subsets of size >= t + 1 the coalition can present: every honest share
    plus any choice of its own, or t + 1 chosen from them; always including the full set first."""
    out = [indices]
    for size in range(t + 1, len(indices)):
        for combo in itertools.combinations(indices, size):
            out.append(list(combo))
            if len(out) >= tries:
                return out
    return out


def simulate(
    sim: SimGroup,
    validators: list[tuple[bytes, int]],
    adversary: Adversary,
    size: int,
    epochs_: int,
    tries: int,
) -> tuple[GrindResult, GrindResult]:
    """(threshold beacon, old beacon) outcomes over `epochs_` epochs where the coalition proposes."""
    group, t = sim.group, sim.group.threshold
    indices = list(range(1, len(sim.shares) + 1))
    coalition = {j for j in indices if sim.shares[j - 1][0] in adversary.addresses}
    subsets = _subsets(indices, coalition, t, tries)
    totals = {"new": np.zeros(5), "old": np.zeros(5)}
    for e in range(1, epochs_ + 1):
        message = epochs.compute_epoch_message(CHAIN, group.id, e)
        sigs = {j: threshold.sign_share(sim.shares[j - 1][1], message) for j in indices}
        old = {j: bls.sign(_secret(j - 1), beacon.compute_share_message(CHAIN, e)) for j in indices}
        outcomes: dict[str, list[tuple[bytes, int, bool]]] = {"new": [], "old": []}
        for subset in subsets:
            signature = threshold.combine_shares({j: sigs[j] for j in subset}, t)
            assert threshold.is_valid_group_signature(group.public_key, message, signature)
            entries = [
                beacon_pb2.BeaconEntry(validator_address=sim.shares[j - 1][0], signature=old[j])
                for j in sorted(subset, key=lambda j: sim.shares[j - 1][0])
            ]
            for rule, seed in (
                ("new", epochs.compute_group_seed(signature)),
                ("old", beacon.compute_seed(CHAIN, e, entries)),
            ):
                seats, captured = _seats(compute_committee(seed, 1, e, validators, size), adversary)
                outcomes[rule].append((seed, seats, captured))
        for rule, rows in outcomes.items():
            fair = rows[0]  # every share included: the seed no one steered
            best = max(rows, key=lambda r: (r[2], r[1]))
            totals[rule] += [fair[2], best[2], fair[1], best[1], len({r[0] for r in rows})]
    results = [GrindResult(*(float(x) for x in totals[rule] / epochs_)) for rule in ("new", "old")]
    return results[0], results[1]


def _time(fn, repeat: int = 1) -> float:  # noqa: ANN001
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def measure_costs(n: int) -> dict[str, float]:
    """Seconds for one dealing, one member's check of its share, the chain's MsgDeal point checks,
    forming the group, one share signature, one share check, combining t + 1, and the group check."""
    addresses = [i.to_bytes(20, "big") for i in range(1, n + 1)]
    record, secrets = _dkg_record(addresses)
    msg = client_dkg.msg_deal("m0", secrets[0], CHAIN, record)
    dealing = committee_pb2.Dealing(
        dkg_id=1, dealer=1, commitments=msg.commitments, encrypted_shares=msg.encrypted_shares
    )
    # form_group's cost does not depend on which polynomials it sums: reuse one n times.
    dealings = [
        committee_pb2.Dealing(dkg_id=1, dealer=i, commitments=msg.commitments) for i in range(1, n + 1)
    ]
    group = dkg.form_group(record, [dealing], [1], 1)
    share = threshold.compute_share(client_dkg.compute_polynomial(secrets[0], CHAIN, record), 1)
    message = epochs.compute_epoch_message(CHAIN, 1, 1)
    sig = threshold.sign_share(share, message)
    t = record.threshold
    poly = client_dkg.compute_polynomial(secrets[0], CHAIN, record)
    sigs = {j: threshold.sign_share(threshold.compute_share(poly, j), message) for j in range(1, t + 2)}
    combined = threshold.combine_shares(sigs, t)
    return {
        "deal_s": _time(lambda: client_dkg.msg_deal("m0", secrets[0], CHAIN, record)),
        "verify_own_share_s": _time(lambda: client_dkg.open_dealing(secrets[1], 2, dealing), 3),
        "chain_check_deal_s": _time(lambda: [threshold.decode_g1(c) for c in msg.commitments], 3),
        "form_group_s": _time(lambda: dkg.form_group(record, dealings, list(range(1, n + 1)), 1)),
        "sign_share_s": _time(lambda: threshold.sign_share(share, message), 3),
        "verify_share_s": _time(
            lambda: threshold.is_valid_signature_share(group.verification_keys[0], message, sig), 3
        ),
        "combine_s": _time(lambda: threshold.combine_shares(sigs, t)),
        "verify_group_s": _time(
            lambda: threshold.is_valid_group_signature(group.public_key, message, combined), 3
        ),
    }
