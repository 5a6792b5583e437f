"""The node's BLS key (config/bls_key.json): it signs the randomness beacon share in every precommit.

Like CometBFT's priv_validator_key.json it lives in the node home (NodeHome.bls_key), readable by its
owner only:

    {"type": "synod/bls12-381-aug", "public_key": "<96 hex chars>", "secret_key": "<64 hex chars>"}

`synod init` and `synod localnet` create it; the app process loads it at start (app/node/run.py) and
a validator registers its public key with MsgOptIn (or the genesis committee members list).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from app.core import bls
from app.core.fsutil import create_exclusively

__all__ = ["KEY_TYPE", "BlsKeyError", "create_bls_key", "load_bls_key"]

KEY_TYPE = "synod/bls12-381-aug"


class BlsKeyError(Exception):
    """The key file is missing, unreadable or inconsistent; the message says which and what to do."""


def create_bls_key(path: Path) -> bytes:
    """Write a fresh key to path (mode 0600, never over an existing file); return its public key."""
    secret = bls.generate_key(os.urandom(32))
    pubkey = bls.public_key(secret)
    doc = {"type": KEY_TYPE, "public_key": pubkey.hex(), "secret_key": secret.hex()}
    try:
        create_exclusively(path, (json.dumps(doc, indent=2) + "\n").encode(), 0o600)
    except FileExistsError:
        raise BlsKeyError(f"{path} already exists: a node keeps its BLS key; remove it first") from None
    return pubkey


def load_bls_key(path: Path) -> bytes:
    """The secret key in path, checked against the public key stored beside it."""
    try:
        doc = json.loads(Path(path).read_text())
        secret = bytes.fromhex(doc["secret_key"])
        stored = bytes.fromhex(doc["public_key"])
    except FileNotFoundError:
        raise BlsKeyError(f"no BLS key at {path}: create one with `synod init` (new homes)") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise BlsKeyError(f"{path} is not a Synod BLS key file ({type(e).__name__}: {e})") from None
    if doc.get("type") != KEY_TYPE or len(secret) != bls.SECRET_LEN:
        raise BlsKeyError(f"{path}: expected type {KEY_TYPE!r} with a {bls.SECRET_LEN}-byte secret key")
    try:
        derived = bls.public_key(secret)
    except ValueError as e:  # a scalar at or above the group order
        raise BlsKeyError(f"{path}: the secret key is not a valid BLS12-381 scalar ({e})") from None
    if derived != stored:
        raise BlsKeyError(f"{path}: public_key does not match secret_key (the file was edited?)")
    return secret
