"""The validator's ensemble sidecar: keep predictions for pending fast queries where ExtendVote reads them.

agent.py trains (or reloads) the model, registers it and writes the answers; the model itself is
the predictor's (app/agents/predictor/model.py).
"""

from app.agents.ensemble.agent import EnsembleConfig, EnsembleError, EnsembleSidecar

__all__ = ["EnsembleConfig", "EnsembleError", "EnsembleSidecar"]
