"""python -m bench.beacon [--smoke] [--seed N] (see the package docstring)."""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from app.modules.committee.logic import compute_capture_probability_ppb, compute_committee_size
from app.modules.committee.params import default_params
from bench.beacon import grinding as gr
from bench.beacon import groupsim
from bench.beacon.libs import LibResult, measure_beacon_check, measure_libraries
from bench.common import print_table, write_results

VALIDATORS = 100
FRACTIONS_BPS = (1_000, 2_000, 2_500, 3_000)
# The direct simulation uses a small committee, so captures are common enough to count.
SIM_FRACTION_BPS, SIM_SIZE, SIM_BITS = 3_000, 7, (0, 1, 2, 3, 4)
# (seconds a library rate is timed over, seeds drawn per capture estimate, model-check trials)
FULL, SMOKE = (1.5, 20_000, 600), (0.05, 300, 20)
# The threshold beacon's simulation: DKG members, epochs where the coalition proposes, share subsets
# it tries per epoch; and the member counts whose costs are measured.
GROUP_FULL, GROUP_SMOKE = (10, 120, 16), (4, 6, 4)
COST_MEMBERS_FULL, COST_MEMBERS_SMOKE = (4, 32, 100), (4,)
GROUP_FRACTIONS_BPS = (1_000, 2_000, 3_000)
TARGET_RATIO = 1.1


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.beacon", description=__doc__)
    p.add_argument("--smoke", action="store_true", help="a few samples of everything, for CI")
    p.add_argument("--seed", type=int, default=7, help="seed of the simulated validator set and draws")
    return p.parse_args()


def _fmt(x: float | None, digits: int = 0) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def _libraries(budget_s: float, out: dict[str, Any]) -> None:
    """Table 1: sign and verify rates; ratios are chia_rs over the other library."""
    libs = measure_libraries(budget_s)
    chia = libs[0]
    rows = []
    for lib in libs:
        key = lib.name.removesuffix("_bls_binding")
        out[f"{key}_sign_per_s"], out[f"{key}_verify_per_s"] = lib.sign_per_s, lib.verify_per_s
        ratios = [_ratio(chia, lib, "sign_per_s"), _ratio(chia, lib, "verify_per_s")]
        if lib is not chia:
            out[f"chia_rs_over_{key}_sign_ratio"], out[f"chia_rs_over_{key}_verify_ratio"] = ratios
        row = [lib.name, lib.scheme, _fmt(lib.sign_per_s, 1), _fmt(lib.verify_per_s, 1)]
        rows.append([*row, *(_fmt(r, 1) for r in ratios), lib.note])
    columns = ["library", "scheme", "sign/s", "verify/s", "chia_rs sign ratio", "chia_rs verify ratio"]
    columns.append("note")
    print_table("BLS12-381 libraries (one core)", columns, rows)
    out["libraries_table"] = {"columns": columns, "rows": rows}


def _ratio(ours: LibResult, theirs: LibResult, field: str) -> float | None:
    a, b = getattr(ours, field), getattr(theirs, field)
    return None if a is None or b is None else a / b


def _beacon_check(out: dict[str, Any]) -> None:
    """Table 2: what ProcessProposal pays for a 100-member beacon."""
    timings = measure_beacon_check(VALIDATORS)
    out["beacon_check_100_members_cold_s"] = timings["cold"]
    out["beacon_check_100_members_cached_s"] = timings["cached"]
    rows = [[label, f"{t * 1e3:.1f}"] for label, t in timings.items()]
    print_table(f"check_beacon_tx with {VALIDATORS} shares (ms)", ["shares verified", "ms"], rows)


