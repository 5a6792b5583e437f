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


class LightNotInitialized(FileNotFoundError):
    """No trust anchor under the home yet."""


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
    """Read trust.json, or say how to create it."""
    path = directory / _TRUST_FILE
    if not path.exists():
        raise LightNotInitialized(
            f"no trusted header in {directory}: run `synod light init` first (with --trust-height "
            "and --trust-hash from a source you trust)"
        )
    doc = json.loads(path.read_text())
    return TrustState(
        doc["chain_id"], int(doc["height"]), bytes.fromhex(doc["hash"]), int(doc["period_seconds"])
    )


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
