"""The light client's trusted state under a CLI home: HOME/light/trust.json and HOME/light/blocks/.

trust.json records the trust anchor (chain id, height, header hash, trusting period); blocks/ holds
the verified headers the client keeps (TrustedStore: the anchor, the newest, and checkpoints on the
way, at most 1,000), so later runs start from the newest one.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from app.client.grpc_query import GrpcQueryClient
from app.client.light import HeaderSource, LightClient, TrustedStore, TrustOptions
from app.client.rpc import CometRPC
from app.client.verified.querier import ANY_AGE, Freshness, VerifiedQuerier
from app.core.fsutil import write_atomically

__all__ = [
    "DEFAULT_TRUSTING_PERIOD_S",
    "LightNotInitialized",
    "MalformedTrust",
    "TrustState",
    "light_dir",
    "has_trust",
    "load_trust",
    "init_trust",
    "open_light_client",
    "open_verified_querier",
]

# CometBFT's `light` default; it must stay well below the unbonding period.
DEFAULT_TRUSTING_PERIOD_S = 168 * 3600
_TRUST_FILE = "trust.json"
_BLOCKS_DIR = "blocks"
_HASH_LEN = 32  # a CometBFT header hash (SHA-256)
_REDO = "recreate it with `synod light init --force`"


class LightNotInitialized(FileNotFoundError):
    """No trust anchor under the home yet."""


class MalformedTrust(ValueError):
    """trust.json exists but does not hold a usable anchor (edited, truncated, another tool's)."""


@dataclass(frozen=True)
class TrustState:
    """The trust anchor a light client starts from."""

    chain_id: str
    height: int
    hash: bytes
    period_seconds: int

    def options(self) -> TrustOptions:
        """As the light client takes it."""
        return TrustOptions(self.height, self.hash, self.period_seconds)


def light_dir(home: str | os.PathLike[str]) -> Path:
    """HOME/light."""
    return Path(home).expanduser() / "light"


def has_trust(directory: Path) -> bool:
    """True if a trust anchor is stored in directory (`synod light init` ran)."""
    return (directory / _TRUST_FILE).exists()


def load_trust(directory: Path) -> TrustState:
    """Read trust.json, or say how to create it; a damaged one is a MalformedTrust naming the file."""
    path = directory / _TRUST_FILE
    if not path.exists():
        raise LightNotInitialized(
            f"no trusted header in {directory}: run `synod light init` first (with --trust-height "
            "and --trust-hash from a source you trust)"
        )
    try:
        doc = json.loads(path.read_bytes().decode())
    except OSError as e:
        raise MalformedTrust(f"{path}: cannot be read ({e.strerror or e})") from None
    except ValueError as e:  # not UTF-8, or not JSON
        raise MalformedTrust(f"{path} is not JSON ({e}); {_REDO}") from None
    return _parse_trust(path, doc)


def _parse_trust(path: Path, doc: object) -> TrustState:
    """The anchor in a decoded trust.json, every field checked (the file may have been edited)."""
    if not isinstance(doc, dict):
        raise MalformedTrust(f"{path} holds a JSON {type(doc).__name__}, not an object; {_REDO}")
    missing = [key for key in ("chain_id", "height", "hash", "period_seconds") if key not in doc]
    if missing:
        raise MalformedTrust(f"{path} lacks {', '.join(missing)}; {_REDO}")
    chain_id, height, hash_hex, period = doc["chain_id"], doc["height"], doc["hash"], doc["period_seconds"]
    if not isinstance(chain_id, str) or not chain_id:
        raise MalformedTrust(f"{path}: chain_id must be a non-empty string, got {chain_id!r}; {_REDO}")
    for name, value in (("height", height), ("period_seconds", period)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise MalformedTrust(f"{path}: {name} must be a positive integer, got {value!r}; {_REDO}")
    try:
        block_hash = bytes.fromhex(hash_hex) if isinstance(hash_hex, str) else b""
    except ValueError:
        block_hash = b""
    if len(block_hash) != _HASH_LEN:
        raise MalformedTrust(f"{path}: hash must be {_HASH_LEN} bytes of hex, got {hash_hex!r}; {_REDO}")
    return TrustState(chain_id, height, block_hash, period)


def _save_trust(directory: Path, state: TrustState) -> None:
    """Write trust.json atomically."""
    doc = {
        "chain_id": state.chain_id,
        "height": state.height,
        "hash": state.hash.hex().upper(),
        "period_seconds": state.period_seconds,
    }
    write_atomically(directory / _TRUST_FILE, (json.dumps(doc, indent=2) + "\n").encode())


def open_light_client(directory: Path, rpc: HeaderSource, **kwargs: object) -> LightClient:
    """A light client from the stored anchor and the headers verified so far."""
    state = load_trust(directory)
    return LightClient(state.chain_id, rpc, TrustedStore(directory / _BLOCKS_DIR), state.options(), **kwargs)  # type: ignore[arg-type]


def _first_block(rpc: CometRPC) -> int:
    """The lowest height the node still has (1 unless it pruned or state-synced)."""
    return max(int(rpc.status()["sync_info"]["earliest_block_height"]), 1)


def init_trust(
    directory: Path,
    rpc: CometRPC,
    chain_id: str,
    height: int | None = None,
    block_hash: bytes | None = None,
    period_seconds: int = DEFAULT_TRUSTING_PERIOD_S,
    force: bool = False,
) -> TrustState:
    """Verify the anchor's commit and store it; with no height, trust the node's first block."""
    if block_hash is not None and height is None:
        raise ValueError("--trust-hash needs --trust-height: a hash alone does not say which header it is")
    if (directory / _TRUST_FILE).exists() and not force:
        held = load_trust(directory)
        raise FileExistsError(
            f"{directory} already trusts height {held.height} of {held.chain_id}: pass --force to replace it"
        )
    height = height or _first_block(rpc)
    if block_hash is None:
        # Trust on first use: the node's own hash, which the caller must tell the user to check.
        block_hash = bytes.fromhex(rpc.block(height)["block_id"]["hash"])
    state = TrustState(chain_id, height, block_hash, period_seconds)
    shutil.rmtree(directory / _BLOCKS_DIR, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    LightClient(chain_id, rpc, TrustedStore(directory / _BLOCKS_DIR), state.options())
    _save_trust(directory, state)
    return state


def open_verified_querier(
    directory: Path, rpc: CometRPC, grpc_address: str, freshness: Freshness = ANY_AGE
) -> VerifiedQuerier:
    """A VerifiedQuerier over the node's gRPC address and a light client from the stored anchor."""
    return VerifiedQuerier(
        GrpcQueryClient(grpc_address), open_light_client(directory, rpc), freshness=freshness
    )
