"""Consensus learning: participants with their own models settle answers by the chain's weighted vote.

``python -m bench.consensus`` trains heterogeneous participants (logreg and MLPs of several widths),
each on its own Dirichlet(0.5) non-IID shard of digits, and runs queries of held-out test inputs
through the protocol in process: round 0, then communication rounds in which honest participants
revise (app.ml.predict.revise) against the chain's tally (app.modules.consensus.logic.compute_tally)
and a seeded peer sample (compute_peers), while 0-30% of them attack (app.ml.predattacks). Each
query's labels are revealed after it settles and reputations move as the chain's integer moving
average of each participant's accuracy. Settled accuracy is compared with the best single
participant and with centralized majority votes. Writes bench/results/consensus.json and .png;
``--smoke`` (one seed, six participants, four queries, seconds) writes consensus-smoke.json and .png.
"""
