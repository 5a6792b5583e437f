"""Byzantine robustness: aggregation rules and the committee pipeline against attacking workers and members.

``python -m bench.byzantine`` simulates federations in process (non-IID Dirichlet 0.5 shards, 10
workers, logistic regression on digits, breast_cancer and wine, 5 seeds, 10 rounds) with the chain's
integer updates, rules and weight step, and the attacks of app.ml.attacks at 10-30% of the workers.
Rules: mean, median, trimmed mean, multi-Krum, and the committee pipeline: a committee of 10 honest
members, each scoring on its own seed-chosen sample of the validation rows (committee Params
eval_sample_rows) with app.ml.scoring, accuracies and the direction test (cosine with the member's
reference update, norm over the median), app.modules.committee.logic.compute_verdicts judges them
(replays by exact hash), and a rule aggregates the accepted ones. A malicious update the committee
accepts counts as harmless when the round's model with it is within the honest spread of the model
of the accepted honest updates alone (the largest test-accuracy change from leaving out any one
accepted honest update, at least one test row): the targets count malicious updates excluded or
harmless. Costs are counted in forward passes (app.ml.scoring.count_scoring_passes). Further
tables: the committee's threshold (max_score_drop_bps), lazy and colluding members, the verification
cost, and how often adversarial stake captures a committee drawn by the chain's sampler. Writes
bench/results/byzantine.json and .png; ``--smoke`` (every table, one seed, two rounds, seconds)
writes byzantine-smoke.json and .png.
"""
