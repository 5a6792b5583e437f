"""What the chain shows a predictor about closed rounds: the tally and its peers' predictions after a
round (to revise against), and its own revealed predictions (for the summary)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from app.agents.predictor.model import Entries, RoundView, compute_agreement_bps
from app.client.consensus import ConsensusClient
from app.client.rpc import QueryFailed
from app.modules.consensus.logic import decode_predictions
from synod.consensus.v1 import consensus_pb2

__all__ = ["Retrying", "read_revealed", "read_round_view"]

T = TypeVar("T")
# app/agents/retry.Retrier: call until the node answers, raise QueryFailed at once.
Retrying = Callable[[str, Callable[[], T]], T]


def _decode(query: consensus_pb2.PredictionQuery, c: consensus_pb2.Commitment) -> Entries:
    """A revealed commitment's predictions, decoded and checked against the query."""
    return decode_predictions(c.predictions, query.input_count, query.label_count)


def read_round_view(
    client: ConsensusClient,
    retrying: Retrying,
    query: consensus_pb2.PredictionQuery,
    round_: int,
    address: str,
) -> tuple[RoundView, str]:
    """The tally of a closed round and the peers it shows address; and a line saying how it went."""
    resp = retrying("round", lambda: client.round(query.id, round_))
    peers = retrying("peers", lambda: client.peers(query.id, round_, address))
    tallies = [(t.answer, t.support_bps) for t in resp.state.tallies]
    shown = [_decode(query, p) for p in peers if p.revealed and p.predictions]
    ours = next((c for c in resp.reveals if c.participant == address), None)
    agree = ""
    if ours is not None and tallies:
        same = compute_agreement_bps(_decode(query, ours), [a for a, _ in tallies])
        agree = f"; ours agreed with the tally on {same / 100:.2f}%"
    line = f"round {round_} closed: {len(resp.reveals)} revealed, {len(shown)} peers shown to us{agree}"
    return RoundView(tallies, shown), line


def read_revealed(
    client: ConsensusClient, retrying: Retrying, query: consensus_pb2.PredictionQuery, address: str, last: int
) -> list[tuple[int, Entries]]:
    """(round, predictions) of every closed round up to last whose reveals hold address's, in order."""
    out = []
    for round_ in range(last + 1):
        try:
            resp = retrying("round", lambda r=round_: client.round(query.id, r))
        except QueryFailed:
            continue  # not closed (or nobody took part): nothing of ours to read
        ours = next((c for c in resp.reveals if c.participant == address and c.predictions), None)
        if ours is not None:
            out.append((round_, _decode(query, ours)))
    return out