def _bias(validators: list, seeds: int, rng: np.random.Generator, out: dict[str, Any]) -> None:
    """Table 3: capture probability with and without grinding, committees sized by default params."""
    params = default_params()
    rows = []
    for fraction in FRACTIONS_BPS:
        adversary = gr.make_adversary(validators, fraction, rng)
        size = compute_committee_size(fraction, params.capture_target_ppb, params.max_committee_size)
        hits, samples = gr.estimate_capture(validators, adversary, size, seeds, rng)
        bound = compute_capture_probability_ppb(size, fraction) / 1e9
        # Too few captures to measure: extrapolate from the chain's own (conservative) bound.
        p = hits / samples if hits >= 10 else bound
        honest_k, all_k = gr.count_omittable(validators, adversary)
        when_proposing = {k: gr.compute_grinding(p, k) for k in gr.GRIND_BITS}
        share = adversary.stake_bps / 10_000
        tag = f"adv{fraction // 100}pct"
        out[f"{tag}_stake_bps"], out[f"{tag}_committee_size"] = adversary.stake_bps, size
        out[f"{tag}_capture_measured"], out[f"{tag}_capture_bound"] = hits / samples, bound
        out[f"{tag}_omittable_honest_shares"], out[f"{tag}_omittable_shares"] = honest_k, all_k
        for k, pk in when_proposing.items():
            out[f"{tag}_capture_when_proposing_k{k}"] = pk
            out[f"{tag}_capture_per_round_k{k}"] = share * pk + (1 - share) * p
            out[f"{tag}_grinding_gain_ratio_k{k}"] = (share * pk + (1 - share) * p) / p
        for k in (8, 16):
            out[f"{tag}_size_for_target_k{k}"] = gr.required_size(fraction, params.capture_target_ppb, k)
        rows.append(
            [
                f"{adversary.stake_bps / 100:.1f}%",
                size,
                f"{hits}/{samples} (bound {bound:.2e})",
                *(f"{when_proposing[k]:.2e}" for k in gr.GRIND_BITS),
                f"{honest_k} / {all_k}",
                f"{out[f'{tag}_size_for_target_k8']} / {out[f'{tag}_size_for_target_k16']}",
            ]
        )
    columns = [
        "adversary stake",
        "committee",
        "captures, no grinding",
        *(f"k={k}" for k in gr.GRIND_BITS),
        "omittable honest / all",
        "size for target k=8 / 16",
    ]
    title = (
        f"Capture probability when the adversary proposes and grinds 2^k seeds ({VALIDATORS} validators, "
        f"log-normal stake, target {params.capture_target_ppb / 1e9:.0e})"
    )
    print_table(title, columns, rows)
    out["bias_table"] = {"columns": columns, "rows": rows}


def _model_check(validators: list, trials: int, rng: np.random.Generator, out: dict[str, Any]) -> None:
    """Table 4: the independence model against a direct simulation with compute_seed."""
    adversary = gr.make_adversary(validators, SIM_FRACTION_BPS, rng)
    hits, samples = gr.estimate_capture(validators, adversary, SIM_SIZE, trials * 4, rng)
    p = hits / samples
    rows = []
    for k in SIM_BITS:
        simulated = gr.simulate_grinding(validators, adversary, SIM_SIZE, k, trials, rng)
        model = gr.compute_grinding(p, k)
        out[f"simulated_capture_k{k}"], out[f"model_capture_k{k}"] = simulated, model
        rows.append([k, f"{simulated:.3f}", f"{model:.3f}", trials])
    title = f"Model check: committee of {SIM_SIZE}, adversary {adversary.stake_bps / 100:.1f}%, p={p:.3f}"
    print_table(title, ["k", "simulated", "1-(1-p)^(2^k)", "trials"], rows)
    out["model_check_table"] = {"columns": ["k", "simulated", "model", "trials"], "rows": rows}


