"""The threshold beacon through the ABCI handlers: a DKG among four genesis members (MsgDeal,
MsgComplain, MsgJustify in CheckTx/FinalizeBlock), then group seeds from vote-extension shares."""

from __future__ import annotations

from app.abci.handlers import AbciHandlers
from app.client import dkg as client_dkg
from app.core import threshold
from app.core.voteext import encode_vote_extension
from app.modules.committee import beacon, epochs
from synod.committee.v1 import beacon_pb2, committee_pb2, tx_pb2
from synod.committee.v1 import query_pb2 as q
from tendermint.abci import types_pb2 as abci
from tests.integration.harness import CHAIN_ID, Chain, beacon_votes, test_bls_key
from tests.integration.staking_harness import address, cons_address, validators_on_duty

VALIDATORS = ("val0", "val1", "val2", "val3")
KEYS = {cons_address(n): test_bls_key(n) for n in VALIDATORS}
GAS = 2_000_000
ACCEPT, REJECT = abci.ResponseProcessProposal.ACCEPT, abci.ResponseProcessProposal.REJECT
# Pinned: the app hash at height 20 of test_dkg_then_group_seed (epoch 9's group seed on chain).
GOLDEN_APP_HASH = "7fba8dad4019d4e00a8a55416c83915edbbf68da3e94ad0adfe5f2fc6b3918c5"


def _chain() -> Chain:
    chain = Chain(beacon_keys=KEYS)
    chain.init({n: 10**12 for n in VALIDATORS}, validators_on_duty(VALIDATORS))
    return chain


def _dkg(chain: Chain) -> q.QueryDkgResponse:
    return chain.ask("committee", "Dkg", q.QueryDkgRequest())


def _until(chain: Chain, height: int) -> list[abci.ResponseFinalizeBlock]:
    """Empty blocks until the committed height is `height`."""
    return [chain.block([]) for _ in range(height - chain.app.store.height)]


def _events(responses: list[abci.ResponseFinalizeBlock], kind: str) -> list[dict[str, str]]:
    """The attributes of every event of this type, block events and tx events alike."""
    found = []
    for r in responses:
        for event in [*r.events, *(e for t in r.tx_results for e in t.events)]:
            if event.type == kind:
                found.append({a.key: a.value for a in event.attributes})
    return found


def _deal_all(chain: Chain, dkg: committee_pb2.Dkg, skip: tuple[str, ...] = ()) -> list[bytes]:
    """Every member's MsgDeal tx (the node task's deal step)."""
    return [
        chain.tx(n, [client_dkg.msg_deal(address(n), test_bls_key(n), CHAIN_ID, dkg)], gas=GAS)
        for n in VALIDATORS
        if n not in skip
    ]


def _group_shares(chain: Chain, group: committee_pb2.Group) -> dict[bytes, int]:
    """Each member's group share, computed as its node does from the dealings and complaints."""
    dealt = chain.ask("committee", "Dealings", q.QueryDealingsRequest(dkg_id=group.id))
    out = {}
    for n in VALIDATORS:
        index = client_dkg.get_member_index(group, address(n))
        received = {}
        for d in dealt.dealings:
            share = client_dkg.open_dealing(test_bls_key(n), index, d)
            if share is not None:
                received[d.dealer] = share
        share = client_dkg.compute_group_share(group, received, dealt.complaints, index)
        assert share is not None
        out[cons_address(n)] = share
    return out


def _complete_dkg(chain: Chain) -> tuple[committee_pb2.Group, dict[bytes, int]]:
    """Run the DKG that starts at height 5 to completion with honest dealers."""
    _until(chain, 4)
    dkg = _dkg(chain).dkg
    assert (dkg.id, dkg.start_height, dkg.threshold, len(dkg.members)) == (1, 5, 1, 4)
    done = [chain.block(_deal_all(chain, dkg))]
    assert all(r.code == 0 for r in done[0].tx_results[1:]), [r.log for r in done[0].tx_results]
    done += _until(chain, 16)
    assert _events(done, "dkg_completed")
    group = _dkg(chain).group
    assert group.id == 1 and group.activation_height == 17 and list(group.qualified) == [1, 2, 3, 4]
    return group, _group_shares(chain, group)


