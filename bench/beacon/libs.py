"""BLS libraries side by side, and the cost of checking one beacon tx."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from app.core import bls
from app.modules.committee import beacon
from app.modules.committee.keeper import CommitteeKeeper
from app.state.kv import Branch, MemoryReader
from synod.committee.v1 import committee_pb2

__all__ = ["LibResult", "measure_libraries", "measure_beacon_check"]

MESSAGE = beacon.compute_share_message("synod-bench", 12345)
MISSING = 'not installed: pip install -e ".[bench]"'
IKM = hashlib.sha256(b"synod-bench-bls").digest()


@dataclass(frozen=True)
class LibResult:
    """One library's rates (None when it is not installed) and how it was measured."""

    name: str
    scheme: str
    sign_per_s: float | None
    verify_per_s: float | None
    note: str = ""


def _rate(fn: Callable[[], object], budget_s: float, min_calls: int = 2) -> float:
    """Calls per second of fn, over at least min_calls calls and about budget_s seconds."""
    calls, start = 0, time.perf_counter()
    while calls < min_calls or time.perf_counter() - start < budget_s:
        fn()
        calls += 1
    return calls / (time.perf_counter() - start)


def _chia(budget_s: float) -> LibResult:
    secret = bls.generate_key(IKM)
    pubkey, sig = bls.public_key(secret), bls.sign(secret, MESSAGE)
    verify = bls._verify.__wrapped__  # the uncached check (sizes are right here): every call pays the pairing
    assert verify(pubkey, MESSAGE, sig) and not verify(pubkey, MESSAGE + b"x", sig)
    return LibResult(
        "chia_rs",
        "AugSchemeMPL",
        _rate(lambda: bls.sign(secret, MESSAGE), budget_s),
        _rate(lambda: verify(pubkey, MESSAGE, sig), budget_s),
    )


def _py_ecc(budget_s: float) -> LibResult:
    try:
        from py_ecc.bls import G2ProofOfPossession as scheme
    except ImportError:
        return LibResult("py_ecc", "G2ProofOfPossession", None, None, MISSING)
    secret = scheme.KeyGen(IKM)
    pubkey, sig = scheme.SkToPk(secret), scheme.Sign(secret, MESSAGE)
    assert scheme.Verify(pubkey, MESSAGE, sig)
    # Pure Python: a verification takes about a second, so two calls each are the sample.
    return LibResult(
        "py_ecc",
        "G2ProofOfPossession",
        _rate(lambda: scheme.Sign(secret, MESSAGE), 0.0),
        _rate(lambda: scheme.Verify(pubkey, MESSAGE, sig), 0.0),
        "2 calls each (pure Python)",
    )


def _milagro(budget_s: float) -> LibResult:
    try:
        import milagro_bls_binding as milagro
        from py_ecc.bls import G2ProofOfPossession as scheme
    except ImportError:
        return LibResult("milagro_bls_binding", "PoP (Ethereum)", None, None, MISSING)
    secret = scheme.KeyGen(IKM).to_bytes(32, "big")  # milagro has no key generation of its own
    pubkey, sig = milagro.SkToPk(secret), milagro.Sign(secret, MESSAGE)
    assert milagro.Verify(pubkey, MESSAGE, sig) and not milagro.Verify(pubkey, MESSAGE + b"x", sig)
    return LibResult(
        "milagro_bls_binding",
        "PoP (Ethereum)",
        _rate(lambda: milagro.Sign(secret, MESSAGE), budget_s),
        _rate(lambda: milagro.Verify(pubkey, MESSAGE, sig), budget_s),
    )


def measure_libraries(budget_s: float) -> list[LibResult]:
    """Sign and verify rates of each library on the same 96-byte-signature operation."""
    return [_chia(budget_s), _py_ecc(budget_s), _milagro(budget_s)]


def measure_beacon_check(members: int) -> dict[str, float]:
    """Seconds for ProcessProposal's check of a beacon tx of `members` shares: cold and cached."""
    keeper, store = CommitteeKeeper(), Branch(MemoryReader())
    chain, height = "synod-bench", 99
    votes = []
    for i in range(members):
        secret = bls.generate_key(hashlib.sha256(b"bench-member:%d" % i).digest())
        address = hashlib.sha256(b"cons:%d" % i).digest()[:20]
        member = committee_pb2.Member(cons_address=address, bls_pubkey=bls.public_key(secret))
        keeper.set_member(store, hashlib.sha256(b"op:%d" % i).digest()[:20], member)
        share = bls.sign(secret, beacon.compute_share_message(chain, height))
        votes.append(beacon.CommitVote(address, 1, True, beacon.encode_share(share)))
    raw = beacon.build_beacon_tx(store, keeper, chain, height, votes)
    timings = {}
    for label in ("cold", "cached"):
        if label == "cold":
            bls._verify.cache_clear()
        start = time.perf_counter()
        assert beacon.check_beacon_tx(store, keeper, chain, height + 1, [raw], votes, True) is None
        timings[label] = time.perf_counter() - start
    return timings
