"""The node's BLS key file and the genesis that puts BLS-keyed validators on committee duty."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from google.protobuf import json_format

from app.core import bls
from app.core.crypto import PrivateKey, address_bytes_from_pubkey
from app.node.blskey import BlsKeyError, create_bls_key, load_bls_key
from app.node.config import GenesisBond, NodeHome, write_app_genesis
from synod.committee.v1 import committee_pb2


def test_key_file_is_private_checked_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "bls_key.json"
    pubkey = create_bls_key(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    secret = load_bls_key(path)
    assert bls.public_key(secret) == pubkey and bls.is_valid_public_key(pubkey)
    with pytest.raises(BlsKeyError, match="already exists"):
        create_bls_key(path)
    doc = json.loads(path.read_text())
    doc["public_key"] = bls.public_key(bls.generate_key(bytes(32))).hex()
    path.write_text(json.dumps(doc))
    with pytest.raises(BlsKeyError, match="does not match"):
        load_bls_key(path)
    path.write_text("{}")
    with pytest.raises(BlsKeyError, match="not a Synod BLS key"):
        load_bls_key(path)
    with pytest.raises(BlsKeyError, match="no BLS key"):
        load_bls_key(tmp_path / "absent.json")


def test_genesis_turns_on_extensions_and_lists_bls_keyed_validators(tmp_path: Path) -> None:
    home = NodeHome(tmp_path)
    home.genesis.parent.mkdir(parents=True)
    home.genesis.write_text(
        json.dumps({"consensus_params": {"abci": {"vote_extensions_enable_height": "0"}}})
    )
    consensus = PrivateKey.from_seed(bytes(32)).public_key
    operator = PrivateKey.from_seed(bytes([1]) * 32).address
    bls_pubkey = bls.public_key(bls.generate_key(bytes([2]) * 32))
    bonds = [
        GenesisBond(operator, consensus, "a", bls_pubkey=bls_pubkey),
        GenesisBond(PrivateKey.from_seed(bytes([3]) * 32).address, consensus, "b"),  # no key: no duty
    ]
    write_app_genesis(home, "c", {operator: 10**15}, bonds, vote_extensions_height=1)
    doc = json.loads(home.genesis.read_text())
    assert doc["consensus_params"]["abci"]["vote_extensions_enable_height"] == "1"
    state = json_format.ParseDict(doc["app_state"]["committee"], committee_pb2.GenesisState())
    assert [(m.operator, m.cons_address, m.bls_pubkey, m.since_height) for m in state.members] == [
        (operator, address_bytes_from_pubkey(consensus), bls_pubkey, 0)
    ]
