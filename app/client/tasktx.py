"""Build tasks-module messages (off-chain: CLI, worker agent, tests).

A worker's round is two messages: MsgCommitUpdate with compute_commitment(...) in the commit phase,
then MsgRevealUpdate with the same update, salt and sample count in the reveal phase. On a trace
task both also carry (the commitment binds, the reveal sends) the training trace and data spec.
"""

from __future__ import annotations

from app.core.crypto import decode_address
from app.modules.tasks.logic import compute_commitment
from synod.tasks.v1 import tx_pb2

__all__ = ["SALT_LEN", "msg_cancel", "msg_commit", "msg_join", "msg_reveal"]

SALT_LEN = 32


def msg_join(worker: str, task_id: int) -> tx_pb2.MsgJoinTask:
    """Join a task (bonds its worker stake)."""
    return tx_pb2.MsgJoinTask(worker=worker, task_id=task_id)


def msg_commit(
    worker: str,
    task_id: int,
    round_: int,
    salt: bytes,
    num_samples: int,
    update: bytes,
    trace: bytes = b"",
    data_spec: str = "",
) -> tx_pb2.MsgCommitUpdate:
    """Commit to an encoded int16 update (and on trace tasks its trace and shard) without revealing it."""
    digest = compute_commitment(
        task_id, round_, decode_address(worker), salt, num_samples, update, trace, data_spec
    )
    return tx_pb2.MsgCommitUpdate(worker=worker, task_id=task_id, round=round_, commitment=digest)


def msg_reveal(
    worker: str,
    task_id: int,
    round_: int,
    salt: bytes,
    num_samples: int,
    update: bytes,
    trace: bytes = b"",
    data_spec: str = "",
) -> tx_pb2.MsgRevealUpdate:
    """Reveal the update committed to with the same salt and sample count (and trace and shard)."""
    return tx_pb2.MsgRevealUpdate(
        worker=worker,
        task_id=task_id,
        round=round_,
        update=update,
        num_samples=num_samples,
        salt=salt,
        trace=trace,
        data_spec=data_spec,
    )


def msg_cancel(owner: str, task_id: int) -> tx_pb2.MsgCancelTask:
    """Cancel a task before its first round."""
    return tx_pb2.MsgCancelTask(owner=owner, task_id=task_id)
