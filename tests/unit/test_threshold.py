"""Threshold BLS and Feldman commitments (app/core/threshold.py)."""

from __future__ import annotations

import itertools

import pytest

from app.core import threshold as th

MESSAGE = b"synod/test/epoch-7"


def _deal(n: int, seed: bytes = b"dealer") -> tuple[list[int], list[bytes], dict[int, int]]:
    t = th.compute_threshold(n)
    coeffs = th.compute_coefficients(seed * 4, b"ctx", t)
    return coeffs, th.compute_commitments(coeffs), {j: th.compute_share(coeffs, j) for j in range(1, n + 1)}


def test_threshold_is_under_a_third() -> None:
    assert [th.compute_threshold(n) for n in (1, 3, 4, 6, 7, 10, 100)] == [0, 0, 1, 1, 2, 3, 33]
    for n in range(1, 200):
        t = th.compute_threshold(n)
        assert 3 * t < n  # a coalition of t members is under a third
        assert n - t >= t + 1  # the others (two thirds) can always sign


def test_any_t_plus_one_subset_gives_the_same_group_signature() -> None:
    coeffs, commitments, shares = _deal(7)
    t = th.compute_threshold(7)
    group_key = commitments[0]
    sigs = {j: th.sign_share(s, MESSAGE) for j, s in shares.items()}
    results = {
        th.combine_shares({j: sigs[j] for j in subset}, t)
        for subset in itertools.combinations(sorted(sigs), t + 1)
    }
    assert len(results) == 1
    (group_sig,) = results
    assert th.is_valid_group_signature(group_key, MESSAGE, group_sig)
    assert group_sig == th.sign_share(coeffs[0], MESSAGE)  # f(0) * H(m)
    assert not th.is_valid_group_signature(group_key, MESSAGE + b"x", group_sig)


def test_t_shares_do_not_make_the_signature() -> None:
    _, commitments, shares = _deal(7)
    t = th.compute_threshold(7)
    sigs = {j: th.sign_share(shares[j], MESSAGE) for j in (1, 2)}
    with pytest.raises(ValueError):
        th.combine_shares(sigs, t)
    # Interpolating t shares as if the threshold were t - 1 gives a point that does not verify.
    wrong = th.combine_shares(sigs, t - 1)
    assert not th.is_valid_group_signature(commitments[0], MESSAGE, wrong)


def test_bad_share_is_detected_by_its_verification_key() -> None:
    _, commitments, shares = _deal(4)
    vk2 = th.compute_public_share(commitments, 2)
    good = th.sign_share(shares[2], MESSAGE)
    assert th.is_valid_signature_share(vk2, MESSAGE, good)
    assert not th.is_valid_signature_share(vk2, MESSAGE, th.sign_share(shares[3], MESSAGE))
    assert not th.is_valid_signature_share(vk2, MESSAGE, b"\x00" * 96)
    assert not th.is_valid_signature_share(vk2, MESSAGE, good[:-1])
    t = th.compute_threshold(4)
    bad = th.combine_shares({1: th.sign_share(shares[1], MESSAGE), 2: th.sign_share(shares[3], MESSAGE)}, t)
    assert not th.is_valid_group_signature(commitments[0], MESSAGE, bad)


def test_dealt_shares_check_against_commitments() -> None:
    _, commitments, shares = _deal(6)
    assert all(th.is_valid_dealt_share(commitments, j, s) for j, s in shares.items())
    assert not th.is_valid_dealt_share(commitments, 1, shares[2])
    assert not th.is_valid_dealt_share(commitments, 1, (shares[1] + 1) % th.CURVE_ORDER)
    assert not th.is_valid_dealt_share(commitments, 1, 0)
    assert not th.is_valid_dealt_share(commitments[:1] + [b"\x01" * 48], 1, shares[1])


def test_aggregate_of_dealings_is_the_joint_key() -> None:
    n, t = 4, th.compute_threshold(4)
    dealings = [_deal(n, bytes([d]) * 8) for d in range(3)]
    aggregate = th.compute_aggregate_commitments([c for _, c, _ in dealings])
    joint = {j: sum(s[j] for _, _, s in dealings) % th.CURVE_ORDER for j in range(1, n + 1)}
    for j, s in joint.items():
        own_key = th.compute_public_share(th.compute_commitments([s]), 1)
        assert th.compute_public_share(aggregate, j) == own_key
    sigs = {j: th.sign_share(s, MESSAGE) for j, s in joint.items()}
    for j, sig in sigs.items():
        assert th.is_valid_signature_share(th.compute_public_share(aggregate, j), MESSAGE, sig)
    assert th.is_valid_group_signature(aggregate[0], MESSAGE, th.combine_shares({3: sigs[3], 4: sigs[4]}, t))


def test_coefficients_are_deterministic_and_secret_dependent() -> None:
    assert th.compute_coefficients(b"a" * 32, b"c", 2) == th.compute_coefficients(b"a" * 32, b"c", 2)
    assert th.compute_coefficients(b"a" * 32, b"c", 2) != th.compute_coefficients(b"b" * 32, b"c", 2)
    assert len(th.compute_coefficients(b"a" * 32, b"c", 5)) == 6


def test_lagrange_rejects_repeated_or_zero_indices() -> None:
    with pytest.raises(ValueError):
        th.compute_lagrange_at_zero([1, 1])
    with pytest.raises(ValueError):
        th.compute_lagrange_at_zero([0, 2])
