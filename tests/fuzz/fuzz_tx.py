"""Fuzz target `tx`: hostile transactions through CheckTx and FinalizeBlock of a small chain.

The first byte picks how the txs are made: raw bytes, or a valid signed envelope (the signer's real
account number and sequence, or fuzzed ones) around a real message whose fields the fuzzer edits,
around fuzzed Any bytes of a known type, or around fuzzed body bytes. Signing the fuzzed fields with a
test key takes the input past the signature check without any fuzz-only path in the app.

Invariants: nothing raises; every result code is 0 or a registered code (never 1, the code of an
unexpected exception); FinalizeBlock answers one result per tx; the app's invariants hold
(SynodApp(check_invariants=True) raises inside FinalizeBlock otherwise).
"""

from __future__ import annotations

import atheris
from google.protobuf import any_pb2
from google.protobuf.message import Message

from app.client.txbuilder import DEFAULT_GAS, coins_to_proto, pack_any
from app.core.coins import Coins
from app.core.crypto import PrivateKey
from app.core.errors import registered
from app.core.tx import encode_tx, sign_bytes
from synod.tx.v1 import tx_pb2
from tendermint.abci import types_pb2 as abci
from tests.fuzz.chain import CHAIN_ID, DENOM, USERS, VALIDATORS, FuzzChain, get_chain, post_query_msg
from tests.fuzz.protofill import mutate
from tests.integration.harness import test_key
from tests.integration.tasks_harness import post_msg

__all__ = ["test_one_input"]

NAMES = (*USERS, *VALIDATORS)
_REGISTERED = set(registered())


def _words() -> list[str]:
    """Strings a message field may meaningfully hold."""
    addresses = [test_key(n).address for n in NAMES]
    return [
        *addresses,
        DENOM,
        "stake",
        "1",
        "0",
        "-1",
        "1000",
        "9" * 40,
        "mean",
        "median",
        "krum",
        "logreg",
        "mlp:4-4",
        "sgd",
        "adam",
        "wine",
        "digits:shard=1/2",
        "[]",
        "",
    ]


def _templates() -> dict[str, Message]:
    """One valid-looking message per route (the signer field first, as every route has it)."""
    chain = get_chain()
    out: dict[str, Message] = {}
    for url, route in sorted(chain.app.routes.items()):
        msg = route.cls()
        setattr(msg, route.cls.DESCRIPTOR.fields[0].name, test_key("alice").address)
        out[url] = msg
    for msg in (post_msg("alice"), post_query_msg("alice")):
        out["/" + msg.DESCRIPTOR.full_name] = msg
    send = out["/synod.bank.v1.MsgSend"]
    send.to_address = test_key("bob").address  # type: ignore[attr-defined]
    send.amount.add(denom=DENOM, amount="10")  # type: ignore[attr-defined]
    return out


_TEMPLATES: dict[str, Message] = {}


def _signer_for(address: str, fallback: str) -> str:
    """The test key whose address a message names as its signer, else fallback."""
    return next((n for n in NAMES if test_key(n).address == address), fallback)


def _rarely(fdp: atheris.FuzzedDataProvider, one_in: int = 8) -> bool:
    """True one time in one_in; False once the input is spent (the provider then gives zeros), so
    a short input keeps the valid defaults."""
    return fdp.ConsumeIntInRange(0, one_in - 1) == one_in - 1


def _sign(fdp: atheris.FuzzedDataProvider, chain: FuzzChain, name: str, body_bytes: bytes) -> bytes:
    """Sign body_bytes with name's key over a (mostly right) account number, sequence and fee."""
    key: PrivateKey = test_key(name)
    number, sequence = chain.accounts[name]
    gas = fdp.ConsumeIntInRange(0, 2**64 - 1) if _rarely(fdp) else DEFAULT_GAS
    fee = Coins.of([]) if _rarely(fdp) else Coins.of([(DENOM, min(gas, 10**15))])
    auth = tx_pb2.AuthInfo(
        public_key=key.public_key,
        sequence=fdp.ConsumeIntInRange(0, 2**64 - 1) if _rarely(fdp) else sequence,
        fee=tx_pb2.Fee(amount=coins_to_proto(fee), gas_limit=gas),
    )
    auth_bytes = auth.SerializeToString(deterministic=True)
    chain_id = fdp.ConsumeUnicodeNoSurrogates(8) if _rarely(fdp, 16) else CHAIN_ID
    account = fdp.ConsumeIntInRange(0, 2**64 - 1) if _rarely(fdp, 16) else number
    return encode_tx(body_bytes, auth_bytes, key.sign(sign_bytes(body_bytes, auth_bytes, chain_id, account)))


def _body(fdp: atheris.FuzzedDataProvider, messages: list[any_pb2.Any]) -> bytes:
    """A TxBody over messages, with a fuzzed memo and timeout height now and then."""
    body = tx_pb2.TxBody(messages=messages)
    if _rarely(fdp):
        body.memo = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 300))
    if _rarely(fdp):
        body.timeout_height = fdp.ConsumeIntInRange(0, 10)
    return body.SerializeToString(deterministic=True)


def _make_tx(fdp: atheris.FuzzedDataProvider, chain: FuzzChain) -> bytes:
    """One tx, built the way the mode byte says."""
    mode = fdp.ConsumeIntInRange(0, 3)  # 0: a signed real message, the likeliest
    if mode == 3:
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 2048))
    if not _TEMPLATES:
        _TEMPLATES.update(_templates())
    urls = sorted(_TEMPLATES)
    if mode == 2:
        name = fdp.PickValueInList(list(NAMES))
        return _sign(fdp, chain, name, fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 1024)))
    messages, signer = [], ""
    for _ in range(fdp.ConsumeIntInRange(1, 3)):
        url = fdp.PickValueInList(urls)
        if mode == 1:
            messages.append(any_pb2.Any(type_url=url, value=fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 512))))
            continue
        msg = mutate(fdp, _TEMPLATES[url], _words())
        messages.append(pack_any(msg))
        signer = signer or _signer_for(getattr(msg, msg.DESCRIPTOR.fields[0].name), "")
    name = fdp.PickValueInList(list(NAMES)) if _rarely(fdp) or not signer else signer
    return _sign(fdp, chain, name, _body(fdp, messages))


def _check_code(code: int, codespace: str, where: str) -> None:
    """A result is success or a registered error, never the internal-error code."""
    if code != 0 and (codespace, code) not in _REGISTERED:
        raise AssertionError(f"{where}: unregistered result code {codespace}/{code}")


def test_one_input(data: bytes) -> None:
    """Run 1-3 fuzzed txs through CheckTx, then (with or without the proposer's prefix) FinalizeBlock."""
    fdp = atheris.FuzzedDataProvider(data)
    chain = get_chain()
    txs = [_make_tx(fdp, chain) for _ in range(fdp.ConsumeIntInRange(1, 3))]
    chain.app.reload()  # a fresh check state: this input sees what every input sees
    for raw in txs:
        r = chain.chain.abci.check_tx(abci.RequestCheckTx(tx=raw, type=abci.CheckTxType.NEW))
        _check_code(r.code, r.codespace, f"CheckTx: {r.log}")
    block = [*chain.prefix, *txs] if fdp.ConsumeBool() else txs
    resp = chain.finalize(block)
    assert len(resp.tx_results) == len(block), "FinalizeBlock must answer one result per tx"
    for r in resp.tx_results:
        _check_code(r.code, r.codespace, f"FinalizeBlock: {r.log}")
    chain.app.reload()  # drop the staged block