def _signer(chain: Chain, shares: dict[bytes, int], leave_out: frozenset[bytes] = frozenset()):
    """The share source of honest nodes: each signs the pending epoch's message with its group share."""

    def source(vote_height: int) -> dict[bytes, bytes]:
        group, pending = chain.app.pending_beacon_epoch(vote_height)
        if group is None:
            return {}  # the bootstrap beacon: each node's BLS signature on the height
        if pending is None:
            return dict.fromkeys(shares, b"")
        return {
            a: b"" if a in leave_out else threshold.sign_share(s, pending.message) for a, s in shares.items()
        }

    return source


def test_dkg_then_group_seed() -> None:
    chain = _chain()
    group, shares = _complete_dkg(chain)
    for address_, share in shares.items():
        index = next(i for i, m in enumerate(group.members, 1) if m.cons_address == address_)
        assert (
            threshold.compute_public_share([threshold.compute_commitments([share])[0]], 1)
            == (group.verification_keys[index - 1])
        )
    chain.share_source = _signer(chain, shares)
    # Epoch 8 (heights 16-17) started before the group activated (17): the bootstrap beacon stays
    # until epoch 9 (heights 18-19, epoch_blocks = 2), whose shares in the votes on 18 give block 19 its seed.
    responses = _until(chain, 19)
    seeds = _events(responses, "beacon")
    assert [s.get("epoch") for s in seeds[-1:]] == ["9"]
    seed = chain.ask("committee", "EpochSeed", q.QueryEpochSeedRequest(epoch=9)).seed
    assert seed.height == 19 and seed.group_id == 1
    message = epochs.compute_epoch_message(CHAIN_ID, 1, 9)
    assert threshold.is_valid_group_signature(group.public_key, message, seed.signature)
    assert seed.seed == epochs.compute_group_seed(seed.signature)
    # The rest of the epoch carries no signature: its seed is on chain.
    later = _until(chain, 20)
    assert [e["seed"] for e in _events(later, "beacon")] == [""]
    assert chain.app.store.app_hash.hex() == GOLDEN_APP_HASH


def _group_chain() -> tuple[Chain, committee_pb2.Group, dict[bytes, int]]:
    chain = _chain()
    group, shares = _complete_dkg(chain)
    chain.share_source = _signer(chain, shares)
    _until(chain, 17)
    chain.block([])  # height 18, the first of epoch 9: the votes on it carry shares
    return chain, group, shares


def _votes(chain: Chain, shares: dict[bytes, int], keep: set[bytes]) -> list[abci.ExtendedVoteInfo]:
    height = chain.app.store.height
    _, pending = chain.app.pending_beacon_epoch(height)
    assert pending is not None
    signed = {a: threshold.sign_share(s, pending.message) if a in keep else b"" for a, s in shares.items()}
    return beacon_votes(KEYS, height, shares=signed)


def test_any_subset_of_shares_gives_the_same_seed() -> None:
    chain, group, shares = _group_chain()
    addresses = sorted(shares)
    first = chain.prepare(_votes(chain, shares, set(addresses[:2])))
    second = chain.prepare(_votes(chain, shares, set(addresses[2:])))
    third = chain.prepare(_votes(chain, shares, set(addresses)))
    assert first[0] == second[0] == third[0]
    tx = beacon.decode_beacon_tx(first[0])
    assert tx.epoch == 9 and len(tx.group_signature) == 96
    assert chain.process(first, _votes(chain, shares, set(addresses[:2]))) == ACCEPT


