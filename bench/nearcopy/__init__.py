"""Near-copy bench: how similar honest updates are, and how similar near copies stay under noise.

`python -m bench.nearcopy [--smoke]` trains honest non-IID workers (Dirichlet alpha 0.5, logreg,
the chain's int16 update format) on digits and breast_cancer with FedAvg, and measures with the
chain's own exact integer cosine (app/modules/committee/nearcopy.py):

- the largest cosine between two honest updates of the same round, between an update and another
  worker's update of the previous round, and between a worker's update and its own previous one;
- the smallest cosine between a near copy (app.ml.attacks.NearCopy: a previous round's update,
  scaled, plus relative Gaussian noise) and its source, per noise level.

The chain's default near_copy_threshold_bps must sit above every honest value with a margin, and
below the near copies it is meant to catch; bench/results/nearcopy.json records both.
"""
