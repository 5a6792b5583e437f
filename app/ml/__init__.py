"""Off-chain machine learning: datasets, JAX models, local training, and the fixed-point codec.

Nothing in the state machine imports this package; it is used by workers, committee members and
predictors, which turn its float32 results into integers with app.ml.quantize.
"""

__all__ = ["datasets", "models", "quantize", "train"]