def test_bad_share_and_forged_group_signature_are_rejected() -> None:
    chain, group, shares = _group_chain()
    height = chain.app.store.height + 1
    _, pending = chain.app.pending_beacon_epoch(height)
    assert pending is not None
    a0, a1 = sorted(shares)[:2]

    def verify(who: bytes, share: bytes) -> int:
        req = abci.RequestVerifyVoteExtension(
            validator_address=who, height=height, vote_extension=encode_vote_extension(share)
        )
        return chain.abci.verify_vote_extension(req).status

    ok, no = abci.ResponseVerifyVoteExtension.ACCEPT, abci.ResponseVerifyVoteExtension.REJECT
    assert verify(a0, threshold.sign_share(shares[a0], pending.message)) == ok
    assert verify(a0, threshold.sign_share(shares[a1], pending.message)) == no  # another member's share
    # Withholding biases nothing, and refusing it could halt the chain: an empty share passes.
    assert verify(a0, b"") == ok
    node = AbciHandlers(chain.app)
    node.group_shares[group.id] = shares[a0]
    ext = node.extend_vote(abci.RequestExtendVote(height=height)).vote_extension
    assert beacon.parse_share(ext) and verify(a0, beacon.parse_share(ext) or b"") == ok
    # A proposer's forged signature (a single member's share passed off as the group's) is refused.
    votes = _votes(chain, shares, set(shares))
    forged = beacon.encode_beacon_tx(
        beacon_pb2.BeaconTx(
            vote_height=height - 1, epoch=9, group_signature=threshold.sign_share(shares[a0], pending.message)
        )
    )
    assert chain.process([forged], votes) == REJECT
    old_style = chain.prepare(beacon_votes(KEYS, height - 1))
    assert beacon.decode_beacon_tx(old_style[0]).group_signature == b""  # old shares do not verify
    wrong_epoch = beacon.encode_beacon_tx(beacon_pb2.BeaconTx(vote_height=height - 1, epoch=10))
    assert chain.process([wrong_epoch], votes) == REJECT
    # The per-member entries of the bootstrap beacon (a grindable seed) are refused once a group serves.
    entries = [beacon_pb2.BeaconEntry(validator_address=a, signature=b"\x01" * 96) for a in sorted(shares)]
    per_member = beacon.encode_beacon_tx(beacon_pb2.BeaconTx(vote_height=height - 1, entries=entries))
    assert chain.process([per_member], votes) == REJECT
    # Leaving the signature out (a delay, never a choice) is allowed.
    empty = beacon.encode_beacon_tx(beacon_pb2.BeaconTx(vote_height=height - 1))
    assert chain.process([empty], votes) == ACCEPT


def test_a_group_signature_before_any_group_is_refused() -> None:
    chain = _chain()
    _until(chain, 3)
    height = chain.app.store.height + 1
    votes = beacon_votes(KEYS, height - 1)
    honest = chain.prepare(votes)
    assert chain.process(honest, votes) == ACCEPT
    tx = beacon.decode_beacon_tx(honest[0])
    tx.epoch, tx.group_signature = 1, b"\x02" * 96
    assert chain.process([beacon.encode_beacon_tx(tx)], votes) == REJECT


def test_fewer_than_t_plus_one_shares_no_seed_chain_continues() -> None:
    chain, group, shares = _group_chain()
    lonely = {sorted(shares)[0]}
    chain.share_source = _signer(chain, shares, leave_out=frozenset(shares) - lonely)
    responses = _until(chain, 20)
    assert [e["seed"] for e in _events(responses, "beacon")] == ["", ""]
    answer = chain.abci.query(
        abci.RequestQuery(
            path="/synod.committee.v1.Query/EpochSeed",
            data=q.QueryEpochSeedRequest(epoch=9).SerializeToString(),
        )
    )
    assert answer.code == 27 and answer.codespace == "committee"
    # The next epoch, with enough shares again, gets its seed.
    chain.share_source = _signer(chain, shares)
    _until(chain, 21)
    assert chain.ask("committee", "EpochSeed", q.QueryEpochSeedRequest(epoch=10)).seed.height == 21


