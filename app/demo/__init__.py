"""`synod demo`: a localnet, a digits task and JAX worker processes, shown round by round.

It drives the chain from outside, as a user would: run.py orchestrates, chain.py starts the
localnet and sends the owner's transactions, workers.py runs `synod worker run` processes, story.py
the committee members, the attacker, the prediction query and the verified download, view.py
renders the live display and results.py the final report. Off-chain; never imported by the node.
"""

from app.demo.chain import DemoError
from app.demo.results import DemoResult
from app.demo.run import DemoOptions, run_demo
from app.demo.story import DEFAULT_ATTACK, StoryParts

__all__ = ["DEFAULT_ATTACK", "DemoError", "DemoOptions", "DemoResult", "StoryParts", "run_demo"]
