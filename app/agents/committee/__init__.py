"""The committee member: score every round whose committee seats its validator, commit, then reveal.

agent.py runs the loop, plan.py decides each step, score.py scores a round's revealed updates,
state.py keeps the salted reveals across restarts, summary.py reports what was attested and how the
chain judged it.
"""

from app.agents.committee.agent import CommitteeConfig, CommitteeMember, MemberError
from app.agents.committee.state import default_state_dir
from app.agents.committee.summary import MemberSummary

__all__ = ["CommitteeConfig", "CommitteeMember", "MemberError", "MemberSummary", "default_state_dir"]
