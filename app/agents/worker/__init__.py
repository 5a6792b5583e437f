"""The federated-learning worker: join a task, then each round train, commit and reveal.

agent.py runs the loop, plan.py decides each step, state.py keeps the saved updates across
restarts, summary.py reports the outcome, attack.py trains and commits as an --attack prescribes,
api.py runs it from a script (run_worker).
"""

from app.agents.worker.agent import Worker, WorkerConfig, WorkerError
from app.agents.worker.api import run_worker
from app.agents.worker.state import default_state_dir
from app.agents.worker.summary import WorkerSummary

__all__ = ["Worker", "WorkerConfig", "WorkerError", "WorkerSummary", "default_state_dir", "run_worker"]
