"""The DKG's pure rules and a member's off-chain side (app/modules/committee/dkg.py, app/client/dkg.py)."""

from __future__ import annotations

import hashlib

from app.client import dkg as client_dkg
from app.core import bls
from app.core import threshold as th
from app.modules.committee import dkg
from synod.committee.v1 import committee_pb2

CHAIN = "synod-test"


def _secret(name: str) -> bytes:
    return bls.generate_key(hashlib.sha256(name.encode()).digest())


NAMES = ("a", "b", "c", "d")
SECRETS = {n: _secret(n) for n in NAMES}


def _dkg(dkg_id: int = 1) -> committee_pb2.Dkg:
    members = [
        committee_pb2.DkgMember(operator=n, cons_address=bytes(20), bls_pubkey=bls.public_key(SECRETS[n]))
        for n in NAMES
    ]
    return committee_pb2.Dkg(id=dkg_id, start_height=10, members=members, threshold=th.compute_threshold(4))


def _dealings(d: committee_pb2.Dkg) -> list[committee_pb2.Dealing]:
    out = []
    for i, n in enumerate(NAMES, start=1):
        msg = client_dkg.msg_deal(n, SECRETS[n], CHAIN, d)
        out.append(
            committee_pb2.Dealing(
                dkg_id=d.id, dealer=i, commitments=msg.commitments, encrypted_shares=msg.encrypted_shares
            )
        )
    return out


def test_sealed_share_opens_only_for_its_recipient() -> None:
    sealed = th.compute_sealed_share(bls.public_key(SECRETS["a"]), 12345, 777)
    assert len(sealed) == th.SEALED_SHARE_LEN == dkg.SEALED_SHARE_LEN
    assert th.compute_opened_share(SECRETS["a"], sealed) == 12345
    assert th.compute_opened_share(SECRETS["b"], sealed) is None
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    assert th.compute_opened_share(SECRETS["a"], tampered) is None
    assert th.compute_opened_share(SECRETS["a"], sealed[:-1]) is None


def test_phases_follow_the_phase_length() -> None:
    d = _dkg()
    got = [dkg.compute_phase(d, 4, h) for h in range(9, 23)]
    assert got == [None] + [dkg.DEAL] * 4 + [dkg.COMPLAIN] * 4 + [dkg.JUSTIFY] * 4 + [None]


def test_honest_dkg_gives_members_shares_of_the_group_key() -> None:
    d = _dkg()
    dealings = _dealings(d)
    for j, n in enumerate(NAMES, start=1):
        assert all(client_dkg.open_dealing(SECRETS[n], j, x) is not None for x in dealings)
    qualified = dkg.compute_qualified([x.dealer for x in dealings], [])
    group = dkg.form_group(d, dealings, qualified, 30)
    assert group.activation_height == 31 and list(group.qualified) == [1, 2, 3, 4]
    message = b"epoch"
    sigs = {}
    for j, n in enumerate(NAMES, start=1):
        received = {x.dealer: client_dkg.open_dealing(SECRETS[n], j, x) for x in dealings}
        share = client_dkg.compute_group_share(group, received, [], j)
        assert share is not None
        sigs[j] = th.sign_share(share, message)
        assert th.is_valid_signature_share(group.verification_keys[j - 1], message, sigs[j])
    a = th.combine_shares({1: sigs[1], 4: sigs[4]}, group.threshold)
    b = th.combine_shares({2: sigs[2], 3: sigs[3]}, group.threshold)
    assert a == b and th.is_valid_group_signature(group.public_key, message, a)


