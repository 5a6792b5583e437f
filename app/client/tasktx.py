"""Build tasks-module messages (off-chain: CLI, worker agent, tests).

A worker's round is two messages: MsgCommitUpdate with compute_commitment(...) in the commit phase,
then MsgRevealUpdate with the same update, salt and sample count in the reveal phase. On a trace
task both also carry (the commitment binds, the reveal sends) the training trace and data spec.
An update over PART_BYTES is revealed as MsgRevealPart pieces of PART_BYTES, then a MsgRevealUpdate
carrying the rest (reveal_messages); the commitment is over the whole update either way.
"""

from __future__ import annotations

from app.client.sender import compute_gas_limit
from app.core.architectures import model_param_count
from app.core.crypto import decode_address
from app.core.fixedpoint import WEIGHT_FORMAT
from app.core.gas import DEFAULT_GAS_CONFIG
from app.modules.tasks.logic import MIN_PART_BYTES, compute_commitment
from synod.tasks.v1 import tx_pb2

__all__ = [
    "PART_BYTES",
    "SALT_LEN",
    "msg_cancel",
    "msg_commit",
    "msg_join",
    "msg_reveal",
    "post_task_gas",
    "reveal_messages",
    "split_update",
]

SALT_LEN = 32
# One part per transaction: 512 KiB keeps a part's gas (tx and stored bytes, with the sender's 1.5x
# margin) near 31M, under auth's 50M per transaction, and its tx well under the 1 MiB limit.
PART_BYTES = 512 << 10
assert PART_BYTES >= MIN_PART_BYTES and PART_BYTES % 2 == 0


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


def split_update(update: bytes, part_bytes: int = PART_BYTES) -> tuple[list[bytes], bytes]:
    """(parts, tail): update cut into part_bytes pieces while more than part_bytes remain; the
    tail (at most part_bytes, never empty for a non-empty update) goes in MsgRevealUpdate."""
    parts: list[bytes] = []
    offset = 0
    while len(update) - offset > part_bytes:
        parts.append(update[offset : offset + part_bytes])
        offset += part_bytes
    return parts, update[offset:]


def reveal_messages(
    worker: str,
    task_id: int,
    round_: int,
    salt: bytes,
    num_samples: int,
    update: bytes,
    trace: bytes = b"",
    data_spec: str = "",
    part_bytes: int = PART_BYTES,
) -> tuple[list[tx_pb2.MsgRevealPart], tx_pb2.MsgRevealUpdate, int]:
    """The MsgRevealPart messages (one per transaction, in order), the closing MsgRevealUpdate, and
    the gas the closing reveal needs beyond its own bytes: it reads every staged part back."""
    parts, tail = split_update(update, part_bytes)
    pieces = [
        tx_pb2.MsgRevealPart(worker=worker, task_id=task_id, round=round_, data=data, index=i)
        for i, data in enumerate(parts)
    ]
    reveal = msg_reveal(worker, task_id, round_, salt, num_samples, tail, trace, data_spec)
    staged = len(update) - len(tail)
    config = DEFAULT_GAS_CONFIG
    read_gas = (len(parts) * config.read_flat + staged * config.read_per_byte) * 3 // 2
    return pieces, reveal, read_gas


def post_task_gas(msg: tx_pb2.MsgPostTask) -> int:
    """Gas for a post: its bytes, plus (init_seed) the weights the chain derives and stores."""
    derived = 0 if msg.initial_weights else WEIGHT_FORMAT.width * model_param_count(msg.model)
    return compute_gas_limit([msg]) + derived * DEFAULT_GAS_CONFIG.write_per_byte * 3 // 2
