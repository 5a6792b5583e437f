"""The randomness beacon, measured: `python -m bench.beacon [--smoke]`.

1. BLS libraries side by side (sign and verify per second): chia_rs (what Synod uses, Rust/blst)
   against py_ecc (Ethereum's pure-Python reference) and milagro_bls_binding (Rust/milagro), plus
   what one beacon check of 100 members costs ProcessProposal (shares verified cold and cached).
   py_ecc and milagro come from the optional `bench` extra (`pip install -e ".[bench]"`); a missing
   one is reported, not faked.
2. The residual bias: a proposer that leaves k shares out of the beacon (possible only while the
   commit keeps more than 2/3 of the power, at the cost of those validators' liveness) picks among
   2^k seeds. On a 100-validator set with unequal stake and an adversary holding 20-30% of it, how
   much does that raise its chance of capturing a committee sized by the default capture target?
   Committees are drawn with the chain's own compute_committee; a direct simulation with the real
   compute_seed checks the independence model 1 - (1 - p)^(2^k) it is extrapolated with.

3. The threshold beacon (groupsim.py) against the same kind of grinding coalition at 10, 20 and 30%
   stake, with the protocol's own DKG, combine, verify and seed code, paired with the old rule on
   the same epochs and share subsets: capture probability, the per-round ratio to the unbiased rate
   (target <= 1.1), the seats gained and the number of seeds the coalition can pick from.
4. The DKG and threshold-signature costs at 4, 32 and 100 members.

Writes bench/results/beacon.json; --smoke (a few samples of each table, seconds, noisy) writes
beacon-smoke.json instead.
"""