def test_bad_dealing_is_detected_and_an_unanswered_complaint_disqualifies() -> None:
    d = _dkg()
    dealings = _dealings(d)
    # Dealer 2 seals garbage to member 3.
    bad = list(dealings[1].encrypted_shares)
    bad[2] = th.compute_sealed_share(bls.public_key(SECRETS["c"]), 99, 5)
    dealings[1].ClearField("encrypted_shares")
    dealings[1].encrypted_shares.extend(bad)
    assert client_dkg.open_dealing(SECRETS["c"], 3, dealings[1]) is None
    assert client_dkg.open_dealing(SECRETS["c"], 2, dealings[1]) is None  # wrong index
    open_complaint = committee_pb2.Complaint(dkg_id=1, dealer=2, complainer=3)
    assert dkg.compute_qualified([1, 2, 3, 4], [open_complaint]) == [1, 3, 4]
    # The dealer justifies with the true share: it stays qualified and member 3 takes the share in clear.
    justify = client_dkg.msg_justify("b", SECRETS["b"], CHAIN, d, 3)
    share = int.from_bytes(justify.share, "big")
    assert th.is_valid_dealt_share(list(dealings[1].commitments), 3, share)
    answered = committee_pb2.Complaint(dkg_id=1, dealer=2, complainer=3, justified=True, share=justify.share)
    assert dkg.compute_qualified([1, 2, 3, 4], [answered]) == [1, 2, 3, 4]
    group = dkg.form_group(d, dealings, [1, 2, 3, 4], 30)
    received = {x.dealer: client_dkg.open_dealing(SECRETS["c"], 3, x) for x in dealings}
    received = {k: v for k, v in received.items() if v is not None}
    own = client_dkg.compute_group_share(group, received, [answered], 3)
    assert own is not None
    assert th.is_valid_signature_share(group.verification_keys[2], b"m", th.sign_share(own, b"m"))
    assert client_dkg.compute_group_share(group, received, [], 3) is None  # without the reveal


def test_disqualified_dealer_is_left_out_of_the_key() -> None:
    d = _dkg()
    dealings = _dealings(d)
    full = dkg.form_group(d, dealings, [1, 2, 3, 4], 30)
    without = dkg.form_group(d, dealings, [1, 3, 4], 30)
    assert full.public_key != without.public_key
    sigs = {}
    for j, n in enumerate(NAMES, start=1):
        received = {x.dealer: client_dkg.open_dealing(SECRETS[n], j, x) for x in dealings}
        share = client_dkg.compute_group_share(without, received, [], j)
        assert share is not None
        sigs[j] = th.sign_share(share, b"m")
    sig = th.combine_shares(sigs, without.threshold)
    assert th.is_valid_group_signature(without.public_key, b"m", sig)
    assert not th.is_valid_group_signature(full.public_key, b"m", sig)


def test_dealings_are_deterministic_per_dkg() -> None:
    d = _dkg()
    assert client_dkg.msg_deal("a", SECRETS["a"], CHAIN, d) == client_dkg.msg_deal(
        "a", SECRETS["a"], CHAIN, d
    )
    other = client_dkg.msg_deal("a", SECRETS["a"], CHAIN, _dkg(2))
    assert other.commitments != client_dkg.msg_deal("a", SECRETS["a"], CHAIN, d).commitments


def test_members_are_the_largest_by_power_in_address_order() -> None:
    members = [(bytes([i]) * 20, committee_pb2.Member(operator=f"op{i}", bls_pubkey=b"k")) for i in range(5)]
    powers = {bytes([i]) * 20: p for i, p in enumerate([5, 0, 7, 7, 1])}
    chosen = dkg.compute_dkg_members(members, powers, 3)
    assert [m.operator for m in chosen] == ["op0", "op2", "op3"]


def test_member_agent_waits_for_a_committee_waiting_for_its_seed() -> None:
    from app.agents.committee.plan import SCORE, Action, Observation, decide_action

    waiting = committee_pb2.Committee(task_id=1, round=1, seed_epoch=9)
    assert decide_action(Observation(SCORE, 1, waiting)) is Action.NO_COMMITTEE
    waiting.seats.add(operator="someone")
    assert decide_action(Observation(SCORE, 1, waiting)) is Action.NOT_SEATED
