"""The design limits a growing round runs into, each with the point where it is hit (default params)."""

from __future__ import annotations

from app.client.tasktx import PART_BYTES
from app.core.query import MAX_MESSAGE_BYTES
from app.modules.auth.params import default_params as auth_params
from app.modules.tasks.logic import MIN_PART_BYTES
from app.modules.tasks.params import default_params
from bench.growth.sizing import (
    BLOCK_MAX_BYTES,
    bound_label,
    compute_largest_size,
    compute_round_size,
    format_bytes,
)

__all__ = ["LIMIT_COLUMNS", "design_limit_rows"]

LIMIT_COLUMNS = ["limit", "value", "where it is hit", "consequence"]


def _work_rows(rules: tuple[str, ...], counts: tuple[int, ...]) -> list[list[str]]:
    """One row per rule: the largest model size within max_aggregation_work at each worker count."""
    bound = default_params().max_aggregation_work
    return [
        [
            f"max_aggregation_work ({rule})",
            f"{bound_label()} = {bound:,} ops",
            "largest d: " + ", ".join(f"n={n}: {compute_largest_size(rule, n):,}" for n in counts),
            "the chain refuses a bigger task at post time",
        ]
        for rule in rules
    ]


def _size_rows() -> list[list[str]]:
    """Model size, worker count and per-transaction limits."""
    params, auth = default_params(), auth_params()
    biggest = compute_round_size(params.max_workers, params.max_model_params)
    one = compute_round_size(1, params.max_model_params)
    d_max = params.max_model_params
    return [
        [
            "max_model_params",
            f"{d_max:,}",
            f"update {format_bytes(2 * d_max)}, checkpoint {format_bytes(4 * d_max)}",
            "the largest model a task may post",
        ],
        [
            "max_workers",
            f"{params.max_workers}",
            f"{params.max_workers} x {d_max:,} moves {format_bytes(biggest.round_bytes)} a round",
            f"{biggest.txs:,} txs a round at the largest model",
        ],
        [
            "auth.max_tx_bytes",
            f"{auth.max_tx_bytes:,}",
            f"d > {PART_BYTES // 2:,}: the update passes PART_BYTES ({format_bytes(PART_BYTES)})",
            f"updates go in MsgRevealPart pieces: {one.parts_per_update} + closing reveal at {d_max:,}",
        ],
        [
            "parts per update",
            f"<= {2 * d_max // MIN_PART_BYTES}",
            f"MIN_PART_BYTES {format_bytes(MIN_PART_BYTES)} x 128 = the largest update",
            "bounds the staged parts a closing reveal reads back",
        ],
    ]


def _transport_rows() -> list[list[str]]:
    """Query and block size limits."""
    params = default_params()
    biggest = compute_round_size(params.max_workers, params.max_model_params)
    per_block = BLOCK_MAX_BYTES // PART_BYTES - 1  # 42 parts would leave no room for tx envelopes
    return [
        [
            "gRPC MAX_MESSAGE_BYTES",
            f"{MAX_MESSAGE_BYTES:,}",
            f"d near {MAX_MESSAGE_BYTES // 8:,}: a Model query carries 4d twice, plus proofs",
            f"{format_bytes(8 * params.max_model_params)} at max_model_params: half the cap",
        ],
        [
            "CometBFT block max_bytes",
            f"{BLOCK_MAX_BYTES:,}",
            f"at most {per_block} full parts a block",
            f"{params.max_workers} x {params.max_model_params:,} reveals: >= {biggest.reveal_blocks} blocks",
        ],
    ]


def design_limit_rows(rules: tuple[str, ...], counts: tuple[int, ...]) -> list[list[str]]:
    """Every design limit, its value and where a growing round meets it."""
    return [*_work_rows(rules, counts), *_size_rows(), *_transport_rows()]
