"""The consensus-learning predictor: register for a query, then each round predict, commit and reveal.

agent.py runs the loop, plan.py decides each step, model.py trains and applies the private model,
view.py reads what the network revealed, state.py keeps the model and predictions across restarts,
summary.py reports the outcome.
"""

from app.agents.predictor.agent import PredictorAgent, PredictorConfig, PredictorError
from app.agents.predictor.state import default_state_dir
from app.agents.predictor.summary import PredictorSummary

__all__ = ["PredictorAgent", "PredictorConfig", "PredictorError", "PredictorSummary", "default_state_dir"]