def test_complaint_justified_keeps_dealer_unanswered_disqualifies() -> None:
    chain = _chain()
    _until(chain, 4)
    dkg = _dkg(chain).dkg
    names = {client_dkg.get_member_index(dkg, address(n)): n for n in VALIDATORS}
    cheat = client_dkg.get_member_index(dkg, address("val3"))
    victims = [j for j in sorted(names) if j != cheat][:2]
    deals = _deal_all(chain, dkg, skip=("val3",))
    # val3 seals shares that do not match its commitments to two members.
    msg = client_dkg.msg_deal(address("val3"), test_bls_key("val3"), CHAIN_ID, dkg)
    sealed = list(msg.encrypted_shares)
    for j in victims:
        sealed[j - 1] = threshold.compute_sealed_share(dkg.members[j - 1].bls_pubkey, 42, 7 + j)
    del msg.encrypted_shares[:]
    msg.encrypted_shares.extend(sealed)
    chain.block([*deals, chain.tx("val3", [msg], gas=GAS)])
    # A complaint in the deal phase is refused (ErrDkgPhase).
    early = client_dkg.msg_complain(address(names[victims[0]]), dkg.id, cheat)
    r = chain.block([chain.tx(names[victims[0]], [early], gas=GAS)])
    assert r.tx_results[-1].code == 21, r.tx_results[-1].log
    _until(chain, 8)
    dealt = chain.ask("committee", "Dealings", q.QueryDealingsRequest(dkg_id=dkg.id)).dealings
    complaints = []
    for j, n in names.items():
        for d in dealt:
            if d.dealer != j and client_dkg.open_dealing(test_bls_key(n), j, d) is None:
                complaints.append(
                    chain.tx(n, [client_dkg.msg_complain(address(n), dkg.id, d.dealer)], gas=GAS)
                )
    assert len(complaints) == 2
    twice = chain.tx(names[victims[0]], [early], gas=GAS)
    r = chain.block([*complaints, twice])
    assert [x.code for x in r.tx_results[1:]] == [0, 0, 25]  # one complaint per (dealer, member)
    _until(chain, 12)
    wrong = tx_pb2.MsgJustify(
        dealer=address("val3"), dkg_id=dkg.id, complainer=victims[0], share=(5).to_bytes(32, "big")
    )
    right = client_dkg.msg_justify(address("val3"), test_bls_key("val3"), CHAIN_ID, dkg, victims[0])
    r = chain.block([chain.tx("val3", [wrong], gas=GAS), chain.tx("val3", [right], gas=GAS)])
    # The wrong share fails (ErrBadJustification); the right one answers the first complaint only.
    assert [x.code for x in r.tx_results[1:]] == [26, 0]
    done = _until(chain, 16)
    qualified = [j for j in sorted(names) if j != cheat]
    assert _events(done, "dkg_completed")[0]["qualified"] == ",".join(map(str, qualified))
    assert list(_dkg(chain).group.qualified) == qualified


def test_justified_dealer_stays_qualified() -> None:
    chain = _chain()
    _until(chain, 4)
    dkg = _dkg(chain).dkg
    chain.block(_deal_all(chain, dkg))
    _until(chain, 8)
    # A member complains about an honest dealing (a complaint storm costs the dealer one reveal each).
    complainer, dealer = dkg.members[0].operator, dkg.members[1].operator
    name = {address(n): n for n in VALIDATORS}
    chain.block([chain.tx(name[complainer], [client_dkg.msg_complain(complainer, dkg.id, 2)], gas=GAS)])
    _until(chain, 12)
    answer = client_dkg.msg_justify(dealer, test_bls_key(name[dealer]), CHAIN_ID, dkg, 1)
    r = chain.block([chain.tx(name[dealer], [answer], gas=GAS)])
    assert r.tx_results[-1].code == 0
    _until(chain, 16)
    group = _dkg(chain).group
    assert list(group.qualified) == [1, 2, 3, 4]
    shares = _group_shares(chain, group)  # member 1 takes dealer 2's share from the justification
    assert len(shares) == 4


def test_bad_dealings_are_refused_with_codes() -> None:
    chain = _chain()
    _until(chain, 4)
    dkg = _dkg(chain).dkg
    good = client_dkg.msg_deal(address("val0"), test_bls_key("val0"), CHAIN_ID, dkg)
    short = tx_pb2.MsgDeal(
        dealer=good.dealer,
        dkg_id=dkg.id,
        commitments=good.commitments[:1],
        encrypted_shares=good.encrypted_shares,
    )
    identity = tx_pb2.MsgDeal(
        dealer=good.dealer,
        dkg_id=dkg.id,
        commitments=[threshold.IDENTITY_G1, good.commitments[1]],
        encrypted_shares=good.encrypted_shares,
    )
    garbage = tx_pb2.MsgDeal(
        dealer=good.dealer,
        dkg_id=dkg.id,
        commitments=[b"\x01" * 48] * 2,
        encrypted_shares=good.encrypted_shares,
    )
    stale = tx_pb2.MsgDeal(
        dealer=good.dealer, dkg_id=7, commitments=good.commitments, encrypted_shares=good.encrypted_shares
    )
    outsider = tx_pb2.MsgDeal(
        dealer=address("bob"),
        dkg_id=dkg.id,
        commitments=good.commitments,
        encrypted_shares=good.encrypted_shares,
    )
    txs = [chain.tx("val0", [m], gas=GAS) for m in (short, identity, garbage, stale)]
    txs += [chain.tx("val0", [good], gas=GAS), chain.tx("val0", [good], gas=GAS)]
    r = chain.block(txs)
    assert [x.code for x in r.tx_results[1:]] == [23, 23, 23, 20, 0, 24]
    check = chain.abci.check_tx(abci.RequestCheckTx(tx=chain.tx("val1", [outsider], gas=GAS)))
    assert check.code != 0