def _ratio_or_none(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


def _group_bias(validators: list, smoke: bool, rng: np.random.Generator, out: dict[str, Any]) -> None:
    """Table 5: the threshold beacon and the old one against the same grinding coalition."""
    members, epochs_, tries = GROUP_SMOKE if smoke else GROUP_FULL
    picks = rng.choice(len(validators), members, replace=False)
    sim = groupsim.make_group([validators[int(i)][0] for i in picks])
    rows = []
    for fraction in GROUP_FRACTIONS_BPS:
        adversary = gr.make_adversary(validators, fraction, rng)
        share = adversary.stake_bps / 10_000
        new, old = groupsim.simulate(sim, validators, adversary, SIM_SIZE, epochs_, tries)
        tag = f"threshold_adv{fraction // 100}pct"
        for rule, r in (("threshold", new), ("old", old)):
            key = f"{rule}_adv{fraction // 100}pct"
            per_round = share * r.capture_grinding + (1 - share) * r.capture_unbiased
            ratio = _ratio_or_none(per_round, r.capture_unbiased)
            out[f"{key}_capture_unbiased"], out[f"{key}_capture_when_proposing"] = (
                r.capture_unbiased,
                r.capture_grinding,
            )
            out[f"{key}_capture_ratio"] = ratio
            out[f"{key}_seats_gained_when_proposing"] = r.seats_grinding - r.seats_unbiased
            out[f"{key}_distinct_seeds"] = r.distinct_seeds
            rows.append(
                [
                    f"{adversary.stake_bps / 100:.1f}%",
                    rule,
                    f"{r.capture_unbiased:.3f}",
                    f"{r.capture_grinding:.3f}",
                    _fmt(ratio, 3),
                    f"{r.seats_grinding - r.seats_unbiased:+.3f}",
                    f"{r.distinct_seeds:.1f}",
                ]
            )
        out[f"{tag}_target_met"] = bool((out[f"{tag}_capture_ratio"] or 1.0) <= TARGET_RATIO)
    columns = [
        "coalition stake",
        "beacon",
        "capture, all shares",
        "capture, grinding",
        "per-round ratio",
        "seats gained",
        "seeds to pick from",
    ]
    title = (
        f"Grinding {tries} share subsets per epoch it proposes: DKG of {members} members (t = "
        f"{sim.group.threshold}), committee of {SIM_SIZE}, {epochs_} epochs, target ratio <= {TARGET_RATIO}"
    )
    print_table(title, columns, rows)
    out["threshold_bias_table"] = {"columns": columns, "rows": rows, "target_ratio": TARGET_RATIO}


def _group_costs(smoke: bool, out: dict[str, Any]) -> None:
    """Table 6: DKG and threshold-signature costs by member count (seconds, one core)."""
    rows = []
    fields = (
        "deal_s",
        "verify_own_share_s",
        "chain_check_deal_s",
        "form_group_s",
        "sign_share_s",
        "verify_share_s",
        "combine_s",
        "verify_group_s",
    )
    for n in COST_MEMBERS_SMOKE if smoke else COST_MEMBERS_FULL:
        costs = groupsim.measure_costs(n)
        for f in fields:
            out[f"dkg_{n}_members_{f}"] = costs[f]
        rows.append([n, (n - 1) // 3, *(f"{costs[f] * 1e3:.2f}" for f in fields)])
    columns = ["members", "t", *(f.removesuffix("_s") + " ms" for f in fields)]
    print_table("Threshold beacon costs (ms, one core)", columns, rows)
    out["threshold_costs_table"] = {"columns": columns, "rows": rows}


def main() -> None:
    """Run both measurements, print the tables and the headline, write bench/results/beacon.json."""
    args = _parse()
    budget_s, seeds, trials = SMOKE if args.smoke else FULL
    started = time.perf_counter()
    out: dict[str, Any] = {"settings": {"smoke": args.smoke, "seed": args.seed, "validators": VALIDATORS}}
    _libraries(budget_s, out)
    _beacon_check(out)
    rng = np.random.default_rng(args.seed)
    validators = gr.make_validators(VALIDATORS, rng)
    _bias(validators, seeds, rng, out)
    _model_check(validators, trials, rng, out)
    _group_bias(validators, args.smoke, rng, out)
    _group_costs(args.smoke, out)
    out["run_seconds"] = time.perf_counter() - started
    print(
        f"\nheadline: chia_rs verifies {out['chia_rs_verify_per_s']:,.0f}/s "
        f"({_fmt(out.get('chia_rs_over_py_ecc_verify_ratio'))}x py_ecc, "
        f"{_fmt(out.get('chia_rs_over_milagro_verify_ratio'), 1)}x milagro); a {VALIDATORS}-share beacon "
        f"check costs {out['beacon_check_100_members_cold_s'] * 1e3:.0f} ms cold. An adversary with 30% of "
        f"the stake that grinds 2^8 seeds when it proposes captures a default-sized committee of "
        f"{out['adv30pct_committee_size']} with probability {out['adv30pct_capture_when_proposing_k8']:.2e} "
        f"(vs {out['adv30pct_capture_when_proposing_k0']:.2e}); per round "
        f"{out['adv30pct_grinding_gain_ratio_k8']:.1f}x the rate without grinding. It can leave out up to "
        f"{out['adv30pct_omittable_honest_shares']} honest shares at once (k is bounded by its compute "
        "within timeout_propose, not by the rules). Captures use the chain's binomial bound as p where "
        "too few were measured (the measured rate is lower).\n"
        f"threshold beacon: at 30% the coalition's per-round capture is "
        f"{_fmt(out['threshold_adv30pct_capture_ratio'], 3)}x the unbiased rate (target <= {TARGET_RATIO}; "
        f"old beacon on the same epochs: {_fmt(out['old_adv30pct_capture_ratio'], 3)}x), "
        f"{out['threshold_adv30pct_distinct_seeds']:.1f} seed(s) to pick from per epoch, "
        f"{out['threshold_adv30pct_seats_gained_when_proposing']:+.3f} seats gained."
    )
    name = "beacon-smoke" if args.smoke else "beacon"  # a smoke run keeps the committed figures
    print(f"wrote {write_results(name, out)}")


if __name__ == "__main__":
    main()
