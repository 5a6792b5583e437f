"""FedAvg benchmark (issue 5): on-chain vs in-process integer FedAvg vs Flower, and aggregation speed.

    python -m bench.fl [--rounds 20] [--workers 8] [--arch logreg|mlp:32] [--quick] [--smoke] [--chain]
        [--no-flower]

One FLConfig (digits, 8 workers, Dirichlet label skew 0.5, 20 rounds of one local SGD epoch) is run by
every arm on the same shards and the same start weights, with the same per-round training seeds:
(a) the chain (tasks module + worker agents; plugged in as arms.run_chain), (b) in-process FedAvg with
the chain's int16 updates, integer mean and int32 weight step (app/ml/federated.py), (c) Flower's
FedAvg in its simulation runtime, in its own virtualenv bench/fl/flower_venv made on first use. A
centralized run on all training rows is the reference accuracy. A second table times each integer
aggregation rule against a float64 numpy version on the same updates. Writes bench/results/fl.json
(--smoke: arms (b) and the reference at 2 workers and 2 rounds, seconds, into fl-smoke.json).
"""
