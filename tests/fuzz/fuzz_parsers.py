"""Fuzz target `parsers`: the user-facing text parsers.

- genesis: InitChain of a fresh app over the shared chain's genesis app_state with values replaced
  (any JSON value at any path), or over raw bytes. Only GenesisError may come out; an accepted
  genesis must satisfy the app's invariants (the app checks them with check_invariants=True).
- architectures (app/core/architectures.py, consensus): parse_arch and param_count over fuzzed text,
  mostly edited real specs. Only ArchitectureError may come out.
- data specs (the `--data` grammar, app/ml/datasets.py, off-chain): parse_data_spec. Only
  DatasetError may come out.
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

import atheris

from app.app import GenesisError, SynodApp
from app.core.architectures import ArchitectureError, param_count, parse_arch
from app.ml.datasets import DatasetError, parse_data_spec
from app.state.backend import MemoryBackend
from tests.fuzz.chain import CHAIN_ID, USERS, VALIDATORS, genesis_state

__all__ = ["test_one_input"]

_ARCHS = (
    "logreg",
    "mlp:64-32",
    '[{"type": "conv2d", "features": 8, "kernel": [3, 3]}, {"type": "relu"}, '
    '{"type": "max_pool", "window": [2, 2]}, {"type": "flatten"}, {"type": "dense", "features": 32}, '
    '{"type": "relu"}, {"type": "dense"}]',
    '[{"type": "conv1d", "features": 4, "kernel": [3], "stride": [2], "padding": "VALID"}, '
    '{"type": "layer_norm"}, {"type": "avg_pool", "window": [2]}, {"type": "flatten"}, {"type": "dense"}]',
)
_SPECS = ("digits", "digits:shard=3/8:dirichlet=0.5:seed=1", "wine:split=2", "./data.csv:label=y", "x.npz")


@functools.cache
def _genesis() -> dict:
    """The shared chain's genesis app_state as JSON."""
    return json.loads(genesis_state({n: 10**12 for n in (*VALIDATORS, *USERS)}))


def _json_value(fdp: atheris.FuzzedDataProvider, depth: int = 0) -> Any:
    """Any JSON value, with numbers at the edges of int64/uint64 and past them."""
    kind = fdp.ConsumeIntInRange(0, 7 if depth < 2 else 4)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeBool()
    if kind == 2:
        return fdp.PickValueInList([0, -1, 1, 2**63 - 1, 2**63, 2**64, 10**40, 1.5, -(2**63)])
    if kind == 3:
        return (
            str(fdp.ConsumeIntInRange(-(2**70), 2**70))
            if fdp.ConsumeBool()
            else fdp.ConsumeUnicodeNoSurrogates(16)
        )
    if kind == 4:
        return fdp.ConsumeIntInRange(-(2**64), 2**64)
    if kind in (5, 6):
        return [_json_value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 3))]
    return {
        fdp.ConsumeUnicodeNoSurrogates(8): _json_value(fdp, depth + 1)
        for _ in range(fdp.ConsumeIntInRange(0, 3))
    }


def _edit(fdp: atheris.FuzzedDataProvider, doc: Any) -> Any:
    """Replace one value somewhere in doc (a path walked by the fuzzer)."""
    if not isinstance(doc, dict | list) or not doc or fdp.ConsumeIntInRange(0, 3) == 0:
        return _json_value(fdp)
    if isinstance(doc, dict):
        keys = sorted(doc)
        key = keys[fdp.ConsumeIntInRange(0, len(keys) - 1)]
        if fdp.ConsumeIntInRange(0, 15) == 15:
            del doc[key]
        else:
            doc[key] = _edit(fdp, doc[key])
        return doc
    at = fdp.ConsumeIntInRange(0, len(doc) - 1)
    doc[at] = _edit(fdp, doc[at])
    return doc


def _check_genesis(fdp: atheris.FuzzedDataProvider) -> None:
    """InitChain raises GenesisError or stages a genesis that keeps the invariants."""
    if fdp.ConsumeIntInRange(0, 7) == 7:
        raw = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 512))
    else:
        doc = copy.deepcopy(_genesis())
        for _ in range(fdp.ConsumeIntInRange(1, 3)):
            doc = _edit(fdp, doc)
        raw = json.dumps(doc).encode()
    app = SynodApp(MemoryBackend(), check_invariants=True)
    try:
        app.init_chain(CHAIN_ID, raw, fdp.ConsumeIntInRange(1, 3), fdp.ConsumeIntInRange(0, 2))
    except GenesisError:
        return


def _edit_text(fdp: atheris.FuzzedDataProvider, base: str) -> str:
    """base with a fuzzed slice replaced, or fuzzed text."""
    if fdp.ConsumeIntInRange(0, 3) == 3:
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 256))
    at = fdp.ConsumeIntInRange(0, len(base))
    cut = fdp.ConsumeIntInRange(0, 8)
    return base[:at] + fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 12)) + base[at + cut :]


def _check_arch(fdp: atheris.FuzzedDataProvider) -> None:
    """parse_arch / param_count raise only ArchitectureError."""
    arch = _edit_text(fdp, fdp.PickValueInList(list(_ARCHS)))
    try:
        parse_arch(arch)
        param_count(
            arch,
            fdp.ConsumeIntInRange(0, 1 << 12),
            fdp.ConsumeIntInRange(0, 300),
            [fdp.ConsumeIntInRange(0, 70_000) for _ in range(fdp.ConsumeIntInRange(0, 4))],
        )
    except ArchitectureError:
        return


def _check_data_spec(fdp: atheris.FuzzedDataProvider) -> None:
    """parse_data_spec raises only DatasetError."""
    try:
        parse_data_spec(_edit_text(fdp, fdp.PickValueInList(list(_SPECS))))
    except DatasetError:
        return


def test_one_input(data: bytes) -> None:
    """One genesis, architecture or data spec."""
    fdp = atheris.FuzzedDataProvider(data)
    (_check_genesis, _check_arch, _check_data_spec)[fdp.ConsumeIntInRange(0, 2)](fdp)
