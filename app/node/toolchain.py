"""Pinned external tools: the one place that names the CometBFT version."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

__all__ = [
    "COMETBFT_VERSION",
    "COMETBFT_MODULE",
    "GRPCURL_VERSION",
    "GOGOPROTO_MODULE",
    "REPO_ROOT",
    "ToolchainError",
    "find_binary",
    "check_cometbft",
]

# v0.38.x is the ABCI 2.0 line that Cosmos SDK 0.50/0.53 run on. Never "@latest" (an abandoned v1).
COMETBFT_VERSION = "v0.38.25"
# The gRPC command-line client the e2e tests use against the node (built by scripts/setup.sh).
GRPCURL_VERSION = "v1.9.3"
COMETBFT_MODULE = "github.com/cometbft/cometbft"
# The gogoproto version that cometbft v0.38.25's go.mod requires (for gogoproto/gogo.proto).
GOGOPROTO_MODULE = "github.com/cosmos/gogoproto@v1.7.0"

REPO_ROOT = Path(__file__).resolve().parents[2]


class ToolchainError(RuntimeError):
    """A pinned external binary is missing or has the wrong version."""


def find_binary(name: str) -> str:
    """Return the path of `name`, preferring the repository's .venv/bin where set-up installs it."""
    env_override = os.environ.get(f"SYNOD_{name.upper().replace('-', '_')}")
    if env_override:
        return env_override
    local = REPO_ROOT / ".venv" / "bin" / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise ToolchainError(
            f"{name} not found: run `bash scripts/setup.sh` (it builds {name} {COMETBFT_VERSION} "
            f"into .venv/bin) or put it on PATH"
        )
    return found


def check_cometbft() -> str:
    """Return the cometbft binary path after checking that it is the pinned version."""
    path = find_binary("cometbft")
    try:
        out = subprocess.run([path, "version"], capture_output=True, text=True, check=False)
    except OSError as e:
        raise ToolchainError(f"cannot run {path} ({e}): run `bash scripts/setup.sh`") from None
    version = out.stdout.strip()
    if version != COMETBFT_VERSION.lstrip("v"):
        raise ToolchainError(
            f"{path} reports version {version!r}, but Synod is pinned to {COMETBFT_VERSION}: "
            f"run `bash scripts/setup.sh`"
        )
    return path
