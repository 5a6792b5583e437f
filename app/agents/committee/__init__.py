"""The committee member: score every round whose committee seats its validator, and attest.

agent.py runs the loop, plan.py decides each step, score.py scores a round's revealed updates,
summary.py reports what was attested and how the chain judged it.
"""

from app.agents.committee.agent import CommitteeConfig, CommitteeMember, MemberError
from app.agents.committee.summary import MemberSummary

__all__ = ["CommitteeConfig", "CommitteeMember", "MemberError", "MemberSummary"]
