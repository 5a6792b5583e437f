"""Off-chain agents (JAX allowed; never imported by the state machine).

One package per agent, each with the same files: `agent.py` (the loop), `plan.py` (the pure
decision of what to do next), `state.py` (what survives a restart, where it has any), `summary.py`
(the closing report), and the agent's own helpers:

- `worker/`     trains on private data for a federated-learning task (`synod worker run`)
- `committee/`  scores the rounds whose committee seats its validator (`synod committee run`)
- `predictor/`  answers a consensus-learning query round after round (`synod predict run`)
- `ensemble/`   the validator's sidecar for fast queries (`synod ensemble run`)

The flat modules here are shared by several agents and the CLI: task specs, local training and
evaluation, the user's own training code (`usercode.py` loads it, `custom_training.py` runs it),
progress display, retries, the pace between looks at the chain (`pace.py`: block by block, through
the node's event subscription; see README.md), state files, update files and the transaction sender.
"""

__all__ = ["committee", "ensemble", "predictor", "worker"]
