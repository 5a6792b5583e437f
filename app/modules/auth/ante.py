"""The ante handler: everything checked and charged before a transaction's messages run.

Order: size and memo -> gas for bytes -> account, public key, sequence -> signature -> fee ->
sequence increment. It runs on its own branch, so a transaction that fails here changes nothing;
one that passes pays its fee even if its messages fail later.
"""

from __future__ import annotations

from app.core.coins import Coins
from app.core.context import Context
from app.core.crypto import decode_address, is_valid_signature
from app.core.errors import (
    ErrInsufficientFee,
    ErrInvalidGasLimit,
    ErrInvalidPubKey,
    ErrInvalidSequence,
    ErrMemoTooLarge,
    ErrTxTimeoutHeight,
    ErrTxTooLarge,
    ErrUnauthorized,
    ErrUnknownRequest,
)
from app.core.tx import DecodedTx, sign_bytes
from app.core.txcache import SignatureVerdicts
from app.modules.auth.expected import FeeBank
from app.modules.auth.keeper import AuthKeeper
from synod.auth.v1 import auth_pb2

__all__ = ["FEE_COLLECTOR", "check_tx_limits", "run_ante"]

FEE_COLLECTOR = "fee_collector"


def check_tx_limits(tx: DecodedTx, params: auth_pb2.Params, height: int) -> None:
    """Stateless limits that depend only on params and the block height."""
    if len(tx.body.memo) > params.max_memo_chars:
        raise ErrMemoTooLarge.wrap(
            f"memo has {len(tx.body.memo)} characters, the limit is {params.max_memo_chars}"
        )
    if tx.body.timeout_height and height > tx.body.timeout_height:
        raise ErrTxTimeoutHeight.wrap(
            f"block height {height} is past the tx timeout height {tx.body.timeout_height}"
        )
    if len(tx.body.messages) > params.max_block_msgs:
        raise ErrTxTooLarge.wrap(
            f"tx has {len(tx.body.messages)} messages and a block holds at most {params.max_block_msgs}: "
            "split it into several txs"
        )
    if tx.gas_limit > params.max_gas_per_tx:
        raise ErrInvalidGasLimit.wrap(
            f"gas limit {tx.gas_limit} exceeds the per-tx maximum {params.max_gas_per_tx}"
        )


def _check_fee(tx: DecodedTx, params: auth_pb2.Params) -> Coins:
    """The fee must be in the fee denom and cover gas limit x minimum gas price."""
    required = tx.gas_limit * params.min_gas_price
    offered = tx.fee.amount_of(params.fee_denom)
    if any(d != params.fee_denom for d, _ in tx.fee):
        raise ErrInsufficientFee.wrap(f"fees must be paid in {params.fee_denom}")
    if offered < required:
        raise ErrInsufficientFee.wrap(
            f"fee {offered}{params.fee_denom} is below gas limit {tx.gas_limit} x minimum gas "
            f"price {params.min_gas_price} = {required}{params.fee_denom}; raise --fees"
        )
    return tx.fee


def _check_signature(
    ctx: Context, tx: DecodedTx, account: auth_pb2.BaseAccount, verdicts: SignatureVerdicts | None
) -> None:
    """Verify the signature over the sign bytes, unless this node saw it verify already.

    A verdict is a pure function of the tx bytes, the chain id and the account number (the inputs of
    the sign bytes), which is what `verdicts` is keyed by: a remembered verdict is the one this check
    would reach, so the memo cannot change a result or the app hash (gas was charged before either way).
    """
    chain_id, number = ctx.block.chain_id, account.account_number
    if verdicts is not None and verdicts.is_verified(tx.hash, chain_id, number):
        if not ctx.is_check:
            verdicts.discard(tx.hash, chain_id, number)  # in a block: CometBFT drops it from the mempool
        return
    doc = sign_bytes(tx.body_bytes, tx.auth_info_bytes, chain_id, number)
    if not is_valid_signature(tx.auth_info.public_key, doc, tx.signature):
        raise ErrUnauthorized.wrap(
            f"signature verification failed; check the chain id ({chain_id}), account "
            f"number ({number}) and sequence ({account.sequence})"
        )
    if verdicts is not None and ctx.is_check:
        verdicts.add(tx.hash, chain_id, number)


def run_ante(
    ctx: Context, tx: DecodedTx, auth: AuthKeeper, bank: FeeBank, verdicts: SignatureVerdicts | None = None
) -> None:
    """Authenticate the signer, charge gas and the fee, and bump the sequence.

    `verdicts` (node-local) remembers signatures CheckTx verified, so a block need not verify them again.
    """
    params = auth.get_params(ctx.store)
    check_tx_limits(tx, params, ctx.block.height)
    ctx.gas.consume(len(tx.raw) * params.tx_size_cost_per_byte, "tx size")
    address = decode_address(tx.signer)
    account = auth.get_account(ctx.store, address)
    if account is None:
        raise ErrUnknownRequest.wrap(
            f"account {tx.signer} does not exist: it must receive tokens before it can sign"
        )
    if account.public_key and account.public_key != tx.auth_info.public_key:
        raise ErrInvalidPubKey.wrap(f"public key does not match the one on record for {tx.signer}")
    if tx.auth_info.sequence != account.sequence:
        raise ErrInvalidSequence.wrap(
            f"account sequence mismatch: expected {account.sequence}, got "
            f"{tx.auth_info.sequence}; query the account and sign again"
        )
    ctx.gas.consume(params.sig_verify_cost_ed25519, "signature verification")
    _check_signature(ctx, tx, account, verdicts)
    fee = _check_fee(tx, params)
    if fee:
        bank.send_coins_from_account_to_module(ctx.store, address, FEE_COLLECTOR, fee)
    account.public_key = tx.auth_info.public_key
    account.sequence += 1
    auth.set_account(ctx.store, account, address)
