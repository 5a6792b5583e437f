"""Byzantine robustness: aggregation rules and the committee pipeline against attacking workers and members.

``python -m bench.byzantine`` simulates federations in process (non-IID Dirichlet 0.5 shards, 10
workers, logistic regression on digits and breast_cancer, several seeds) with the chain's integer
updates, rules and weight step, and the attacks of app.ml.attacks at 10-30% of the workers. Rules:
mean, median, trimmed mean, multi-Krum, and the committee pipeline: an honest committee scores every
reveal with app.ml.scoring, app.modules.committee.logic.compute_verdicts judges them (replays by exact
hash), and a rule aggregates the accepted ones. Further tables: the committee's threshold
(max_score_drop_bps), lazy and colluding members, the verification cost, and how often adversarial
stake captures a committee drawn by the chain's sampler. Writes bench/results/byzantine.json and .png;
``--smoke`` (every table, one seed, two rounds, seconds) writes byzantine-smoke.json and .png.
"""
